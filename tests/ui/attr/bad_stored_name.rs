use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    #[serde(rename = "$price")]
    price: i64,
    #[serde(rename = "a.b")]
    nested: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
