//! The end-to-end benchmark: the model layer against the raw `mongodb`
//! driver on a real server, interleaved A/B over fresh rounds, on tokio's
//! multi-thread and current-thread runtimes; lock figures; growth.
//!
//! ```text
//! cargo run --release -p model-bench -- [--short|--full] [--json]
//! cargo run --release -p model-bench -- --codec-report   # after cargo bench
//! ```
//! See `BENCHMARKS.md` at the repository root for the method and results.

mod backfill;
mod bulk;
mod codec_report;
mod e2e;
mod growth;
mod lock_bench;
mod lock_loop;
mod measure;
mod op_loop;
mod raw_lock;
mod report;
mod server;

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::e2e::BoxError;
use crate::server::BenchServer;

/// How much work a run does.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// `short` or `full`.
    pub name: &'static str,
    /// A/B rounds per runtime.
    pub rounds: usize,
    /// Measured ops per side per round (a quarter for bulk reads).
    pub ops: u64,
    /// A fresh server for every round (else one per run).
    pub fresh_server_per_round: bool,
    /// Collection sizes of `Foo` for `insert_many`, whole reads and (the
    /// last) keyset and offset pages.
    pub growth_sizes: &'static [u64],
    /// Collection sizes of `Blob` (~1.5 KiB documents) for the memory a
    /// whole read holds.
    pub blob_sizes: &'static [u64],
    /// Lock cycles per side per round.
    pub lock_cycles: u64,
    /// Critical sections in the contended-lock test.
    pub contended_sections: u64,
}

const SHORT: Plan = Plan {
    name: "short",
    rounds: 3,
    ops: 40,
    fresh_server_per_round: false,
    growth_sizes: &[1_000, 5_000],
    blob_sizes: &[2_000, 5_000],
    lock_cycles: 20,
    contended_sections: 40,
};

const FULL: Plan = Plan {
    name: "full",
    rounds: 7,
    ops: 300,
    fresh_server_per_round: true,
    growth_sizes: &[10_000, 100_000],
    blob_sizes: &[20_000, 100_000],
    lock_cycles: 150,
    contended_sections: 400,
};

/// Which tokio runtime drives a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `new_multi_thread` (the default of `#[tokio::main]`).
    MultiThread,
    /// `new_current_thread`.
    CurrentThread,
}

impl Flavor {
    /// Both, in run order.
    pub const ALL: [Flavor; 2] = [Flavor::MultiThread, Flavor::CurrentThread];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MultiThread => "multi_thread",
            Flavor::CurrentThread => "current_thread",
        }
    }

    /// A runtime of this flavor.
    pub fn runtime(self) -> tokio::runtime::Runtime {
        let mut builder = match self {
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        };
        builder.enable_all().build().expect("a tokio runtime")
    }
}

struct Args {
    plan: Plan,
    json: bool,
    sections: Vec<String>,
}

fn usage() -> &'static str {
    "usage: model-bench [--short|--full] [--json] [--only e2e,lock,growth]\n       \
     model-bench --codec-report [--json]    ratios of the last `cargo bench -p model-bench --features criterion --bench codec`\n       \
     model-bench --codec-loop GROUP/SIDE N   run one codec case N times (for callgrind)\n       \
     model-bench --lock-loop odm|raw N URI   N lock cycles on one side (for callgrind)\n       \
     model-bench --op-loop OP odm|raw N URI  N end-to-end ops on one side (for callgrind)\n       \
     model-bench --backfill N [--rounds R]  a migration's backfill of N documents beside the raw driver\n       \
     model-bench --bulk N [--rounds R]      N upserts as one bulk write, as N upserts, and raw"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--codec-report") => codec_report::run(args.iter().any(|a| a == "--json")),
        Some("--codec-loop") => codec_report::run_loop(&args[1..]),
        Some("--codec-instructions") => codec_report::instructions(&args[1..]),
        Some("--lock-loop") => lock_loop::run(&args[1..]),
        Some("--op-loop") => op_loop::run(&args[1..]),
        Some(growth::CHILD) => growth::child(&args[1..]),
        Some("--backfill") => backfill::run(&args[1..]),
        Some("--bulk") => bulk::run(&args[1..]),
        Some(backfill::CHILD) => backfill::child(&args[1..]),
        Some("--help" | "-h") => {
            println!("{}", usage());
            Ok(())
        }
        _ => match parse(&args) {
            Ok(args) => run(&args),
            Err(message) => Err(message.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("model-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        plan: SHORT,
        json: false,
        sections: vec!["e2e".into(), "lock".into(), "growth".into()],
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--short" => parsed.plan = SHORT,
            "--full" => parsed.plan = FULL,
            "--json" => parsed.json = true,
            "--only" => {
                let list = it.next().ok_or("--only needs a list")?;
                parsed.sections = list.split(',').map(str::to_string).collect();
            }
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    Ok(parsed)
}

/// Progress, on stderr so `--json` output stays clean.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("[model-bench] {}", format!($($arg)*)) };
}

fn run(args: &Args) -> Result<(), BoxError> {
    let started = std::time::Instant::now();
    let plan = args.plan;
    let mut out = serde_json::Map::new();
    out.insert("plan".into(), json!(plan.name));
    out.insert("machine".into(), report::machine());
    let wants = |s: &str| args.sections.iter().any(|x| x == s);
    let mut text = String::new();

    if wants("e2e") {
        let e2e = run_e2e(&plan)?;
        text += &report::e2e_table(&e2e);
        out.insert("e2e".into(), report::e2e_json(&e2e));
    }
    if wants("lock") || wants("growth") {
        let server = BenchServer::start()?;
        out.insert("server".into(), json!(format!("{:?}", server.kind)));
        if wants("lock")
            && let Some(lock) = lock_bench::run(&plan, &server.uri)?
        {
            text += &lock.table();
            out.insert("lock".into(), lock.json());
        }
        if wants("growth") {
            let growth = growth::run(&plan, &server.uri)?;
            text += &growth.table();
            out.insert("growth".into(), growth.json());
        }
    }
    out.insert("seconds".into(), json!(started.elapsed().as_secs_f64()));
    if args.json {
        // The tables go to stderr, so one run gives both.
        eprint!("{text}");
        println!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    } else {
        print!("{text}");
        println!("\n({} mode, {:.0} s)", plan.name, started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Per flavor, per op: the pair of every round.
pub type E2e = Vec<(Flavor, Vec<(e2e::Op, Vec<e2e::Pair>)>)>;

fn run_e2e(plan: &Plan) -> Result<E2e, BoxError> {
    let runtimes: Vec<_> = Flavor::ALL.iter().map(|f| (*f, f.runtime())).collect();
    let mut results: E2e = Flavor::ALL
        .iter()
        .map(|f| (*f, e2e::Op::ALL.iter().map(|op| (*op, Vec::new())).collect()))
        .collect();
    let mut server = BenchServer::start()?;
    for round in 0..plan.rounds {
        if round > 0 && plan.fresh_server_per_round && server.is_ours() {
            drop(server);
            server = BenchServer::start()?;
        }
        // Alternate which runtime goes first, too.
        let order: Vec<usize> = if round % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for index in order {
            let (flavor, runtime) = &runtimes[index];
            progress!("e2e round {}/{} on {}", round + 1, plan.rounds, flavor.name());
            let pairs = runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&server.uri).await?;
                let pairs = e2e::round(&client, flavor.name(), round, plan.ops).await;
                client.shutdown().await;
                pairs
            })?;
            for (op, pair) in pairs {
                let slot = results[index].1.iter_mut().find(|(o, _)| *o == op).expect("op");
                slot.1.push(pair);
            }
        }
    }
    Ok(results)
}
