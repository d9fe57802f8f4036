use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

// A name close to none of the fields: the error lists them.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, index(keys(name, zzz)))]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
