use std::collections::HashMap;

use model::{CompositeKey, DateTime, Model, ObjectId, Schema, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, Schema)]
struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, Schema)]
#[serde(rename_all = "snake_case")]
enum Status {
    Active,
    OnHold,
}

#[derive(Clone, Debug, Serialize, Deserialize, CompositeKey)]
struct PairKey {
    left: Uuid,
    right: String,
}

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(
    collection = "everything",
    key = id,
    index(keys(status, created_at = -1), name = "status_recent"),
    index(keys(email), unique, partial = model::bson::doc! { "email": { "$exists": true } })
)]
struct Everything {
    #[serde(rename = "_id")]
    id: PairKey,
    #[model(index)]
    status: Status,
    email: Option<String>,
    address: Address,
    tags: Vec<String>,
    scores: HashMap<String, f64>,
    owner: ObjectId,
    count: i32,
    #[model(index, expire_after = 3600)]
    created_at: DateTime,
    updated_at: DateTime,
}

fn main() {
    let _ = Everything::COUNT.inc(1).and(Everything::EMAIL.unset());
    let _ = Everything::STATUS.eq(Status::Active).and(Everything::CREATED_AT.lt(DateTime::now()));
    let _ = Everything::ID.eq(PairKey { left: Uuid::new(), right: "r".into() });
    assert_eq!(<Everything as Model>::indexes().len(), 4);
}
