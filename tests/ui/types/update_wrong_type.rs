use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
#[model(key = id)]
struct Foo {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn main() {
    let _ = Foo::NAME.set(3);
    let _ = Foo::ID.set(Uuid::new());
}
