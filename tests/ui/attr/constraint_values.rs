use model::Model;
use serde::{Deserialize, Serialize};

// A constraint's values: bounds in order, allowed values of one kind and
// each listed once.
#[derive(Model, Serialize, Deserialize)]
#[model(key = id, timestamps = false)]
struct Member {
    #[serde(rename = "_id")]
    id: String,
    #[model(length(min = 5, max = 2))]
    name: String,
    #[model(allowed("a", "b", "a"))]
    code: String,
    #[model(range())]
    age: i32,
    #[model(allowed("a", 1))]
    tier: String,
    #[model(items(mn = 1))]
    tags: Vec<String>,
}

fn main() {}
