use model::{DateTime, Model};
use serde::{Deserialize, Serialize};

// `timestamps = "created_at"` keeps no update time: a field marked as one
// is refused, and any other value of `timestamps` names the choices.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = "created_at")]
struct Event {
    #[serde(rename = "_id")]
    id: String,
    created_at: DateTime,
    #[model(updated_at)]
    edited: Option<DateTime>,
}

#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = "updated_at")]
struct Note {
    #[serde(rename = "_id")]
    id: String,
    created_at: DateTime,
}

// Without `created_at`, a created-only model names the field it needs.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = "created_at")]
struct Log {
    #[serde(rename = "_id")]
    id: String,
}

fn main() {}
