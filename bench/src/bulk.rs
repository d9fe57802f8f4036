//! N upserts of `Foo` by name (half of them matching a stored document,
//! half inserting) three ways: one `bulk_write`, N `upsert`s one after
//! another, and the raw driver sending the same batch as one `update`
//! command of N upsert statements (the same filter, `$set` with
//! `updated_at`, `$setOnInsert` with a new UUID key and `created_at`).
//! Each side runs on a fresh server (the test server slows as it serves
//! more writes), connected and seeded before the clock starts; rounds
//! rotate the order of the sides.
//!
//! ```text
//! cargo run --release -p model-bench -- --bulk 10000 [--rounds 3]
//! ```

use bson::{Document, doc};
use model::{Connection, DateTime, Query, Uuid, Write};
use model_bench::models::{Foo, FooInsert};

use crate::e2e::BoxError;
use crate::measure::{Sample, Spread, Stopwatch};
use crate::server::BenchServer;

const SIDES: [&str; 3] = ["bulk", "singles", "raw"];

fn name(i: u64) -> String {
    format!("foo-{i:06}")
}

/// `--bulk N [--rounds R]`: R rounds of the three sides, then a table of
/// medians.
pub fn run(args: &[String]) -> Result<(), BoxError> {
    let n: u64 = args.first().ok_or("--bulk N")?.parse()?;
    let rounds: usize = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args.get(i + 1).ok_or("--rounds R")?.parse()?,
        None => 3,
    };
    let mut samples: Vec<(&str, Sample)> = Vec::new();
    for round in 0..rounds {
        for k in 0..SIDES.len() {
            let side = SIDES[(round + k) % SIDES.len()];
            let server = BenchServer::start()?;
            let runtime = crate::Flavor::MultiThread.runtime();
            let sample = runtime.block_on(one_side(&server.uri, side, n))?;
            eprintln!(
                "round {round} {side}: wall {:.3} s, CPU {:.3} s",
                sample.wall.as_secs_f64(),
                sample.cpu.as_secs_f64()
            );
            samples.push((side, sample));
        }
    }
    let median = |side: &str, f: fn(&Sample) -> f64| {
        Spread::of(samples.iter().filter(|(s, _)| *s == side).map(|(_, sample)| f(sample))).median
    };
    let wall = |s: &Sample| s.wall.as_secs_f64();
    let cpu = |s: &Sample| s.cpu.as_secs_f64();
    println!("| side | upserts | wall s | client CPU s | wall ÷ bulk | CPU ÷ raw |");
    println!("|---|--:|--:|--:|--:|--:|");
    for side in SIDES {
        println!(
            "| {side} | {n} | {:.3} | {:.3} | {:.2}× | {:.2}× |",
            median(side, wall),
            median(side, cpu),
            median(side, wall) / median("bulk", wall),
            median(side, cpu) / median("raw", cpu),
        );
    }
    Ok(())
}

/// One side on a fresh database of the server at `uri`: `Foo`'s indexes,
/// `n / 2` stored documents, then `n` upserts, timed.
async fn one_side(uri: &str, side: &str, n: u64) -> Result<Sample, BoxError> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let conn = Connection::from_client(client.clone(), "bulk");
    let foos = conn.repo::<Foo>();
    foos.create_indexes().await?;
    foos.insert_many((0..n / 2).map(|i| FooInsert { id: None, foo: name(i * 2), bar: None }))
        .await?;
    let watch = Stopwatch::start();
    match side {
        "bulk" => {
            let writes =
                (0..n).map(|i| Write::upsert(Foo::FOO.eq(name(i)), Foo::BAR.set(Some(i as i64))));
            let outcome = foos.bulk_write(writes).await?;
            if !outcome.is_ok() {
                return Err(format!("{} upserts failed", outcome.errors().count()).into());
            }
        }
        "singles" => {
            for i in 0..n {
                foos.upsert(Foo::FOO.eq(name(i)), Foo::BAR.set(Some(i as i64))).await?;
            }
        }
        "raw" => raw(&client.database("bulk"), n).await?,
        other => return Err(format!("no side `{other}`").into()),
    }
    let sample = watch.stop(n);
    let stored = foos.count(Query::all()).await?;
    let set = foos.count(Foo::BAR.present()).await?;
    if (stored, set) != (n, n) {
        return Err(format!("{side}: {stored} stored, {set} with bar; expected {n}").into());
    }
    client.shutdown().await;
    Ok(sample)
}

/// The same upserts by hand: one `update` command of `n` statements.
async fn raw(db: &mongodb::Database, n: u64) -> Result<(), BoxError> {
    let now = DateTime::now();
    let updates: Vec<Document> = (0..n)
        .map(|i| {
            doc! {
                "q": { "foo": name(i) },
                "u": {
                    "$set": { "bar": i as i64, "updated_at": now },
                    "$setOnInsert": { "_id": Uuid::new(), "created_at": now },
                },
                "upsert": true,
            }
        })
        .collect();
    let reply =
        db.run_command(doc! { "update": "foos", "updates": updates, "ordered": true }).await?;
    if reply.contains_key("writeErrors") {
        return Err(format!("raw upserts failed: {reply}").into());
    }
    Ok(())
}
