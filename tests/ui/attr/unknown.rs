use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id, colection = "foos")]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(uniqe)]
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {
    // No cascade: the constants still exist beside the attribute error.
    let _ = Foo::NAME.eq("x");
}
