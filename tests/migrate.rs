//! `Connection::migrate` against the real server: what it creates, what it
//! leaves alone, what it replaces and drops, and what the validator rejects.

mod common;

use bson::{Bson, Document, doc};
use common::*;
use futures::TryStreamExt;
use model::{
    Connection, DateTime, Error, Migration, Model, ObjectId, Uuid, migrate::ValidatorChange,
};
use serde::{Deserialize, Serialize};

/// Every kind of index the derive declares.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(
    collection = "events",
    key = id,
    index(keys(user, at = -1), name = "by_user_latest"),
    index(keys(code), unique, partial = model::bson::doc! { "code": { "$exists": true } })
)]
struct Event {
    #[serde(rename = "_id")]
    id: ObjectId,
    user: String,
    at: DateTime,
    code: Option<String>,
    #[model(index, sparse)]
    tag: Option<String>,
    #[model(index, expire_after = 3600)]
    expires_at: DateTime,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `Foo`'s fields on `foos`, with `foo_1` no longer unique but sparse.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "foos", key = id)]
struct FooIndexChanged {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(index, sparse)]
    foo: String,
    bar: Option<i64>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `Foo`'s fields on `foos`, without the index on `foo`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "foos", key = id)]
struct FooUnindexed {
    #[serde(rename = "_id")]
    id: Uuid,
    foo: String,
    bar: Option<i64>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// A model on `foos` that disagrees with `Foo`'s validator: `bar` is a string.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "foos", key = id)]
struct FooDrifted {
    #[serde(rename = "_id")]
    id: Uuid,
    #[model(unique)]
    foo: String,
    bar: Option<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// A user as first stored.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "users", key = id)]
struct UserV1 {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `UserV1` with a field added later, read as empty from older documents.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "users", key = id)]
struct UserV2 {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    #[serde(default)]
    following: Vec<ObjectId>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn free() -> String {
    "free".to_string()
}

/// `UserV1` with a field added later, defaulted by a function.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "users", key = id)]
struct UserV2Plan {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    #[serde(default = "free")]
    plan: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `UserV1` with a required field added: older documents fail its validator.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "users", key = id)]
struct UserV3 {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    email: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `UserV3` under `validationLevel: moderate`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "users", key = id, validation_level = "moderate")]
struct UserV3Moderate {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    email: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `UserV1`'s fields, validated leniently.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "users", key = id, validation_level = "moderate", validation_action = "warn")]
struct UserLenient {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// An account as first stored: no index on `email`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "accounts", key = id)]
struct Account {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: Option<String>,
    team: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `Account` with a unique index on `email`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "accounts", key = id)]
struct AccountUniqueEmail {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[model(unique)]
    email: Option<String>,
    team: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `Account` with a sparse unique index on `email`.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "accounts", key = id)]
struct AccountSparseEmail {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[model(unique, sparse)]
    email: Option<String>,
    team: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// `Account` with a unique index on `email` over team `t2` alone.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(
    collection = "accounts",
    key = id,
    index(keys(email), unique, partial = model::bson::doc! { "team": "t2" })
)]
struct AccountTeamEmail {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: Option<String>,
    team: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// A connection with `users` migrated for `UserV1` and one user stored.
async fn with_a_v1_user() -> (Connection, ObjectId) {
    let conn = connection().await;
    conn.migrate::<UserV1>().await.unwrap();
    let user = UserV1Insert { id: None, name: "ann".to_string() };
    let stored = conn.repo::<UserV1>().insert_one(user).await.unwrap();
    (conn, stored.id)
}

/// Stores users named `names` as `UserV1`; their ids in `_id` order.
async fn store_v1_users(conn: &Connection, names: &[&str]) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    for name in names {
        let user = UserV1Insert { id: None, name: (*name).to_string() };
        ids.push(conn.repo::<UserV1>().insert_one(user).await.unwrap().id);
    }
    ids.sort();
    ids
}

/// The validator, level and action `listCollections` lists for `collection`.
async fn validation(conn: &Connection, collection: &str) -> (Document, String, String) {
    let info = collection_info(conn, collection).await;
    let options = info.get_document("options").unwrap();
    let option = |name| options.get_str(name).unwrap_or("(absent)").to_string();
    let validator = options.get_document("validator").cloned().unwrap_or_default();
    (validator, option("validationLevel"), option("validationAction"))
}

/// Which server the tests run on, for messages about its behaviour.
fn server() -> String {
    format!("{:?}", testkit::server().kind)
}

async fn db(conn: &Connection) -> mongodb::Database {
    conn.database().await.unwrap()
}

/// `listIndexes`, `_id_` included, in the server's order.
async fn list_indexes(conn: &Connection, collection: &str) -> Vec<Document> {
    db(conn)
        .await
        .run_cursor_command(doc! { "listIndexes": collection })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn collection_names(conn: &Connection) -> Vec<String> {
    db(conn).await.list_collection_names().await.unwrap()
}

async fn index_names(conn: &Connection, collection: &str) -> Vec<String> {
    let mut names: Vec<String> = list_indexes(conn, collection)
        .await
        .iter()
        .map(|i| i.get_str("name").unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn index(conn: &Connection, collection: &str, name: &str) -> Document {
    list_indexes(conn, collection)
        .await
        .into_iter()
        .find(|i| i.get_str("name") == Ok(name))
        .unwrap_or_else(|| panic!("no index {name}"))
}

/// The `listCollections` entry of `collection`.
async fn collection_info(conn: &Connection, collection: &str) -> Document {
    let mut cursor = db(conn)
        .await
        .run_cursor_command(doc! { "listCollections": 1, "filter": { "name": collection } })
        .await
        .unwrap();
    cursor.try_next().await.unwrap().expect("the collection exists")
}

fn sorted(names: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// A connection whose client logs the name of every command it sends to
/// the test's database.
async fn monitored_connection() -> (Connection, testkit::CommandLog) {
    let db = testkit::database().await;
    let test =
        testkit::ClientBuilder::new(&db.uri).log_commands_to(&db.name).build().await.unwrap();
    (Connection::from_client(test.client, db.name), test.commands)
}

/// Whether `value` holds, at any depth, a field `key` equal to `expected`.
fn mentions(value: &Bson, key: &str, expected: &str) -> bool {
    match value {
        Bson::Document(doc) => doc
            .iter()
            .any(|(k, v)| (k == key && v.as_str() == Some(expected)) || mentions(v, key, expected)),
        Bson::Array(items) => items.iter().any(|v| mentions(v, key, expected)),
        _ => false,
    }
}

#[tokio::test]
async fn migrate_on_an_empty_database_creates_collection_indexes_and_validator() {
    let conn = connection().await;
    let report = conn.migrate::<Event>().await.unwrap();

    assert!(report.collection_created);
    assert_eq!(report.validator, ValidatorChange::Set);
    assert_eq!(
        sorted(&report.indexes_created),
        ["by_user_latest", "code_1", "expires_at_1", "tag_1"]
    );
    assert!(report.indexes_replaced.is_empty() && report.indexes_dropped.is_empty());

    let options = collection_info(&conn, "events").await;
    let options = options.get_document("options").unwrap();
    assert_eq!(
        options.get_document("validator").unwrap(),
        &doc! { "$jsonSchema": Event::json_schema() }
    );
    assert_eq!(options.get_str("validationLevel"), Ok("strict"));
    assert_eq!(options.get_str("validationAction"), Ok("error"));

    let by_user = index(&conn, "events", "by_user_latest").await;
    assert_eq!(by_user.get_document("key").unwrap(), &doc! { "user": 1, "at": -1 });
    let code = index(&conn, "events", "code_1").await;
    assert_eq!(code.get_bool("unique"), Ok(true));
    assert_eq!(
        code.get_document("partialFilterExpression").unwrap(),
        &doc! { "code": { "$exists": true } }
    );
    assert_eq!(index(&conn, "events", "tag_1").await.get_bool("sparse"), Ok(true));
    let ttl = index(&conn, "events", "expires_at_1").await;
    let seconds = ttl.get("expireAfterSeconds").expect("a TTL index");
    assert_eq!(seconds.to_string(), "3600", "{seconds:?}");
}

#[tokio::test]
async fn a_second_migrate_only_reads_and_changes_nothing() {
    let (conn, commands) = monitored_connection().await;
    conn.migrate::<Event>().await.unwrap();
    let indexes_before = list_indexes(&conn, "events").await;
    let collection_before = collection_info(&conn, "events").await;
    commands.clear();

    let report = conn.migrate::<Event>().await.unwrap();

    let sent = commands.all();
    assert_eq!(sent, ["listCollections", "listIndexes"]);
    assert!(report.is_unchanged(), "{report:?}");
    assert_eq!(report.indexes_unchanged.len(), 4);
    assert_eq!(report.to_string(), "events: unchanged");
    // Same collection (its UUID) and the very same index entries.
    assert_eq!(collection_info(&conn, "events").await, collection_before);
    assert_eq!(list_indexes(&conn, "events").await, indexes_before);
}

#[tokio::test]
async fn indexes_made_by_hand_with_other_number_types_are_kept_as_they_are() {
    let conn = connection().await;
    // The declared indexes, made with doubles and longs where the driver
    // would send ints: if migrate rebuilt one, its numbers would change.
    let indexes = vec![
        doc! { "key": { "user": 1.0, "at": Bson::Int64(-1) }, "name": "by_user_latest" },
        doc! { "key": { "code": Bson::Int64(1) }, "name": "code_1", "unique": true,
        "partialFilterExpression": { "code": { "$exists": true } } },
        doc! { "key": { "tag": 1.0 }, "name": "tag_1", "sparse": true },
        doc! { "key": { "expires_at": 1 }, "name": "expires_at_1", "expireAfterSeconds": 3600.0 },
    ];
    db(&conn)
        .await
        .run_command(doc! { "createIndexes": "events", "indexes": indexes })
        .await
        .unwrap();
    let before = list_indexes(&conn, "events").await;

    let report = conn.migrate::<Event>().await.unwrap();

    assert!(!report.collection_created);
    assert!(report.indexes_created.is_empty(), "{report:?}");
    assert!(report.indexes_replaced.is_empty(), "{report:?}");
    assert!(report.indexes_dropped.is_empty(), "{report:?}");
    assert_eq!(report.indexes_unchanged.len(), 4);
    // The collection existed without a validator: `collMod` set it.
    assert_eq!(report.validator, ValidatorChange::Set);
    assert_eq!(list_indexes(&conn, "events").await, before);
}

#[tokio::test]
async fn an_index_whose_options_changed_is_replaced() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();

    let report = conn.migrate::<FooIndexChanged>().await.unwrap();

    assert_eq!(report.indexes_replaced, ["foo_1"]);
    assert!(report.indexes_created.is_empty() && report.indexes_dropped.is_empty());
    assert_eq!(report.validator, ValidatorChange::Unchanged, "same fields, same schema");
    let foo_1 = index(&conn, "foos", "foo_1").await;
    assert_eq!(foo_1.get_bool("sparse"), Ok(true));
    assert!(!foo_1.get_bool("unique").unwrap_or(false));
}

#[tokio::test]
async fn an_index_removed_from_the_model_is_dropped() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();

    let report = conn.migrate::<FooUnindexed>().await.unwrap();

    assert_eq!(report.indexes_dropped, ["foo_1"]);
    assert!(report.indexes_created.is_empty() && report.indexes_replaced.is_empty());
    assert_eq!(index_names(&conn, "foos").await, ["_id_"]);
}

#[tokio::test]
async fn an_index_created_by_hand_is_dropped() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();
    db(&conn)
        .await
        .collection::<Document>("foos")
        .create_index(
            mongodb::IndexModel::builder()
                .keys(doc! { "bar": 1 })
                .options(
                    mongodb::options::IndexOptions::builder().name("by_bar".to_string()).build(),
                )
                .build(),
        )
        .await
        .unwrap();

    let report = conn.migrate::<Foo>().await.unwrap();

    assert_eq!(report.indexes_dropped, ["by_bar"]);
    assert_eq!(report.indexes_unchanged, ["foo_1"]);
    assert_eq!(index_names(&conn, "foos").await, ["_id_", "foo_1"]);
}

#[tokio::test]
async fn an_index_kept_by_name_survives_and_a_plan_changes_nothing() {
    let (conn, commands) = monitored_connection().await;
    // The plan on an empty database: everything to create, nothing sent
    // but reads, nothing created.
    let plan = conn.migration_plan(&[Migration::of::<Foo>()]).await.unwrap();
    assert!(plan[0].collection_created, "{:?}", plan[0]);
    assert_eq!(plan[0].indexes_created, ["foo_1"]);
    assert_eq!(plan[0].validator, ValidatorChange::Set);
    assert_eq!(commands.all(), ["listCollections"]);
    assert!(collection_names(&conn).await.is_empty(), "a plan creates nothing");

    conn.migrate::<Foo>().await.unwrap();
    let by_hand = |name: &str, key: &str| {
        mongodb::IndexModel::builder()
            .keys(doc! { key: 1 })
            .options(mongodb::options::IndexOptions::builder().name(name.to_string()).build())
            .build()
    };
    let raw = db(&conn).await.collection::<Document>("foos");
    raw.create_index(by_hand("dba_bar", "bar")).await.unwrap();
    raw.create_index(by_hand("stray", "created_at")).await.unwrap();

    // The plan says what migrate will drop, and drops nothing.
    commands.clear();
    let keep = || Migration::of::<Foo>().keep_index("dba_bar");
    let plan = conn.migration_plan(&[keep()]).await.unwrap();
    assert_eq!(plan[0].indexes_dropped, ["stray"]);
    assert_eq!(commands.all(), ["listCollections", "listIndexes"]);
    assert_eq!(index_names(&conn, "foos").await, ["_id_", "dba_bar", "foo_1", "stray"]);

    let report = conn.migrate_all(&[keep()]).await.unwrap().remove(0);
    assert_eq!(report, plan.into_iter().next().unwrap(), "the plan was what migrate did");
    assert_eq!(index_names(&conn, "foos").await, ["_id_", "dba_bar", "foo_1"]);
}

#[tokio::test]
async fn keeping_an_index_on_the_keys_of_a_declared_one_is_refused_before_any_change() {
    let conn = connection().await;
    let raw = db(&conn).await.collection::<Document>("foos");
    let on_foo = mongodb::IndexModel::builder()
        .keys(doc! { "foo": 1 })
        .options(mongodb::options::IndexOptions::builder().name("dba_foo".to_string()).build())
        .build();
    raw.create_index(on_foo).await.unwrap();

    let migration = || [Migration::of::<Foo>().keep_index("dba_foo")];
    for attempt in [conn.migration_plan(&migration()).await, conn.migrate_all(&migration()).await] {
        let error = attempt.unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
        assert!(error.to_string().contains("`dba_foo`"), "{error}");
    }
    assert_eq!(index_names(&conn, "foos").await, ["_id_", "dba_foo"], "nothing changed");
}

#[tokio::test]
async fn the_validator_is_set_again_only_when_it_or_its_level_differs() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();
    db(&conn)
        .await
        .run_command(doc! { "collMod": "foos", "validationLevel": "moderate" })
        .await
        .unwrap();

    let report = conn.migrate::<Foo>().await.unwrap();
    assert_eq!(report.validator, ValidatorChange::Set);
    let info = collection_info(&conn, "foos").await;
    assert_eq!(info.get_document("options").unwrap().get_str("validationLevel"), Ok("strict"));

    let drifted = conn.migrate::<FooDrifted>().await.unwrap();
    assert_eq!(drifted.validator, ValidatorChange::Set);
    assert_eq!(drifted.indexes_unchanged, ["foo_1"]);
    assert_eq!(conn.migrate::<Foo>().await.unwrap().validator, ValidatorChange::Set);
    assert_eq!(conn.migrate::<Foo>().await.unwrap().validator, ValidatorChange::Unchanged);
}

#[tokio::test]
async fn documents_that_break_the_schema_are_rejected_by_the_server() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();
    let raw = db(&conn).await.collection::<Document>("foos");
    let valid = || {
        doc! {
            "_id": Uuid::new(), "foo": "a", "bar": Bson::Int64(1),
            "created_at": DateTime::now(), "updated_at": Bson::Null,
        }
    };
    raw.insert_one(valid()).await.expect("a valid document is accepted");

    let mut missing = valid();
    missing.remove("foo");
    let mut wrong_type = valid();
    wrong_type.insert("foo", 5);
    let mut int_for_long = valid();
    int_for_long.insert("bar", 5_i32);
    let mut extra = valid();
    extra.insert("extra", true);
    for (case, document) in [
        ("missing required field", missing),
        ("wrong type", wrong_type),
        ("int where a long is declared", int_for_long),
        ("extra field", extra),
    ] {
        let error = raw.insert_one(document).await.expect_err(case);
        assert_eq!(testkit::server_code(&error), Some(121), "{case}: {error}");
    }
}

#[tokio::test]
async fn a_drifted_model_gets_a_validation_error_from_insert_one() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();
    let insert = FooDriftedInsert { id: None, foo: "a".into(), bar: Some("not a long".into()) };

    let error = conn.repo::<FooDrifted>().insert_one(insert).await.unwrap_err();

    let Error::Validation { collection, details, .. } = error else {
        panic!("expected Error::Validation, got {error:?}");
    };
    assert_eq!(collection, "foos");
    let details = details.expect("the server's errInfo");
    assert!(mentions(&(*details).into(), "propertyName", "bar"));
}

#[tokio::test]
async fn a_drifted_model_gets_a_validation_error_from_update_one() {
    let conn = connection().await;
    conn.migrate::<Foo>().await.unwrap();
    let stored = conn.repo::<Foo>().insert_one(foo("a", Some(1))).await.unwrap();

    let error = conn
        .repo::<FooDrifted>()
        .update(&stored.id, FooDrifted::BAR.set("not a long".to_string()))
        .await
        .unwrap_err();

    let Error::Validation { collection, details, .. } = error else {
        panic!("expected Error::Validation, got {error:?}");
    };
    assert_eq!(collection, "foos");
    let details = details.expect("the server's errInfo from findAndModify");
    assert!(mentions(&(*details).into(), "propertyName", "bar"));
    assert_eq!(conn.repo::<Foo>().find(&stored.id).await.unwrap(), stored);
}

#[tokio::test]
async fn migrate_all_reports_each_model_in_order() {
    let conn = connection().await;

    let reports =
        conn.migrate_all(&[Migration::of::<Foo>(), Migration::of::<Bar>()]).await.unwrap();

    let summaries: Vec<String> = reports.iter().map(ToString::to_string).collect();
    assert_eq!(
        summaries,
        [
            "foos: collection created, indexes created [foo_1], validator set",
            "bars: collection created, indexes created [foo_1], validator set",
        ]
    );
}

#[tokio::test]
async fn two_migrations_for_one_collection_are_refused_before_anything_is_sent() {
    let conn = connection().await;

    let error = conn
        .migrate_all(&[Migration::of::<Foo>(), Migration::of::<FooDrifted>()])
        .await
        .unwrap_err();

    assert!(matches!(error, Error::InvalidArgument { .. }), "{error:?}");
    let names = db(&conn).await.list_collection_names().await.unwrap();
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn a_field_added_with_serde_default_leaves_older_documents_updatable() {
    let (conn, id) = with_a_v1_user().await;

    let report = conn.migrate::<UserV2>().await.unwrap();
    assert_eq!(report.validator, ValidatorChange::Set, "{report}");

    let updated = conn.repo::<UserV2>().update(&id, UserV2::NAME.set("anne".to_string())).await;
    let updated = updated.expect("an update that leaves `following` out");
    assert_eq!(updated.name, "anne");
    assert!(updated.following.is_empty());
}

#[tokio::test]
async fn a_field_added_with_a_default_function_leaves_older_documents_updatable() {
    let (conn, id) = with_a_v1_user().await;

    conn.migrate::<UserV2Plan>().await.unwrap();

    let updated =
        conn.repo::<UserV2Plan>().update(&id, UserV2Plan::NAME.set("anne".to_string())).await;
    let updated = updated.expect("an update that leaves `plan` out");
    assert_eq!((updated.name.as_str(), updated.plan.as_str()), ("anne", "free"));
}

#[tokio::test]
async fn a_validator_stored_documents_fail_is_reported_and_refused_unless_allowed() {
    let (conn, commands) = monitored_connection().await;
    conn.migrate::<UserV1>().await.unwrap();
    let ids = store_v1_users(&conn, &["ann", "bob", "carl"]).await;
    commands.clear();

    let plan = conn.migration_plan(&[Migration::of::<UserV3>()]).await.unwrap().remove(0);
    assert_eq!(plan.validator, ValidatorChange::Set);
    let rejected = plan.rejected_documents.clone().expect("the stored users lack `email`");
    assert_eq!(rejected.count, 3);
    let expected: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(*id)).collect();
    assert_eq!(rejected.ids, expected);
    assert_eq!(plan.to_string(), "users: validator set (3 stored documents fail it)");
    // Only reads: the count is an `aggregate`, the ids a `find`.
    assert_eq!(commands.all(), ["listCollections", "listIndexes", "aggregate", "find"]);

    commands.clear();
    let error = conn.migrate::<UserV3>().await.unwrap_err();
    let Error::InvalidDocuments { collection, count, ids: refused } = &error else {
        panic!("expected Error::InvalidDocuments, got {error:?}");
    };
    assert_eq!((collection.as_str(), *count, refused), ("users", 3, &expected));
    assert!(!commands.all().iter().any(|c| c == "collMod"), "{:?}", commands.all());
    let v1 = doc! { "$jsonSchema": UserV1::json_schema() };
    assert_eq!(validation(&conn, "users").await, (v1, "strict".into(), "error".into()));

    let report = conn.migrate::<UserV3>().allow_invalid_documents().await.unwrap();
    assert_eq!(report.validator, ValidatorChange::Set);
    assert_eq!(report.rejected_documents.map(|r| r.count), Some(3));
    let v3 = doc! { "$jsonSchema": UserV3::json_schema() };
    assert_eq!(validation(&conn, "users").await.0, v3);
}

#[tokio::test]
async fn a_validator_stored_documents_fail_is_set_under_moderate_and_reported() {
    let conn = connection().await;
    conn.migrate::<UserV1>().await.unwrap();
    let ids = store_v1_users(&conn, &["ann"]).await;

    let report = conn.migrate::<UserV3Moderate>().await.unwrap();

    assert_eq!(report.rejected_documents.map(|r| r.ids), Some(vec![Bson::ObjectId(ids[0])]));
    let (validator, level, action) = validation(&conn, "users").await;
    assert_eq!(validator, doc! { "$jsonSchema": UserV3Moderate::json_schema() });
    assert_eq!((level.as_str(), action.as_str()), ("moderate", "error"));
    // Moderate: an update of a document that failed already is not checked.
    let renamed = UserV3Moderate::NAME.set("anne".to_string());
    let updated = conn.repo::<UserV3Moderate>().update_many(model::Query::all(), renamed).await;
    assert_eq!(updated.unwrap(), 1, "on {}", server());
}

#[tokio::test]
async fn level_and_action_declared_on_a_model_are_applied_and_diffed() {
    assert_eq!(<UserLenient as Model>::VALIDATION_LEVEL, model::schema::ValidationLevel::Moderate);
    assert_eq!(<UserLenient as Model>::VALIDATION_ACTION, model::schema::ValidationAction::Warn);
    assert_eq!(<UserV1 as Model>::VALIDATION_LEVEL, model::schema::ValidationLevel::Strict);
    let conn = connection().await;

    let created = conn.migrate::<UserLenient>().await.unwrap();
    assert!(created.collection_created);
    let (_, level, action) = validation(&conn, "users").await;
    assert_eq!((level.as_str(), action.as_str()), ("moderate", "warn"));
    assert!(conn.migrate::<UserLenient>().await.unwrap().is_unchanged());

    // Same schema, other level and action: a change of its own.
    assert_eq!(UserV1::json_schema(), UserLenient::json_schema());
    let plan = conn.migration_plan(&[Migration::of::<UserV1>()]).await.unwrap().remove(0);
    assert_eq!(plan.validator, ValidatorChange::Set, "{plan}");
    assert_eq!(conn.migrate::<UserV1>().await.unwrap().validator, ValidatorChange::Set);
    let (_, level, action) = validation(&conn, "users").await;
    assert_eq!((level.as_str(), action.as_str()), ("strict", "error"));
    assert_eq!(conn.migrate::<UserLenient>().await.unwrap().validator, ValidatorChange::Set);
    let (_, level, action) = validation(&conn, "users").await;
    assert_eq!((level.as_str(), action.as_str()), ("moderate", "warn"));
}

/// The unique indexes a plan says duplicates stop, with their groups.
fn duplicates(report: &model::migrate::MigrationReport) -> Vec<(&str, u64)> {
    report.duplicate_keys.iter().map(|d| (d.index.as_str(), d.groups)).collect()
}

/// Accounts: `a@x` twice in team t1, no email twice (teams t1 and t2).
async fn with_accounts() -> (Connection, testkit::CommandLog) {
    let (conn, commands) = monitored_connection().await;
    conn.migrate::<Account>().await.unwrap();
    let accounts = conn.repo::<Account>();
    for (email, team) in [(Some("a@x"), "t1"), (Some("a@x"), "t1"), (None, "t1"), (None, "t2")] {
        let account =
            AccountInsert { id: None, email: email.map(str::to_string), team: team.to_string() };
        accounts.insert_one(account).await.unwrap();
    }
    commands.clear();
    (conn, commands)
}

#[tokio::test]
async fn a_unique_index_over_duplicates_is_reported_and_refused() {
    let (conn, commands) = with_accounts().await;

    let plan = conn.migration_plan(&[Migration::of::<AccountUniqueEmail>()]).await.unwrap();
    assert_eq!(plan[0].indexes_created, ["email_1"]);
    // `a@x`, and the missing emails, which the index holds as `null`.
    assert_eq!(duplicates(&plan[0]), [("email_1", 2)]);
    assert_eq!(commands.all(), ["listCollections", "listIndexes", "aggregate"]);

    let error = conn.migrate::<AccountUniqueEmail>().await.unwrap_err();
    let Error::DuplicateKeys { collection, index, groups } = &error else {
        panic!("expected Error::DuplicateKeys, got {error:?}");
    };
    assert_eq!((collection.as_str(), index.as_str(), *groups), ("accounts", "email_1", 2));
    assert!(error.to_string().contains("`email_1`"), "{error}");
    assert!(!error.to_string().contains("a@x"), "no user data in the message: {error}");
    assert_eq!(index_names(&conn, "accounts").await, ["_id_"], "nothing built");
    assert_eq!(commands.count("createIndexes"), 0);

    // The server would have failed the build.
    let raw = db(&conn).await.collection::<Document>("accounts");
    let on_email = mongodb::IndexModel::builder()
        .keys(doc! { "email": 1 })
        .options(mongodb::options::IndexOptions::builder().unique(true).build())
        .build();
    let built = raw.create_index(on_email).await.expect_err("duplicates");
    assert_eq!(testkit::server_code(&built), Some(11000), "on {}: {built}", server());
}

#[tokio::test]
async fn the_duplicate_check_follows_a_sparse_or_partial_index() {
    let (conn, _) = with_accounts().await;

    // Sparse: the documents without an email are not indexed; `a@x` is.
    let plan = conn.migration_plan(&[Migration::of::<AccountSparseEmail>()]).await.unwrap();
    assert_eq!(duplicates(&plan[0]), [("email_1", 1)]);
    let error = conn.migrate::<AccountSparseEmail>().await.unwrap_err();
    assert!(matches!(error, Error::DuplicateKeys { groups: 1, .. }), "{error:?}");

    // Partial on team t2: one document, no duplicates; built.
    let plan = conn.migration_plan(&[Migration::of::<AccountTeamEmail>()]).await.unwrap();
    assert!(plan[0].duplicate_keys.is_empty(), "{:?}", plan[0]);
    let report = conn.migrate::<AccountTeamEmail>().await.unwrap();
    assert_eq!(report.indexes_created, ["email_1"]);
    assert_eq!(index_names(&conn, "accounts").await, ["_id_", "email_1"]);
}

/// A case-insensitive unique email: an index with a collation, declared on
/// the type.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(key = id, index(keys(email), unique, collation(locale = "en", strength = 2)))]
struct Member {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::test]
async fn an_index_declared_with_a_collation_is_created_with_it() {
    let spec = Member::indexes().into_iter().next().expect("the email index");
    let collation = bson::to_document(spec.collation.as_ref().expect("a collation")).unwrap();
    assert_eq!(collation.get_str("locale"), Ok("en"), "{collation}");
    assert_eq!(collation.get_i32("strength"), Ok(2), "{collation}");
    let conn = connection().await;
    conn.migrate::<Member>().await.unwrap();
    let listed = list_indexes(&conn, "members").await;
    let email =
        listed.iter().find(|i| i.get_document("key").is_ok_and(|k| k.contains_key("email")));
    let email = email.unwrap_or_else(|| panic!("no email index: {listed:?}"));
    let stored = email.get_document("collation").unwrap_or_else(|_| panic!("{email}"));
    assert_eq!(
        (stored.get_str("locale"), stored.get_i32("strength")),
        (Ok("en"), Ok(2)),
        "{email}"
    );
    // A second run sees it unchanged.
    let second = conn.migrate::<Member>().await.unwrap();
    assert!(second.is_unchanged(), "{second:?}");
    // Case-insensitive uniqueness, where the server applies the collation.
    let members = conn.repo::<Member>();
    members.insert_one(MemberInsert { id: None, email: "Ada@Example.org".into() }).await.unwrap();
    let again =
        members.insert_one(MemberInsert { id: None, email: "ada@example.org".into() }).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "on {}: {again:?}", server());
}

/// Index kinds: text, 2dsphere and hashed keys.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(
    collection = "places",
    key = id,
    index(keys(title = "text")),
    index(keys(location = "2dsphere")),
    index(keys(tenant = "hashed"))
)]
struct Place {
    #[serde(rename = "_id")]
    id: ObjectId,
    title: String,
    location: Document,
    tenant: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// The kind SecantusDB creates too (it refuses text and hashed indexes).
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "places", key = id, index(keys(location = "2dsphere")))]
struct Site {
    #[serde(rename = "_id")]
    id: ObjectId,
    location: Document,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::test]
async fn index_kinds_are_declared_on_the_type_and_created() {
    let keys: Vec<Document> = Place::indexes().into_iter().map(|spec| spec.keys).collect();
    assert_eq!(
        keys,
        [doc! { "title": "text" }, doc! { "location": "2dsphere" }, doc! { "tenant": "hashed" }]
    );
    // mongod creates all three; SecantusDB 0.7 refuses text and hashed
    // indexes, so there only the 2dsphere one is created.
    let conn = connection().await;
    let secantus = server() == "Secantus";
    let migrate = async || match secantus {
        true => conn.migrate::<Site>().await,
        false => conn.migrate::<Place>().await,
    };
    migrate().await.unwrap();
    let listed = list_indexes(&conn, "places").await;
    let created: Vec<&Document> = listed
        .iter()
        .filter_map(|i| i.get_document("key").ok())
        .filter(|key| keys.contains(key))
        .collect();
    assert_eq!(created.len(), if secantus { 1 } else { 3 }, "on {}: {listed:?}", server());
    assert!(created.contains(&&doc! { "location": "2dsphere" }), "{listed:?}");
    assert!(migrate().await.unwrap().is_unchanged(), "a second migrate changes nothing");
}

#[derive(Debug, Clone, PartialEq, model::Schema, Serialize, Deserialize)]
struct Address {
    city: String,
    #[serde(rename = "zip")]
    postal_code: String,
}

#[derive(Debug, Clone, PartialEq, model::Schema, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LineItem {
    sku: String,
    unit_price: i64,
}

/// Keys through nested documents and arrays, as typed paths.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(
    collection = "shops",
    key = id,
    index(keys(Self::ADDRESS.then(Address::POSTAL_CODE), Self::ITEMS.any(LineItem::UNIT_PRICE) = -1)),
    index(keys(Self::BILLING.then(Address::CITY)), sparse)
)]
struct Shop {
    #[serde(rename = "_id")]
    id: ObjectId,
    address: Address,
    billing: Option<Address>,
    items: Vec<LineItem>,
    attributes: Document,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// Wildcard indexes: under one field, and over every path.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "shops", key = id, index(keys(attributes = "wildcard")), index(keys("$**")))]
struct WildShop {
    #[serde(rename = "_id")]
    id: ObjectId,
    attributes: Document,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::test]
async fn index_keys_go_through_nested_documents_and_arrays() {
    let specs = Shop::indexes();
    let keys: Vec<&Document> = specs.iter().map(|spec| &spec.keys).collect();
    assert_eq!(
        keys,
        [&doc! { "address.zip": 1, "items.unitPrice": -1 }, &doc! { "billing.city": 1 }]
    );
    assert_eq!(specs[0].name, "address.zip_1_items.unitPrice_-1");
    let conn = connection().await;
    conn.migrate::<Shop>().await.unwrap();
    let listed = list_indexes(&conn, "shops").await;
    for key in keys {
        assert!(
            listed.iter().any(|i| i.get_document("key").is_ok_and(|k| k == key)),
            "{key} in {listed:?}"
        );
    }
    assert!(
        conn.migrate::<Shop>().await.unwrap().is_unchanged(),
        "a second migrate changes nothing"
    );
}

#[tokio::test]
async fn wildcard_indexes_are_declared_on_the_type() {
    let specs = WildShop::indexes();
    let keys: Vec<&Document> = specs.iter().map(|spec| &spec.keys).collect();
    assert_eq!(keys, [&doc! { "attributes.$**": 1 }, &doc! { "$**": 1 }]);
    assert_eq!(specs[0].name, "attributes.$**_1");
    let conn = connection().await;
    let report = conn.migrate::<WildShop>().await.unwrap();
    assert_eq!(report.indexes_created, ["attributes.$**_1", "$**_1"], "on {}", server());
    let again = conn.migrate::<WildShop>().await.unwrap();
    assert!(again.is_unchanged(), "on {}: {again:?}", server());
}

/// Raw identifiers name their fields in index keys and as the key.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(key = r#ref, timestamps = false, index(keys(r#type, at = -1), unique))]
struct Tagged {
    #[serde(rename = "_id")]
    r#ref: String,
    r#type: String,
    at: DateTime,
}

#[test]
fn raw_identifiers_name_their_fields_in_index_keys() {
    let specs = Tagged::indexes();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].keys, doc! { "type": 1, "at": -1 });
    assert!(specs[0].unique);
}
