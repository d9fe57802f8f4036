//! The reference models `Foo` (UUID key) and `Bar` (composite key), shared
//! by the test suite (`tests/common`) and the benchmarks (`bench`), so both
//! measure and test the same types.

use model::{CompositeKey, DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

/// A UUID-keyed model with a unique string and an optional number.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "foos", key = id)]
pub struct Foo {
    /// The key.
    #[serde(rename = "_id")]
    pub id: Uuid,
    /// A unique name.
    #[model(unique)]
    pub foo: String,
    /// An optional number.
    pub bar: Option<i64>,
    /// Set on insert.
    pub created_at: DateTime,
    /// Set on update.
    pub updated_at: Option<DateTime>,
}

/// The composite key of [`Bar`]: `_id: { foo, bar }`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, CompositeKey, Serialize, Deserialize)]
pub struct BarKey {
    /// First part.
    pub foo: Uuid,
    /// Second part.
    pub bar: String,
}

/// A model with a composite key.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "bars", key = id)]
pub struct Bar {
    /// The composite key.
    #[serde(rename = "_id")]
    pub id: BarKey,
    /// A unique name.
    #[model(unique)]
    pub foo: String,
    /// An optional number.
    pub bar: Option<i64>,
    /// Set on insert.
    pub created_at: DateTime,
    /// Set on update.
    pub updated_at: Option<DateTime>,
}
