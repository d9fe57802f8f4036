// The customer model the read cases share.

use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Customer {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    #[serde(rename = "mail")]
    email: String,
    points: i64,
    tags: Vec<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}
