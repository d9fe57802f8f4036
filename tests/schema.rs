//! The `$jsonSchema` and indexes generated from the Rust types: snapshots of
//! the reference models, the mapping of every supported type, and a round
//! trip through the server's validator.

mod common;

use std::collections::{BTreeMap, HashMap};

use bson::{Binary, Bson, Decimal128, Document, doc, spec::BinarySubtype};
use common::*;
use model::{DateTime, FieldType, Model, ObjectId, Schema, Uuid, schema::IndexSpec};
use serde::{Deserialize, Serialize};

/// A nested struct; `postcode` is stored as `zip`.
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
struct Address {
    street: String,
    #[serde(rename = "zip")]
    postcode: Option<String>,
}

/// A unit enum stored as strings, serde renames honoured.
#[derive(Debug, Clone, Copy, PartialEq, Schema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Active,
    OnHold,
    #[serde(rename = "gone")]
    Deleted,
}

/// A custom type that states its own schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Email(String);

impl FieldType for Email {
    fn json_schema() -> Document {
        doc! { "bsonType": "string", "pattern": "^[^@]+@[^@]+$" }
    }
}

/// A model with a field of every supported kind.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "wides", key = id)]
struct Wide {
    #[serde(rename = "_id")]
    id: ObjectId,
    text: String,
    flag: bool,
    small: i32,
    big: i64,
    tiny: u8,
    medium: u32,
    large: u64,
    ratio: f64,
    letter: char,
    when: DateTime,
    uuid: Uuid,
    oid: ObjectId,
    money: Decimal128,
    blob: Binary,
    tags: Vec<String>,
    scores: HashMap<String, i64>,
    weights: BTreeMap<String, f64>,
    address: Address,
    previous: Option<Address>,
    history: Vec<Address>,
    status: Status,
    maybe_status: Option<Status>,
    email: Email,
    note: Option<String>,
    boxed: Box<i32>,
    raw: Document,
    anything: Bson,
    created_at: DateTime,
    updated_at: DateTime,
}

/// A model whose validator accepts fields it does not declare.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "looses", key = id, additional_properties = true)]
struct Loose {
    #[serde(rename = "_id")]
    id: String,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// Preferences every field of which serde fills when missing.
#[derive(Debug, Clone, Default, PartialEq, Schema, Serialize, Deserialize)]
#[serde(default)]
struct Preferences {
    theme: String,
    digest: bool,
}

/// A nested struct with one field serde fills and one it does not.
#[derive(Debug, Clone, PartialEq, Schema, Serialize, Deserialize)]
struct Profile {
    bio: String,
    #[serde(default = "Vec::new")]
    links: Vec<String>,
}

/// A model whose fields serde fills when a stored document lacks them.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "members", key = id)]
struct Member {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    preferences: Preferences,
    profile: Profile,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// A model with `#[serde(default)]` on the struct: nothing but `_id` is required.
#[derive(Debug, Clone, Default, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "drafts", key = id, timestamps = false)]
#[serde(default)]
struct Draft {
    #[serde(rename = "_id")]
    id: String,
    title: String,
    words: i64,
}

fn address_schema() -> Document {
    doc! {
        "bsonType": "object",
        "required": ["street"],
        "properties": {
            "street": { "bsonType": "string" },
            "zip": { "bsonType": ["string", "null"] },
        },
        "additionalProperties": false,
    }
}

#[test]
fn foo_schema_snapshot() {
    assert_eq!(
        Foo::json_schema(),
        doc! {
            "bsonType": "object",
            "required": ["_id", "foo", "created_at"],
            "properties": {
                "_id": { "bsonType": "binData" },
                "foo": { "bsonType": "string" },
                "bar": { "bsonType": ["long", "null"] },
                "created_at": { "bsonType": "date" },
                "updated_at": { "bsonType": ["date", "null"] },
            },
            "additionalProperties": false,
        }
    );
}

#[test]
fn bar_schema_snapshot() {
    assert_eq!(
        Bar::json_schema(),
        doc! {
            "bsonType": "object",
            "required": ["_id", "foo", "created_at"],
            "properties": {
                "_id": {
                    "bsonType": "object",
                    "required": ["foo", "bar"],
                    "properties": {
                        "foo": { "bsonType": "binData" },
                        "bar": { "bsonType": "string" },
                    },
                    "additionalProperties": false,
                },
                "foo": { "bsonType": "string" },
                "bar": { "bsonType": ["long", "null"] },
                "created_at": { "bsonType": "date" },
                "updated_at": { "bsonType": ["date", "null"] },
            },
            "additionalProperties": false,
        }
    );
}

#[test]
fn foo_and_bar_declare_a_unique_index_named_like_mongodb_would() {
    let expected = vec![IndexSpec::new(doc! { "foo": 1 }).unique(true)];
    assert_eq!(Foo::indexes(), expected);
    assert_eq!(Bar::indexes(), expected);
    assert_eq!(expected[0].name, "foo_1");
}

#[test]
fn every_supported_type_maps_to_its_bson_type() {
    let schema = Wide::json_schema();
    let properties = schema.get_document("properties").unwrap();
    let expected: Vec<(&str, Document)> = vec![
        ("_id", doc! { "bsonType": "objectId" }),
        ("text", doc! { "bsonType": "string" }),
        ("flag", doc! { "bsonType": "bool" }),
        ("small", doc! { "bsonType": "int" }),
        ("big", doc! { "bsonType": "long" }),
        ("tiny", doc! { "bsonType": "int" }),
        ("medium", doc! { "bsonType": "long" }),
        ("large", doc! { "bsonType": "long" }),
        ("ratio", doc! { "bsonType": "double" }),
        ("letter", doc! { "bsonType": "string" }),
        ("when", doc! { "bsonType": "date" }),
        ("uuid", doc! { "bsonType": "binData" }),
        ("oid", doc! { "bsonType": "objectId" }),
        ("money", doc! { "bsonType": "decimal" }),
        ("blob", doc! { "bsonType": "binData" }),
        ("tags", doc! { "bsonType": "array", "items": { "bsonType": "string" } }),
        ("scores", doc! { "bsonType": "object", "additionalProperties": { "bsonType": "long" } }),
        (
            "weights",
            doc! { "bsonType": "object", "additionalProperties": { "bsonType": "double" } },
        ),
        ("address", address_schema()),
        ("previous", {
            let mut nullable = address_schema();
            nullable.insert("bsonType", vec![Bson::from("object"), Bson::from("null")]);
            nullable
        }),
        ("history", doc! { "bsonType": "array", "items": address_schema() }),
        ("status", doc! { "bsonType": "string", "enum": ["active", "on_hold", "gone"] }),
        (
            "maybe_status",
            doc! {
                "bsonType": ["string", "null"],
                "enum": ["active", "on_hold", "gone", Bson::Null],
            },
        ),
        ("email", doc! { "bsonType": "string", "pattern": "^[^@]+@[^@]+$" }),
        ("note", doc! { "bsonType": ["string", "null"] }),
        ("boxed", doc! { "bsonType": "int" }),
        ("raw", doc! { "bsonType": "object" }),
        ("anything", doc! {}),
        ("created_at", doc! { "bsonType": "date" }),
        ("updated_at", doc! { "bsonType": "date" }),
    ];
    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
    let expected_names: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected_names);
    for (name, schema) in &expected {
        assert_eq!(properties.get_document(name).unwrap(), schema, "{name}");
    }
    let optional = ["previous", "maybe_status", "note"];
    let required: Vec<&str> =
        expected_names.iter().copied().filter(|name| !optional.contains(name)).collect();
    let listed: Vec<&str> =
        schema.get_array("required").unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(listed, required);
    assert_eq!(schema.get_bool("additionalProperties"), Ok(false));
}

#[test]
fn additional_properties_can_be_allowed() {
    assert_eq!(Loose::json_schema().get_bool("additionalProperties"), Ok(true));
}

fn wide(full: bool) -> WideInsert {
    let address = Address { street: "1 Main St".into(), postcode: full.then(|| "12345".into()) };
    WideInsert {
        id: None,
        text: "text".into(),
        flag: true,
        small: -7,
        big: i64::MAX,
        tiny: u8::MAX,
        medium: u32::MAX,
        large: u64::try_from(i64::MAX).unwrap(),
        ratio: 0.5,
        letter: 'λ',
        when: at(1_700_000_000_000),
        uuid: Uuid::new(),
        oid: ObjectId::new(),
        money: "12.50".parse().unwrap(),
        blob: Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 1, 2] },
        tags: if full { vec!["a".into(), "b".into()] } else { Vec::new() },
        scores: HashMap::from([("x".to_string(), 1_i64)]),
        weights: BTreeMap::from([("y".to_string(), 2.5)]),
        address: address.clone(),
        previous: full.then(|| address.clone()),
        history: if full { vec![address] } else { Vec::new() },
        status: Status::OnHold,
        maybe_status: full.then_some(Status::Deleted),
        email: Email("a@example.com".into()),
        note: full.then(|| "note".into()),
        boxed: Box::new(3),
        raw: doc! { "free": ["form", 1] },
        anything: if full { Bson::from(1.5) } else { Bson::Null },
    }
}

#[tokio::test]
async fn a_wide_model_round_trips_through_its_own_validator() {
    let conn = connection().await;
    conn.migrate::<Wide>().await.unwrap();
    let wides = conn.repo::<Wide>();

    for full in [true, false] {
        let stored = wides.insert_one(wide(full)).await.unwrap();
        assert_eq!(wides.find(&stored.id).await.unwrap(), stored, "full: {full}");
    }

    // The validator is not vacuous: a nested struct's unknown field is refused.
    let mut document = bson::to_document(&Wide::from_insert(wide(true), DateTime::now())).unwrap();
    document.get_document_mut("address").unwrap().insert("country", "nowhere");
    let raw = conn.database().await.unwrap().collection::<Document>("wides");
    let error = raw.insert_one(document).await.unwrap_err();
    assert!(failed_validation(&error), "{error}");
}

/// Whether the server refused a write as failing validation (code 121).
fn failed_validation(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    matches!(
        error.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == 121
    )
}

#[tokio::test]
async fn additional_properties_true_lets_the_server_accept_unknown_fields() {
    let conn = connection().await;
    conn.migrate::<Loose>().await.unwrap();
    let raw = conn.database().await.unwrap().collection::<Document>("looses");

    raw.insert_one(doc! { "_id": "a", "name": "n", "created_at": DateTime::now(), "extra": 1 })
        .await
        .expect("an unknown field is accepted");
    let error = raw
        .insert_one(doc! { "_id": "b", "created_at": DateTime::now() })
        .await
        .expect_err("a missing required field is still refused");
    assert!(failed_validation(&error), "{error}");
}

#[test]
fn lock_schema_snapshot() {
    use lock::store::{Fence, Lock};
    assert_eq!(
        Lock::json_schema(),
        doc! {
            "bsonType": "object",
            // `token` and `queue` are `#[serde(default)]`: a document
            // without them reads as 0 and no waiters.
            "required": ["_id", "expires_at", "created_at"],
            "properties": {
                "_id": { "bsonType": "string" },
                "owner": { "bsonType": ["string", "null"] },
                "expires_at": { "bsonType": "date" },
                "token": { "bsonType": "long" },
                "queue": { "bsonType": "array", "items": {
                    "bsonType": "object",
                    "required": ["owner", "expires_at", "ttl_ms"],
                    "properties": {
                        "owner": { "bsonType": "string" },
                        "expires_at": { "bsonType": "date" },
                        "ttl_ms": { "bsonType": "long" },
                    },
                    "additionalProperties": false,
                } },
                "created_at": { "bsonType": "date" },
                "updated_at": { "bsonType": ["date", "null"] },
            },
            "additionalProperties": false,
        }
    );
    assert_eq!(
        Fence::json_schema(),
        doc! {
            "bsonType": "object",
            "required": ["_id", "token", "created_at", "updated_at"],
            "properties": {
                "_id": { "bsonType": "string" },
                "token": { "bsonType": "long" },
                "created_at": { "bsonType": "date" },
                "updated_at": { "bsonType": "date" },
            },
            "additionalProperties": false,
        }
    );
    let names: Vec<String> = Lock::indexes().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["_id_1_expires_at_1"]);
}

/// A composite key whose fields serde writes its own way: the generated
/// conversion must defer to serde for it.
#[derive(Debug, Clone, PartialEq, model::CompositeKey, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomKey {
    tenant_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
}

/// Generated conversions write what the repository stores: serde's
/// output, with `None` fields left out.
#[test]
fn generated_bson_conversion_writes_what_is_stored() {
    use model::{Key, schema::Stored};
    let key = BarKey { foo: Uuid::new(), bar: "b".into() };
    assert_eq!(key.to_bson().unwrap(), bson::to_bson(&Stored(&key)).unwrap());
    for region in [None, Some("eu".to_string())] {
        let key = CustomKey { tenant_id: Uuid::new(), region };
        assert_eq!(key.to_bson().unwrap(), bson::to_bson(&Stored(&key)).unwrap());
    }
    let address = Address { street: "Main".into(), postcode: Some("1000".into()) };
    assert_eq!(
        FieldType::into_bson(address.clone()).unwrap(),
        bson::to_bson(&Stored(&address)).unwrap(),
        "renamed field, declaration order"
    );
    let empty = Address { street: String::new(), postcode: None };
    assert_eq!(FieldType::into_bson(empty.clone()).unwrap(), bson::bson!({ "street": "" }));
    assert_eq!(bson::to_bson(&Stored(&empty)).unwrap(), bson::bson!({ "street": "" }));
}

#[test]
fn a_field_serde_fills_when_missing_is_not_required() {
    let required = |schema: &Document| -> Vec<String> {
        let names = schema.get_array("required").map(Vec::as_slice).unwrap_or_default();
        names.iter().map(|n| n.as_str().unwrap().to_string()).collect()
    };
    let member = Member::json_schema();
    assert_eq!(required(&member), ["_id", "profile", "created_at"]);
    let properties = member.get_document("properties").unwrap();
    assert!(required(properties.get_document("preferences").unwrap()).is_empty());
    assert_eq!(required(properties.get_document("profile").unwrap()), ["bio"]);
    assert_eq!(required(&Draft::json_schema()), Vec::<String>::new(), "container default");
    assert!(Draft::json_schema().get_document("properties").unwrap().contains_key("words"));
}

#[tokio::test]
async fn the_server_accepts_documents_without_the_fields_serde_fills() {
    let conn = connection().await;
    conn.migrate::<Member>().await.unwrap();
    conn.migrate::<Draft>().await.unwrap();
    let raw = conn.database().await.unwrap();

    let member = doc! { "_id": "m", "profile": { "bio": "b" }, "created_at": DateTime::now() };
    raw.collection::<Document>("members").insert_one(member).await.expect("defaults left out");
    raw.collection::<Document>("drafts").insert_one(doc! { "_id": "d" }).await.unwrap();
    let error = raw
        .collection::<Document>("members")
        .insert_one(doc! { "_id": "n", "profile": {}, "created_at": DateTime::now() })
        .await
        .expect_err("a nested field without a default is still required");
    assert!(failed_validation(&error), "{error}");

    let member = conn.repo::<Member>().find(&"m".to_string()).await.unwrap();
    assert_eq!((member.preferences, member.profile.links), (Preferences::default(), vec![]));
    assert_eq!(
        conn.repo::<Draft>().find(&"d".to_string()).await.unwrap(),
        Draft { id: "d".to_string(), ..Draft::default() }
    );
}
