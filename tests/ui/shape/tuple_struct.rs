use model::{DateTime, Model, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Model, Serialize, Deserialize)]
struct Foo(Uuid, DateTime);

fn main() {}
