use std::collections::BTreeSet;

use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Item {
    #[serde(rename = "_id")]
    id: Uuid,
    labels: BTreeSet<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {
    let _ = Item::LABELS.push("x");
}
