//! The reference models and a connection to a fresh database per test.
#![allow(dead_code)]

use model::{CompositeKey, DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

/// A UUID-keyed model with a unique string and an optional number.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "foos", key = id)]
pub struct Foo {
    #[serde(rename = "_id")]
    pub id: Uuid,
    #[model(unique)]
    pub foo: String,
    pub bar: Option<i64>,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// The composite key of [`Bar`]: `_id: { foo, bar }`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, CompositeKey, Serialize, Deserialize)]
pub struct BarKey {
    pub foo: Uuid,
    pub bar: String,
}

/// A model with a composite key.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "bars", key = id)]
pub struct Bar {
    #[serde(rename = "_id")]
    pub id: BarKey,
    #[model(unique)]
    pub foo: String,
    pub bar: Option<i64>,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

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
