//! How cost grows with work: `insert_many` per document at two sizes,
//! `iterate` (a stream) with its peak memory measured in a child process,
//! beside `find_many` (a `Vec`) and the raw driver's default batches, on
//! small `Foo`s and on ~1.5 KiB `Blob`s; and the time of a page against
//! its offset, `paginate` (skip) beside `scroll` (keyset), with a walk
//! over the first keyset pages.

use futures::{StreamExt, TryStreamExt};
use model::{Connection, DateTime, Model, PageCursor, Query};
use serde_json::{Value, json};

use crate::Plan;
use crate::e2e::BoxError;
use crate::measure::{Sample, Spread, Stopwatch, proc_status_kib};
use crate::progress;
use crate::report::round3;
use model_bench::models::{BLOB_PAYLOAD, Blob, Foo, blob, foo_insert, foo_name, stored_foos};

/// The hidden first argument that makes the binary a child measuring one read.
pub const CHILD: &str = "__child-read";

/// Page size of the pagination measurements.
const PAGE: u64 = 100;

/// Fetches per offset (the median is reported).
const REPEATS: usize = 3;

/// The ways a whole collection is read, on `Foo`s.
const FOO_READS: [&str; 4] = ["raw_find", "iterate", "iterate_batch_1000", "find_many"];

/// The ways a whole collection is read, on `Blob`s.
const BLOB_READS: [&str; 3] = ["raw_find", "iterate", "find_many"];

/// `Blob`s per `insert_many` call while seeding.
const BLOB_CHUNK: usize = 10_000;

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
    /// `foo` or `blob`.
    pub model: &'static str,
    /// Documents in the collection.
    pub docs: u64,
    /// `raw_find` (the driver's `find({})` stream with its default batches:
    /// 101 documents, then up to 16 MiB), `iterate` (stream, the default
    /// of [`model::action::ITERATE_BATCH_SIZE`] per batch), `iterate_batch_1000`
    /// (stream, `.batch_size(1000)`) or `find_many` (collect into a Vec).
    pub how: String,
    /// Peak RSS before the read (runtime, client, connection), KiB.
    pub hwm_before_kib: u64,
    /// Peak RSS after the read, KiB.
    pub hwm_after_kib: u64,
    /// Its cost per document.
    pub sample: Sample,
}

impl ReadRow {
    /// Peak RSS growth over the read, MiB.
    pub fn growth_mib(&self) -> f64 {
        self.hwm_after_kib.saturating_sub(self.hwm_before_kib) as f64 / 1024.0
    }

    /// One line of what the read measured, for the progress output.
    pub fn summary(&self) -> String {
        format!(
            "peak RSS {:.1} -> {:.1} MiB (+{:.1}), {:.2} µs/doc wall, {:.2} µs/doc CPU",
            self.hwm_before_kib as f64 / 1024.0,
            self.hwm_after_kib as f64 / 1024.0,
            self.growth_mib(),
            self.sample.wall_us(),
            self.sample.cpu_us()
        )
    }
}

/// One page fetch at an offset.
#[derive(Debug, Clone)]
pub struct PageRow {
    /// Documents in the collection.
    pub docs: u64,
    /// Offset of the page.
    pub offset: u64,
    /// `paginate` (count + skip/limit find) or `scroll` (keyset: the page
    /// at the cursor the walk kept for this offset).
    pub how: &'static str,
    /// Median wall ms over the repetitions.
    pub wall_ms: f64,
    /// Median CPU ms over the repetitions.
    pub cpu_ms: f64,
}

/// A walk over the first keyset pages of a collection.
#[derive(Debug, Clone, Copy)]
pub struct WalkRow {
    /// Documents in the collection.
    pub docs: u64,
    /// Its cost: `ops` is the number of pages.
    pub sample: Sample,
}

/// Everything the growth section measured.
#[derive(Debug, Default)]
pub struct Growth {
    /// `insert_many` rows.
    pub inserts: Vec<InsertRow>,
    /// Whole-collection reads.
    pub reads: Vec<ReadRow>,
    /// Bytes of one stored `Blob` (its BSON).
    pub blob_bytes: usize,
    /// Page fetches.
    pub pages: Vec<PageRow>,
    /// The walk over the first keyset pages.
    pub walk: Option<WalkRow>,
}

/// Runs the growth measurements against `uri`.
pub fn run(plan: &Plan, uri: &str) -> Result<Growth, BoxError> {
    let runtime = crate::Flavor::MultiThread.runtime();
    let mut growth = Growth::default();
    let sizes = plan.growth_sizes;
    let mut databases = Vec::new();
    // The ODM database of the last size: the pages are read from it.
    let mut paged = None;
    for (i, &size) in sizes.iter().enumerate() {
        let odm_db = testkit::unique_name(&format!("growth_odm_{size}"));
        let raw_db = testkit::unique_name(&format!("growth_raw_{size}"));
        databases.push(odm_db.clone());
        databases.push(raw_db.clone());
        progress!("growth: insert_many of {size}");
        let rows = runtime.block_on(insert_many(uri, &odm_db, &raw_db, size, i % 2 == 1))?;
        for r in &rows {
            progress!(
                "growth: insert_many of {size} ({}): {:.1} µs/doc wall, {:.1} µs/doc CPU",
                r.side,
                r.sample.wall_us(),
                r.sample.cpu_us()
            );
        }
        growth.inserts.extend(rows);
        for how in FOO_READS {
            progress!("growth: {how} over {size} foos (child process)");
            let row = read_in_child(uri, &odm_db, size, "foo", how)?;
            progress!("growth: {how} over {size} foos: {}", row.summary());
            growth.reads.push(row);
        }
        paged = Some((size, odm_db));
    }
    // The whole reads of blobs before the (long) keyset walk.
    growth.blob_bytes = bson::to_vec(&blob(0, DateTime::now()))?.len();
    for &size in plan.blob_sizes {
        let db = testkit::unique_name(&format!("growth_blob_{size}"));
        progress!("growth: seeding {size} blobs of {} bytes", growth.blob_bytes);
        runtime.block_on(seed_blobs(uri, &db, size))?;
        for how in BLOB_READS {
            progress!("growth: {how} over {size} blobs (child process)");
            let row = read_in_child(uri, &db, size, "blob", how)?;
            progress!("growth: {how} over {size} blobs: {}", row.summary());
            growth.reads.push(row);
        }
        // Dropped at once, so the keyset walk runs on a server holding
        // only the `Foo` collections.
        runtime.block_on(drop_database(uri, &db))?;
    }
    if let Some((size, db)) = &paged {
        progress!("growth: keyset walk and pages at offsets of {size}");
        let (walk, pages) = runtime.block_on(pages(uri, db, *size))?;
        growth.walk = Some(walk);
        growth.pages = pages;
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
            let docs: Vec<Foo> = stored_foos(size as usize, now);
            raw.insert_many(&docs).await?;
            watch.stop(size)
        };
        rows.push(InsertRow { docs: size, side, sample });
    }
    client.shutdown().await;
    Ok(rows)
}

/// Drops the database `db`.
async fn drop_database(uri: &str, db: &str) -> Result<(), BoxError> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    client.database(db).drop().await?;
    client.shutdown().await;
    Ok(())
}

/// Inserts `size` `Blob`s into `db`, in calls of [`BLOB_CHUNK`].
async fn seed_blobs(uri: &str, db: &str, size: u64) -> Result<(), BoxError> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let coll = client.database(db).collection::<Blob>(Blob::COLLECTION);
    let now = DateTime::now();
    let size = size as usize;
    for start in (0..size).step_by(BLOB_CHUNK) {
        let docs: Vec<Blob> = (start..size.min(start + BLOB_CHUNK)).map(|i| blob(i, now)).collect();
        coll.insert_many(&docs).await?;
    }
    client.shutdown().await;
    Ok(())
}

fn read_in_child(
    uri: &str,
    db: &str,
    size: u64,
    model: &'static str,
    how: &str,
) -> Result<ReadRow, BoxError> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([CHILD, uri, db, &size.to_string(), model, how])
        .output()?;
    if !output.status.success() {
        return Err(
            format!("child {how} failed: {}", String::from_utf8_lossy(&output.stderr)).into()
        );
    }
    let line: Value = serde_json::from_slice(&output.stdout)?;
    let get = |k: &str| line[k].as_u64().ok_or_else(|| format!("child output without {k}"));
    Ok(ReadRow {
        model,
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

/// The child: reads the whole collection of `foo`s or `blob`s one way and
/// prints peak RSS before and after, as JSON on stdout.
pub fn child(args: &[String]) -> Result<(), BoxError> {
    let [uri, db, size, model, how] = args else {
        return Err(format!(
            "{CHILD} URI DB SIZE foo|blob raw_find|iterate|iterate_batch_1000|find_many"
        )
        .into());
    };
    let size: u64 = size.parse()?;
    let runtime = crate::Flavor::CurrentThread.runtime();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await?;
        let line = match model.as_str() {
            "foo" => read_all::<Foo>(&client, db, how, |d| d.bar.is_some()).await?,
            "blob" => {
                read_all::<Blob>(&client, db, how, |d| d.payload.len() == BLOB_PAYLOAD).await?
            }
            other => return Err(format!("no model `{other}`").into()),
        };
        client.shutdown().await;
        if line["docs"].as_u64() != Some(size) {
            return Err(format!("read {} documents, expected {size}", line["docs"]).into());
        }
        println!("{line}");
        Ok(())
    })
}

/// Reads every `M` of `db` the way `how` says, counting those `keep`
/// accepts (so each is decoded and looked at), between two readings of
/// the peak RSS.
async fn read_all<M: Model>(
    client: &mongodb::Client,
    db: &str,
    how: &str,
    keep: fn(&M) -> bool,
) -> Result<Value, BoxError> {
    let repo = Connection::from_client(client.clone(), db).repo::<M>();
    let coll = client.database(db).collection::<M>(M::COLLECTION);
    // Connect and touch the collection first, so the baseline has them.
    repo.count(Query::all()).await?;
    let hwm_before = proc_status_kib("VmHWM:").ok_or("no VmHWM")?;
    let watch = Stopwatch::start();
    let docs = match how {
        "raw_find" | "iterate" | "iterate_batch_1000" => {
            let mut stream = match how {
                // What `iterate` did before its default batch size.
                "raw_find" => {
                    coll.find(bson::Document::new()).await?.map_err(BoxError::from).boxed()
                }
                "iterate" => repo.iterate(Query::all()).await?.map_err(BoxError::from).boxed(),
                _ => repo
                    .iterate(Query::all())
                    .batch_size(1000)
                    .await?
                    .map_err(BoxError::from)
                    .boxed(),
            };
            let mut n = 0u64;
            while let Some(doc) = stream.try_next().await? {
                n += u64::from(keep(&doc));
            }
            n
        }
        "find_many" => {
            let all = repo.find_many(Query::all()).await?;
            all.iter().filter(|d| keep(d)).count() as u64
        }
        other => return Err(format!("no read `{other}`").into()),
    };
    let sample = watch.stop(docs);
    let hwm_after = proc_status_kib("VmHWM:").ok_or("no VmHWM")?;
    Ok(json!({
        "docs": docs,
        "hwm_before_kib": hwm_before,
        "hwm_after_kib": hwm_after,
        "cpu_us": sample.cpu.as_micros() as u64,
        "wall_us": sample.wall.as_micros() as u64,
    }))
}

/// Pages of the keyset walk measured (from the first), at most.
const WALK_PAGES: u64 = 20;

/// The pages at offsets 0, 10%, 50% and the last of `size` `Foo`s sorted
/// by `foo`: `paginate` (skip) beside `scroll` at the cursor for that
/// offset; then a keyset walk over the first [`WALK_PAGES`] pages, whose
/// cursors are checked against the sought ones.
///
/// A page's cursor is sought, not walked to: one `scroll` of one document
/// filtered to `foo >= ` the name before the offset gives the same cursor
/// (a cursor holds the sort and the last values, not the query) without
/// reading every page before it, which on a server that scans for a
/// sorted read takes hours at 100,000 documents.
async fn pages(uri: &str, db: &str, size: u64) -> Result<(WalkRow, Vec<PageRow>), BoxError> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let repo = Connection::from_client(client.clone(), db).repo::<Foo>();
    // Page starts: each offset rounded down to a whole page.
    let mut offsets: Vec<u64> =
        [0, size / 10, size / 2, size - PAGE].iter().map(|o| o / PAGE * PAGE).collect();
    offsets.dedup();

    let mut rows = Vec::new();
    for &offset in &offsets {
        let cursor = seek(&repo, offset).await?;
        rows.extend(page_rows(&repo, size, offset, &cursor).await?);
    }

    let mut cursor: Option<PageCursor> = None;
    let mut offset = 0u64;
    let mut walk = Sample::default();
    while walk.ops < WALK_PAGES.min(size.div_ceil(PAGE)) {
        assert_eq!(cursor, seek(&repo, offset).await?, "a sought cursor is the walk's");
        let watch = Stopwatch::start();
        let page = repo.scroll(Query::all()).sort(Foo::FOO.asc()).size(PAGE).at(cursor).await?;
        let sample = watch.stop(1);
        walk.ops += 1;
        walk.wall += sample.wall;
        walk.cpu += sample.cpu;
        assert_eq!(page.items.first().map(|d| d.foo.clone()), Some(foo_name(offset as usize)));
        offset += page.items.len() as u64;
        cursor = page.next;
    }
    progress!(
        "growth: keyset walk of {} pages: {:.0} ms wall, {:.0} ms CPU",
        walk.ops,
        walk.wall.as_secs_f64() * 1e3,
        walk.cpu.as_secs_f64() * 1e3
    );
    assert_eq!(offset, walk.ops * PAGE, "the walk read each document once");
    assert_eq!(rows.len(), 2 * offsets.len());
    client.shutdown().await;
    Ok((WalkRow { docs: size, sample: walk }, rows))
}

/// The cursor that continues at `offset` in the `foo` order: `None` for
/// the first page, else the `next` of a one-document page at the name
/// before it.
async fn seek(repo: &model::Repo<Foo>, offset: u64) -> Result<Option<PageCursor>, BoxError> {
    if offset == 0 {
        return Ok(None);
    }
    let before = foo_name(offset as usize - 1);
    let page = repo.scroll(Foo::FOO.gte(before.clone())).sort(Foo::FOO.asc()).size(1).await?;
    assert_eq!(page.items.first().map(|d| d.foo.clone()), Some(before));
    Ok(page.next)
}

/// The page at `offset` by `paginate` and by `scroll` at `cursor` (the
/// walk's cursor for that offset), [`REPEATS`] times each, medians.
async fn page_rows(
    repo: &model::Repo<Foo>,
    size: u64,
    offset: u64,
    cursor: &Option<PageCursor>,
) -> Result<Vec<PageRow>, BoxError> {
    let mut rows = Vec::new();
    for how in ["paginate", "scroll"] {
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
                    .items
            } else {
                repo.scroll(Query::all())
                    .sort(Foo::FOO.asc())
                    .size(PAGE)
                    .at(cursor.clone())
                    .await?
                    .items
            };
            let sample = watch.stop(1);
            assert_eq!(docs.len() as u64, PAGE);
            assert_eq!(docs[0].foo, foo_name(offset as usize));
            wall.push(sample.wall.as_secs_f64() * 1e3);
            cpu.push(sample.cpu.as_secs_f64() * 1e3);
        }
        let row = PageRow {
            docs: size,
            offset,
            how,
            wall_ms: Spread::of(wall).median,
            cpu_ms: Spread::of(cpu).median,
        };
        progress!(
            "growth: {how} at offset {offset}: {:.2} ms wall, {:.2} ms CPU",
            row.wall_ms,
            row.cpu_ms
        );
        rows.push(row);
    }
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
        s += &format!(
            "\n### Growth: reading a whole collection (child process per row; a blob is {} bytes of BSON)\n\n",
            self.blob_bytes
        );
        s += "| model | documents | how | peak RSS before (MiB) | peak RSS after (MiB) | growth (MiB) | wall µs/doc | CPU µs/doc |\n|---|--:|---|--:|--:|--:|--:|--:|\n";
        for r in &self.reads {
            s += &format!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |\n",
                r.model,
                r.docs,
                r.how,
                r.hwm_before_kib as f64 / 1024.0,
                r.hwm_after_kib as f64 / 1024.0,
                r.growth_mib(),
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
        if let Some(w) = &self.walk {
            s += &format!(
                "\n### Growth: the first keyset pages (`scroll`, {PAGE} a page, from the first)\n\n| documents | pages | wall ms | CPU ms | wall ms/page | CPU ms/page |\n|--:|--:|--:|--:|--:|--:|\n| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} |\n",
                w.docs,
                w.sample.ops,
                w.sample.wall.as_secs_f64() * 1e3,
                w.sample.cpu.as_secs_f64() * 1e3,
                w.sample.wall_us() / 1e3,
                w.sample.cpu_us() / 1e3,
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
            "blob_bytes": self.blob_bytes,
            "read_all": self.reads.iter().map(|r| json!({
                "model": r.model,
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
            "keyset_walk": self.walk.map(|w| json!({
                "docs": w.docs,
                "pages": w.sample.ops,
                "wall_ms": round3(w.sample.wall.as_secs_f64() * 1e3),
                "cpu_ms": round3(w.sample.cpu.as_secs_f64() * 1e3),
            })),
        })
    }
}
