// Projections, an ordered composite key, a version field and every typed
// read compile together.

use futures::StreamExt;
use model::{CompositeKey, DateTime, Model, Ordered, Projection, Query, Repo, Schema};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
struct Address {
    city: String,
}

#[derive(Debug, Clone, PartialEq, CompositeKey, Ordered, Serialize, Deserialize)]
struct Key {
    shop: String,
    number: i64,
}

#[derive(Debug, Clone, Model, Serialize, Deserialize)]
#[model(key = id)]
struct Customer {
    #[serde(rename = "_id")]
    id: Key,
    name: String,
    address: Address,
    nickname: Option<String>,
    tags: Vec<String>,
    #[model(version)]
    #[serde(default)]
    version: u32,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[derive(Projection, Deserialize)]
#[projection(model = Customer)]
#[allow(dead_code)]
struct Card {
    #[serde(rename = "_id")]
    id: Key,
    // A required field may be read into an `Option`.
    name: Option<String>,
    address: Address,
}

#[allow(dead_code)]
async fn reads(repo: Repo<Customer>) -> model::Result<()> {
    let _: Vec<Card> = repo.find_many(Query::all()).project().await?;
    let _: Option<Card> = repo.find_one(Query::all()).project().await?;
    let page = repo.scroll(Customer::NAME.eq("a")).sort(Customer::NAME.desc()).project::<Card>();
    let page = page.await?;
    let _ = repo.scroll(Query::all()).at(page.next).await?;
    let _: Vec<String> = repo.distinct(Customer::TAGS.elements(), Query::all()).await?;
    let _: Vec<(Option<String>, u64)> = repo.count_by(Customer::NICKNAME, Query::all()).await?;
    let _: Vec<model::bson::Document> = repo.aggregate(Query::all()).await?;
    let mut changes = repo.watch(Customer::ADDRESS.then(Address::CITY).eq("Oslo")).await?;
    if let Some(Ok(event)) = changes.next().await {
        if let model::action::Change::Update { fields, .. } = event.change {
            let _: Option<String> = fields.get(Customer::NAME)?;
        }
    }
    let doc = repo.find(&Key { shop: "a".into(), number: 1 }).await?;
    let version = i64::from(doc.version);
    let doc = repo.replace(doc).await?;
    let _ = repo.update(&doc.id, Customer::NAME.set("b")).if_version(version + 1).await?;
    let _ = Key { shop: "a".into(), number: 1 };
    let _ = Customer::ID.gt(Key { shop: "a".into(), number: 1 });
    Ok(())
}

fn main() {}
