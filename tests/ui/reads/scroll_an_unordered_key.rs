use model::{CompositeKey, DateTime, Model};
use serde::{Deserialize, Serialize};

// A composite key without `#[derive(Ordered)]` cannot be paged by key.
#[derive(Debug, Clone, CompositeKey, Serialize, Deserialize)]
struct Key {
    a: String,
    b: i64,
}

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Item {
    #[serde(rename = "_id")]
    id: Key,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

async fn read(repo: model::Repo<Item>) {
    let _ = repo.scroll(model::Query::all()).await;
}

fn main() {}
