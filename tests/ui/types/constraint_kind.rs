use model::Model;
use serde::{Deserialize, Serialize};

// Each constraint is for one kind of field: a length for a string, a
// range for a number, a size for an array.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = false)]
struct Member {
    #[serde(rename = "_id")]
    id: String,
    #[model(length(max = 3))]
    age: i32,
    #[model(range(min = 0))]
    name: String,
    #[model(items(max = 3))]
    nick: Option<String>,
    #[model(allowed("a", "b"))]
    tier: i64,
}

fn main() {}
