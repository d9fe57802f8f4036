use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id, collection = "a", collection = "b")]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
