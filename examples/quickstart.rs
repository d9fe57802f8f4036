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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?; // MONGODB_URI, or a local server
    let conn = model::Connection::new(&server.uri, testkit::unique_name("quickstart"));
    let foos = conn.repo::<Foo>();
    foos.create_indexes().await?;

    // Insert: the UUID key is generated, created_at is set.
    let a = foos
        .insert_one(FooInsert {
            id: None,
            foo: "a".into(),
            bar: Some(1),
        })
        .await?;
    foos.insert_many([
        FooInsert {
            id: None,
            foo: "b".into(),
            bar: Some(2),
        },
        FooInsert {
            id: None,
            foo: "c".into(),
            bar: None,
        },
    ])
    .await?;

    // A duplicate of the unique `foo` is a typed Conflict.
    let dup = foos
        .insert_one(FooInsert {
            id: None,
            foo: "a".into(),
            bar: None,
        })
        .await;
    println!("duplicate foo -> {}", dup.unwrap_err());

    // Typed queries, sorts and updates: a wrong field or value type does not compile.
    let some = foos
        .find_many(Foo::BAR.gte(1))
        .sort(Foo::BAR.desc())
        .limit(10)
        .await?;
    println!(
        "bar >= 1: {:?}",
        some.iter().map(|f| &f.foo).collect::<Vec<_>>()
    );

    let a = foos.update_one(&a.id, Foo::BAR.inc(41)).await?;
    println!(
        "a.bar after inc: {:?} (updated_at set: {})",
        a.bar,
        a.updated_at.is_some()
    );

    let (page, items) = foos
        .paginate(Query::all())
        .sort(Foo::FOO.asc())
        .limit(2)
        .await?;
    println!(
        "page: {} of {} (offset {})",
        items.len(),
        page.count,
        page.offset
    );

    // Composite keys: `_id: { foo: <uuid>, bar: <string> }`.
    let bars = conn.repo::<Bar>();
    let key = BarKey {
        foo: Uuid::new(),
        bar: "x".into(),
    };
    bars.insert_one(BarInsert {
        id: key.clone(),
        foo: "a".into(),
        bar: None,
    })
    .await?;
    let bar = bars.update_one(&key, Bar::BAR.set(7)).await?;
    println!("bar {:?} -> {:?}", bar.id, bar.bar);

    // A transaction: both writes commit together, or neither does.
    conn.transaction(async |s| {
        foos.insert_one(FooInsert {
            id: None,
            foo: "d".into(),
            bar: None,
        })
        .session(s)
        .await?;
        bars.delete_one(&key).session(s).await?;
        Ok(())
    })
    .await?;
    println!(
        "foos: {}, bars: {}",
        foos.count(Query::all()).await?,
        bars.count(Query::all()).await?
    );

    conn.database().await?.drop().await?;
    conn.disconnect().await;
    Ok(())
}
