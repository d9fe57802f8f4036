//! The reference models and a connection to a fresh database per test.
#![allow(dead_code)]

use model::{DateTime, Uuid};

mod reference;
pub use reference::*;

/// A connection to a database no other test uses.
pub async fn connection() -> model::Connection {
    let db = testkit::database().await;
    model::Connection::new(db.uri, db.name)
}

/// A connection with `Foo`'s and `Bar`'s indexes created.
pub async fn connection_with_indexes() -> model::Connection {
    let conn = connection().await;
    conn.repo::<Foo>().create_indexes().await.unwrap();
    conn.repo::<Bar>().create_indexes().await.unwrap();
    conn
}

pub fn foo(name: &str, bar: Option<i64>) -> FooInsert {
    FooInsert { id: None, foo: name.to_string(), bar }
}

pub fn bar_key(name: &str) -> BarKey {
    BarKey { foo: Uuid::new(), bar: name.to_string() }
}

pub fn bar(key: BarKey, name: &str, bar: Option<i64>) -> BarInsert {
    BarInsert { id: key, foo: name.to_string(), bar }
}

pub fn at(millis: i64) -> DateTime {
    DateTime::from_millis(millis)
}
