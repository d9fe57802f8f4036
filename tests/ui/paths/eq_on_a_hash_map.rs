use std::collections::HashMap;

use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Item {
    #[serde(rename = "_id")]
    id: Uuid,
    labels: HashMap<String, String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {
    let _ = Item::LABELS.eq(HashMap::new());
}
