use model::{DateTime, Model, Schema, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    // Written as `n`, read from `nickname`: it would never read back.
    #[serde(rename(serialize = "n"))]
    nickname: Option<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]
struct Bar {
    #[serde(rename = "_id")]
    id: Uuid,
    star_rating: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

// Written as `created_at` (so it is the timestamp), read as `made`: one
// error, for the field, and none for a missing timestamp.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Baz {
    #[serde(rename = "_id")]
    id: Uuid,
    #[serde(rename(serialize = "created_at"))]
    made: DateTime,
    updated_at: Option<DateTime>,
}

// One-sided, but every name agrees both ways: accepted.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = false)]
#[serde(rename_all(serialize = "snake_case"))]
struct Agreed {
    #[serde(rename = "_id")]
    id: Uuid,
    star_rating: i64,
}

// A variant written as `on`, read as `On`.
#[derive(Schema, Serialize, Deserialize)]
enum Switch {
    #[serde(rename(serialize = "on"))]
    On,
    Off,
}

fn main() {}
