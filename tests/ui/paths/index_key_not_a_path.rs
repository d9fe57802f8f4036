use model::{DateTime, Model, ObjectId, Schema};
use serde::{Deserialize, Serialize};

#[derive(Schema, Serialize, Deserialize)]
struct Address {
    city: String,
}

#[derive(Schema, Serialize, Deserialize)]
struct Line {
    sku: String,
}

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Other {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

// An index key is a path of the model that a query reads.
#[derive(Model, Serialize, Deserialize)]
#[model(
    key = id,
    index(keys(Self::ADDRESS.then(Address::TOWN))),
    index(keys(Self::ADDRESS.then(Line::SKU))),
    index(keys(Other::NAME)),
    index(keys(Self::LINES.matched().then(Line::SKU)))
)]
struct Shop {
    #[serde(rename = "_id")]
    id: ObjectId,
    address: Address,
    lines: Vec<Line>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
