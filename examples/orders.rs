//! An order service, fully typed: nested addresses, tag lists, line
//! items, a guarded status transition, upserts, and `None` not stored.
//!
//! Uses `MONGODB_URI` when set; otherwise starts a local test server.
//! Run: `cargo run --example orders`

#[path = "../tests/common/orders.rs"]
mod orders;

use model::{Migration, Query};
use orders::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?;
    let conn = model::Connection::new(&server.uri, testkit::unique_name("orders"));
    conn.migrate_all(&[Migration::of::<Customer>(), Migration::of::<Order>()]).await?;
    let (customers, orders) = (conn.repo::<Customer>(), conn.repo::<Order>());

    // Customers with a nested address; `None` fields are not stored.
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &["new"])).await?;
    customers.insert_one(customer("bob@example.com", "Paris", &["vip"])).await?;

    // A nested path, checked by the compiler: `address.city`.
    let in_lyon = customers.find_many(Customer::ADDRESS.then(Address::CITY).eq("Lyon")).await?;
    println!("customers in Lyon: {:?}", in_lyon.iter().map(|c| &c.email).collect::<Vec<_>>());

    // Tags as a set, points with $inc, in one round trip.
    let ann = customers
        .update(&ann.id, Customer::TAGS.add_to_set("vip").and(Customer::POINTS.inc(10)))
        .await?;
    println!("ann: tags {:?}, points {}", ann.tags, ann.points);
    println!("vip customers: {}", customers.count(Customer::TAGS.contains("vip")).await?);

    // Sign-up by email: insert once, then update (the key, created_at and
    // updated_at are filled in; the validator checks the insert).
    for _ in 0..2 {
        let cy = customers
            .upsert(
                Customer::EMAIL.eq("cy@example.com"),
                Customer::NAME
                    .set_on_insert("Cy")
                    .and(Customer::ADDRESS.set_on_insert(address("Lille")))
                    .and(Customer::TAGS.set_on_insert(Vec::<String>::new()))
                    .and(Customer::POINTS.inc(5)),
            )
            .await?;
        println!("cy upserted: points {}", cy.points);
    }

    // An order with line items, keyed by (customer, number).
    let key = orders.insert_one(order(ann.id, 1, vec![item("apple", 2, 100)])).await?.id;
    let pear = item("pear", 1, 80);
    let o = orders.update(&key, Order::ITEMS.push(pear).and(Order::TOTAL.inc(80))).await?;
    println!("order {}: {} lines, total {}", o.id.number, o.items.len(), o.total);

    // One more apple: the matched line, `items.$.quantity`.
    let apples = Order::ID.eq(key.clone()).and(Order::ITEMS.any(LineItem::SKU).eq("apple"));
    let more = Order::ITEMS.matched().then(LineItem::QUANTITY).inc(1).and(Order::TOTAL.inc(100));
    orders.update_many(apples, more).await?;
    println!("apples now: {}", orders.find(&key).await?.items[0].quantity);

    // Pending -> Paid, only if still pending: one round trip, applied once.
    for attempt in 1..=2 {
        let paid = orders
            .find_one_and_update(
                Order::ID.eq(key.clone()).and(Order::STATUS.eq(Status::Pending)),
                Order::STATUS.set(Status::Paid),
            )
            .await?;
        println!("pay attempt {attempt}: {}", if paid.is_some() { "paid" } else { "already paid" });
    }

    // Orders with a big line: `$elemMatch` with a typed element query.
    let big = Order::ITEMS.elem_match(LineItem::QUANTITY.gte(3).and(LineItem::UNIT_PRICE.gte(50)));
    println!("orders with a big line: {}", orders.count(big).await?);
    let of_ann = Order::ID.then(OrderKey::CUSTOMER).eq(ann.id);
    println!("orders of ann: {}", orders.count(of_ann).await?);
    println!("all orders: {}", orders.count(Query::all()).await?);

    // Counts per status, and the order list: newest first, a page at a time.
    for (status, n) in orders.count_by(Order::STATUS, Query::all()).await? {
        println!("{status:?}: {n}");
    }
    let page = orders.scroll(Query::all()).sort(Order::PLACED_AT.desc()).size(1);
    let page = page.project::<OrderRow>().await?;
    println!("newest order: {} ({:?})", page.items[0].id.number, page.items[0].status);

    // A stale edit is refused: the customer changed since it was read.
    let stale = customers.find(&ann.id).await?;
    customers.update(&ann.id, Customer::POINTS.inc(1)).await?;
    match customers.replace(stale).await {
        Err(model::Error::VersionConflict { expected, .. }) => {
            println!("stale edit of version {expected} refused")
        }
        other => println!("unexpected: {other:?}"),
    }

    conn.database().await?.drop().await?;
    conn.disconnect().await;
    Ok(())
}
