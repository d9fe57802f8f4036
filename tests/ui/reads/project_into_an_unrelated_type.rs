include!("common/customer.rs");

#[derive(Deserialize)]
struct Contact {
    name: String,
}

async fn read(repo: model::Repo<Customer>) {
    let _ = repo.find_many(model::Query::all()).project::<Contact>().await;
}

fn main() {}
