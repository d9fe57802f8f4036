//! End-to-end A/B: each repository operation beside the raw driver calls a
//! user would write without the model layer, on the same client, the same
//! database and the same collection state.
//!
//! The raw side uses `Collection<Foo>` with `doc!` filters: the same serde
//! struct, so both sides pay the same (de)serialization and the difference
//! is the model layer itself (typed builders, key filters, the action and
//! its future, error mapping, the `tracing` span).

use bson::{Document, doc};
use futures::TryStreamExt;
use model::{Connection, DateTime, Query, Repo, Uuid};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection};

use crate::measure::{Sample, Stopwatch};
use crate::raw_lock::{LOCK_TTL, RawLocks, lock_key};
use model_bench::models::{
    Address, BarGroup, Foo, FooInsert, FooName, Wide, foo_name, stored_foos, stored_wides,
};

/// A boxed error: a benchmark stops at the first failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An operation measured side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `insert_one` of a new document.
    InsertOne,
    /// `find(&key)`.
    FindByKey,
    /// `find_one(Foo::FOO.eq(..))` on a unique index.
    FindOneByQuery,
    /// `find_one(Wide::ADDRESS.then(Address::CITY).eq(..))`: a nested path,
    /// on [`Wide`] documents.
    FindOneNested,
    /// `update(&key, Foo::BAR.inc(1))` (findAndModify, document after).
    UpdateOne,
    /// `delete(&key)`.
    DeleteOne,
    /// `find_many(Query::all())` of 100 documents.
    FindMany100,
    /// `paginate` with sort, offset 40, limit 20 (a count and a find).
    Paginate,
    /// `find_many(Query::all()).limit(100).project::<FooName>()`: one field
    /// of 100 documents (`{foo: 1, _id: 0}`).
    Project,
    /// `aggregate(Query::all())` with a `$group` by `bar % 10` and a
    /// `$sort`, decoded into [`BarGroup`]s: 10 groups of 100 documents.
    Aggregate,
    /// `Locks::try_lock` + `Locks::release` of a free key (three commands).
    LockCycle,
    /// `Locks::lock(key, closure)` of a free key: the cycle plus the
    /// heartbeat task and the cancellation signal.
    LockClosure,
}

impl Op {
    /// Every CRUD operation, in run order.
    pub const ALL: [Op; 12] = [
        Op::InsertOne,
        Op::FindByKey,
        Op::FindOneByQuery,
        Op::FindOneNested,
        Op::UpdateOne,
        Op::DeleteOne,
        Op::FindMany100,
        Op::Paginate,
        Op::Project,
        Op::Aggregate,
        Op::LockCycle,
        Op::LockClosure,
    ];

    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::InsertOne => "insert_one",
            Op::FindByKey => "find by key",
            Op::FindOneByQuery => "find_one by query",
            Op::FindOneNested => "find_one by nested path",
            Op::UpdateOne => "update_one",
            Op::DeleteOne => "delete_one",
            Op::FindMany100 => "find_many (100 docs)",
            Op::Paginate => "paginate (20 of 100)",
            Op::Project => "project (1 field of 100 docs)",
            Op::Aggregate => "aggregate ($group of 100 docs)",
            Op::LockCycle => "lock try_lock+release",
            Op::LockClosure => "lock closure form",
        }
    }

    /// The name `--op-loop` knows it by.
    pub fn key(self) -> &'static str {
        match self {
            Op::InsertOne => "insert_one",
            Op::FindByKey => "find",
            Op::FindOneByQuery => "find_one",
            Op::FindOneNested => "find_nested",
            Op::UpdateOne => "update_one",
            Op::DeleteOne => "delete_one",
            Op::FindMany100 => "find_many",
            Op::Paginate => "paginate",
            Op::Project => "project",
            Op::Aggregate => "aggregate",
            Op::LockCycle => "lock_cycle",
            Op::LockClosure => "lock_closure",
        }
    }

    /// Documents seeded before the op runs `ops` times (after `warm` warm-up ops per side).
    fn seed(self, ops: u64, warm: u64) -> u64 {
        match self {
            Op::InsertOne | Op::LockCycle | Op::LockClosure => 0,
            // A small collection: SecantusDB's findAndModify slows as it grows.
            Op::UpdateOne => 20,
            // One document per delete on each side.
            Op::DeleteOne => 2 * (ops + warm),
            _ => 100,
        }
    }

    /// Whether an op reads many documents, so fewer are run.
    pub fn is_bulk(self) -> bool {
        matches!(self, Op::FindMany100 | Op::Paginate | Op::Project | Op::Aggregate)
    }
}

/// One side of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Through the model layer.
    Odm,
    /// Raw driver calls.
    Raw,
}

/// The state both sides of one op share: a fresh database, seeded.
pub struct Fixture {
    repo: Repo<Foo>,
    raw: Collection<Foo>,
    wides: Repo<Wide>,
    raw_wides: Collection<Wide>,
    locks: model::lock::Locks,
    raw_locks: RawLocks,
    keys: Vec<Uuid>,
    names: Vec<String>,
    /// The seeded `Wide`s' cities (for [`Op::FindOneNested`]).
    cities: Vec<String>,
    /// Where the next insert's names start.
    next: u64,
    /// Where each side's deletes start.
    delete_from: [usize; 2],
}

impl Fixture {
    /// A fresh database `name` on `client`, with `Foo`'s indexes and the
    /// op's seed documents.
    pub async fn new(
        client: &Client,
        name: &str,
        op: Op,
        ops: u64,
        warm: u64,
    ) -> Result<Self, BoxError> {
        let conn = Connection::from_client(client.clone(), name);
        let repo = conn.repo::<Foo>();
        repo.create_indexes().await?;
        let raw = client.database(name).collection::<Foo>("foos");
        let wides = conn.repo::<Wide>();
        let raw_wides = client.database(name).collection::<Wide>("wides");
        let locks = model::lock::Locks::new(&conn);
        locks.setup().await?;
        let raw_locks = RawLocks::new(&client.database(name));
        let seed = op.seed(ops, warm);
        let now = DateTime::now();
        let mut cities = Vec::new();
        let docs: Vec<Foo> = if op == Op::FindOneNested {
            let seeded = stored_wides(seed as usize);
            raw_wides.insert_many(&seeded).await?;
            cities = seeded.into_iter().map(|w| w.address.city).collect();
            Vec::new()
        } else {
            stored_foos(seed as usize, now)
        };
        if !docs.is_empty() {
            raw.insert_many(&docs).await?;
        }
        let half = (seed / 2) as usize;
        Ok(Fixture {
            repo,
            raw,
            wides,
            raw_wides,
            locks,
            raw_locks,
            keys: docs.iter().map(|d| d.id).collect(),
            names: docs.into_iter().map(|d| d.foo).collect(),
            cities,
            next: seed,
            delete_from: [0, half],
        })
    }

    /// Runs `op` `n` times on `side`, timed.
    pub async fn run(&mut self, op: Op, side: Side, n: u64) -> Result<Sample, BoxError> {
        let watch = Stopwatch::start();
        match side {
            Side::Odm => self.odm(op, n).await?,
            Side::Raw => self.raw(op, n).await?,
        }
        Ok(watch.stop(n))
    }

    fn key(&self, i: u64) -> &Uuid {
        &self.keys[i as usize % self.keys.len()]
    }

    fn name(&self, i: u64) -> &str {
        &self.names[i as usize % self.names.len()]
    }

    fn city(&self, i: u64) -> &str {
        &self.cities[i as usize % self.cities.len()]
    }

    async fn odm(&mut self, op: Op, n: u64) -> Result<(), BoxError> {
        let repo = &self.repo;
        for i in 0..n {
            match op {
                Op::InsertOne => {
                    let insert = FooInsert {
                        id: None,
                        foo: foo_name((self.next + i) as usize),
                        bar: Some(i as i64),
                    };
                    repo.insert_one(insert).await?;
                }
                Op::FindByKey => {
                    repo.find(self.key(i)).await?;
                }
                Op::FindOneByQuery => {
                    repo.find_one(Foo::FOO.eq(self.name(i))).await?.ok_or("not found")?;
                }
                Op::FindOneNested => {
                    let city = Wide::ADDRESS.then(Address::CITY).eq(self.city(i));
                    self.wides.find_one(city).await?.ok_or("not found")?;
                }
                Op::UpdateOne => {
                    repo.update(self.key(i), Foo::BAR.inc(1)).await?;
                }
                Op::DeleteOne => {
                    let key = self.keys[self.delete_from[0] + i as usize];
                    repo.delete(&key).await?;
                }
                Op::FindMany100 => {
                    let docs = repo.find_many(Query::all()).await?;
                    assert_eq!(docs.len(), 100);
                }
                Op::Paginate => {
                    let page = repo
                        .paginate(Query::all())
                        .sort(Foo::FOO.asc())
                        .offset(40)
                        .limit(20)
                        .await?;
                    assert_eq!((page.count, page.items.len()), (100, 20));
                }
                Op::Project => {
                    let names =
                        repo.find_many(Query::all()).limit(100).project::<FooName>().await?;
                    assert_eq!(names.len(), 100);
                }
                Op::Aggregate => {
                    let groups = repo
                        .aggregate(Query::all())
                        .stage(group_stage())
                        .stage(group_sort())
                        .with_type::<BarGroup>()
                        .await?;
                    assert_eq!(groups.len(), GROUPS);
                }
                Op::LockCycle => {
                    let key = lock_key("odm", i);
                    let lease = self.locks.try_lock(&key, LOCK_TTL).await?.ok_or("held")?;
                    self.locks.release(&lease).await?;
                }
                Op::LockClosure => {
                    let key = lock_key("odm", i);
                    self.locks.lock(key, |_signal| async {}).ttl(LOCK_TTL).await?;
                }
            }
        }
        self.after(op, n, 0);
        Ok(())
    }

    async fn raw(&mut self, op: Op, n: u64) -> Result<(), BoxError> {
        let raw = &self.raw;
        for i in 0..n {
            match op {
                Op::InsertOne => {
                    let doc = Foo {
                        id: Uuid::new(),
                        foo: foo_name((self.next + i) as usize),
                        bar: Some(i as i64),
                        created_at: DateTime::now(),
                        updated_at: None,
                    };
                    raw.insert_one(&doc).await?;
                }
                Op::FindByKey => {
                    raw.find_one(doc! { "_id": *self.key(i) }).await?.ok_or("not found")?;
                }
                Op::FindOneByQuery => {
                    raw.find_one(doc! { "foo": self.name(i) }).await?.ok_or("not found")?;
                }
                Op::FindOneNested => {
                    let city = doc! { "address.city": self.city(i) };
                    self.raw_wides.find_one(city).await?.ok_or("not found")?;
                }
                Op::UpdateOne => {
                    let update = doc! {
                        "$set": { "updated_at": DateTime::now() },
                        "$inc": { "bar": 1_i64 },
                    };
                    raw.find_one_and_update(doc! { "_id": *self.key(i) }, update)
                        .return_document(ReturnDocument::After)
                        .await?
                        .ok_or("not found")?;
                }
                Op::DeleteOne => {
                    let key = self.keys[self.delete_from[1] + i as usize];
                    let deleted = raw.delete_one(doc! { "_id": key }).await?;
                    if deleted.deleted_count != 1 {
                        return Err("not found".into());
                    }
                }
                Op::FindMany100 => {
                    let docs: Vec<Foo> = raw.find(Document::new()).await?.try_collect().await?;
                    assert_eq!(docs.len(), 100);
                }
                Op::Paginate => {
                    let count = raw.count_documents(Document::new()).await?;
                    let docs: Vec<Foo> = raw
                        .find(Document::new())
                        .sort(doc! { "foo": 1 })
                        .skip(40)
                        .limit(20)
                        .await?
                        .try_collect()
                        .await?;
                    assert_eq!((count, docs.len()), (100, 20));
                }
                Op::Project => {
                    let names = raw_project(raw).await?;
                    assert_eq!(names.len(), 100);
                }
                Op::Aggregate => {
                    // The pipeline the ODM sends: `$match` of the query first.
                    let pipeline = [doc! { "$match": {} }, group_stage(), group_sort()];
                    let groups: Vec<BarGroup> = raw
                        .aggregate(pipeline)
                        .with_type::<BarGroup>()
                        .await?
                        .try_collect()
                        .await?;
                    assert_eq!(groups.len(), GROUPS);
                }
                Op::LockCycle | Op::LockClosure => {
                    let key = lock_key("raw", i);
                    let lease = self.raw_locks.try_lock(&key, LOCK_TTL).await?.ok_or("held")?;
                    self.raw_locks.release(&key, &lease.0).await?;
                }
            }
        }
        self.after(op, n, 1);
        Ok(())
    }

    /// Checks that both sides of a read that returns something other than
    /// `Foo`s return the same values (length, order and fields).
    pub async fn check_same_result(&self, op: Op) -> Result<(), BoxError> {
        match op {
            Op::Project => {
                let odm = self.repo.find_many(Query::all()).limit(100).project::<FooName>().await?;
                let raw = raw_project(&self.raw).await?;
                if odm != raw {
                    return Err("project: the ODM and raw results differ".into());
                }
            }
            Op::Aggregate => {
                let odm = self
                    .repo
                    .aggregate(Query::all())
                    .stage(group_stage())
                    .stage(group_sort())
                    .with_type::<BarGroup>()
                    .await?;
                let pipeline = [doc! { "$match": {} }, group_stage(), group_sort()];
                let raw: Vec<BarGroup> = self
                    .raw
                    .aggregate(pipeline)
                    .with_type::<BarGroup>()
                    .await?
                    .try_collect()
                    .await?;
                if odm != raw || odm.iter().map(|g| g.n).sum::<i64>() != 100 {
                    return Err("aggregate: the ODM and raw results differ".into());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn after(&mut self, op: Op, n: u64, side: usize) {
        match op {
            Op::InsertOne => self.next += n,
            Op::DeleteOne => self.delete_from[side] += n as usize,
            _ => {}
        }
    }
}

/// The ODM and raw samples of one op in one round.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// The model layer.
    pub odm: Sample,
    /// The raw driver.
    pub raw: Sample,
}

/// The `$group` stage of [`Op::Aggregate`]: count and sum of `bar` per
/// `bar % 10`.
fn group_stage() -> Document {
    doc! { "$group": { "_id": { "$mod": ["$bar", 10_i64] }, "n": { "$sum": 1 }, "total": { "$sum": "$bar" } } }
}

/// The `$sort` stage of [`Op::Aggregate`], so both sides get the groups in one order.
fn group_sort() -> Document {
    doc! { "$sort": { "_id": 1 } }
}

/// Groups [`Op::Aggregate`] returns over the seed of 100.
const GROUPS: usize = 10;

/// Measured ops of each side run in this many alternating chunks per
/// round (ABBA order), so load from other processes hits both sides alike.
const CHUNKS: u64 = 6;

/// Runs every op on both sides on `client` in fresh databases named after
/// `tag`: `warm` unmeasured ops per side, then `ops` measured per side (a
/// quarter for bulk reads) in alternating chunks; which side starts
/// alternates with the round.
pub async fn round(
    client: &Client,
    tag: &str,
    round: usize,
    ops: u64,
) -> Result<Vec<(Op, Pair)>, BoxError> {
    let mut pairs = Vec::new();
    for op in Op::ALL {
        let n = if op.is_bulk() { (ops / 4).max(1) } else { ops };
        let warm = (n / 10).max(3);
        let db = format!("bench_{tag}_r{round}_{}", op.key());
        let mut fixture = Fixture::new(client, &db, op, n, warm).await?;
        fixture.check_same_result(op).await?;
        fixture.run(op, Side::Odm, warm).await?;
        fixture.run(op, Side::Raw, warm).await?;
        let mut pair = Pair { odm: Sample::default(), raw: Sample::default() };
        let chunks = CHUNKS.min(n);
        for chunk in 0..chunks {
            let size = n / chunks + u64::from(chunk < n % chunks);
            // ABBA: O R R O O R ... (or R O O R ... in odd rounds).
            let odm_first = chunk.is_multiple_of(2) == round.is_multiple_of(2);
            let sides = if odm_first { [Side::Odm, Side::Raw] } else { [Side::Raw, Side::Odm] };
            for side in sides {
                let sample = fixture.run(op, side, size).await?;
                let total = match side {
                    Side::Odm => &mut pair.odm,
                    Side::Raw => &mut pair.raw,
                };
                total.ops += sample.ops;
                total.cpu += sample.cpu;
                total.wall += sample.wall;
            }
        }
        client.database(&db).drop().await?;
        pairs.push((op, pair));
    }
    Ok(pairs)
}

/// The raw side of `project`: the names of 100 `Foo`s, by hand.
async fn raw_project(raw: &mongodb::Collection<Foo>) -> Result<Vec<FooName>, BoxError> {
    Ok(raw
        .clone_with_type::<FooName>()
        .find(Document::new())
        .projection(doc! { "foo": 1, "_id": 0 })
        .limit(100)
        .await?
        .try_collect()
        .await?)
}
