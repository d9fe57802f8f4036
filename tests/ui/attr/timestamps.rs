use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

// `rename_all` alone does not hide the timestamps: they are found by their
// field names. This one has no `updated_at` under any name or mark.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
#[serde(rename_all = "camelCase")]
struct NoUpdate {
    #[serde(rename = "_id")]
    id: Uuid,
    created_at: DateTime,
    changed: Option<DateTime>,
}

// Timestamps left out, yet one is marked.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = false)]
struct Off {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(created_at)]
    made: DateTime,
}

// One field marked as both.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Both {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(created_at, updated_at)]
    at: DateTime,
}

// The key marked as a timestamp.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct KeyStamp {
    #[serde(rename = "_id")]
    #[model(created_at)]
    id: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
