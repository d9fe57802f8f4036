//! Typed equality and membership are comparisons, whatever the value
//! holds: a document, map or struct value whose keys start with `$` is
//! data, never an operator (NoSQL injection through the typed API).

mod common;

use std::collections::BTreeMap;

use bson::{Document, doc};
use model::{DateTime, Model, Query, Uuid};
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
    let pushed = items.update_one(&one.id, Item::LIST.push(each.clone())).await;
    // A field name starting with `$` may be refused as a stored name; what
    // matters is that `$each` was not run (it would push 1 and 2).
    let list = items.find(&one.id).await.unwrap().list;
    match pushed {
        Ok(after) => assert_eq!(after.list, [doc! { "n": 0 }, each]),
        Err(_) => assert_eq!(list, [doc! { "n": 0 }]),
    }
    if list.len() == 2 {
        items.update_one(&one.id, Item::LIST.pop_last()).await.unwrap();
    }
    let after = items.update_one(&one.id, Item::LIST.pull(injected())).await.unwrap();
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
