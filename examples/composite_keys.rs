//! Composite keys: `_id` is an embedded document `{ tenant, sku }`, stored in
//! declaration order so lookups by key always match.
//!
//! Run: `cargo run --example composite_keys`

use model::{CompositeKey, DateTime, Error, Model, Query, Uuid};
use serde::{Deserialize, Serialize};

/// The key: tenant and SKU together identify a stock line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, CompositeKey, Serialize, Deserialize)]
struct StockKey {
    tenant: Uuid,
    sku: String,
}

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(collection = "stock", key = id)]
struct Stock {
    #[serde(rename = "_id")]
    id: StockKey,
    quantity: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?;
    let conn = model::Connection::new(&server.uri, testkit::unique_name("composite"));
    let stock = conn.repo::<Stock>();

    let tenant = Uuid::new();
    for (sku, quantity) in [("apple", 10), ("pear", 4)] {
        let id = StockKey { tenant, sku: sku.into() };
        stock.insert_one(StockInsert { id, quantity }).await?;
    }

    // Same tenant, same SKU: the composite `_id` collides.
    let again = StockInsert { id: StockKey { tenant, sku: "apple".into() }, quantity: 1 };
    match stock.insert_one(again).await {
        Err(Error::Conflict { .. }) => println!("apple for this tenant exists already"),
        other => println!("unexpected: {other:?}"),
    }

    // Find and update by the whole key.
    let apple = StockKey { tenant, sku: "apple".into() };
    let line = stock.update(&apple, Stock::QUANTITY.inc(-3)).await?;
    println!("{} apples left", line.quantity);

    // A key differing in one part is another document.
    let other_tenant = StockKey { tenant: Uuid::new(), sku: "apple".into() };
    assert!(matches!(stock.find(&other_tenant).await, Err(Error::NotFound { .. })));

    // Query on the key as a whole, and on ordinary fields.
    let low = stock.find_many(Stock::QUANTITY.lt(5)).await?;
    println!("low stock: {:?}", low.iter().map(|s| &s.id.sku).collect::<Vec<_>>());
    println!("lines: {}", stock.count(Query::all()).await?);

    conn.database().await?.drop().await?;
    Ok(())
}
