//! Quick start: define two models, connect, and use them end to end.
//!
//! Uses `MONGODB_URI` when set; otherwise starts a local test server.
//! Run: `cargo run --example quickstart`

use model::{CompositeKey, DateTime, Model, Query, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(collection = "foos", key = id)]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(unique)]
    foo: String,
    bar: Option<i64>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[derive(Debug, Clone, CompositeKey, Serialize, Deserialize)]
struct BarKey {
    foo: Uuid,
    bar: String,
}

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(collection = "bars", key = id)]
struct Bar {
    #[serde(rename = "_id")]
    id: BarKey,
    foo: String,
    bar: Option<i64>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn new_foo(name: &str, bar: Option<i64>) -> FooInsert {
    FooInsert { id: None, foo: name.into(), bar }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?; // MONGODB_URI, or a local server
    let conn = model::Connection::new(&server.uri, testkit::unique_name("quickstart"));
    conn.migrate_all(&[model::Migration::of::<Foo>(), model::Migration::of::<Bar>()]).await?; // collections, indexes and $jsonSchema validators
    let (foos, bars) = (conn.repo::<Foo>(), conn.repo::<Bar>());

    // Insert: the UUID key is generated, created_at is set.
    let a = foos.insert_one(new_foo("a", Some(1))).await?;
    foos.insert_many([new_foo("b", Some(2)), new_foo("c", None)]).await?;

    // A duplicate of the unique `foo` is a typed Conflict.
    let duplicate = foos.insert_one(new_foo("a", None)).await;
    println!("duplicate foo -> {}", duplicate.unwrap_err());

    // Typed queries, sorts and updates: a wrong field or value type does not compile.
    let found = foos.find_many(Foo::BAR.gte(1)).sort(Foo::BAR.desc()).limit(10).await?;
    println!("bar >= 1: {:?}", found.iter().map(|f| &f.foo).collect::<Vec<_>>());
    let a = foos.update(&a.id, Foo::BAR.inc(41)).await?;
    println!("a.bar = {:?}, updated_at set: {}", a.bar, a.updated_at.is_some());
    let page = foos.paginate(Query::all()).sort(Foo::FOO.asc()).limit(2).await?;
    println!("page: {} of {} (offset {})", page.items.len(), page.count, page.offset);

    // Composite keys: `_id: { foo: <uuid>, bar: <string> }`.
    let key = BarKey { foo: Uuid::new(), bar: "x".into() };
    let insert = BarInsert { id: key.clone(), foo: "a".into(), bar: None };
    bars.insert_one(insert).await?;
    let bar = bars.update(&key, Bar::BAR.set(7)).await?;
    println!("bar {:?} -> {:?}", bar.id, bar.bar);

    // A transaction: both writes commit together, or neither does.
    conn.transaction(async |s| {
        foos.insert_one(new_foo("d", None)).session(s).await?;
        bars.delete(&key).session(s).await?;
        Ok(())
    })
    .await?;
    let (n_foos, n_bars) = (foos.count(Query::all()).await?, bars.count(Query::all()).await?);
    println!("foos: {n_foos}, bars: {n_bars}");

    conn.database().await?.drop().await?;
    conn.disconnect().await;
    Ok(())
}
