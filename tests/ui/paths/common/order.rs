// The order model the path cases share.

use model::{DateTime, Model, Schema, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Schema, Serialize, Deserialize)]
struct Item {
    sku: String,
    quantity: i32,
}

#[derive(Schema, Serialize, Deserialize)]
struct Other {
    sku: String,
}

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Order {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    tags: Vec<String>,
    items: Vec<Item>,
    best: Item,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}
