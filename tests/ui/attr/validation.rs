use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id, validation_level = "loose", validation_action = "log")]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {
    // The fields are still there: one mistake does not cascade.
    let _ = Foo::NAME;
}
