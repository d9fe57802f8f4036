include!("common/customer.rs");

// The model stores `email` as `mail`: a projection that reads `email`
// would never receive it.
#[derive(model::Projection, Deserialize)]
#[projection(model = Customer)]
struct Contact {
    email: String,
}

fn main() {}
