use model::{DateTime, Model, ObjectId};
use serde::{Deserialize, Serialize};

// A collation's strength is 1 to 5.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, index(keys(email), unique, collation(locale = "en", strength = 9)))]
struct Member {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {}
