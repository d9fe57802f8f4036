//! Constraints declared once on a field: in the collection's validator
//! for the server, and checked by the client before an insert, a replace
//! or a `set`, so bad input is a typed `Validation` error naming the
//! field, with nothing sent.

use std::collections::BTreeSet;

use bson::{Bson, Document, doc};
use model::{Connection, Error, Migration, Model, migrate::ValidatorChange};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(key = id, timestamps = false)]
struct Account {
    #[serde(rename = "_id")]
    id: String,
    #[model(length(min = 1, max = 8), pattern = "^[a-z0-9_]+$")]
    username: String,
    #[model(length(max = 4))]
    bio: Option<String>,
    #[model(range(min = 0, max = 150))]
    age: i32,
    #[model(range(min = -1.5, max = 1.5))]
    score: f64,
    #[model(allowed("draft", "published"))]
    status: String,
    #[model(allowed(1, 2, 3))]
    tier: i64,
    #[model(items(min = 1, max = 3), unique_items)]
    tags: Vec<String>,
    #[model(items(max = 2))]
    roles: BTreeSet<String>,
    /// Left out when empty: what is checked is the field as stored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[model(length(min = 2))]
    nickname: String,
}

/// The same collection, without constraints: what another program, or
/// the model before they were declared, writes.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(key = id, collection = "accounts", timestamps = false)]
struct Loose {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    bio: Option<String>,
    age: i32,
    score: f64,
    status: String,
    tier: i64,
    tags: Vec<String>,
    roles: BTreeSet<String>,
}

fn valid(id: &str) -> AccountInsert {
    AccountInsert {
        id: id.into(),
        username: "ada_1".into(),
        bio: None,
        age: 36,
        score: 0.5,
        status: "draft".into(),
        tier: 2,
        tags: vec!["a".into()],
        roles: BTreeSet::new(),
        nickname: String::new(),
    }
}

/// A connection logging the commands it sends, and the log.
async fn logged() -> (Connection, testkit::CommandLog) {
    let db = testkit::database().await;
    let test =
        testkit::ClientBuilder::new(&db.uri).log_commands_to(&db.name).build().await.unwrap();
    (Connection::from_client(test.client, db.name), test.commands)
}

/// Each way to break a constraint, with the path and the reason's start.
fn breaches() -> Vec<(AccountInsert, &'static str, &'static str)> {
    let with = |f: fn(&mut AccountInsert)| {
        let mut insert = valid("bad");
        f(&mut insert);
        insert
    };
    vec![
        (with(|a| a.username = String::new()), "username", "is 0 characters long, under"),
        (with(|a| a.username = "ninechars".into()), "username", "is 9 characters long, over"),
        (with(|a| a.username = "Ada".into()), "username", "does not match the pattern"),
        (with(|a| a.bio = Some("hello".into())), "bio", "is 5 characters long, over"),
        (with(|a| a.age = -1), "age", "is under the minimum of 0"),
        (with(|a| a.age = 151), "age", "is over the maximum of 150"),
        (with(|a| a.score = 1.75), "score", "is over the maximum of 1.5"),
        (with(|a| a.status = "gone".into()), "status", "is not one of the allowed values"),
        (with(|a| a.tier = 4), "tier", "is not one of the allowed values"),
        (with(|a| a.tags = Vec::new()), "tags", "has 0 items, under"),
        (with(|a| a.tags = vec!["a".into(); 4]), "tags", "has 4 items, over"),
        (with(|a| a.tags = vec!["a".into(), "a".into()]), "tags", "has equal items at 0 and 1"),
        (
            with(|a| a.roles = ["x", "y", "z"].map(String::from).into()),
            "roles",
            "has 3 items, over",
        ),
        (with(|a| a.nickname = "x".into()), "nickname", "is 1 characters long, under"),
    ]
}

fn client_side(error: &Error) -> (&str, &str) {
    match error {
        Error::Validation { collection, violation: Some(violation), source: None, .. } => {
            assert_eq!(collection, "accounts");
            (&violation.path, &violation.reason)
        }
        other => panic!("expected a client-side Error::Validation, got {other:?}"),
    }
}

#[tokio::test]
async fn each_constraint_is_refused_before_anything_is_sent() {
    let (conn, commands) = logged().await;
    conn.migrate::<Account>().await.unwrap();
    let accounts = conn.repo::<Account>();
    commands.clear();
    for (insert, path, reason) in breaches() {
        let error = accounts.insert_one(insert).await.unwrap_err();
        let (got_path, got_reason) = client_side(&error);
        assert_eq!(got_path, path, "{error}");
        assert!(got_reason.starts_with(reason), "{path}: {got_reason}");
        assert!(error.to_string().contains(&format!("`{path}`")), "{error}");
    }
    assert_eq!(commands.all(), Vec::<String>::new(), "nothing sent");
    let stored = accounts.insert_one(valid("ok")).await.unwrap();
    // The boundaries are allowed.
    let mut edge = stored.clone();
    edge.username = "a".repeat(8);
    edge.bio = Some("four".into());
    (edge.age, edge.score, edge.tier, edge.status) = (150, -1.5, 3, "published".into());
    edge.tags = ["a", "b", "c"].map(String::from).into();
    edge.username = "ada\n".into(); // PCRE's `$` matches before a final newline
    accounts.replace(edge).await.unwrap();
    assert_eq!(accounts.count(model::Query::all()).await.unwrap(), 1);
}

#[tokio::test]
async fn replace_set_and_insert_many_are_checked_too() {
    let (conn, commands) = logged().await;
    conn.migrate::<Account>().await.unwrap();
    let accounts = conn.repo::<Account>();
    let stored = accounts.insert_one(valid("a")).await.unwrap();
    commands.clear();

    let mut bad = stored.clone();
    bad.age = 200;
    assert_eq!(client_side(&accounts.replace(bad).await.unwrap_err()).0, "age");
    let set = accounts.update(&stored.id, Account::USERNAME.set("UPPER")).await.unwrap_err();
    assert_eq!(client_side(&set).0, "username");
    let set_many =
        accounts.update_many(model::Query::all(), Account::BIO.set("toolong")).await.unwrap_err();
    assert_eq!(client_side(&set_many).0, "bio");
    let mut second = valid("b");
    second.tier = 9;
    let many = accounts.insert_many([valid("c"), second]).await.unwrap_err();
    assert_eq!(client_side(&many).0, "tier");
    assert_eq!(commands.all(), Vec::<String>::new(), "nothing sent");

    // Setting `None` on an optional field breaks no constraint.
    let cleared = accounts.update(&stored.id, Account::BIO.set(None)).await.unwrap();
    assert_eq!(cleared.bio, None);
    assert_eq!(accounts.count(model::Query::all()).await.unwrap(), 1, "insert_many sent nothing");
}

#[tokio::test]
async fn the_servers_validator_refuses_what_the_client_would() {
    let (conn, _) = logged().await;
    conn.migrate::<Account>().await.unwrap();
    let raw = conn.database().await.unwrap().collection::<Document>("accounts");
    let good = bson::to_document(&model::schema::Stored(<Account as Model>::from_insert(
        valid("good"),
        model::DateTime::now(),
    )))
    .unwrap();
    raw.insert_one(&good).await.unwrap();
    let breaking: Vec<(&str, Bson)> = vec![
        ("username", "".into()),
        ("username", "ninechars".into()),
        ("username", "Ada".into()),
        ("bio", "hello".into()),
        ("age", Bson::Int32(-1)),
        ("age", Bson::Int32(151)),
        ("score", Bson::Double(1.75)),
        ("status", "gone".into()),
        ("tier", Bson::Int64(4)),
        ("tags", Bson::Array(Vec::new())),
        ("tags", Bson::Array(vec!["a".into(); 4])),
        ("tags", Bson::Array(vec!["a".into(), "a".into()])),
        ("roles", Bson::Array(vec!["x".into(), "y".into(), "z".into()])),
    ];
    for (i, (field, value)) in breaching_docs(&good, breaking).into_iter().enumerate() {
        let error = raw.insert_one(&value).await.unwrap_err();
        assert_eq!(testkit::server_code(&error), Some(121), "{field} (#{i}): {error}");
    }
    // And the same values the client lets through, the server does too.
    let mut null_bio = good.clone();
    null_bio.insert("_id", "null-bio");
    null_bio.insert("bio", Bson::Null);
    raw.insert_one(&null_bio).await.unwrap();
    println!("server: {:?}", testkit::server().kind);
}

fn breaching_docs(good: &Document, breaking: Vec<(&str, Bson)>) -> Vec<(String, Document)> {
    breaking
        .into_iter()
        .enumerate()
        .map(|(i, (field, value))| {
            let mut doc = good.clone();
            doc.insert("_id", format!("bad-{i}"));
            doc.insert(field, value);
            (field.to_string(), doc)
        })
        .collect()
}

#[tokio::test]
async fn a_new_constraint_shows_in_the_plan_and_stored_documents_that_break_it() {
    let db = testkit::database().await;
    let conn = Connection::new(db.uri, db.name);
    conn.migrate::<Loose>().await.unwrap();
    let mut old = <Loose as Model>::from_insert(
        LooseInsert {
            id: "old".into(),
            username: "Shouty".into(),
            bio: None,
            age: 3,
            score: 0.0,
            status: "draft".into(),
            tier: 1,
            tags: vec!["t".into()],
            roles: BTreeSet::new(),
        },
        model::DateTime::now(),
    );
    conn.repo::<Loose>().insert_one(loose_insert(&old)).await.unwrap();

    let plan = conn.migration_plan(&[Migration::of::<Account>()]).await.unwrap();
    assert_eq!(plan[0].validator, ValidatorChange::Set, "{}", plan[0]);
    let rejected = plan[0].rejected_documents.as_ref().expect("the stored document breaks it");
    assert_eq!(rejected.count, 1);
    assert!(matches!(conn.migrate::<Account>().await, Err(Error::InvalidDocuments { .. })));

    old.username = "quiet".into();
    conn.repo::<Loose>().replace(old).await.unwrap();
    let report = conn.migrate::<Account>().await.unwrap();
    assert_eq!(report.validator, ValidatorChange::Set);
    let schema = <Account as Model>::json_schema();
    let username = schema.get_document("properties").unwrap().get_document("username").unwrap();
    assert_eq!(
        username,
        &doc! { "bsonType": "string", "minLength": 1_i64, "maxLength": 8_i64, "pattern": "^[a-z0-9_]+$" }
    );
}

fn loose_insert(doc: &Loose) -> LooseInsert {
    LooseInsert {
        id: doc.id.clone(),
        username: doc.username.clone(),
        bio: doc.bio.clone(),
        age: doc.age,
        score: doc.score,
        status: doc.status.clone(),
        tier: doc.tier,
        tags: doc.tags.clone(),
        roles: doc.roles.clone(),
    }
}

#[test]
fn the_schema_carries_each_constraint_in_the_fields_bson_type() {
    let schema = <Account as Model>::json_schema();
    let properties = schema.get_document("properties").unwrap();
    let property = |name: &str| properties.get_document(name).unwrap().clone();
    assert_eq!(property("bio"), doc! { "bsonType": ["string", "null"], "maxLength": 4_i64 });
    assert_eq!(property("age"), doc! { "bsonType": "int", "minimum": 0_i64, "maximum": 150_i64 });
    assert_eq!(property("score"), doc! { "bsonType": "double", "minimum": -1.5, "maximum": 1.5 });
    assert_eq!(property("status"), doc! { "bsonType": "string", "enum": ["draft", "published"] });
    assert_eq!(property("tier"), doc! { "bsonType": "long", "enum": [1_i64, 2_i64, 3_i64] });
    assert_eq!(
        property("tags"),
        doc! { "bsonType": "array", "items": { "bsonType": "string" }, "minItems": 1_i64, "maxItems": 3_i64, "uniqueItems": true }
    );
}

#[tokio::test]
async fn a_bulk_write_checks_each_write_where_it_stands() {
    let (conn, commands) = logged().await;
    conn.migrate::<Account>().await.unwrap();
    let accounts = conn.repo::<Account>();
    let stored = accounts.insert_one(valid("a")).await.unwrap();
    commands.clear();
    let mut bad_insert = valid("b");
    bad_insert.age = -5;
    let mut bad_replace = stored.clone();
    bad_replace.status = "gone".into();
    let outcome = accounts
        .bulk_write([
            model::Write::insert(valid("c")),
            model::Write::insert(bad_insert),
            model::Write::replace(bad_replace),
        ])
        .ordered(false)
        .await
        .unwrap();
    let failed: Vec<(usize, &str)> =
        outcome.errors().map(|(at, error)| (at, client_side(error).0)).collect();
    assert_eq!(failed, [(1, "age"), (2, "status")]);
    assert_eq!(commands.all(), ["insert"], "only the valid insert is sent");
    assert_eq!(accounts.count(model::Query::all()).await.unwrap(), 2);
}
