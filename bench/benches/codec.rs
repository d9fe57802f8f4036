//! Codec benchmarks: each model-layer path beside its hand-written
//! equivalent (see `model_bench::codec`). No server needed.
//!
//! `cargo bench -p model-bench --bench codec`, then
//! `cargo run --release -p model-bench -- --codec-report` for the ratios.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use model_bench::codec::{Fixtures, cases};

fn codec(c: &mut Criterion) {
    let fixtures = Fixtures::new();
    let cases = cases();
    let mut groups: Vec<&str> = cases.iter().map(|case| case.group).collect();
    groups.dedup();
    for name in groups {
        let mut group = c.benchmark_group(name);
        for case in cases.iter().filter(|case| case.group == name) {
            group.bench_function(case.side.name(), |b| b.iter(|| (case.run)(black_box(&fixtures))));
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = codec
}
criterion_main!(benches);
