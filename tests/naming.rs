//! Stored names follow serde exactly (every `rename` / `rename_all` form),
//! timestamps under any stored name or left out, and the insert structs'
//! `Debug` and `Clone`: each model is written through its own validator
//! and read back, and its stored keys are compared with what serde writes.

mod common;

use std::collections::BTreeSet;

use bson::{Document, doc};
use common::connection;
use model::{DateTime, Model, Query, Uuid};
use serde::{Deserialize, Serialize};

/// `rename_all = "camelCase"`: the timestamps are stored `createdAt` and
/// `updatedAt`, found by their field names.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "camels", key = id)]
#[serde(rename_all = "camelCase")]
struct Camel {
    #[serde(rename = "_id")]
    id: Uuid,
    star_rating: i64,
    #[serde(rename = "Shout")]
    shout_out: Option<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// The list form, `rename_all(serialize = .., deserialize = ..)`, and
/// `rename(serialize = .., deserialize = ..)`: stored names are the
/// serialize ones.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "kebabs", key = id)]
#[serde(rename_all(serialize = "kebab-case", deserialize = "kebab-case"))]
struct Kebab {
    #[serde(rename = "_id")]
    id: Uuid,
    star_rating: i64,
    #[serde(rename(serialize = "OTHER", deserialize = "OTHER"))]
    other_name: String,
    created_at: DateTime,
    updated_at: DateTime,
}

/// `rename_all(serialize = "camelCase", deserialize = "camelCase")` with
/// renamed timestamps, and `rename`'s list form; a deserialize-only
/// rename leaves the stored (serialized) name to `rename_all` (read back
/// through its `alias`).
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "listed", key = id)]
#[serde(rename_all(serialize = "camelCase", deserialize = "camelCase"))]
struct Listed {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(index)]
    star_rating: i64,
    #[serde(rename(serialize = "shownAs", deserialize = "shownAs"))]
    display_name: String,
    #[serde(rename(deserialize = "readOnlyAs"), alias = "lastSeenBy")]
    last_seen_by: Option<String>,
    #[model(created_at)]
    #[serde(rename = "firstSeen")]
    created_at: DateTime,
    #[model(updated_at)]
    changed_at: Option<DateTime>,
}

/// Timestamps under other field names, marked, and stored as serde says.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "marked", key = id)]
struct Marked {
    #[serde(rename = "_id")]
    id: String,
    note: String,
    #[model(created_at)]
    #[serde(rename = "made")]
    born: DateTime,
    #[model(updated_at)]
    changed: Option<DateTime>,
}

/// No timestamps at all; a one-sided `rename_all` that names every field
/// the same both ways (`count` either way) is accepted.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "plains", key = id, timestamps = false)]
#[serde(rename_all(serialize = "lowercase"))]
struct Plain {
    #[serde(rename = "_id")]
    id: String,
    count: i64,
}

/// A field type with neither `Debug` nor `Clone`.
#[derive(PartialEq, Serialize, Deserialize)]
struct Opaque(i64);

impl model::FieldType for Opaque {
    fn json_schema() -> Document {
        <i64 as model::FieldType>::json_schema()
    }
}

/// A model whose insert struct cannot be `Debug` or `Clone`: it still
/// derives (the impls are left out, not an error).
#[derive(PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "opaques", key = id)]
struct WithOpaque {
    #[serde(rename = "_id")]
    id: String,
    value: Opaque,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// More insert fields than the largest tuple: the derive's `Debug` and
/// `Clone` nest them by twelves.
#[derive(Model, Serialize, Deserialize)]
#[model(collection = "wides", key = id, timestamps = false)]
struct Wide {
    #[serde(rename = "_id")]
    id: i64,
    f1: i64,
    f2: i64,
    f3: i64,
    f4: i64,
    f5: i64,
    f6: i64,
    f7: i64,
    f8: i64,
    f9: i64,
    f10: i64,
    f11: i64,
    f12: String,
    f13: Option<bool>,
}

/// The keys serde writes for `model`, and those the model's validator
/// declares: they must be the same set.
fn keys<M: Model + Serialize>(model: &M) -> (BTreeSet<String>, BTreeSet<String>) {
    let written = bson::to_document(model).unwrap().keys().cloned().collect();
    let schema = M::json_schema();
    let declared = schema
        .get_document("$jsonSchema")
        .unwrap_or(&schema)
        .get_document("properties")
        .unwrap()
        .keys()
        .cloned()
        .collect();
    (written, declared)
}

/// One stored document of `collection`, as the server has it.
async fn raw(conn: &model::Connection, collection: &str) -> Document {
    let db = conn.database().await.unwrap();
    db.collection::<Document>(collection).find_one(doc! {}).await.unwrap().unwrap()
}

#[test]
fn every_rename_form_names_what_serde_writes() {
    let now = DateTime::from_millis(1);
    let camel = Camel::from_insert(
        CamelInsert { id: None, star_rating: 4, shout_out: Some("hey".into()) },
        now,
    );
    let kebab =
        Kebab::from_insert(KebabInsert { id: None, star_rating: 4, other_name: "o".into() }, now);
    let marked =
        Marked::from_insert(MarkedInsert { id: "m".into(), note: "n".into() }, DateTime::now());
    let plain = Plain::from_insert(PlainInsert { id: "p".into(), count: 1 }, now);
    let listed = Listed::from_insert(
        ListedInsert {
            id: None,
            star_rating: 2,
            display_name: "d".into(),
            last_seen_by: Some("x".into()),
        },
        now,
    );
    let table = [
        (
            "listed",
            keys(&listed),
            ["_id", "changedAt", "firstSeen", "lastSeenBy", "shownAs", "starRating"].as_slice(),
        ),
        (
            "camel",
            keys(&camel),
            ["_id", "Shout", "createdAt", "starRating", "updatedAt"].as_slice(),
        ),
        ("kebab", keys(&kebab), &["OTHER", "_id", "created-at", "star-rating", "updated-at"]),
        ("marked", keys(&marked), &["_id", "changed", "made", "note"]),
        ("plain", keys(&plain), &["_id", "count"]),
    ];
    for (name, (written, declared), expected) in table {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(written, expected, "{name}: what serde writes");
        assert_eq!(declared, expected, "{name}: what the validator declares");
    }
    assert_eq!(Camel::STAR_RATING.name(), "starRating");
    assert_eq!(Kebab::OTHER_NAME.name(), "OTHER");
    // The field constants of the timestamps say the same.
    assert_eq!((Camel::CREATED_AT.name(), Marked::BORN.name()), ("createdAt", "made"));
    assert_eq!(
        (<Camel as Model>::CREATED_AT, <Camel as Model>::UPDATED_AT),
        (Some("createdAt"), Some("updatedAt"))
    );
    assert_eq!(
        (<Marked as Model>::CREATED_AT, <Marked as Model>::UPDATED_AT),
        (Some("made"), Some("changed"))
    );
    assert_eq!((<Plain as Model>::CREATED_AT, <Plain as Model>::UPDATED_AT), (None, None));
}

#[tokio::test]
async fn renamed_timestamps_are_set_under_their_stored_names() {
    let conn = connection().await;
    conn.migrate::<Camel>().await.unwrap();
    conn.migrate::<Kebab>().await.unwrap();
    let camels = conn.repo::<Camel>();

    // The validator requires `starRating` and `createdAt`: the insert
    // passes it only if the stored names are serde's.
    let camel =
        camels.insert_one(CamelInsert { id: None, star_rating: 5, shout_out: None }).await.unwrap();
    camels.update(&camel.id, Camel::STAR_RATING.inc(1)).await.unwrap();
    let stored = raw(&conn, "camels").await;
    assert_eq!(stored.get_i64("starRating"), Ok(6), "{stored}");
    assert!(stored.get_datetime("createdAt").is_ok(), "{stored}");
    assert!(stored.get_datetime("updatedAt").is_ok(), "the update set it: {stored}");
    assert!(!stored.contains_key("updated_at") && !stored.contains_key("created_at"), "{stored}");

    let kebabs = conn.repo::<Kebab>();
    let kebab = kebabs
        .insert_one(KebabInsert { id: None, star_rating: 1, other_name: "x".into() })
        .await
        .unwrap();
    let read = kebabs.find(&kebab.id).await.unwrap();
    assert_eq!(read, kebab);
    assert_eq!(raw(&conn, "kebabs").await.get_str("OTHER"), Ok("x"));
}

#[tokio::test]
async fn a_camel_case_list_form_model_migrates_inserts_queries_and_round_trips() {
    let conn = connection().await;
    let report = conn.migrate::<Listed>().await.unwrap();
    assert_eq!(report.indexes_created, ["starRating_1"], "the index is on the stored name");
    let listed = conn.repo::<Listed>();
    let insert = |stars: i64, name: &str| ListedInsert {
        id: None,
        star_rating: stars,
        display_name: name.into(),
        last_seen_by: None,
    };
    // Through the validator, which requires `starRating`, `shownAs` and
    // `firstSeen`.
    let a = listed.insert_one(insert(5, "five")).await.unwrap();
    listed.insert_one(insert(2, "two")).await.unwrap();

    let found = listed
        .find_many(Listed::STAR_RATING.gte(3))
        .sort(Listed::DISPLAY_NAME.asc())
        .await
        .unwrap();
    assert_eq!(found, vec![a.clone()], "queried by typed fields, read back whole");
    let updated =
        listed.update(&a.id, Listed::LAST_SEEN_BY.set(Some("ops".to_string()))).await.unwrap();
    assert!(updated.changed_at.is_some());
    let stored = conn
        .database()
        .await
        .unwrap()
        .collection::<Document>("listed")
        .find_one(doc! { "_id": a.id })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("lastSeenBy"), Ok("ops"), "{stored}");
    assert_eq!(stored.get_str("shownAs"), Ok("five"), "{stored}");
    assert!(stored.get_datetime("firstSeen").is_ok() && stored.get_datetime("changedAt").is_ok());
    assert_eq!(listed.find(&a.id).await.unwrap(), updated, "round trip");
}

#[tokio::test]
async fn marked_timestamps_are_set_by_inserts_updates_and_upserts() {
    let conn = connection().await;
    conn.migrate::<Marked>().await.unwrap();
    let marked = conn.repo::<Marked>();

    let made =
        marked.insert_one(MarkedInsert { id: "a".into(), note: "one".into() }).await.unwrap();
    assert_eq!(made.changed, None);
    let updated = marked.update(&made.id, Marked::NOTE.set("two")).await.unwrap();
    assert!(updated.changed.is_some(), "an update sets the marked `updated_at`");
    assert_eq!(updated.born, made.born);

    let upserted = marked
        .upsert(Marked::ID.eq("b".to_string()), Marked::NOTE.set_on_insert("new"))
        .await
        .unwrap();
    let stored = conn
        .database()
        .await
        .unwrap()
        .collection::<Document>("marked")
        .find_one(doc! { "_id": "b" })
        .await
        .unwrap()
        .unwrap();
    assert!(stored.get_datetime("made").is_ok(), "an upsert's insert sets it: {stored}");
    assert!(stored.get_datetime("changed").is_ok(), "{stored}");
    assert!(!stored.contains_key("created_at"), "{stored}");
    assert_eq!(upserted.note, "new");
}

#[tokio::test]
async fn a_model_without_timestamps_stores_none() {
    let conn = connection().await;
    conn.migrate::<Plain>().await.unwrap();
    let plains = conn.repo::<Plain>();

    plains.insert_one(PlainInsert { id: "p".into(), count: 1 }).await.unwrap();
    let updated = plains.update(&"p".to_string(), Plain::COUNT.inc(2)).await.unwrap();
    assert_eq!(updated.count, 3);
    plains.upsert(Plain::ID.eq("q".to_string()), Plain::COUNT.set(7)).await.unwrap();
    let db = conn.database().await.unwrap();
    let all: Vec<Document> = {
        use futures::TryStreamExt;
        db.collection::<Document>("plains")
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    assert_eq!(all, vec![doc! { "_id": "p", "count": 3_i64 }, doc! { "_id": "q", "count": 7_i64 }]);

    // With nothing to stamp, an update that changes nothing is refused
    // before it is sent, and nothing changes.
    let error = plains.update(&"p".to_string(), model::Update::none()).await.unwrap_err();
    assert!(matches!(error, model::Error::InvalidArgument { .. }), "{error:?}");
    assert_eq!(plains.find(&"p".to_string()).await.unwrap().count, 3);
    assert_eq!(plains.count(Query::all()).await.unwrap(), 2);
}

#[test]
fn insert_structs_are_debug_and_clone_when_their_fields_are() {
    let insert = CamelInsert { id: None, star_rating: 3, shout_out: Some("hi".into()) };
    let copy = insert.clone();
    assert_eq!(
        format!("{copy:?}"),
        r#"CamelInsert { id: None, star_rating: 3, shout_out: Some("hi") }"#
    );
    assert_eq!(format!("{insert:?}"), format!("{copy:?}"));

    // Fourteen fields, past one tuple: every one shown and copied, in order.
    let wide = WideInsert {
        id: 0,
        f1: 1,
        f2: 2,
        f3: 3,
        f4: 4,
        f5: 5,
        f6: 6,
        f7: 7,
        f8: 8,
        f9: 9,
        f10: 10,
        f11: 11,
        f12: "twelve".into(),
        f13: Some(true),
    };
    let wide_copy = wide.clone();
    assert_eq!(
        format!("{wide_copy:?}"),
        "WideInsert { id: 0, f1: 1, f2: 2, f3: 3, f4: 4, f5: 5, f6: 6, f7: 7, f8: 8, f9: 9, \
         f10: 10, f11: 11, f12: \"twelve\", f13: Some(true) }"
    );
    let stored = Wide::from_insert(wide_copy, DateTime::now());
    assert_eq!((stored.f11, stored.f12, stored.f13), (11, "twelve".to_string(), Some(true)));

    // `WithOpaque`'s field is neither: its insert struct still exists.
    let opaque = WithOpaqueInsert { id: "o".into(), value: Opaque(1) };
    assert_eq!(WithOpaque::from_insert(opaque, DateTime::now()).value.0, 1);
}
