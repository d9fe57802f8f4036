//! Typed equality and membership are comparisons, whatever the value
//! holds: a document, map or struct value whose keys start with `$` is
//! data, never an operator (NoSQL injection through the typed API).

mod common;

use std::collections::BTreeMap;

use bson::{Document, doc};
use model::{DateTime, Model, Query, Update, Uuid};
use serde::{Deserialize, Serialize};

/// A struct whose field is named like an operator. `#[derive(Schema)]`
/// refuses such names; a hand-written `FieldType` does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Probe {
    #[serde(rename = "$ne")]
    ne: String,
}

impl model::FieldType for Probe {
    fn json_schema() -> Document {
        doc! { "bsonType": "object" }
    }
}

#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "items", key = id, additional_properties = true)]
struct Item {
    #[serde(rename = "_id")]
    id: Uuid,
    name: String,
    extra: Document,
    labels: BTreeMap<String, String>,
    probe: Option<Probe>,
    list: Vec<Document>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// Three items: none of them stores an operator-looking value.
async fn items() -> model::Repo<Item> {
    let conn = common::connection().await;
    let items = conn.repo::<Item>();
    items
        .insert_many((0..3).map(|i| ItemInsert {
            id: None,
            name: format!("item{i}"),
            extra: doc! { "n": i },
            labels: [("k".to_string(), format!("v{i}"))].into(),
            probe: None,
            list: vec![doc! { "n": i }],
        }))
        .await
        .unwrap();
    items
}

fn injected() -> Document {
    doc! { "$exists": true }
}

#[tokio::test]
async fn a_document_value_with_operator_keys_matches_only_itself() {
    let items = items().await;
    let q = || Item::EXTRA.eq(injected());
    assert_eq!(items.count(q()).await.unwrap(), 0);
    assert!(items.find_many(q()).await.unwrap().is_empty());
    assert_eq!(items.update_many(q(), Item::NAME.set("hacked")).await.unwrap(), 0);
    assert_eq!(items.delete_many(q()).await.unwrap(), 0);
    assert_eq!(items.count(Item::NAME.eq("hacked")).await.unwrap(), 0);
    assert_eq!(items.count(Query::all()).await.unwrap(), 3, "nothing deleted");

    // Membership is a comparison too.
    assert_eq!(items.count(Item::EXTRA.one_of([injected()])).await.unwrap(), 0);
    assert_eq!(items.count(Item::EXTRA.none_of([injected()])).await.unwrap(), 3);
    assert_eq!(items.count(Item::EXTRA.ne(injected())).await.unwrap(), 3);

    // Exactly the matching documents.
    assert_eq!(items.count(Item::EXTRA.eq(doc! { "n": 1 })).await.unwrap(), 1);
    assert_eq!(items.delete_many(Item::EXTRA.eq(doc! { "n": 1 })).await.unwrap(), 1);
    assert_eq!(items.count(Query::all()).await.unwrap(), 2);
}

#[tokio::test]
async fn a_map_or_a_struct_with_operator_keys_is_data() {
    let items = items().await;
    let map: BTreeMap<String, String> = [("$ne".to_string(), "x".to_string())].into();
    assert_eq!(items.count(Item::LABELS.eq(map.clone())).await.unwrap(), 0);
    assert_eq!(items.delete_many(Item::LABELS.eq(map)).await.unwrap(), 0);
    // A `BTreeMap` is stored with sorted keys, so an equal map matches.
    let equal: BTreeMap<String, String> = [("k".to_string(), "v1".to_string())].into();
    assert_eq!(items.count(Item::LABELS.eq(equal)).await.unwrap(), 1);

    let probe = Probe { ne: "nothing".into() };
    assert_eq!(items.count(Item::PROBE.eq(Some(probe.clone()))).await.unwrap(), 0);
    assert_eq!(
        items.update_many(Item::PROBE.eq(Some(probe.clone())), Item::NAME.set("x")).await.unwrap(),
        0
    );
    assert_eq!(items.delete_many(Item::PROBE.eq(Some(probe))).await.unwrap(), 0);
    assert_eq!(items.count(Query::all()).await.unwrap(), 3, "nothing deleted");
}

#[tokio::test]
async fn array_elements_with_operator_keys_are_data() {
    let items = items().await;
    assert_eq!(items.count(Item::LIST.contains(injected())).await.unwrap(), 0);
    let elem_match = doc! { "$elemMatch": { "n": { "$gte": 0 } } };
    assert_eq!(items.count(Item::LIST.contains_all([elem_match.clone()])).await.unwrap(), 0);
    assert_eq!(items.count(Item::LIST.contains(doc! { "n": 2 })).await.unwrap(), 1);

    // Pushed and pulled as values: `$each` in a pushed document is data.
    let one = items.find_one(Item::NAME.eq("item0")).await.unwrap().unwrap();
    let each = doc! { "$each": [1, 2] };
    let pushed = items.update(&one.id, Item::LIST.push(each.clone())).await;
    // A field name starting with `$` may be refused as a stored name; what
    // matters is that `$each` was not run (it would push 1 and 2).
    let list = items.find(&one.id).await.unwrap().list;
    match pushed {
        Ok(after) => assert_eq!(after.list, [doc! { "n": 0 }, each]),
        Err(_) => assert_eq!(list, [doc! { "n": 0 }]),
    }
    if list.len() == 2 {
        items.update(&one.id, Item::LIST.pop_last()).await.unwrap();
    }
    let after = items.update(&one.id, Item::LIST.pull(injected())).await.unwrap();
    assert_eq!(after.list, [doc! { "n": 0 }], "a pulled value is compared, not run");
}

/// A stage that writes is refused wherever it nests, before anything is
/// sent: a `$facet` branch, a `$lookup` or `$unionWith` pipeline, or a
/// pipeline inside one of those. Nothing is written, and the collection
/// read is unchanged.
#[tokio::test]
async fn a_writing_stage_is_refused_at_any_depth_and_nothing_is_written() {
    let items = items().await;
    let db = items.connection().database().await.unwrap();
    let coll = Item::COLLECTION;
    let merge_into_self = doc! { "$merge": { "into": coll, "whenMatched": "replace" } };
    let stages = [
        doc! { "$out": "top" },
        doc! { "$facet": { "a": [{ "$set": { "name": "777" } }, merge_into_self.clone()] } },
        doc! { "$facet": { "a": [{ "$out": "facet_out" }] } },
        doc! { "$lookup": { "from": coll, "as": "j", "pipeline": [{ "$out": "lookup_out" }] } },
        doc! { "$unionWith": { "coll": coll, "pipeline": [{ "$merge": { "into": "union_out" } }] } },
        doc! { "$unionWith": { "coll": coll, "pipeline": [
            { "$lookup": { "from": coll, "as": "j", "pipeline": [
                { "$facet": { "deep": [{ "$out": "deep_out" }] } },
            ] } },
        ] } },
    ];
    for stage in stages {
        let shown = stage.to_string();
        let result = items.aggregate(Query::all()).stage(stage).await;
        assert!(
            matches!(&result, Err(model::Error::InvalidArgument { .. })),
            "{shown}: {result:?}"
        );
    }
    let mut names = db.list_collection_names().await.unwrap();
    names.sort();
    assert_eq!(names, [coll], "no collection was written");
    assert_eq!(items.count(Item::NAME.eq("777")).await.unwrap(), 0, "the read collection kept");

    // A stage nested without bound is refused too, not a stack overflow.
    let mut deep = doc! { "$literal": 1 };
    for _ in 0..1_000 {
        deep = doc! { "$literal": deep };
    }
    let result = items.aggregate(Query::all()).stage(doc! { "$project": { "x": deep } }).await;
    assert!(matches!(result, Err(model::Error::InvalidArgument { .. })), "{result:?}");
}

// ------------------------------------- documents another program wrote

/// A model whose version counts writes in an `i32`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "counted", key = id)]
struct Counted {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    #[model(version)]
    #[serde(default)]
    version: i32,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// The stored document of `Counted` `id`, raw.
async fn raw_counted(conn: &model::Connection, id: &str) -> Option<Document> {
    let db = conn.database().await.unwrap();
    db.collection::<Document>(Counted::COLLECTION).find_one(doc! { "_id": id }).await.unwrap()
}

/// A write that returns the document and was applied, but whose document
/// does not decode (another program stored `name` as a number), hands
/// the caller the document in the error: nothing is lost.
#[tokio::test]
async fn a_returning_write_whose_document_does_not_decode_keeps_it_in_the_error() {
    let conn = common::connection().await;
    let counted = conn.repo::<Counted>();
    let raw = conn.database().await.unwrap().collection::<Document>(Counted::COLLECTION);
    let foreign = |id: &str| doc! { "_id": id, "name": 42, "created_at": DateTime::now() };
    raw.insert_many([foreign("a"), foreign("b"), foreign("c"), foreign("d")]).await.unwrap();

    let kept = |result: model::Result<_>, id: &str| match result {
        Err(model::Error::WrittenUndecodable { collection, document, .. }) => {
            assert_eq!(collection, Counted::COLLECTION);
            let document = document.to_document().unwrap();
            assert_eq!(document.get_str("_id").unwrap(), id);
            assert_eq!(document.get_i32("name").unwrap(), 42, "the document as stored");
            document
        }
        other => panic!("{id}: {other:?}"),
    };
    // Deleted, and still in the caller's hands.
    let deleted = counted.find_one_and_delete(Counted::ID.eq("a")).await.map(|_| ());
    kept(deleted, "a");
    assert_eq!(raw_counted(&conn, "a").await, None, "the delete was applied");
    // Updated: the document after the update.
    let updated = counted.update(&"b".to_string(), Update::none()).await;
    let updated = kept(updated.map(|_| ()), "b");
    assert!(updated.get("updated_at").is_some(), "the document after the update");
    let updated = counted.find_one_and_update(Counted::ID.eq("c"), Update::none()).await;
    kept(updated.map(|_| ()), "c");
    let upserted = counted.upsert(Counted::ID.eq("d"), Update::none()).await;
    kept(upserted.map(|_| ()), "d");
}

/// A version at its type's maximum takes no further write: a typed error,
/// nothing written, the stored type kept (an `int` stays an `int`), and of
/// two stale editors neither wins.
#[tokio::test]
async fn a_version_at_its_maximum_is_a_typed_error_and_nothing_is_written() {
    let conn = common::connection().await;
    let counted = conn.repo::<Counted>();
    let raw = conn.database().await.unwrap().collection::<Document>(Counted::COLLECTION);
    let at_max =
        doc! { "_id": "max", "name": "n", "version": i32::MAX, "created_at": DateTime::now() };
    raw.insert_one(at_max.clone()).await.unwrap();
    let read = counted.find(&"max".to_string()).await.unwrap();
    assert_eq!(read.version, i32::MAX);

    let at_maximum = |r: model::Result<Counted>| {
        assert!(matches!(r, Err(model::Error::VersionAtMaximum { .. })), "{r:?}");
    };
    // Two editors of the same version: neither replace is applied.
    let (mut first, mut second) = (read.clone(), read.clone());
    first.name = "first".into();
    second.name = "second".into();
    at_maximum(counted.replace(first).await);
    at_maximum(counted.replace(second).await);
    at_maximum(counted.update(&"max".to_string(), Counted::NAME.set("x")).await);
    let key = "max".to_string();
    at_maximum(counted.update(&key, Counted::NAME.set("x")).if_version(i32::MAX as i64).await);
    let found = counted.find_one_and_update(Counted::ID.eq("max"), Counted::NAME.set("x")).await;
    assert!(matches!(found, Ok(None)), "a document at the maximum is not matched: {found:?}");
    assert_eq!(counted.update_many(Query::all(), Counted::NAME.set("x")).await.unwrap(), 0);
    let stored = raw_counted(&conn, "max").await.unwrap();
    assert_eq!(stored.get("version"), Some(&bson::Bson::Int32(i32::MAX)), "kept as an int");
    assert_eq!(stored.get_str("name").unwrap(), "n", "nothing written");

    // One below the maximum: one more write, then no more.
    raw.update_one(doc! { "_id": "max" }, doc! { "$set": { "version": i32::MAX - 1 } })
        .await
        .unwrap();
    let written = counted.update(&key, Counted::NAME.set("last")).await.unwrap();
    assert_eq!(written.version, i32::MAX);
    at_maximum(counted.update(&key, Counted::NAME.set("x")).await);
    // A missing document is still NotFound.
    let missing = counted.update(&"none".to_string(), Counted::NAME.set("x")).await;
    assert!(matches!(missing, Err(model::Error::NotFound { .. })), "{missing:?}");
}

/// A change event whose document does not decode is an error that
/// carries the event's token: the stream goes on, and a consumer that
/// restarts resumes past the event instead of stopping on it again.
#[tokio::test]
async fn an_undecodable_change_event_carries_its_resume_token() {
    let conn = common::connection().await;
    let counted = conn.repo::<Counted>();
    let raw = conn.database().await.unwrap().collection::<Document>(Counted::COLLECTION);
    let mut stream = counted.watch(Query::all()).await.unwrap();
    raw.insert_one(doc! { "_id": "foreign", "name": 42, "created_at": DateTime::now() })
        .await
        .unwrap();
    let good = CountedInsert { id: "good".into(), name: "n".into() };
    counted.insert_one(good).await.unwrap();

    let first = next(&mut stream).await.expect("open");
    let token = match first {
        Err(model::Error::UndecodableChange { token, source }) => {
            assert!(matches!(*source, model::Error::Deserialize(_)), "{source:?}");
            token
        }
        other => panic!("{other:?}"),
    };
    // The stream goes on past it.
    let second = next(&mut stream).await.expect("open").unwrap();
    assert!(matches!(&second.change, model::action::Change::Insert(c) if c.id == "good"));
    // Resumed after the bad event's token: the good one comes next.
    let mut resumed = counted.watch(Query::all()).resume_after(token).await.unwrap();
    let after = next(&mut resumed).await.expect("open").unwrap();
    assert!(matches!(&after.change, model::action::Change::Insert(c) if c.id == "good"));
}

/// The next item of a change stream, within 10 s.
async fn next<S: futures::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    use futures::StreamExt;
    let within = std::time::Duration::from_secs(10);
    tokio::time::timeout(within, stream.next()).await.expect("an event within 10 s")
}
