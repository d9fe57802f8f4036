include!("common/customer.rs");

fn read(repo: &model::Repo<Customer>) {
    // An array's distinct values are its elements: `Customer::TAGS.elements()`.
    let _ = repo.distinct(Customer::TAGS, model::Query::all());
}

fn main() {
    let repo: Option<model::Repo<Customer>> = None;
    if let Some(repo) = &repo {
        read(repo);
    }
}
