use model::{Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = idd, index(keys(nmae)))]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    #[model(sparse)]
    other: String,
}

fn main() {}
