//! How cost grows with work: `insert_many` per document at two sizes,
//! `iterate` (a stream) with its peak memory measured in a child process,
//! beside `find_many` (a `Vec`), and `paginate` time against the offset,
//! beside keyset pagination.

use futures::TryStreamExt;
use model::{Connection, DateTime, Query, Uuid};
use serde_json::{Value, json};

use crate::Plan;
use crate::e2e::BoxError;
use crate::measure::{Sample, Spread, Stopwatch, proc_status_kib};
use crate::progress;
use crate::report::round3;
use model_bench::models::{Foo, foo_insert, foo_name};

/// The hidden first argument that makes the binary a child measuring one read.
pub const CHILD: &str = "__child-read";

/// Page size of the pagination measurements.
const PAGE: u64 = 100;

/// Fetches per offset (the median is reported).
const REPEATS: usize = 3;

/// One `insert_many`.
#[derive(Debug, Clone)]
pub struct InsertRow {
    /// Documents inserted.
    pub docs: u64,
    /// Which side.
    pub side: &'static str,
    /// Its cost.
    pub sample: Sample,
}

/// One read of a whole collection, measured in a child process.
#[derive(Debug, Clone)]
pub struct ReadRow {
    /// Documents in the collection.
    pub docs: u64,
    /// `iterate` (stream, driver batches), `iterate_batch_1000` (stream,
    /// `.batch_size(1000)`) or `find_many` (collect into a Vec).
    pub how: String,
    /// Peak RSS before the read (runtime, client, connection), KiB.
    pub hwm_before_kib: u64,
    /// Peak RSS after the read, KiB.
    pub hwm_after_kib: u64,
    /// Its cost per document.
    pub sample: Sample,
}

/// One page fetch at an offset.
#[derive(Debug, Clone)]
pub struct PageRow {
    /// Documents in the collection.
    pub docs: u64,
    /// Offset of the page.
    pub offset: u64,
    /// `paginate` (count + skip/limit find) or `keyset` (`gt` + limit).
    pub how: &'static str,
    /// Median wall ms over the repetitions.
    pub wall_ms: f64,
    /// Median CPU ms over the repetitions.
    pub cpu_ms: f64,
}

/// Everything the growth section measured.
#[derive(Debug, Default)]
pub struct Growth {
    /// `insert_many` rows.
    pub inserts: Vec<InsertRow>,
    /// Whole-collection reads.
    pub reads: Vec<ReadRow>,
    /// Page fetches.
    pub pages: Vec<PageRow>,
}

/// Runs the growth measurements against `uri`.
pub fn run(plan: &Plan, uri: &str) -> Result<Growth, BoxError> {
    let runtime = crate::Flavor::MultiThread.runtime();
    let mut growth = Growth::default();
    let sizes = plan.growth_sizes;
    let mut databases = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let odm_db = testkit::unique_name(&format!("growth_odm_{size}"));
        let raw_db = testkit::unique_name(&format!("growth_raw_{size}"));
        databases.push(odm_db.clone());
        databases.push(raw_db.clone());
        progress!("growth: insert_many of {size}");
        let rows = runtime.block_on(insert_many(uri, &odm_db, &raw_db, size, i % 2 == 1))?;
        growth.inserts.extend(rows);
        for how in ["iterate", "iterate_batch_1000", "find_many"] {
            progress!("growth: {how} over {size} (child process)");
            growth.reads.push(read_in_child(uri, &odm_db, size, how)?);
        }
    }
    if let Some(&size) = sizes.last() {
        let db = &databases[databases.len() - 2];
        progress!("growth: paginate at deep offsets of {size}");
        growth.pages = runtime.block_on(pages(uri, db, size))?;
    }
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await?;
        for db in &databases {
            client.database(db).drop().await?;
        }
        Ok::<_, BoxError>(())
    })?;
    Ok(growth)
}

async fn insert_many(
    uri: &str,
    odm_db: &str,
    raw_db: &str,
    size: u64,
    raw_first: bool,
) -> Result<Vec<InsertRow>, BoxError> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let repo = Connection::from_client(client.clone(), odm_db).repo::<Foo>();
    repo.create_indexes().await?;
    let raw_repo = Connection::from_client(client.clone(), raw_db).repo::<Foo>();
    raw_repo.create_indexes().await?;
    let raw = client.database(raw_db).collection::<Foo>("foos");
    // Connections are opened before the clock starts.
    repo.count(Query::all()).await?;
    raw.count_documents(bson::Document::new()).await?;
    let mut rows = Vec::new();
    for side in if raw_first { ["raw", "odm"] } else { ["odm", "raw"] } {
        let sample = if side == "odm" {
            let inserts: Vec<_> = (0..size as usize).map(foo_insert).collect();
            let watch = Stopwatch::start();
            repo.insert_many(inserts).await?;
            watch.stop(size)
        } else {
            // Built inside the timing, as `insert_many` builds the models
            // (keys, timestamps) inside it.
            let watch = Stopwatch::start();
            let now = DateTime::now();
            let docs: Vec<Foo> = (0..size as usize)
                .map(|i| Foo {
                    id: Uuid::new(),
                    foo: foo_name(i),
                    bar: Some(i as i64),
                    created_at: now,
                    updated_at: None,
                })
                .collect();
            raw.insert_many(&docs).await?;
            watch.stop(size)
        };
        rows.push(InsertRow { docs: size, side, sample });
    }
    client.shutdown().await;
    Ok(rows)
}

fn read_in_child(uri: &str, db: &str, size: u64, how: &str) -> Result<ReadRow, BoxError> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([CHILD, uri, db, &size.to_string(), how])
        .output()?;
    if !output.status.success() {
        return Err(
            format!("child {how} failed: {}", String::from_utf8_lossy(&output.stderr)).into()
        );
    }
    let line: Value = serde_json::from_slice(&output.stdout)?;
    let get = |k: &str| line[k].as_u64().ok_or_else(|| format!("child output without {k}"));
    Ok(ReadRow {
        docs: size,
        how: how.to_string(),
        hwm_before_kib: get("hwm_before_kib")?,
        hwm_after_kib: get("hwm_after_kib")?,
        sample: Sample {
            ops: get("docs")?,
            cpu: std::time::Duration::from_micros(get("cpu_us")?),
            wall: std::time::Duration::from_micros(get("wall_us")?),
        },
    })
}

/// The child: reads the whole collection one way and prints peak RSS
/// before and after, as JSON on stdout.
pub fn child(args: &[String]) -> Result<(), BoxError> {
    let [uri, db, size, how] = args else {
        return Err(format!("{CHILD} URI DB SIZE iterate|iterate_batch_1000|find_many").into());
    };
    let size: u64 = size.parse()?;
    let runtime = crate::Flavor::CurrentThread.runtime();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await?;
        let repo = Connection::from_client(client.clone(), db.as_str()).repo::<Foo>();
        // Connect and touch the collection first, so the baseline has them.
        repo.count(Query::all()).await?;
        let hwm_before = proc_status_kib("VmHWM:").ok_or("no VmHWM")?;
        let watch = Stopwatch::start();
        let docs = match how.as_str() {
            "iterate" | "iterate_batch_1000" => {
                let mut stream = if how == "iterate" {
                    repo.iterate(Query::all()).await?
                } else {
                    repo.iterate(Query::all()).batch_size(1000).await?
                };
                let mut n = 0u64;
                while let Some(doc) = stream.try_next().await? {
                    n += u64::from(doc.bar.is_some());
                }
                n
            }
            _ => {
                let all = repo.find_many(Query::all()).await?;
                all.iter().filter(|d| d.bar.is_some()).count() as u64
            }
        };
        let sample = watch.stop(docs);
        let hwm_after = proc_status_kib("VmHWM:").ok_or("no VmHWM")?;
        if docs != size {
            return Err(format!("read {docs} documents, expected {size}").into());
        }
        println!(
            "{}",
            json!({
                "docs": docs,
                "hwm_before_kib": hwm_before,
                "hwm_after_kib": hwm_after,
                "cpu_us": sample.cpu.as_micros() as u64,
                "wall_us": sample.wall.as_micros() as u64,
            })
        );
        client.shutdown().await;
        Ok(())
    })
}

async fn pages(uri: &str, db: &str, size: u64) -> Result<Vec<PageRow>, BoxError> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let repo = Connection::from_client(client.clone(), db).repo::<Foo>();
    let mut offsets = vec![0, size / 10, size / 2, size - PAGE];
    offsets.dedup();
    let mut rows = Vec::new();
    for offset in offsets {
        for how in ["paginate", "keyset"] {
            let mut wall = Vec::new();
            let mut cpu = Vec::new();
            for _ in 0..REPEATS {
                let watch = Stopwatch::start();
                let docs = if how == "paginate" {
                    repo.paginate(Query::all())
                        .sort(Foo::FOO.asc())
                        .offset(offset)
                        .limit(PAGE)
                        .await?
                        .1
                } else if offset == 0 {
                    repo.find_many(Query::all()).sort(Foo::FOO.asc()).limit(PAGE).await?
                } else {
                    // The last key of the previous page is all keyset needs.
                    let after = foo_name(offset as usize - 1);
                    repo.find_many(Foo::FOO.gt(after)).sort(Foo::FOO.asc()).limit(PAGE).await?
                };
                let sample = watch.stop(1);
                assert_eq!(docs.len() as u64, PAGE);
                assert_eq!(docs[0].foo, foo_name(offset as usize));
                wall.push(sample.wall.as_secs_f64() * 1e3);
                cpu.push(sample.cpu.as_secs_f64() * 1e3);
            }
            rows.push(PageRow {
                docs: size,
                offset,
                how,
                wall_ms: Spread::of(wall).median,
                cpu_ms: Spread::of(cpu).median,
            });
        }
    }
    client.shutdown().await;
    Ok(rows)
}

impl Growth {
    /// Markdown tables.
    pub fn table(&self) -> String {
        let mut s = String::from("\n### Growth: insert_many (one call, batched by the driver)\n\n");
        s += "| documents | side | wall µs/doc | CPU µs/doc | docs/s |\n|--:|---|--:|--:|--:|\n";
        for r in &self.inserts {
            s += &format!(
                "| {} | {} | {:.1} | {:.1} | {:.0} |\n",
                r.docs,
                r.side,
                r.sample.wall_us(),
                r.sample.cpu_us(),
                r.sample.ops_per_sec()
            );
        }
        s += "\n### Growth: reading a whole collection (child process per row)\n\n";
        s += "| documents | how | peak RSS before (MiB) | peak RSS after (MiB) | growth (MiB) | wall µs/doc | CPU µs/doc |\n|--:|---|--:|--:|--:|--:|--:|\n";
        for r in &self.reads {
            s += &format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |\n",
                r.docs,
                r.how,
                r.hwm_before_kib as f64 / 1024.0,
                r.hwm_after_kib as f64 / 1024.0,
                (r.hwm_after_kib - r.hwm_before_kib) as f64 / 1024.0,
                r.sample.wall_us(),
                r.sample.cpu_us()
            );
        }
        s += &format!(
            "\n### Growth: a page of {PAGE} at an offset (median of {REPEATS})\n\n| documents | offset | how | wall ms | CPU ms |\n|--:|--:|---|--:|--:|\n"
        );
        for r in &self.pages {
            s += &format!(
                "| {} | {} | {} | {:.2} | {:.2} |\n",
                r.docs, r.offset, r.how, r.wall_ms, r.cpu_ms
            );
        }
        s
    }

    /// JSON.
    pub fn json(&self) -> Value {
        json!({
            "insert_many": self.inserts.iter().map(|r| json!({
                "docs": r.docs,
                "side": r.side,
                "wall_us_per_doc": round3(r.sample.wall_us()),
                "cpu_us_per_doc": round3(r.sample.cpu_us()),
            })).collect::<Vec<_>>(),
            "read_all": self.reads.iter().map(|r| json!({
                "docs": r.docs,
                "how": r.how,
                "peak_rss_before_kib": r.hwm_before_kib,
                "peak_rss_after_kib": r.hwm_after_kib,
                "wall_us_per_doc": round3(r.sample.wall_us()),
                "cpu_us_per_doc": round3(r.sample.cpu_us()),
            })).collect::<Vec<_>>(),
            "paginate": self.pages.iter().map(|r| json!({
                "docs": r.docs,
                "offset": r.offset,
                "how": r.how,
                "wall_ms": round3(r.wall_ms),
                "cpu_ms": round3(r.cpu_ms),
            })).collect::<Vec<_>>(),
        })
    }
}
