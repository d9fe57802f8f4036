include!("common/customer.rs");

#[derive(model::Projection, Deserialize)]
#[projection(model = Customer)]
struct Contact {
    name: String,
    points: String,
}

fn main() {}
