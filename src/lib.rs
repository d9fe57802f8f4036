//! Typed MongoDB models from `#[derive(Model)]`, and a distributed lease
//! built on them.
//!
//! This facade re-exports the runtime (`model-core`), the derives and the
//! [`lock`] crate, so an application needs this one dependency plus `serde`.
//!
//! # Tutorial
//!
//! ## Define a model
//!
//! A model is a plain struct. The key is stored as `_id`; `created_at` and
//! `updated_at` are kept by the repository. Field names follow serde, so the
//! typed queries and the stored documents always agree.
//!
//! ```
//! use model::{DateTime, Model, Uuid};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Model, Serialize, Deserialize)]
//! #[model(collection = "foos", key = id)]
//! pub struct Foo {
//!     #[serde(rename = "_id")]
//!     pub id: Uuid,
//!     #[model(unique)]
//!     pub foo: String,
//!     pub bar: Option<i64>,
//!     pub created_at: DateTime,
//!     pub updated_at: Option<DateTime>,
//! }
//! ```
//!
//! The derive writes, and only writes, data:
//! - `impl Model for Foo`: the collection, the key type, and the fields and
//!   declared indexes as constant tables (`Model::FIELDS`,
//!   `Model::INDEX_DECLS`) from which the runtime builds the `$jsonSchema`
//!   validator and the indexes;
//! - one typed constant per field: `Foo::FOO: Field<Foo, String>`,
//!   `Foo::BAR: Field<Foo, Option<i64>>`, ... — queries, updates and sorts
//!   are built from these, so a misspelt field or a wrong value type does
//!   not compile;
//! - `FooInsert`, what an insert takes: every field but the timestamps, with
//!   the key optional where it can be generated (UUID, ObjectId); `Debug`
//!   and `Clone` where every field has them.
//!
//! Everything that runs — [`Repo`], [`Connection`] — is ordinary generic
//! code in `model-core`.
//!
//! ## Connect and migrate
//!
//! [`Connection::new`] takes a URI and a database name and connects on
//! first use. At start-up, [`Connection::migrate_all`] makes the database
//! match the models: it creates missing collections with their `$jsonSchema`
//! validators, creates and replaces indexes, drops undeclared ones, and on an
//! up-to-date database changes nothing. Examples here use `testkit`, which
//! finds or starts a server.
//!
//! ```
//! # #[derive(Debug, model::Model, serde::Serialize, serde::Deserialize)]
//! # #[model(key = id)]
//! # pub struct Foo { #[serde(rename = "_id")] id: model::Uuid, #[model(unique)] foo: String,
//! #   bar: Option<i64>, created_at: model::DateTime, updated_at: Option<model::DateTime> }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> model::Result<()> {
//! use model::Migration;
//!
//! let db = testkit::database().await; // or your own URI and database
//! let conn = model::Connection::new(db.uri, db.name);
//! let reports = conn.migrate_all(&[Migration::of::<Foo>()]).await?;
//! assert_eq!(reports[0].indexes_created, ["foo_1"]);
//! assert!(conn.migrate_all(&[Migration::of::<Foo>()]).await?[0].is_unchanged());
//! let foos = conn.repo::<Foo>();
//! # Ok(()) }
//! ```
//!
//! ## CRUD, queries, updates
//!
//! Operations return actions: set options with builder methods, run with
//! `.await`, as with the `mongodb` driver.
//!
//! ```
//! # #[derive(Debug, model::Model, serde::Serialize, serde::Deserialize)]
//! # #[model(key = id)]
//! # pub struct Foo { #[serde(rename = "_id")] id: model::Uuid, #[model(unique)] foo: String,
//! #   bar: Option<i64>, created_at: model::DateTime, updated_at: Option<model::DateTime> }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> model::Result<()> {
//! # let db = testkit::database().await;
//! # let conn = model::Connection::new(db.uri, db.name);
//! # let foos = conn.repo::<Foo>();
//! # conn.migrate::<Foo>().await?;
//! use model::{Error, Query};
//!
//! let a = foos.insert_one(FooInsert { id: None, foo: "a".into(), bar: Some(1) }).await?;
//! assert_eq!(foos.find(&a.id).await?.foo, "a");
//!
//! // A duplicate key, on `_id` or on a unique index, is a Conflict.
//! let dup = foos.insert_one(FooInsert { id: None, foo: "a".into(), bar: None }).await;
//! assert!(matches!(dup, Err(Error::Conflict { .. })));
//!
//! // Set, unset and increment; update_one returns the document after.
//! let a = foos.update_one(&a.id, Foo::BAR.inc(2).and(Foo::FOO.set("b"))).await?;
//! assert_eq!((a.bar, a.updated_at.is_some()), (Some(3), true));
//!
//! // Equality, one-of, presence and ranges: `begin..end` or `begin..=end`.
//! let found = foos
//!     .find_many(Foo::FOO.one_of(["b", "c"]).and(Foo::BAR.range(1..=3)))
//!     .sort(Foo::BAR.desc().then(Foo::FOO.asc()))
//!     .limit(10)
//!     .await?;
//! assert_eq!(found.len(), 1);
//!
//! foos.delete_one(&a.id).await?;
//! assert!(matches!(foos.find(&a.id).await, Err(Error::NotFound { .. })));
//! # Ok(()) }
//! ```
//!
//! ## Nested documents, arrays, filtered writes
//!
//! `#[derive(Schema)]` structs have field constants too, and paths
//! compose: `then` steps into a struct (through an `Option` the value
//! becomes optional), `each` into any element of an array, `matched()` /
//! `every()` into the matched or every element in an update. A step into
//! another struct's field does not compile. `None` is not stored, so
//! `absent()` finds it and `inc` on it starts from zero.
//!
//! ```
//! # use model::{DateTime, Model, Schema, Uuid};
//! # use serde::{Deserialize, Serialize};
//! #[derive(Debug, Clone, Schema, Serialize, Deserialize)]
//! pub struct Line { pub sku: String, pub quantity: i32 }
//!
//! #[derive(Debug, Clone, Schema, Serialize, Deserialize)]
//! pub struct Address { pub city: String, pub region: Option<String> }
//!
//! #[derive(Debug, Model, Serialize, Deserialize)]
//! #[model(key = id)]
//! pub struct Order {
//!     #[serde(rename = "_id")]
//!     id: Uuid,
//!     paid: bool,
//!     ship_to: Address,
//!     lines: Vec<Line>,
//!     tags: Vec<String>,
//!     reminders: Option<i64>,
//!     created_at: DateTime,
//!     updated_at: Option<DateTime>,
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> model::Result<()> {
//! # let db = testkit::database().await;
//! # let conn = model::Connection::new(db.uri, db.name);
//! # conn.migrate::<Order>().await?;
//! let orders = conn.repo::<Order>();
//! let o = orders
//!     .insert_one(OrderInsert {
//!         id: None,
//!         paid: false,
//!         ship_to: Address { city: "Lyon".into(), region: None },
//!         lines: vec![Line { sku: "apple".into(), quantity: 1 }],
//!         tags: vec![],
//!         reminders: None,
//!     })
//!     .await?;
//! let city = Order::SHIP_TO.then(Address::CITY); // Field<Order, String>
//! assert_eq!(city.name(), "ship_to.city");
//! assert_eq!(orders.count(city.eq("Lyon").and(Order::REMINDERS.absent())).await?, 1);
//!
//! let o = orders
//!     .update_one(
//!         &o.id,
//!         Order::LINES
//!             .push(Line { sku: "pear".into(), quantity: 2 })
//!             .and(Order::TAGS.add_to_set("gift"))
//!             .and(Order::REMINDERS.inc(1)),
//!     )
//!     .await?;
//! assert_eq!((o.lines.len(), o.reminders), (2, Some(1)));
//!
//! // The line the query matched: `lines.$.quantity`.
//! let pears = Order::LINES.each(Line::SKU).eq("pear");
//! orders.update_many(pears, Order::LINES.matched().then(Line::QUANTITY).inc(1)).await?;
//!
//! // A guarded transition in one round trip: `None` if already paid.
//! let pay = || orders.find_one_and_update(Order::PAID.eq(false), Order::PAID.set(true));
//! let paid = pay().await?.expect("was unpaid");
//! assert_eq!((paid.paid, paid.lines[1].quantity), (true, 3));
//! assert!(pay().await?.is_none());
//! # Ok(()) }
//! ```
//!
//! ## Pagination and streaming
//!
//! [`Repo::scroll`] returns a [`KeysetPage`]: the documents and the
//! [`PageCursor`]s of the pages after and before, so each page continues
//! where the last one ended (the key breaks ties, `null` sorts first). A
//! cursor shows the sort values it continues from to whoever holds it,
//! unless the connection seals cursors with a key
//! ([`Connection::with_cursor_key`]).
//! [`Repo::paginate`] returns a [`Page`] (sort, offset, limit, total count)
//! with the documents; the limit defaults to, and is capped at, 1000.
//! [`Repo::iterate`] returns a `Stream` that reads in batches of
//! [`ITERATE_BATCH_SIZE`], so memory stays flat however many documents match.
//!
//! ```
//! # #[derive(Debug, model::Model, serde::Serialize, serde::Deserialize)]
//! # #[model(key = id)]
//! # pub struct Foo { #[serde(rename = "_id")] id: model::Uuid, foo: String,
//! #   bar: Option<i64>, created_at: model::DateTime, updated_at: Option<model::DateTime> }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> model::Result<()> {
//! # let db = testkit::database().await;
//! # let conn = model::Connection::new(db.uri, db.name);
//! # let foos = conn.repo::<Foo>();
//! use futures::TryStreamExt;
//! use model::Query;
//!
//! foos.insert_many((0..25).map(|i| FooInsert { id: None, foo: format!("f{i}"), bar: Some(i) }))
//!     .await?;
//! let (page, items) = foos.paginate(Query::all()).sort(Foo::BAR.asc()).offset(20).limit(10).await?;
//! assert_eq!((page.count, items.len()), (25, 5));
//!
//! let sum: i64 = foos
//!     .iterate(Foo::BAR.gte(10))
//!     .await?
//!     .try_fold(0, |sum, foo| async move { Ok(sum + foo.bar.unwrap_or(0)) })
//!     .await?;
//! assert_eq!(sum, (10..25).sum::<i64>());
//!
//! let first = foos.scroll(Foo::BAR.gte(5)).sort(Foo::BAR.desc()).size(10).await?;
//! assert_eq!(first.items[0].bar, Some(24));
//! let second = foos.scroll(Foo::BAR.gte(5)).sort(Foo::BAR.desc()).size(10).at(first.next).await?;
//! assert_eq!(second.items.iter().map(|f| f.bar.unwrap()).collect::<Vec<_>>(), (5..=14).rev().collect::<Vec<_>>());
//! assert!(second.next.is_none());
//! # Ok(()) }
//! ```
//!
//! ## Typed reads: projections, counts, change streams, versions
//!
//! A [`Projection`] (`#[derive(Projection)]`) reads some fields of a model,
//! checked against it at compile time. [`Repo::distinct`],
//! [`Repo::count_by`] and [`Repo::aggregate`] compute on the server from a
//! typed query; [`Repo::watch`] streams typed [`ChangeEvent`]s; a
//! `#[model(version)]` field makes [`Repo::replace`] and
//! [`UpdateOne::if_version`] refuse stale writes with
//! [`Error::VersionConflict`].
//!
//! ```
//! use futures::TryStreamExt;
//! use model::{Change, DateTime, Error, Model, Projection, Query, Uuid};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Model, Serialize, Deserialize)]
//! #[model(key = id)]
//! pub struct Task {
//!     #[serde(rename = "_id")]
//!     id: Uuid,
//!     title: String,
//!     done: bool,
//!     #[model(version)]
//!     #[serde(default)]
//!     version: i64,
//!     created_at: DateTime,
//!     updated_at: Option<DateTime>,
//! }
//!
//! #[derive(Projection, Deserialize)]
//! #[projection(model = Task)]
//! struct Title {
//!     title: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> model::Result<()> {
//! # let db = testkit::database().await;
//! # let conn = model::Connection::new(db.uri, db.name);
//! let tasks = conn.repo::<Task>();
//! let mut changes = tasks.watch(Task::DONE.eq(true)).await?;
//! let task = tasks.insert_one(TaskInsert { id: None, title: "ship".into(), done: false }).await?;
//!
//! let titles: Vec<Title> = tasks.find_many(Query::all()).project().await?;
//! assert_eq!(titles[0].title, "ship");
//! assert_eq!(tasks.count_by(Task::DONE, Query::all()).await?, [(false, 1)]);
//!
//! let mut done = task.clone();
//! done.done = true;
//! assert_eq!(tasks.replace(done).await?.version, 1);
//! let stale = tasks.replace(task).await; // still at version 0
//! assert!(matches!(stale, Err(Error::VersionConflict { expected: 0, .. })));
//!
//! let event = changes.try_next().await?.expect("the replace that set done");
//! assert!(matches!(event.change, Change::Replace(t) if t.done));
//! # Ok(()) }
//! ```
//!
//! ## Transactions
//!
//! [`Connection::transaction`] runs an async closure in a transaction,
//! retries it on transient errors, and aborts it on any error, so nothing
//! it wrote is kept. In a web handler or a spawned task, write
//! `async move |s|` and let the closure own what it uses: its future is
//! then `Send` (`examples/axum.rs`).
//!
//! ```
//! # #[derive(Debug, model::Model, serde::Serialize, serde::Deserialize)]
//! # #[model(key = id)]
//! # pub struct Foo { #[serde(rename = "_id")] id: model::Uuid, foo: String,
//! #   bar: Option<i64>, created_at: model::DateTime, updated_at: Option<model::DateTime> }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> model::Result<()> {
//! # let db = testkit::database().await;
//! # let conn = model::Connection::new(db.uri, db.name);
//! # let foos = conn.repo::<Foo>();
//! use model::{Error, Query};
//!
//! let result: model::Result<()> = conn
//!     .transaction(async |s| {
//!         foos.insert_one(FooInsert { id: None, foo: "x".into(), bar: None }).session(s).await?;
//!         Err(Error::InvalidArgument { message: "changed my mind".into() })
//!     })
//!     .await;
//! assert!(result.is_err());
//! assert_eq!(foos.count(Query::all()).await?, 0, "rolled back");
//! # Ok(()) }
//! ```
//!
//! ## Locks
//!
//! [`lock::Locks`] is a lease per key on a `locks` collection, itself a
//! model: the closure runs in one place at a time, the lease is extended
//! while it runs and released when it ends, and the signal it receives
//! carries the fencing token and fires if the lease is lost.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let db = testkit::database().await;
//! # let conn = model::Connection::new(db.uri, db.name);
//! use std::time::Duration;
//! use model::lock::{Locks, LockingError, Reason};
//!
//! let locks = Locks::new(&conn);
//! locks.setup().await?; // the validator and index of `locks`, once at startup
//!
//! let first = locks.lock("report", |signal| async move { signal.token() }).await?;
//! let second = locks
//!     .lock("report", |signal| async move { signal.token() })
//!     .ttl(Duration::from_secs(5))
//!     .wait(Duration::from_secs(10))
//!     .await?;
//! assert!(second > first, "fencing tokens only grow");
//!
//! // While one holder runs, another fails at once (or waits with `.wait`).
//! let held = locks.try_lock("report", Duration::from_secs(5)).await?.unwrap();
//! let busy = locks.lock("report", |_| async {}).await;
//! assert!(matches!(busy, Err(LockingError::Lock { reason: Reason::Held, .. })));
//! locks.release(&held).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub use model_core::*;
pub use model_derive::{CompositeKey, Model, Ordered, Projection, Schema};

/// The distributed lock (lease): see [`lock::Locks`]. Behind the `lock`
/// feature, on by default.
#[cfg(feature = "lock")]
#[doc(inline)]
pub use lock;

/// Versioned data migrations run once per fleet: see
/// [`migrations::Migrations`]. Behind the `migrations` feature, on by default.
#[cfg(feature = "migrations")]
#[doc(inline)]
pub use migrations;

#[doc(hidden)]
pub use model_core::__private;
