//! The codec ratios: read from criterion's results (`--codec-report`), or
//! counted in instructions under callgrind (`--codec-instructions`), which
//! repeats exactly on a noisy machine. `--codec-loop` is what callgrind runs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::e2e::BoxError;
use crate::report::round3;
use model_bench::codec::{Fixtures, Side, cases};

/// Per group, per side: a cost (ns or instructions).
type Costs = BTreeMap<String, BTreeMap<&'static str, f64>>;

fn criterion_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("criterion"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"),
    }
}

fn read_criterion() -> Result<Costs, BoxError> {
    let mut costs = Costs::new();
    for case in cases() {
        let dir = criterion_dir()
            .join(case.group.replace('/', "_"))
            .join(case.side.name())
            .join("new/estimates.json");
        let text = std::fs::read_to_string(&dir).map_err(|e| {
            format!("{}: {e} (run `cargo bench -p model-bench --features criterion --bench codec` first)", dir.display())
        })?;
        let estimates: Value = serde_json::from_str(&text)?;
        let median = estimates["median"]["point_estimate"]
            .as_f64()
            .ok_or("estimates.json without a median")?;
        costs.entry(case.group.to_string()).or_default().insert(case.side.name(), median);
    }
    Ok(costs)
}

/// Prints the ratios of the last criterion run.
pub fn run(as_json: bool) -> Result<(), BoxError> {
    let costs = read_criterion()?;
    print_costs(&costs, "median ns", as_json);
    Ok(())
}

fn print_costs(costs: &Costs, unit: &str, as_json: bool) {
    if as_json {
        let rows: Vec<Value> = costs
            .iter()
            .map(|(group, sides)| {
                json!({
                    "group": group,
                    "unit": unit,
                    "odm": sides.get("odm").copied().map(round3),
                    "doc": sides.get("doc").copied().map(round3),
                    "raw": sides.get("raw").copied().map(round3),
                    "odm_over_doc": ratio(sides, "doc").map(round3),
                    "odm_over_raw": ratio(sides, "raw").map(round3),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("json"));
        return;
    }
    println!(
        "| codec path | ODM ({unit}) | doc! ({unit}) | raw ({unit}) | **ODM/doc!** | ODM/raw |"
    );
    println!("|---|--:|--:|--:|--:|--:|");
    let show = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.0}"));
    let show_ratio = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.2}"));
    for (group, sides) in costs {
        println!(
            "| {group} | {} | {} | {} | **{}** | {} |",
            show(sides.get("odm").copied()),
            show(sides.get("doc").copied()),
            show(sides.get("raw").copied()),
            show_ratio(ratio(sides, "doc")),
            show_ratio(ratio(sides, "raw")),
        );
    }
}

fn ratio(sides: &BTreeMap<&'static str, f64>, of: &str) -> Option<f64> {
    Some(sides.get("odm")? / sides.get(of)?)
}

/// `--codec-loop GROUP/SIDE N`: runs one case `N` times.
pub fn run_loop(args: &[String]) -> Result<(), BoxError> {
    let [name, n] = args else {
        return Err("--codec-loop GROUP/SIDE N".into());
    };
    let n: u64 = n.parse()?;
    let fixtures = Fixtures::new();
    let case = cases()
        .into_iter()
        .find(|c| format!("{}/{}", c.group, c.side.name()) == *name)
        .ok_or_else(|| format!("no codec case `{name}`"))?;
    for _ in 0..n {
        black_box((case.run)(black_box(&fixtures)));
    }
    Ok(())
}

/// `--codec-instructions [N]`: instructions per run of every case, counted
/// by callgrind as `(Ir(N runs) - Ir(0 runs)) / N`.
pub fn instructions(args: &[String]) -> Result<(), BoxError> {
    let as_json = args.iter().any(|a| a == "--json");
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(2_000);
    let exe = std::env::current_exe()?;
    let count = |name: &str, n: u64| -> Result<f64, BoxError> {
        let output = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["--codec-loop", name, &n.to_string()])
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("no instruction count for {name}: {stderr}").into())
    };
    let mut costs = Costs::new();
    for case in cases() {
        let name = format!("{}/{}", case.group, case.side.name());
        let base = count(&name, 0)?;
        let total = count(&name, n)?;
        crate::progress!("{name}: {:.0} instructions", (total - base) / n as f64);
        costs
            .entry(case.group.to_string())
            .or_default()
            .insert(side_name(case.side), (total - base) / n as f64);
    }
    print_costs(&costs, "instructions", as_json);
    Ok(())
}

fn side_name(side: Side) -> &'static str {
    side.name()
}
