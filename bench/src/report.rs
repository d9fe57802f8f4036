//! Tables (Markdown, as pasted into BENCHMARKS.md) and JSON.

use serde_json::{Value, json};

use crate::E2e;
use crate::measure::Spread;

/// The machine: CPUs, CPU model, memory, kernel, load at the start.
pub fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string());
    let mem_kib = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "cpu_model": cpu_model,
        "mem_gib": mem_kib.map(|k| (k as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0),
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "loadavg_at_start": read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

fn spread_json(s: Spread) -> Value {
    json!({ "median": round3(s.median), "min": round3(s.min), "max": round3(s.max) })
}

/// `x` to 3 decimals (JSON without float noise).
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The e2e results as JSON: per runtime, per op, medians and ratios.
pub fn e2e_json(e2e: &E2e) -> Value {
    let mut runtimes = serde_json::Map::new();
    for (flavor, ops) in e2e {
        let rows: Vec<Value> = ops
            .iter()
            .map(|(op, pairs)| {
                let of = |f: &dyn Fn(&crate::e2e::Pair) -> f64| Spread::of(pairs.iter().map(f));
                json!({
                    "op": op.name(),
                    "rounds": pairs.len(),
                    "ops_per_round": pairs.first().map(|p| p.odm.ops),
                    "odm_cpu_us": spread_json(of(&|p| p.odm.cpu_us())),
                    "raw_cpu_us": spread_json(of(&|p| p.raw.cpu_us())),
                    "cpu_ratio": spread_json(of(&|p| p.odm.cpu_us() / p.raw.cpu_us())),
                    "odm_wall_us": spread_json(of(&|p| p.odm.wall_us())),
                    "raw_wall_us": spread_json(of(&|p| p.raw.wall_us())),
                    "wall_ratio": spread_json(of(&|p| p.odm.wall_us() / p.raw.wall_us())),
                    "odm_ops_per_sec": spread_json(of(&|p| p.odm.ops_per_sec())),
                    "raw_ops_per_sec": spread_json(of(&|p| p.raw.ops_per_sec())),
                })
            })
            .collect();
        runtimes.insert(flavor.name().into(), Value::Array(rows));
    }
    Value::Object(runtimes)
}

/// The e2e results as Markdown tables, one per runtime.
pub fn e2e_table(e2e: &E2e) -> String {
    let mut s = String::new();
    for (flavor, ops) in e2e {
        let rounds = ops.first().map_or(0, |(_, p)| p.len());
        s += &format!(
            "\n### End to end, tokio {} ({rounds} rounds; medians over rounds)\n\n",
            flavor.name()
        );
        s += "| operation | ops/round | ODM CPU µs/op | raw CPU µs/op | **ODM/raw CPU** (min–max) | ODM wall µs/op | raw wall µs/op | ODM ops/s | raw ops/s |\n";
        s += "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
        for (op, pairs) in ops {
            let of = |f: &dyn Fn(&crate::e2e::Pair) -> f64| Spread::of(pairs.iter().map(f));
            let ratio = of(&|p| p.odm.cpu_us() / p.raw.cpu_us());
            s += &format!(
                "| {} | {} | {:.1} | {:.1} | **{:.3}** ({:.3}–{:.3}) | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                op.name(),
                pairs.first().map_or(0, |p| p.odm.ops),
                of(&|p| p.odm.cpu_us()).median,
                of(&|p| p.raw.cpu_us()).median,
                ratio.median,
                ratio.min,
                ratio.max,
                of(&|p| p.odm.wall_us()).median,
                of(&|p| p.raw.wall_us()).median,
                of(&|p| p.odm.ops_per_sec()).median,
                of(&|p| p.raw.ops_per_sec()).median,
            );
        }
    }
    s
}
