use model::{Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
enum Foo {
    A { id: Uuid },
}

fn main() {}
