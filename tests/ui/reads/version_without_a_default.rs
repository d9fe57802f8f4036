use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Customer {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(version)]
    version: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
