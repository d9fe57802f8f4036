//! String, number and ObjectId keys: an insert / find / update / delete
//! round trip each, plus parsing keys from text.

use model::{DateTime, Error, Model, ObjectId, ParseKey, Query};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Model, Serialize, Deserialize)]
#[model(key = code)]
struct Country {
    #[serde(rename = "_id")]
    code: String,
    name: String,
    created_at: DateTime,
    updated_at: DateTime,
}

#[derive(Debug, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "invoices")]
struct Invoice {
    #[serde(rename = "_id")]
    #[model(key)]
    number: i64,
    total: f64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[derive(Debug, PartialEq, Model, Serialize, Deserialize)]
#[model(key = id)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "_id")]
    id: ObjectId,
    event_kind: String,
    #[serde(rename = "created_at")]
    created_at: DateTime,
    #[serde(rename = "updated_at")]
    updated_at: Option<DateTime>,
}

async fn connection() -> model::Connection {
    let db = testkit::database().await;
    model::Connection::new(db.uri, db.name)
}

#[tokio::test]
async fn a_string_key_round_trips() {
    let conn = connection().await;
    let countries = conn.repo::<Country>();
    assert_eq!(Country::COLLECTION, "countries");
    let insert = CountryInsert { code: "NL".into(), name: "Holland".into() };
    let nl = countries.insert_one(insert).now(DateTime::from_millis(1)).await.unwrap();
    assert_eq!(nl.updated_at, DateTime::from_millis(1), "a plain DateTime starts at insert");
    assert_eq!(countries.find(&"NL".to_string()).await.unwrap(), nl);
    let nl = countries.update(&nl.code, Country::NAME.set("Netherlands")).await.unwrap();
    assert_eq!(nl.name, "Netherlands");
    countries.delete(&nl.code).await.unwrap();
    assert!(matches!(countries.find(&nl.code).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_number_key_round_trips() {
    let conn = connection().await;
    let invoices = conn.repo::<Invoice>();
    let inv = invoices.insert_one(InvoiceInsert { number: 1001, total: 9.5 }).await.unwrap();
    assert_eq!(invoices.find(&1001).await.unwrap(), inv);
    let inv = invoices.update(&1001, Invoice::TOTAL.inc(0.5)).await.unwrap();
    assert_eq!(inv.total, 10.0);
    let dup = invoices.insert_one(InvoiceInsert { number: 1001, total: 1.0 }).await;
    assert!(matches!(dup, Err(Error::Conflict { .. })));
    invoices.delete(&1001).await.unwrap();
    assert_eq!(invoices.count(Query::all()).await.unwrap(), 0);
}

#[tokio::test]
async fn an_object_id_key_is_generated_and_round_trips() {
    let conn = connection().await;
    let events = conn.repo::<Event>();
    let event =
        events.insert_one(EventInsert { id: None, event_kind: "signup".into() }).await.unwrap();
    assert_eq!(events.find(&event.id).await.unwrap(), event);
    // rename_all applies to stored names, and typed fields follow it.
    assert_eq!(Event::EVENT_KIND.name(), "eventKind");
    let found = events.find_one(Event::EVENT_KIND.eq("signup")).await.unwrap();
    assert_eq!(found.as_ref().map(|e| e.id), Some(event.id));
    let event = events.update(&event.id, Event::EVENT_KIND.set("login")).await.unwrap();
    assert_eq!(event.event_kind, "login");
    events.delete(&event.id).await.unwrap();
    assert!(matches!(events.delete(&event.id).await, Err(Error::NotFound { .. })));
}

#[test]
fn keys_parse_from_text_or_say_what_was_expected() {
    let uuid = model::Uuid::new();
    assert_eq!(model::Uuid::parse_key(&uuid.to_string()).unwrap(), uuid);
    let err = model::Uuid::parse_key("nope").unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument { message } if message.contains("UUID")));
    // A key from a request is quoted short and escaped: no forged log
    // lines, no megabyte echoed.
    let hostile = format!("x\r\nlevel=ERROR forged{}", "y".repeat(1 << 20));
    for err in [
        model::Uuid::parse_key(&hostile).unwrap_err(),
        ObjectId::parse_key(&hostile).unwrap_err(),
        i64::parse_key(&hostile).unwrap_err(),
    ] {
        let message = err.to_string();
        assert!(message.len() < 200 && !message.contains(['\r', '\n']), "{message:?}");
    }
    let oid = ObjectId::new();
    assert_eq!(ObjectId::parse_key(&oid.to_hex()).unwrap(), oid);
    assert!(matches!(ObjectId::parse_key("xyz"), Err(Error::InvalidArgument { .. })));
    assert_eq!(i64::parse_key("-7").unwrap(), -7);
    assert!(matches!(i32::parse_key("9999999999"), Err(Error::InvalidArgument { .. })));
}

#[tokio::test]
async fn an_unacknowledged_write_concern_is_a_typed_error() {
    let db = testkit::database().await;
    let separator = if db.uri.contains('?') { '&' } else { '?' };
    let conn = model::Connection::new(format!("{}{separator}w=0", db.uri), db.name);
    let countries = conn.repo::<Country>();
    let err = countries
        .insert_one(CountryInsert { code: "BE".into(), name: "Belgium".into() })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unacknowledged { collection } if collection == "countries"),
        "{err:?}"
    );
}

#[derive(Debug, PartialEq, Model, Serialize, Deserialize)]
#[model(key = name)]
struct Counter {
    #[serde(rename = "_id")]
    name: String,
    hits: u64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::test]
async fn an_unencodable_range_bound_is_an_error_not_an_empty_filter() {
    let conn = connection().await;
    let counters = conn.repo::<Counter>();
    counters.insert_one(CounterInsert { name: "a".into(), hits: 1 }).await.unwrap();
    // u64::MAX does not fit BSON's i64: the bound must not silently vanish.
    for query in [Counter::HITS.range(u64::MAX..), Counter::HITS.range(..=u64::MAX)] {
        assert!(matches!(query.to_document(), Err(Error::InvalidValue { .. })));
        let err = counters.delete_many(query).await.unwrap_err();
        assert!(matches!(&err, Error::InvalidValue { field, .. } if field == "hits"), "{err:?}");
    }
    assert_eq!(counters.count(Query::all()).await.unwrap(), 1, "nothing deleted");
}
