//! Typed reads: projections, distinct values and counts per value,
//! aggregation, keyset pages (with the edge cases offset-free paging gets
//! wrong), change streams and optimistic concurrency.

mod common;
#[path = "common/orders.rs"]
mod orders;

use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use futures::{StreamExt, TryStreamExt};
use model::{
    Connection, DateTime, Error, Migration, Model, PageCursor, Query, Repo, Sort, action::Change,
    action::KeysetPage,
};
use orders::*;
use serde::{Deserialize, Serialize};

async fn service() -> Connection {
    let conn = common::connection().await;
    conn.migrate_all(&[Migration::of::<Customer>(), Migration::of::<Order>()]).await.unwrap();
    conn
}

/// The driver's view of `collection`, to store what the repository would not.
async fn raw(conn: &Connection, collection: &str) -> model::mongodb::Collection<Document> {
    conn.database().await.unwrap().collection(collection)
}

// ---------------------------------------------------------------- projections

#[tokio::test]
async fn projections_read_only_their_fields_on_every_read() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let mut ann = customer("ann@example.com", "Lyon", &["vip"]);
    ann.referrer = Some("bob".into());
    customers.insert_one(ann).await.unwrap();
    customers.insert_one(customer("cat@example.com", "Oslo", &[])).await.unwrap();

    // `Contact` denies unknown fields: any field beyond its own (the key
    // included) would fail to decode, so these reads prove the projection.
    let by_name = Customer::NAME.asc();
    let contacts: Vec<Contact> =
        customers.find_many(Query::all()).sort(by_name.clone()).project().await.unwrap();
    assert_eq!(
        contacts.iter().map(|c| (c.name.as_str(), c.address.city.as_str())).collect::<Vec<_>>(),
        [("ann", "Lyon"), ("cat", "Oslo")]
    );
    let one: Option<Contact> =
        customers.find_one(Customer::EMAIL.eq("cat@example.com")).project().await.unwrap();
    assert_eq!(one.map(|c| c.email).as_deref(), Some("cat@example.com"));
    let stream = customers.iterate(Query::all()).batch_size(1).project::<Contact>().await;
    let streamed: Vec<Contact> = stream.unwrap().try_collect().await.unwrap();
    assert_eq!(streamed.len(), 2);
    let page =
        customers.paginate(Query::all()).sort(by_name).limit(1).project::<Contact>().await.unwrap();
    assert_eq!((page.count, page.items[0].name.as_str()), (2, "ann"));

    // A projection naming the key gets it.
    let orders = conn.repo::<Order>();
    let ann = customers.find_one(Customer::NAME.eq("ann")).await.unwrap().unwrap();
    orders.insert_one(order(ann.id, 1, vec![item("a", 2, 150)])).await.unwrap();
    let rows: Vec<OrderRow> = orders.find_many(Query::all()).project().await.unwrap();
    assert_eq!(rows[0].id, OrderKey { customer: ann.id, number: 1 });
    assert_eq!((rows[0].status, rows[0].total), (Status::Pending, 300));

    // Without the projection the same type cannot read the documents.
    let whole = customers
        .with_collection("find", |coll| {
            Box::pin(async move {
                coll.clone_with_type::<Contact>().find_one(doc! {}).await.map(|_| ())
            })
        })
        .await;
    assert!(whole.is_err(), "Contact must refuse whole documents, or the test proves nothing");
}

// ---------------------------------------------------------------- aggregation

#[derive(Debug, PartialEq, Deserialize)]
struct Revenue {
    #[serde(rename = "_id")]
    status: Status,
    revenue: i64,
    orders: i32,
}

#[tokio::test]
async fn distinct_counts_per_value_and_pipelines_are_typed() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let orders = conn.repo::<Order>();
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &["vip", "eu"])).await;
    let ann = ann.unwrap();
    customers.insert_one(customer("bob@example.com", "Lyon", &["eu"])).await.unwrap();
    customers.insert_one(customer("cat@example.com", "Oslo", &[])).await.unwrap();
    for (number, status) in
        [(1, Status::Paid), (2, Status::Shipped), (3, Status::Paid), (4, Status::Pending)]
    {
        let mut new = order(ann.id, number, vec![item("a", 1, 100 * number)]);
        new.status = status;
        orders.insert_one(new).await.unwrap();
    }

    let mut cities: Vec<String> =
        customers.distinct(Customer::ADDRESS.then(Address::CITY), Query::all()).await.unwrap();
    cities.sort();
    assert_eq!(cities, ["Lyon", "Oslo"]);
    let mut tags = customers.distinct(Customer::TAGS.elements(), Query::all()).await.unwrap();
    tags.sort();
    assert_eq!(tags, ["eu", "vip"]);
    let referrers = customers.distinct(Customer::REFERRER, Query::all()).await.unwrap();
    assert!(referrers.iter().all(Option::is_none), "no referrer is stored: {referrers:?}");

    let per_status = orders.count_by(Order::STATUS, Query::all()).await.unwrap();
    assert_eq!(per_status, [(Status::Paid, 2), (Status::Pending, 1), (Status::Shipped, 1)]);
    let per_tag = customers.count_by(Customer::TAGS.elements(), Query::all()).await.unwrap();
    assert_eq!(per_tag, [("eu".to_string(), 2), ("vip".to_string(), 1)]);
    // An optional field counts the documents without it under `None`.
    let per_referrer = customers.count_by(Customer::REFERRER, Query::all()).await.unwrap();
    assert_eq!(per_referrer, [(None, 3)]);
    let lyon = Customer::ADDRESS.then(Address::CITY).eq("Lyon");
    let per_city = customers.count_by(Customer::ADDRESS.then(Address::CITY), lyon).await.unwrap();
    assert_eq!(per_city, [("Lyon".to_string(), 2)]);

    // A pipeline from a typed query and sort, into a typed result.
    let revenue = orders
        .aggregate(Order::STATUS.one_of([Status::Paid, Status::Shipped]))
        .sort(Order::PLACED_AT.desc())
        .stage(doc! { "$group": {
            "_id": "$status", "revenue": { "$sum": "$total" }, "orders": { "$sum": 1 },
        } })
        .stage(doc! { "$sort": { "revenue": -1 } })
        .with_type::<Revenue>();
    assert_eq!(
        revenue.pipeline().unwrap()[0],
        doc! { "$match": { "status": { "$in": ["paid", "shipped"] } } }
    );
    assert_eq!(
        revenue.await.unwrap(),
        [
            Revenue { status: Status::Paid, revenue: 400, orders: 2 },
            Revenue { status: Status::Shipped, revenue: 200, orders: 1 },
        ]
    );
    // As a stream, and limited after the sort: the newest order.
    let newest: Vec<Order> = orders
        .aggregate(Query::all())
        .sort(Order::PLACED_AT.desc())
        .limit(1)
        .with_type::<Order>()
        .stream()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(newest.iter().map(|o| o.id.number).collect::<Vec<_>>(), [4]);
    // Writing stages are refused, with nothing sent.
    let out = orders.aggregate(Query::all()).stage(doc! { "$out": "elsewhere" }).await;
    assert!(matches!(out, Err(Error::InvalidArgument { .. })), "{out:?}");
}

// ---------------------------------------------------------------- keyset pages

/// A model with a nullable, duplicated sort field and a numeric key.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "entries", key = id, index(keys(score = -1)))]
struct Entry {
    #[serde(rename = "_id")]
    id: i64,
    score: Option<i32>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// Every page from the start, forward; then every page back from the end.
async fn walk(entries: &Repo<Entry>, sort: Sort<Entry>, size: u64) -> (Vec<i64>, Vec<i64>) {
    let mut forward = Vec::new();
    let mut at: Option<PageCursor> = None;
    let mut last: KeysetPage<Entry>;
    loop {
        last = entries.scroll(Query::all()).sort(sort.clone()).size(size).at(at).await.unwrap();
        forward.extend(last.items.iter().map(|e| e.id));
        match last.next.clone() {
            Some(next) => at = Some(next),
            None => break,
        }
    }
    let mut backward: Vec<i64> = last.items.iter().rev().map(|e| e.id).collect();
    let mut at = last.previous.clone();
    while let Some(cursor) = at {
        let page = entries.scroll(Query::all()).sort(sort.clone()).size(size).at(cursor).await;
        let page = page.unwrap();
        backward.extend(page.items.iter().rev().map(|e| e.id));
        at = page.previous;
    }
    backward.reverse();
    (forward, backward)
}

/// The order MongoDB sorts `entries` in: `null`/absent first ascending
/// (last descending), ties by key.
fn expected(entries: &[(i64, Option<i32>)], descending: bool) -> Vec<i64> {
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| {
        let by_score = if descending { b.1.cmp(&a.1) } else { a.1.cmp(&b.1) };
        by_score.then(a.0.cmp(&b.0))
    });
    sorted.into_iter().map(|(id, _)| id).collect()
}

#[tokio::test]
async fn keyset_pages_neither_skip_nor_repeat_with_duplicates_nulls_and_both_directions() {
    let conn = common::connection().await;
    let entries = conn.repo::<Entry>();
    // Duplicated scores, absent scores (None is not stored) and one
    // explicit `null` (written raw: the repository never stores one).
    let mut data: Vec<(i64, Option<i32>)> = vec![
        (1, Some(5)),
        (2, None),
        (3, Some(5)),
        (4, Some(1)),
        (5, Some(5)),
        (6, None),
        (7, Some(9)),
        (8, Some(1)),
        (9, Some(5)),
        (10, Some(3)),
    ];
    for (id, score) in &data {
        entries.insert_one(EntryInsert { id: *id, score: *score }).await.unwrap();
    }
    raw(&conn, "entries")
        .await
        .insert_one(doc! { "_id": 11_i64, "score": Bson::Null, "created_at": DateTime::now() })
        .await
        .unwrap();
    data.push((11, None));

    for size in [1, 3, 4, 20] {
        let (forward, backward) = walk(&entries, Entry::SCORE.asc(), size).await;
        assert_eq!(forward, expected(&data, false), "ascending, size {size}");
        assert_eq!(backward, forward, "ascending back, size {size}");
        let (forward, backward) = walk(&entries, Entry::SCORE.desc(), size).await;
        assert_eq!(forward, expected(&data, true), "descending, size {size}");
        assert_eq!(backward, forward, "descending back, size {size}");
    }
    // The key alone, descending.
    let (forward, _) = walk(&entries, Entry::ID.desc(), 4).await;
    assert_eq!(forward, (1..=11).rev().collect::<Vec<_>>());

    // The first page has no previous page; the last none after it.
    let first = entries.scroll(Query::all()).sort(Entry::SCORE.asc()).size(4).await.unwrap();
    assert!(first.previous.is_none() && first.next.is_some());
    // A cursor for another sort is refused; so is garbage.
    let other = entries.scroll(Query::all()).sort(Entry::SCORE.desc()).at(first.next.clone());
    assert!(matches!(other.await, Err(Error::InvalidArgument { .. })));
    assert!("%%".parse::<PageCursor>().is_err());
    // Filtered pages hold only matching documents.
    let fives = entries.scroll(Entry::SCORE.eq(5)).size(2).await.unwrap();
    assert_eq!(fives.items.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 3]);
    let fives = entries.scroll(Entry::SCORE.eq(5)).size(2).at(fives.next).await.unwrap();
    assert_eq!(fives.items.iter().map(|e| e.id).collect::<Vec<_>>(), [5, 9]);
}

#[tokio::test]
async fn documents_inserted_between_pages_never_shift_a_page() {
    let conn = common::connection().await;
    let entries = conn.repo::<Entry>();
    for id in 1..=6 {
        entries.insert_one(EntryInsert { id: id * 10, score: Some(id as i32) }).await.unwrap();
    }
    let sort = Entry::SCORE.desc();
    let first = entries.scroll(Query::all()).sort(sort.clone()).size(2).await.unwrap();
    assert_eq!(first.items.iter().map(|e| e.id).collect::<Vec<_>>(), [60, 50]);
    // One lands before the cursor (seen by no later page), one after it,
    // and one ties the cursor's score with a smaller key (before it).
    entries.insert_one(EntryInsert { id: 70, score: Some(7) }).await.unwrap();
    entries.insert_one(EntryInsert { id: 35, score: Some(3) }).await.unwrap();
    entries.insert_one(EntryInsert { id: 45, score: Some(5) }).await.unwrap();
    let mut seen: Vec<i64> = first.items.iter().map(|e| e.id).collect();
    let mut at = first.next;
    while let Some(cursor) = at {
        let page = entries.scroll(Query::all()).sort(sort.clone()).size(2).at(cursor).await;
        let page = page.unwrap();
        seen.extend(page.items.iter().map(|e| e.id));
        at = page.next;
    }
    // With an offset, the inserts before the cursor would have shifted
    // 50 onto page two (a repeat); keyset pages continue after it.
    assert_eq!(seen, [60, 50, 40, 30, 35, 20, 10]);
}

#[tokio::test]
async fn composite_keys_page_in_key_order_and_projections_page_too() {
    let conn = service().await;
    let orders = conn.repo::<Order>();
    let customers = [model::Uuid::new(), model::Uuid::new()];
    for customer in customers {
        for number in [3, 1, 2] {
            orders.insert_one(order(customer, number, vec![item("a", 1, 1)])).await.unwrap();
        }
    }
    let expected: Vec<OrderKey> = orders
        .find_many(Query::all())
        .sort(Order::ID.asc())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut keys = Vec::new();
    let mut at = None;
    loop {
        let page: KeysetPage<OrderRow> =
            orders.scroll(Query::all()).size(4).at(at).project().await.unwrap();
        keys.extend(page.items.into_iter().map(|row| row.id));
        at = page.next;
        if at.is_none() {
            break;
        }
    }
    assert_eq!(keys, expected);
    assert_eq!(keys.len(), 6);
    // Sorted by status then key: the key breaks the ties.
    let page = orders.scroll(Query::all()).sort(Order::STATUS.asc()).size(6).await.unwrap();
    let mut by_key = page.items.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
    assert_eq!(by_key, expected);
    by_key.dedup();
    assert_eq!(by_key.len(), 6);
}

/// Every page forward from the start, then every page back from the end,
/// as the keys of their documents (the backward ones in forward order).
async fn page_keys<M>(repo: &Repo<M>, sort: Sort<M>, size: u64) -> (Vec<M::Key>, Vec<M::Key>)
where
    M: Model,
    M::Key: model::Ordered,
{
    let mut forward = Vec::new();
    let mut at: Option<PageCursor> = None;
    let mut last: KeysetPage<M>;
    loop {
        last = repo.scroll(Query::all()).sort(sort.clone()).size(size).at(at).await.unwrap();
        forward.extend(last.items.iter().map(|m| m.key().clone()));
        match last.next.clone() {
            Some(next) => at = Some(next),
            None => break,
        }
    }
    let mut backward: Vec<M::Key> = last.items.iter().rev().map(|m| m.key().clone()).collect();
    let mut at = last.previous.clone();
    while let Some(cursor) = at {
        let page = repo.scroll(Query::all()).sort(sort.clone()).size(size).at(cursor).await;
        let page = page.unwrap();
        backward.extend(page.items.iter().rev().map(|m| m.key().clone()));
        at = page.previous;
    }
    backward.reverse();
    (forward, backward)
}

/// The keys in the order the server sorts them by `sort`, then the key.
async fn sorted_keys<M: Model>(repo: &Repo<M>, sort: Sort<M>) -> Vec<M::Key> {
    let all = repo.find_many(Query::all()).sort(sort).await.unwrap();
    all.iter().map(|m| m.key().clone()).collect()
}

/// A measurement that may be NaN.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "readings", key = id, timestamps = false)]
struct Reading {
    #[serde(rename = "_id")]
    id: i64,
    value: f64,
}

#[tokio::test]
async fn nan_sort_values_page_every_document_both_ways() {
    let conn = common::connection().await;
    let readings = conn.repo::<Reading>();
    let values = [3.0, f64::NAN, -1.0, f64::NAN, 10.0, f64::NEG_INFINITY];
    for (id, value) in (1..).zip(values) {
        readings.insert_one(ReadingInsert { id, value }).await.unwrap();
    }
    // MongoDB sorts NaN before every other number.
    let ascending = sorted_keys(&readings, Reading::VALUE.asc().then_by(Reading::ID.asc())).await;
    assert_eq!(ascending, [2, 4, 6, 3, 1, 5]);
    for size in [1, 2, 4] {
        for sort in [Reading::VALUE.asc(), Reading::VALUE.desc()] {
            let expected = sorted_keys(&readings, sort.clone().then_by(Reading::ID.asc())).await;
            let (forward, backward) = page_keys(&readings, sort, size).await;
            assert_eq!(forward, expected, "size {size}");
            assert_eq!(backward, expected, "back, size {size}");
        }
    }
}

/// A field other programs write values of any type into.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "loose", key = id, timestamps = false)]
struct Loose {
    #[serde(rename = "_id")]
    id: i64,
    value: Option<Bson>,
}

#[tokio::test]
async fn sort_values_of_mixed_types_page_every_document_both_ways() {
    let conn = common::connection().await;
    let values = [
        Bson::Int32(5),
        Bson::String("b".into()),
        Bson::Document(doc! { "a": 1 }),
        Bson::Boolean(true),
        Bson::DateTime(DateTime::from_millis(1_600_000_000_000)),
        Bson::ObjectId(model::ObjectId::new()),
        Bson::Double(2.5),
        Bson::String("a".into()),
        Bson::Null,
        Bson::Int64(-7),
    ];
    let mut docs: Vec<Document> =
        (1_i64..).zip(values).map(|(id, value)| doc! { "_id": id, "value": value }).collect();
    docs.push(doc! { "_id": 11_i64 }); // no value at all
    raw(&conn, "loose").await.insert_many(docs).await.unwrap();
    let loose = conn.repo::<Loose>();
    for size in [1, 3, 20] {
        for sort in [Loose::VALUE.asc(), Loose::VALUE.desc()] {
            let expected = sorted_keys(&loose, sort.clone().then_by(Loose::ID.asc())).await;
            assert_eq!(expected.len(), 11);
            let (forward, backward) = page_keys(&loose, sort, size).await;
            assert_eq!(forward, expected, "size {size}");
            assert_eq!(backward, expected, "back, size {size}");
        }
    }
}

/// A model whose `code` is declared unique.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "badges", key = id, timestamps = false)]
struct Badge {
    #[serde(rename = "_id")]
    id: i64,
    #[model(unique)]
    code: i32,
}

#[tokio::test]
async fn a_unique_field_whose_index_was_never_created_still_has_its_ties_paged() {
    // No `migrate`: nothing stops two badges sharing a code, and the sort
    // needs the key to order them.
    let db = testkit::database().await;
    let client = testkit::ClientBuilder::new(&db.uri).log_commands_to(&db.name).build().await;
    let client = client.unwrap();
    let (conn, log) = (Connection::from_client(client.client, db.name), client.commands);
    let badges = conn.repo::<Badge>();
    for (id, code) in [(1, 7), (2, 7), (3, 7), (4, 3), (5, 7)] {
        badges.insert_one(BadgeInsert { id, code }).await.unwrap();
    }
    for size in [1, 2, 3] {
        let (forward, backward) = page_keys(&badges, Badge::CODE.asc(), size).await;
        assert_eq!(forward, [4, 1, 2, 3, 5], "size {size}");
        assert_eq!(backward, forward, "back, size {size}");
    }
    // Once the index exists (created through this connection, which then
    // lists the indexes again), the sort stops at it, and pages still
    // hold every badge.
    badges.delete_many(Badge::ID.one_of([2, 3, 5])).await.unwrap();
    conn.migrate::<Badge>().await.unwrap();
    badges.insert_one(BadgeInsert { id: 6, code: 1 }).await.unwrap();
    log.clear();
    let (forward, backward) = page_keys(&badges, Badge::CODE.desc(), 1).await;
    assert_eq!(forward, [1, 4, 6]);
    assert_eq!(backward, forward);
    // The indexes were listed once for all those pages.
    assert_eq!(log.count("listIndexes"), 1, "{:?}", log.all());
}

/// Rows of another collection with the fields of `Entry`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "rivals", key = id)]
struct Rival {
    #[serde(rename = "_id")]
    id: i64,
    score: Option<i32>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::test]
async fn a_cursor_is_refused_for_another_order_of_its_keys_or_another_collection() {
    let conn = common::connection().await;
    let entries = conn.repo::<Entry>();
    for id in 1..=4 {
        entries.insert_one(EntryInsert { id, score: Some(id as i32 % 2) }).await.unwrap();
    }
    let by_score = Entry::SCORE.asc().then_by(Entry::CREATED_AT.asc());
    let first = entries.scroll(Query::all()).sort(by_score.clone()).size(2).await.unwrap();
    let next = first.next.clone();
    assert!(entries.scroll(Query::all()).sort(by_score).at(next.clone()).await.is_ok());
    // The same keys in another order: equal as documents, not as sorts.
    let by_time = Entry::CREATED_AT.asc().then_by(Entry::SCORE.asc());
    let swapped = entries.scroll(Query::all()).sort(by_time).at(next.clone()).await;
    assert!(matches!(swapped, Err(Error::InvalidArgument { .. })), "{swapped:?}");
    // The same fields in another collection.
    let rivals = conn.repo::<Rival>();
    let by_score = Rival::SCORE.asc().then_by(Rival::CREATED_AT.asc());
    let foreign = rivals.scroll(Query::all()).sort(by_score).at(next).await;
    assert!(matches!(foreign, Err(Error::InvalidArgument { .. })), "{foreign:?}");
}

/// Staff, whose salaries only the service may see.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "staff", key = id, timestamps = false)]
struct Staff {
    #[serde(rename = "_id")]
    id: i64,
    name: String,
    salary: i64,
}

/// What a client is shown of staff: the name alone, nothing more.
#[derive(Debug, Clone, PartialEq, model::Projection, Deserialize)]
#[projection(model = Staff)]
#[serde(deny_unknown_fields)]
struct StaffName {
    name: String,
}

/// Whether the bytes of `cursor` (base64url) hold `salary` as BSON does.
fn shows_salary(cursor: &PageCursor, salary: i64) -> bool {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.as_str()).unwrap();
    bytes.windows(8).any(|w| w == salary.to_le_bytes())
}

#[tokio::test]
async fn projections_that_deny_unknown_fields_scroll_and_sealed_cursors_hide_hidden_fields() {
    let conn = common::connection().await;
    let staff = conn.repo::<Staff>();
    let salaries = [(1, "ann", 987_654_321_i64), (2, "bob", 123_456_789), (3, "cat", 555_555_555)];
    for (id, name, salary) in salaries {
        staff.insert_one(StaffInsert { id, name: name.into(), salary }).await.unwrap();
    }
    let names = |page: &KeysetPage<StaffName>| -> Vec<String> {
        page.items.iter().map(|s| s.name.clone()).collect()
    };
    // The sort field and the key are read for the cursor, and left out of
    // what the projection decodes.
    let by_pay = Staff::SALARY.desc();
    let page = staff.scroll(Query::all()).sort(by_pay.clone()).size(1).project::<StaffName>();
    let page = page.await.unwrap();
    assert_eq!(names(&page), ["ann"]);
    // Without a key, a cursor shows the sort values to whoever holds it,
    // as documented.
    assert!(shows_salary(page.next.as_ref().unwrap(), 987_654_321));

    let sealed = conn.with_cursor_key(model::cursor::CursorKey::new([7; 32]));
    let staff = sealed.repo::<Staff>();
    let mut seen = Vec::new();
    let mut at = None;
    loop {
        let page = staff.scroll(Query::all()).sort(by_pay.clone()).size(1).at(at);
        let page = page.project::<StaffName>().await.unwrap();
        seen.extend(names(&page));
        if let Some(next) = &page.next {
            assert!(salaries.iter().all(|(_, _, salary)| !shows_salary(next, *salary)));
        }
        at = page.next;
        if at.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["ann", "cat", "bob"]);

    let first = staff.scroll(Query::all()).sort(by_pay.clone()).size(1).await.unwrap();
    let next = first.next.unwrap();
    let refused = |result: model::Result<KeysetPage<Staff>>| {
        assert!(matches!(result, Err(Error::InvalidArgument { .. })), "{result:?}");
    };
    // Altered: one character changed.
    let mut text = next.as_str().to_string();
    let last = if text.ends_with('A') { "B" } else { "A" };
    text.replace_range(text.len() - 1.., last);
    match text.parse::<PageCursor>() {
        Ok(altered) => refused(staff.scroll(Query::all()).sort(by_pay.clone()).at(altered).await),
        Err(error) => assert!(matches!(error, Error::InvalidArgument { .. })),
    }
    // Another sort, another key, no key.
    refused(staff.scroll(Query::all()).sort(Staff::SALARY.asc()).at(next.clone()).await);
    let other = conn.with_cursor_key(model::cursor::CursorKey::new([8; 32])).repo::<Staff>();
    refused(other.scroll(Query::all()).sort(by_pay.clone()).at(next.clone()).await);
    let plain = conn.repo::<Staff>();
    refused(plain.scroll(Query::all()).sort(by_pay.clone()).at(next).await);
    // A plain cursor where a key is set.
    let unsealed = plain.scroll(Query::all()).sort(by_pay.clone()).size(1).await.unwrap().next;
    refused(staff.scroll(Query::all()).sort(by_pay).at(unsealed).await);
}

// ---------------------------------------------------------------- change streams

/// The next event, or a failure after 10 s.
async fn next<
    S: futures::Stream<Item = model::Result<model::action::ChangeEvent<M>>> + Unpin,
    M: Model,
>(
    stream: &mut S,
) -> model::action::ChangeEvent<M> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream is open")
        .expect("a readable event")
}

#[tokio::test]
async fn change_streams_are_typed_filtered_and_resumable() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let mut all = customers.watch(Query::all()).full_document().await.unwrap();

    let mut new = customer("ann@example.com", "Lyon", &[]);
    new.referrer = Some("bob".into());
    let ann = customers.insert_one(new).await.unwrap();
    let moved = Customer::ADDRESS.then(Address::CITY).set("Oslo");
    customers.update(&ann.id, moved.and(Customer::REFERRER.set(None))).await.unwrap();

    let inserted = next(&mut all).await;
    let Change::Insert(doc) = &inserted.change else { panic!("{:?}", inserted.change) };
    assert_eq!(doc.email, "ann@example.com");
    // The full document of an update is looked up when the event is read:
    // read it while the document is there.
    let updated = next(&mut all).await;
    match &updated.change {
        Change::Update { key, fields, document } => {
            assert_eq!(key, &ann.id);
            let city = fields.get(Customer::ADDRESS.then(Address::CITY)).unwrap();
            assert_eq!(city.as_deref(), Some("Oslo"));
            assert_eq!(fields.get(Customer::POINTS).unwrap(), None, "points were not set");
            assert!(fields.removed(Customer::REFERRER), "set(None) removes the referrer");
            assert!(!fields.removed(Customer::NAME));
            // The version the update added is among the changes.
            assert_eq!(fields.get(Customer::VERSION).unwrap(), Some(1));
            let document = document.as_ref().expect("asked for the full document");
            assert_eq!((document.id, document.address.city.as_str()), (ann.id, "Oslo"));
        }
        other => panic!("expected an update, got {other:?}"),
    }
    let mut replaced = customers.find(&ann.id).await.unwrap();
    replaced.points = 10;
    customers.replace(replaced).await.unwrap();
    customers.delete(&ann.id).await.unwrap();
    let replace = next(&mut all).await;
    assert!(
        matches!(&replace.change, Change::Replace(doc) if doc.points == 10 && doc.version == 2)
    );
    let deleted = next(&mut all).await;
    assert!(matches!(&deleted.change, Change::Delete(key) if key == &ann.id));

    // Resumed after the update: the replace comes next.
    let resumed = customers.watch(Query::all()).resume_after(updated.token.clone()).await;
    let mut resumed = resumed.unwrap();
    assert!(matches!(next(&mut resumed).await.change, Change::Replace(_)));

    // A query matches updates by the document after them (as it is when
    // the event is read); deletes always come. Order 1 never matches.
    let orders = conn.repo::<Order>();
    let mut paid = orders.watch(Order::STATUS.eq(Status::Paid)).await.unwrap();
    let never = orders.insert_one(order(ann.id, 1, vec![item("a", 1, 5)])).await.unwrap().id;
    orders.update(&never, Order::TOTAL.set(6)).await.unwrap();
    let key = orders.insert_one(order(ann.id, 2, vec![item("a", 1, 5)])).await.unwrap().id;
    orders.update(&key, Order::STATUS.set(Status::Paid)).await.unwrap();
    let event = next(&mut paid).await;
    match event.change {
        Change::Update { key: updated, document: Some(doc), fields } => {
            assert_eq!((updated, doc.status), (key.clone(), Status::Paid));
            assert_eq!(fields.get(Order::STATUS).unwrap(), Some(Status::Paid));
        }
        other => panic!("only order 2's update matches; got {other:?}"),
    }
    orders.delete(&key).await.unwrap();
    assert!(matches!(next(&mut paid).await.change, Change::Delete(k) if k == key));
}

// ---------------------------------------------------------------- versions

#[tokio::test]
async fn sixteen_editors_one_winner_per_version_and_no_lost_edit() {
    let conn = service().await;
    let customers = Arc::new(conn.repo::<Customer>());
    let ann = customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    assert_eq!(ann.version, 0);
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut editors = Vec::new();
    for editor in 0..16 {
        let (customers, barrier, key) = (customers.clone(), barrier.clone(), ann.id);
        editors.push(tokio::spawn(async move {
            let edit = |mut doc: Customer| {
                doc.tags.push(format!("editor-{editor}"));
                doc
            };
            // Everyone reads version 0 before anyone writes.
            let read = customers.find(&key).await.unwrap();
            barrier.wait().await;
            let mut outcome = customers.replace(edit(read)).await;
            let won_first = outcome.is_ok();
            let mut conflicts = 0;
            loop {
                match outcome {
                    Ok(saved) => return (saved.version, won_first, conflicts),
                    Err(Error::VersionConflict { .. }) => conflicts += 1,
                    Err(other) => panic!("editor {editor}: {other:?}"),
                }
                let read = customers.find(&key).await.unwrap();
                let expected = read.version;
                outcome = customers.replace(edit(read)).await;
                if let Ok(saved) = &outcome {
                    assert_eq!(saved.version, expected + 1);
                }
            }
        }));
    }
    let mut versions = Vec::new();
    let mut first_round_winners = 0;
    let mut conflicts = 0;
    for editor in editors {
        let (version, won_first, lost) = editor.await.unwrap();
        versions.push(version);
        first_round_winners += usize::from(won_first);
        conflicts += lost;
    }
    versions.sort();
    assert_eq!(versions, (1..=16).collect::<Vec<i64>>(), "one winner per version");
    assert_eq!(first_round_winners, 1, "of 16 writers of version 0 exactly one wins");
    assert!(conflicts >= 15, "the 15 others were refused at version 0: {conflicts}");
    let stored = customers.find(&ann.id).await.unwrap();
    assert_eq!(stored.version, 16);
    let mut tags = stored.tags.clone();
    tags.sort();
    let mut all: Vec<String> = (0..16).map(|e| format!("editor-{e}")).collect();
    all.sort();
    assert_eq!(tags, all, "no edit is lost");
}

#[tokio::test]
async fn documents_from_before_the_version_field_start_at_zero() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    // Stored by an earlier release, without `version`.
    let id = model::Uuid::new();
    raw(&conn, "customers")
        .await
        .insert_one(doc! {
            "_id": id, "email": "old@example.com", "name": "old",
            "address": { "street": "s", "city": "Rome", "zip": "1" },
            "tags": [], "points": 0_i64, "created_at": DateTime::now(),
        })
        .await
        .unwrap();
    let old = customers.find(&id).await.unwrap();
    assert_eq!(old.version, 0);
    let mut edited = old.clone();
    edited.points = 5;
    let saved = customers.replace(edited).await.unwrap();
    assert_eq!((saved.version, saved.points), (1, 5));
    // A second edit from the same stale read is refused, nothing written.
    let mut stale = old.clone();
    stale.points = 99;
    let refused = customers.replace(stale).await;
    assert!(matches!(refused, Err(Error::VersionConflict { expected: 0, .. })), "{refused:?}");
    assert_eq!(customers.find(&id).await.unwrap().points, 5);
    // Updates add to the version too; `if_version` requires one.
    let updated = customers.update(&id, Customer::POINTS.inc(1)).await.unwrap();
    assert_eq!(updated.version, 2);
    let stale = customers.update(&id, Customer::POINTS.inc(1)).if_version(1).await;
    assert!(matches!(stale, Err(Error::VersionConflict { expected: 1, .. })), "{stale:?}");
    let fresh = customers.update(&id, Customer::POINTS.inc(1)).if_version(2).await.unwrap();
    assert_eq!((fresh.version, fresh.points), (3, 7));
    let many = customers.update_many(Query::all(), Customer::POINTS.inc(1)).await.unwrap();
    assert_eq!(many, 1);
    assert_eq!(customers.find(&id).await.unwrap().version, 4);
    // A missing document is NotFound, not a conflict.
    customers.delete(&id).await.unwrap();
    assert!(matches!(customers.replace(fresh).await, Err(Error::NotFound { .. })));
    // A model without a version field refuses `if_version`.
    let orders = conn.repo::<Order>();
    let key = OrderKey { customer: id, number: 1 };
    let unversioned = orders.update(&key, Order::TOTAL.set(1)).if_version(0).await;
    assert!(matches!(unversioned, Err(Error::InvalidArgument { .. })), "{unversioned:?}");
}

#[tokio::test]
async fn a_stale_find_one_and_replace_is_a_version_conflict_as_replace_is() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    let read = customers.insert_one(customer("ann@example.com", "Lyon", &[])).await.unwrap();
    let mut first = read.clone();
    first.points = 5;
    let query = Customer::EMAIL.eq("ann@example.com");
    let saved = customers.find_one_and_replace(query.clone(), first).await.unwrap();
    assert_eq!(saved.map(|s| (s.version, s.points)), Some((1, 5)));
    // A second edit of the same read: the query matches the document, at
    // version 1 now, so the answer is a conflict and nothing is written.
    let mut stale = read.clone();
    stale.points = 99;
    let refused = customers.find_one_and_replace(query, stale.clone()).await;
    assert!(matches!(refused, Err(Error::VersionConflict { expected: 0, .. })), "{refused:?}");
    assert_eq!(customers.find(&read.id).await.unwrap().points, 5);
    // A query that matches no document is `None`, stale or not.
    let nobody = Customer::EMAIL.eq("bob@example.com");
    assert!(customers.find_one_and_replace(nobody, stale).await.unwrap().is_none());
}

#[tokio::test]
async fn a_sort_on_a_unique_index_pages_without_the_key_as_tie_breaker() {
    let conn = service().await;
    let customers = conn.repo::<Customer>();
    for name in ["d", "b", "e", "a", "c"] {
        customers.insert_one(customer(&format!("{name}@x.org"), "Lyon", &[])).await.unwrap();
    }
    // `email` has a unique index (`service` created it): the sort on it is
    // total by itself, so the read sorts and filters on the email alone
    // and an index on it serves the sort. (The cursor holds the key too,
    // so that it stays valid if the index goes.)
    let mut seen = Vec::new();
    let mut at = None;
    loop {
        let page = customers.scroll(Query::all()).sort(Customer::EMAIL.desc()).size(2).at(at);
        let page = page.await.unwrap();
        seen.extend(page.items.iter().map(|c| c.name.clone()));
        match page.next {
            Some(next) => at = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["e", "d", "c", "b", "a"]);
}
