use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Address {
    city: String,
}

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    address: Address,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
