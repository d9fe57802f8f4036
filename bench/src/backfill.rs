//! A read-modify-write backfill of N documents: a migration step using
//! `StepContext::rewrite` beside the same work written by hand on the raw
//! driver (the same batches of 500 in `_id` order, the same value computed
//! in Rust, the same 8 updates in flight). Each side runs in a child
//! process of its own on a fresh database, which prints its wall and CPU
//! time and its peak RSS before and after.
//!
//! ```text
//! cargo run --release -p model-bench -- --backfill 100000 [--rounds 2]
//! ```

use std::future::IntoFuture;
use std::process::Command;

use bson::{Document, doc};
use futures::{StreamExt, TryStreamExt};
use model::migrations::{Migrations, StepContext, step};
use model::{Connection, DateTime, Model, Query};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::e2e::BoxError;
use crate::measure::{Stopwatch, proc_status_kib};
use crate::server::BenchServer;

/// The child's first argument.
pub const CHILD: &str = "--backfill-child";

const BATCH: u64 = 500;
const IN_FLIGHT: usize = 8;

/// A post whose slug the backfill computes from its title.
#[derive(Debug, Clone, Model, Serialize, Deserialize)]
#[model(collection = "posts", key = id)]
struct Post {
    #[serde(rename = "_id")]
    id: i64,
    title: String,
    body: String,
    slug: Option<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn slug(title: &str) -> String {
    title.to_lowercase().replace(' ', "-")
}

/// `--backfill N [--rounds R]`: R interleaved rounds of both sides.
pub fn run(args: &[String]) -> Result<(), BoxError> {
    let n: u64 = args.first().ok_or("--backfill N")?.parse()?;
    let rounds: usize = match args.iter().position(|a| a == "--rounds") {
        Some(i) => args.get(i + 1).ok_or("--rounds R")?.parse()?,
        None => 2,
    };
    let mut results: Vec<Value> = Vec::new();
    for round in 0..rounds {
        for side in ["model", "raw"] {
            // A fresh server per side and round: the test server slows as
            // it serves more writes.
            let server = BenchServer::start()?;
            let db = format!("backfill_{round}_{side}");
            let runtime = crate::Flavor::MultiThread.runtime();
            runtime.block_on(seed(&server.uri, &db, n))?;
            let out = Command::new(std::env::current_exe()?)
                .args([CHILD, &server.uri, &db, side, &n.to_string()])
                .output()?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
            let line: Value = serde_json::from_slice(&out.stdout)?;
            eprintln!("round {round} {side}: {line}");
            results.push(line);
        }
    }
    println!(
        "| side | documents | wall s | docs/s | CPU s | peak RSS before (MiB) | after (MiB) | growth (MiB) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for r in &results {
        let mib = |k: &str| r[k].as_f64().unwrap_or(0.0) / 1024.0;
        let wall = r["wall_us"].as_f64().unwrap_or(0.0) / 1e6;
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.2} | {:.1} | {:.1} | {:.1} |",
            r["side"].as_str().unwrap_or("?"),
            r["docs"],
            wall,
            r["docs"].as_f64().unwrap_or(0.0) / wall,
            r["cpu_us"].as_f64().unwrap_or(0.0) / 1e6,
            mib("hwm_before_kib"),
            mib("hwm_after_kib"),
            mib("hwm_after_kib") - mib("hwm_before_kib"),
        );
    }
    Ok(())
}

async fn seed(uri: &str, db: &str, n: u64) -> Result<(), BoxError> {
    let conn = Connection::new(uri, db);
    let posts = conn.repo::<Post>();
    let mut id = 0_i64;
    while (id as u64) < n {
        let end = (id + 5_000).min(n as i64);
        posts
            .insert_many((id + 1..=end).map(|id| PostInsert {
                id,
                title: format!("Post number {id} on evolving models"),
                body: "x".repeat(200),
                slug: None,
            }))
            .await?;
        id = end;
    }
    conn.disconnect().await;
    Ok(())
}

/// The child: one side's backfill, between two readings of the peak RSS.
pub fn child(args: &[String]) -> Result<(), BoxError> {
    let [uri, db, side, n] = args else {
        return Err(format!("{CHILD} URI DB model|raw N").into());
    };
    let n: u64 = n.parse()?;
    let runtime = crate::Flavor::MultiThread.runtime();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await?;
        let conn = Connection::from_client(client.clone(), db);
        // Connected, and the collection touched, before the baseline.
        conn.repo::<Post>().count(Query::all()).await?;
        let before = proc_status_kib("VmHWM:").ok_or("no VmHWM")?;
        let watch = Stopwatch::start();
        match side.as_str() {
            "model" => {
                let report = Migrations::new(&conn)
                    .step(step!("backfill-slugs", |cx: StepContext| async move {
                        cx.rewrite(Query::<Post>::all())
                            .batch(BATCH)
                            .run(|post: &Post| Some(Post::SLUG.set(Some(slug(&post.title)))))
                            .await?;
                        Ok(())
                    }))
                    .run()
                    .await?;
                assert_eq!(report.applied.len(), 1);
            }
            "raw" => raw(&client.database(db)).await?,
            other => return Err(format!("no side `{other}`").into()),
        }
        let sample = watch.stop(n);
        let after = proc_status_kib("VmHWM:").ok_or("no VmHWM")?;
        let done = client.database(db).collection::<Document>("posts");
        let missing = done.count_documents(doc! { "slug": { "$exists": false } }).await?;
        if missing != 0 {
            return Err(format!("{missing} documents without a slug").into());
        }
        client.shutdown().await;
        let line = json!({
            "side": side, "docs": n,
            "wall_us": sample.wall.as_micros() as u64, "cpu_us": sample.cpu.as_micros() as u64,
            "hwm_before_kib": before, "hwm_after_kib": after,
        });
        println!("{line}");
        Ok(())
    })
}

/// The same backfill by hand: batches in `_id` order, the value computed
/// in Rust, `$set` with `updated_at`, 8 updates in flight, progress kept.
async fn raw(db: &mongodb::Database) -> Result<(), BoxError> {
    let posts = db.collection::<Post>("posts");
    let progress = db.collection::<Document>("backfill_progress");
    let mut last: Option<i64> = None;
    loop {
        let filter = match last {
            Some(last) => doc! { "_id": { "$gt": last } },
            None => doc! {},
        };
        let batch: Vec<Post> = posts
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(BATCH as i64)
            .await?
            .try_collect()
            .await?;
        let Some(tail) = batch.last() else { break };
        last = Some(tail.id);
        let now = DateTime::now();
        futures::stream::iter(batch.iter().map(|post| {
            let update = doc! { "$set": { "slug": slug(&post.title), "updated_at": now } };
            posts.update_one(doc! { "_id": post.id }, update)
        }))
        .map(|update| update.into_future())
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
        progress
            .update_one(doc! { "_id": "slugs" }, doc! { "$set": { "last": last } })
            .upsert(true)
            .await?;
    }
    Ok(())
}
