use model::{DateTime, Model, ObjectId};
use serde::{Deserialize, Serialize};

// A wildcard index is neither unique nor a TTL index.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, index(keys(labels = "wildcard"), unique), index(keys("$**"), expire_after = 60))]
struct Item {
    #[serde(rename = "_id")]
    id: ObjectId,
    labels: model::bson::Document,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
