//! The order service, written fully typed: nested paths, arrays, every
//! update operator, filtered writes, upserts, `None` not stored,
//! projections, counts per status, keyset pages, a change stream and
//! versioned edits. No
//! `Query::raw`, no `Update::raw`, no dotted `Field::new`, no driver call
//! except to look at what is stored. Each operation asserts its effect on
//! the server.

mod common;
#[path = "common/orders.rs"]
mod orders;

use bson::{Bson, Document, doc};
use futures::StreamExt;
use model::{Connection, Error, Migration, Query};
use orders::*;

/// A database of its own, with the validators and indexes migrated.
async fn service() -> Connection {
    let conn = common::connection().await;
    conn.migrate_all(&[Migration::of::<Customer>(), Migration::of::<Order>()]).await.unwrap();
    conn
}

/// The stored document, as the server has it.
async fn stored(conn: &Connection, collection: &str, filter: Document) -> Document {
    let db = conn.database().await.unwrap();
    db.collection::<Document>(collection).find_one(filter).await.unwrap().expect("stored")
}

#[tokio::test]
async fn none_is_not_stored_at_any_depth() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    let raw = stored(&conn, "customers", doc! {}).await;
    for missing in ["billing", "visits", "referrer", "updated_at"] {
        assert!(!raw.contains_key(missing), "`{missing}` stored: {raw}");
    }
    assert!(!raw.get_document("address").unwrap().contains_key("region"), "{raw}");
    // ... and the document reads back with `None`s.
    assert_eq!(customers.find(&ann.id).await.unwrap(), ann);
    // `absent()` matches a fresh document; `present()` does not.
    assert_eq!(customers.count(Customer::REFERRER.absent()).await.unwrap(), 1);
    assert_eq!(customers.count(Customer::REFERRER.present()).await.unwrap(), 0);
}

#[tokio::test]
async fn inc_on_an_unset_counter_starts_from_zero_and_set_none_unsets() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    let ann = customers.update(&ann.id, Customer::VISITS.inc(1)).await.unwrap();
    assert_eq!(ann.visits, Some(1));
    let ann = customers.update(&ann.id, Customer::VISITS.set(None)).await.unwrap();
    assert_eq!(ann.visits, None);
    let raw = stored(&conn, "customers", doc! {}).await;
    assert!(!raw.contains_key("visits"), "set(None) removes the field: {raw}");
}

#[tokio::test]
async fn queries_reach_into_nested_documents_and_through_options() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let mut bea = customer("bea@example.com", "Paris", &[]);
    bea.billing = Some(address("Nantes"));
    customers.insert_many([customer("ann@example.com", "Lyon", &[]), bea]).await.unwrap();

    let city = Customer::ADDRESS.then(Address::CITY);
    assert_eq!(city.name(), "address.city");
    let in_lyon = customers.find_many(city.eq("Lyon")).await.unwrap();
    assert_eq!(in_lyon.iter().map(|c| c.email.as_str()).collect::<Vec<_>>(), ["ann@example.com"]);

    // Serde renames apply at every level: `postal_code` is stored as `zip`.
    let zip = Customer::ADDRESS.then(Address::POSTAL_CODE);
    assert_eq!(zip.name(), "address.zip");
    assert_eq!(customers.count(zip.eq("00001")).await.unwrap(), 2);

    // Through `Option<Address>` the value is optional.
    let billing_city = Customer::BILLING.then(Address::CITY);
    let billed_in_nantes =
        customers.find_many(billing_city.eq("Nantes".to_string())).await.unwrap();
    assert_eq!(billed_in_nantes.len(), 1);
    assert_eq!(billed_in_nantes[0].email, "bea@example.com");
    assert_eq!(customers.count(Customer::BILLING.absent()).await.unwrap(), 1);

    // Sorting on a nested path.
    let by_city = customers.find_many(Query::all()).sort(city.desc()).await.unwrap();
    assert_eq!(by_city[0].address.city, "Paris");
}

#[tokio::test]
async fn nested_values_update_in_place() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    let moved = customers
        .update(
            &ann.id,
            Customer::ADDRESS
                .then(Address::CITY)
                .set("Grenoble")
                .and(Customer::ADDRESS.then(Address::REGION).set("Isère".to_string())),
        )
        .await
        .unwrap();
    assert_eq!(moved.address.city, "Grenoble");
    assert_eq!(moved.address.region.as_deref(), Some("Isère"));
    assert_eq!(moved.address.street, "1 Main St", "the rest of the address is kept");
}

#[tokio::test]
async fn tag_lists_are_queried_and_changed_as_sets() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &["new"])).await.unwrap();
    customers.insert_one(customer("bob@example.com", "Lyon", &["vip", "eu"])).await.unwrap();

    assert_eq!(customers.count(Customer::TAGS.contains("vip")).await.unwrap(), 1);
    assert_eq!(customers.count(Customer::TAGS.contains_all(["eu", "vip"])).await.unwrap(), 1);
    assert_eq!(customers.count(Customer::TAGS.len_is(1)).await.unwrap(), 1);

    let ann = customers.update(&ann.id, Customer::TAGS.add_to_set("vip")).await.unwrap();
    let ann = customers.update(&ann.id, Customer::TAGS.add_to_set("vip")).await.unwrap();
    assert_eq!(ann.tags, ["new", "vip"], "added once");
    let ann =
        customers.update(&ann.id, Customer::TAGS.add_all_to_set(["eu", "new"])).await.unwrap();
    assert_eq!(ann.tags, ["new", "vip", "eu"]);
    let ann = customers.update(&ann.id, Customer::TAGS.pull("new")).await.unwrap();
    assert_eq!(ann.tags, ["vip", "eu"]);
    let ann = customers.update(&ann.id, Customer::TAGS.pop_last()).await.unwrap();
    assert_eq!(ann.tags, ["vip"]);
    // Two pushes to one array in one update add up.
    let both = Customer::TAGS.push("a").and(Customer::TAGS.push("b"));
    let ann = customers.update(&ann.id, both).await.unwrap();
    assert_eq!(ann.tags, ["vip", "a", "b"]);
    let ann = customers
        .update(&ann.id, Customer::TAGS.pull("a").and(Customer::TAGS.pull("b")))
        .await
        .unwrap();
    assert_eq!(ann.tags, ["vip"]);
    // Whole-array equality: the same elements in the same order.
    assert_eq!(customers.count(Customer::TAGS.eq(vec!["vip".to_string()])).await.unwrap(), 1);
}

#[tokio::test]
async fn loyalty_points_use_inc_min_max_and_mul() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    let ann = customers.update(&ann.id, Customer::POINTS.inc(40)).await.unwrap();
    assert_eq!(ann.points, 40);
    let ann = customers.update(&ann.id, Customer::POINTS.mul(3)).await.unwrap();
    assert_eq!(ann.points, 120);
    let ann = customers.update(&ann.id, Customer::POINTS.min(100)).await.unwrap();
    assert_eq!(ann.points, 100, "capped");
    let ann = customers.update(&ann.id, Customer::POINTS.max(50)).await.unwrap();
    assert_eq!(ann.points, 100, "max does not lower");
    let ann = customers.update(&ann.id, Customer::POINTS.max(150)).await.unwrap();
    assert_eq!(ann.points, 150);
    // Still a `long`: the validator, which says `long`, accepted every step.
    let raw = stored(&conn, "customers", doc! {}).await;
    assert_eq!(raw.get("points"), Some(&Bson::Int64(150)));
}

#[tokio::test]
async fn an_upsert_by_a_unique_field_inserts_once_then_updates() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let sign_up = || {
        Customer::NAME
            .set_on_insert("Cy")
            .and(Customer::ADDRESS.set_on_insert(address("Lille")))
            .and(Customer::TAGS.set_on_insert(Vec::<String>::new()))
            .and(Customer::POINTS.inc(10))
            .and(Customer::REFERRER.set_on_insert(None))
    };
    let first = customers.upsert(Customer::EMAIL.eq("cy@example.com"), sign_up()).await.unwrap();
    assert_eq!(
        (first.email.as_str(), first.name.as_str(), first.points),
        ("cy@example.com", "Cy", 10)
    );
    assert!(first.updated_at.is_some());
    let raw = stored(&conn, "customers", doc! {}).await;
    assert!(matches!(raw.get("_id"), Some(Bson::Binary(_))), "a generated UUID key: {raw}");
    assert!(!raw.contains_key("referrer"), "set_on_insert(None) stores nothing: {raw}");
    assert_eq!(raw.get("points"), Some(&Bson::Int64(10)));

    let again = customers.upsert(Customer::EMAIL.eq("cy@example.com"), sign_up()).await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.created_at, first.created_at, "created_at is set on insert only");
    assert_eq!(again.points, 20);
    assert_eq!(customers.count(Query::all()).await.unwrap(), 1);
}

#[tokio::test]
async fn an_upsert_the_validator_refuses_writes_nothing() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    // No name, address or tags: the insert would break the schema.
    let err = customers
        .upsert(Customer::EMAIL.eq("dan@example.com"), Customer::POINTS.inc(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    assert_eq!(customers.count(Query::all()).await.unwrap(), 0);

    // A composite key cannot be generated: the query must name it, with `eq`.
    let orders = conn.repo::<Order>();
    let err = orders.upsert(Order::TOTAL.eq(0), Order::TOTAL.inc(1)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let some_key = OrderKey { customer: model::Uuid::new(), number: 1 };
    let err = orders.upsert(Order::ID.ne(some_key), Order::TOTAL.inc(1)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert_eq!(orders.count(Query::all()).await.unwrap(), 0);
}

#[tokio::test]
async fn an_upsert_by_a_composite_key_takes_the_key_from_its_query() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let key = OrderKey { customer: model::Uuid::new(), number: 7 };
    let open = || {
        Order::STATUS
            .set_on_insert(Status::Pending)
            .and(Order::ITEMS.set_on_insert(Vec::<LineItem>::new()))
            .and(Order::PLACED_AT.set_on_insert(common::at(1)))
            .and(Order::LABELS.set_on_insert(std::collections::BTreeMap::new()))
            .and(Order::TOTAL.inc(100))
    };
    // The key is an equality inside `$and` (two conditions on `_id`).
    let other = OrderKey { customer: model::Uuid::new(), number: 7 };
    let query = || Order::ID.eq(key.clone()).and(Order::ID.ne(other.clone()));
    assert!(query().to_document().unwrap().contains_key("$and"));
    let first = orders.upsert(query(), open()).await.unwrap();
    assert_eq!((first.id.clone(), first.total, first.status), (key.clone(), 100, Status::Pending));
    let again = orders.upsert(query(), open()).await.unwrap();
    assert_eq!(again.total, 200);
    assert_eq!(orders.count(Query::all()).await.unwrap(), 1);
}

#[tokio::test]
async fn line_items_are_matched_element_by_element() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let ann = model::Uuid::new();
    orders
        .insert_many([
            order(ann, 1, vec![item("apple", 1, 100), item("pear", 5, 80)]),
            order(ann, 2, vec![item("apple", 3, 100)]),
        ])
        .await
        .unwrap();
    // Any element: `items.sku`.
    let sku = Order::ITEMS.any(LineItem::SKU);
    assert_eq!(sku.name(), "items.sku");
    assert_eq!(orders.count(sku.eq("pear")).await.unwrap(), 1);
    // One element with both conditions: order 1 has apples and has 5 of
    // something, but not 5 apples.
    let apples = Order::ITEMS.elem_match(LineItem::SKU.eq("apple").and(LineItem::QUANTITY.gte(3)));
    let found = orders.find_many(apples).await.unwrap();
    assert_eq!(found.iter().map(|o| o.id.number).collect::<Vec<_>>(), [2]);
    // Through the composite key: `_id.number`.
    let later = orders.find_many(Order::ID.then(OrderKey::NUMBER).gt(1)).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].id.number, 2);
}

#[tokio::test]
async fn adding_a_line_pushes_it_and_raises_the_total_in_one_update() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let key = orders
        .insert_one(order(model::Uuid::new(), 1, vec![item("apple", 1, 100)]))
        .await
        .unwrap()
        .id;
    let line = item("pear", 2, 80);
    let after = orders
        .update(&key, Order::ITEMS.push(line.clone()).and(Order::TOTAL.inc(2 * 80)))
        .await
        .unwrap();
    assert_eq!(after.items.len(), 2);
    assert_eq!(after.items[1], line);
    assert_eq!(after.total, 260);

    // Several at once, sorted by price, keeping the three dearest.
    let after = orders
        .update(
            &key,
            Order::ITEMS
                .push_all([item("fig", 1, 300), item("kiwi", 1, 50)])
                .sort_by(LineItem::UNIT_PRICE.desc())
                .slice(3),
        )
        .await
        .unwrap();
    let skus: Vec<_> = after.items.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(skus, ["fig", "apple", "pear"]);
    // At a position.
    let after = orders
        .update(&key, Order::ITEMS.push_all([item("date", 1, 10)]).position(0))
        .await
        .unwrap();
    assert_eq!(after.items[0].sku, "date");
    let after = orders.update(&key, Order::ITEMS.pop_first()).await.unwrap();
    assert_eq!(after.items[0].sku, "fig");
}

#[tokio::test]
async fn the_matched_line_and_every_line_update_in_place() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let key = orders
        .insert_one(order(model::Uuid::new(), 1, vec![item("apple", 1, 100), item("pear", 1, 80)]))
        .await
        .unwrap()
        .id;
    // `items.$.quantity`: the line the query matched. (With `update_many`:
    // the test server refuses `$` in `findAndModify`, which mongod allows.)
    let pears = Order::ID.eq(key.clone()).and(Order::ITEMS.any(LineItem::SKU).eq("pear"));
    let more = Order::ITEMS.matched().then(LineItem::QUANTITY).inc(2).and(Order::TOTAL.inc(160));
    assert_eq!(orders.update_many(pears, more).await.unwrap(), 1);
    let after = orders.find(&key).await.unwrap();
    assert_eq!((after.items[0].quantity, after.items[1].quantity, after.total), (1, 3, 340));
    // `items.$[].giftNote`: every line.
    let note = Order::ITEMS.all().then(LineItem::GIFT_NOTE);
    assert_eq!(note.name(), "items.$[].giftNote");
    let after = orders.update(&key, note.set("Happy birthday".to_string())).await.unwrap();
    assert!(after.items.iter().all(|i| i.gift_note.as_deref() == Some("Happy birthday")));
    // Remove the lines that match a typed condition.
    let after =
        orders.update(&key, Order::ITEMS.pull_where(LineItem::QUANTITY.gte(2))).await.unwrap();
    assert_eq!(after.items.iter().map(|i| i.sku.as_str()).collect::<Vec<_>>(), ["apple"]);
}

#[tokio::test]
async fn a_guarded_transition_happens_once() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let key = orders.insert_one(order(model::Uuid::new(), 1, vec![])).await.unwrap().id;
    let pay = || {
        orders.find_one_and_update(
            Order::ID.eq(key.clone()).and(Order::STATUS.eq(Status::Pending)),
            Order::STATUS.set(Status::Paid),
        )
    };
    let paid = pay().await.unwrap().expect("pending, so paid");
    assert_eq!(paid.status, Status::Paid);
    assert!(pay().await.unwrap().is_none(), "no longer pending: nothing written");
    assert_eq!(orders.find(&key).await.unwrap().status, Status::Paid);

    // The document as it was before, on request.
    let before = orders
        .find_one_and_update(
            Order::ID.eq(key.clone()).and(Order::STATUS.eq(Status::Paid)),
            Order::STATUS.set(Status::Shipped).and(Order::SHIPPED_AT.set(common::at(5))),
        )
        .return_before()
        .await
        .unwrap()
        .expect("paid");
    assert_eq!((before.status, before.shipped_at), (Status::Paid, None));
    let shipped = orders.find(&key).await.unwrap();
    assert_eq!((shipped.status, shipped.shipped_at), (Status::Shipped, Some(common::at(5))));
}

#[tokio::test]
async fn the_oldest_pending_order_is_taken_and_replaced_or_deleted() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let ann = model::Uuid::new();
    orders.insert_many((1..=3).map(|n| order(ann, n, vec![]))).await.unwrap();
    let oldest = orders
        .find_one_and_delete(Order::STATUS.eq(Status::Pending))
        .sort(Order::PLACED_AT.asc())
        .await
        .unwrap()
        .expect("one");
    assert_eq!(oldest.id.number, 1);
    assert_eq!(orders.count(Query::all()).await.unwrap(), 2);

    let mut next =
        orders.find_one(Query::all()).sort(Order::PLACED_AT.asc()).await.unwrap().unwrap();
    next.status = Status::Cancelled;
    next.coupon = None;
    let replaced = orders
        .find_one_and_replace(Order::ID.eq(next.id.clone()), next.clone())
        .now(common::at(9))
        .await
        .unwrap()
        .expect("matched");
    assert_eq!(replaced.status, Status::Cancelled);
    assert_eq!(replaced.updated_at, Some(common::at(9)));
    assert_eq!(orders.count(Order::STATUS.eq(Status::Cancelled)).await.unwrap(), 1);
    assert!(orders.find_one_and_delete(Order::STATUS.eq(Status::Shipped)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_partial_unique_index_on_an_option_allows_many_without_a_value() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let ann = model::Uuid::new();
    // Neither has a coupon: `None` is not stored, so the index skips both.
    orders.insert_many([order(ann, 1, vec![]), order(ann, 2, vec![])]).await.unwrap();
    let mut with_coupon = order(ann, 3, vec![]);
    with_coupon.coupon = Some("WELCOME".into());
    orders.insert_one(with_coupon).await.unwrap();
    let mut again = order(ann, 4, vec![]);
    again.coupon = Some("WELCOME".into());
    let err = orders.insert_one(again).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(orders.count(Query::all()).await.unwrap(), 3);
}

#[tokio::test]
async fn the_escape_hatch_keeps_the_error_mapping() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    let cities = customers
        .with_collection("distinct_cities", |coll| async move {
            coll.distinct(Customer::ADDRESS.then(Address::CITY).name(), doc! {}).await
        })
        .await
        .unwrap();
    assert_eq!(cities, [Bson::String("Lyon".into())]);
    // A driver error comes back mapped: a duplicate is a `Conflict`.
    let err = customers
        .with_collection("raw_insert", |coll| async move {
            let db = coll.client().database(coll.namespace().db.as_str());
            let raw = db.collection::<Document>(coll.name());
            let existing = raw.find_one(doc! {}).await?.expect("one");
            raw.insert_one(existing).await.map(|_| ())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unencodable_value_in_a_nested_or_array_update_writes_nothing() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let key = orders.insert_one(order(model::Uuid::new(), 1, vec![])).await.unwrap().id;
    let before = orders.find(&key).await.unwrap();
    // A field name with a NUL byte cannot be stored in BSON.
    let bad: std::collections::BTreeMap<String, String> =
        [("a\0b".to_string(), "x".to_string())].into();
    let err = orders
        .update(&key, Order::ITEMS.push(item("fig", 1, 1)).and(Order::LABELS.set(bad.clone())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
    let err = orders
        .find_one_and_update(Order::ID.eq(key.clone()), Order::LABELS.set(bad.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
    let other = OrderKey { customer: model::Uuid::new(), number: 9 };
    let err = orders
        .upsert(Order::ID.eq(other), Order::LABELS.set(bad).and(Order::TOTAL.inc(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
    assert_eq!(orders.find(&key).await.unwrap(), before, "nothing written");
    assert_eq!(orders.count(Query::all()).await.unwrap(), 1, "nothing inserted");
}

#[tokio::test]
async fn the_order_list_pages_by_cursor_counts_per_status_and_reads_only_its_columns() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let ann = model::Uuid::new();
    for number in 1..=5 {
        let placed = order(ann, number, vec![item("apple", 1, 100 * number)]);
        orders.insert_one(placed).await.unwrap();
    }
    for number in [2, 4] {
        let key = OrderKey { customer: ann, number };
        orders.update(&key, Order::STATUS.set(Status::Paid)).await.unwrap();
    }

    // Newest first, two rows a page, only the list's columns.
    let newest = Order::PLACED_AT.desc();
    let mut rows: Vec<OrderRow> = Vec::new();
    let mut pages = 0;
    let mut at = None;
    loop {
        let page = orders.scroll(Query::all()).sort(newest.clone()).size(2).at(at);
        let page = page.project::<OrderRow>().await.unwrap();
        rows.extend(page.items);
        pages += 1;
        match page.next {
            Some(next) => at = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(rows.iter().map(|r| r.id.number).collect::<Vec<_>>(), [5, 4, 3, 2, 1]);
    assert_eq!((rows[1].status, rows[1].total), (Status::Paid, 400));

    let per_status = orders.count_by(Order::STATUS, Query::all()).await.unwrap();
    assert_eq!(per_status, [(Status::Paid, 2), (Status::Pending, 3)]);

    // The customer card: a projection of the customer; the cities served.
    let customers = conn.repo::<Customer>();
    customers.insert_one(customer("ann@example.com", "Lyon", &["vip"])).await.unwrap();
    customers.insert_one(customer("bo@example.com", "Lyon", &[])).await.unwrap();
    let city = Customer::ADDRESS.then(Address::CITY);
    assert_eq!(customers.distinct(city, Query::all()).await.unwrap(), ["Lyon"]);
    let card: Option<Contact> =
        customers.find_one(Customer::EMAIL.eq("ann@example.com")).project().await.unwrap();
    assert_eq!(card.map(|c| c.address.city).as_deref(), Some("Lyon"));
}

#[tokio::test]
async fn the_shipping_desk_hears_of_paid_orders_and_stale_edits_are_refused() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let mut paid = orders.watch(Order::STATUS.eq(Status::Paid)).await.unwrap();
    let key = orders.insert_one(order(model::Uuid::new(), 1, vec![item("fig", 2, 50)])).await;
    let key = key.unwrap().id;
    orders.update(&key, Order::STATUS.set(Status::Paid)).await.unwrap();
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), paid.next())
        .await
        .expect("an event within 10 s")
        .expect("an open stream")
        .unwrap();
    match event.change {
        model::action::Change::Update { key: updated, document: Some(order), .. } => {
            assert_eq!(updated, key);
            assert_eq!((order.status, order.total), (Status::Paid, 100));
        }
        other => panic!("expected the paid update, got {other:?}"),
    }

    // Two clerks edit one customer from the same read: the second is refused.
    let customers = conn.repo::<Customer>();
    let read = customers.insert_one(customer("bo@example.com", "Oslo", &[])).await.unwrap();
    let mut first = read.clone();
    first.points = 10;
    let mut second = read;
    second.tags.push("late".into());
    assert_eq!(customers.replace(first).await.unwrap().version, 1);
    let refused = customers.replace(second).await.unwrap_err();
    assert!(matches!(refused, Error::VersionConflict { expected: 0, .. }), "{refused:?}");
    let stored = customers.find_one(Customer::EMAIL.eq("bo@example.com")).await.unwrap();
    let stored = stored.unwrap();
    assert_eq!((stored.points, stored.tags.len()), (10, 0), "the stale edit wrote nothing");
}
