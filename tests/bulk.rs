//! Bulk writes: ordered and unordered batches, an outcome per position,
//! the semantics of the single writes (timestamps, versions, `None` left
//! out, the validator), and the commands a batch is sent as.

mod common;
#[path = "common/orders.rs"]
mod orders;

use std::sync::{Arc, Mutex};

use bson::{Document, doc};
use common::{Foo, foo};
use model::action::{BulkOutcome, BulkProgress, WriteOutcome};
use model::{Connection, DateTime, Error, Migration, Model, Query, Update, Write};
use orders::{Customer, customer};
use serde::{Deserialize, Serialize};

/// A database of its own, `Foo`'s indexes and the orders' validators
/// migrated, through a client that logs the commands it sends there.
async fn monitored() -> (Connection, testkit::CommandLog) {
    let db = testkit::database().await;
    let test =
        testkit::ClientBuilder::new(&db.uri).log_commands_to(&db.name).build().await.unwrap();
    let conn = Connection::from_client(test.client, db.name);
    conn.repo::<Foo>().create_indexes().await.unwrap();
    conn.migrate_all(&[Migration::of::<Customer>()]).await.unwrap();
    test.commands.clear();
    (conn, test.commands)
}

/// The stored `foo` names, sorted.
async fn names(conn: &Connection) -> Vec<String> {
    let mut names: Vec<String> = conn
        .repo::<Foo>()
        .find_many(Query::all())
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.foo)
        .collect();
    names.sort();
    names
}

/// The stored document, as the server has it.
async fn stored(conn: &Connection, collection: &str, filter: Document) -> Option<Document> {
    let db = conn.database().await.unwrap();
    db.collection::<Document>(collection).find_one(filter).await.unwrap()
}

fn conflict_index<M: Model + std::fmt::Debug>(
    outcome: &BulkOutcome<M>,
    position: usize,
) -> Option<String> {
    match outcome.get(position) {
        Some(WriteOutcome::Failed(Error::Conflict { index, .. })) => index.clone(),
        other => panic!("expected a conflict at {position}, got {other:?}"),
    }
}

#[tokio::test]
async fn an_ordered_batch_stops_at_its_first_failure_and_reports_every_position() {
    let (conn, commands) = monitored().await;
    let foos = conn.repo::<Foo>();
    let outcome = foos
        .bulk_write([
            Write::insert(foo("a", None)),
            Write::upsert(Foo::FOO.eq("u"), Foo::BAR.set(Some(1))),
            Write::insert(foo("b", None)),
            Write::insert(foo("a", Some(2))), // duplicate name: unique index `foo_1`
            Write::insert(foo("c", None)),
            Write::delete_many(Query::all()),
        ])
        .await
        .unwrap();
    let sent = commands.take();

    assert!(!outcome.is_ok());
    assert!(matches!(outcome.get(0), Some(WriteOutcome::Inserted(f)) if f.foo == "a"));
    let Some(WriteOutcome::Upserted(upserted)) = outcome.get(1) else {
        panic!("expected an upsert that inserted, got {:?}", outcome.get(1));
    };
    assert!(matches!(outcome.get(2), Some(WriteOutcome::Inserted(f)) if f.foo == "b"));
    assert_eq!(conflict_index(&outcome, 3).as_deref(), Some("foo_1"));
    assert!(matches!(outcome.get(4), Some(WriteOutcome::NotAttempted)));
    assert!(matches!(outcome.get(5), Some(WriteOutcome::NotAttempted)));
    let errors: Vec<usize> = outcome.errors().map(|(at, _)| at).collect();
    assert_eq!(errors, [3]);
    assert_eq!((outcome.inserted(), outcome.upserted(), outcome.deleted()), (2, 1, 0));

    // What was written before the failure stays; nothing after it ran.
    assert_eq!(names(&conn).await, ["a", "b", "u"]);
    assert_eq!(foos.find(upserted).await.unwrap().bar, Some(1));
    // insert a | upsert | insert b, a, c (stopped at a): three commands.
    assert_eq!(sent, ["insert", "update", "insert"]);
    assert_eq!(outcome.commands(), 3);
}

#[tokio::test]
async fn an_unordered_batch_attempts_every_write_and_reports_failures_where_they_stand() {
    let (conn, commands) = monitored().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", None)).await.unwrap();
    let gone = foos.insert_one(foo("gone", None)).await.unwrap();
    commands.clear();
    let outcome = foos
        .bulk_write([
            Write::insert(foo("b", None)),
            Write::update(&a.id, Foo::BAR.set(Some(7))),
            Write::insert(foo("a", None)), // duplicate
            Write::delete(&gone.id),
            Write::insert(foo("c", None)),
            Write::update_many(Foo::FOO.eq("b"), Foo::BAR.set(Some(3))),
        ])
        .ordered(false)
        .await
        .unwrap();
    let sent = commands.take();

    let errors: Vec<usize> = outcome.errors().map(|(at, _)| at).collect();
    assert_eq!(errors, [2]);
    assert_eq!(conflict_index(&outcome, 2).as_deref(), Some("foo_1"));
    for at in [0, 1, 3, 4, 5] {
        assert!(outcome.get(at).unwrap().is_applied(), "{at}: {:?}", outcome.get(at));
    }
    assert!(matches!(outcome.get(1), Some(WriteOutcome::Updated)));
    assert!(matches!(outcome.get(3), Some(WriteOutcome::Deleted)));
    assert_eq!((outcome.inserted(), outcome.matched(), outcome.deleted()), (2, 2, 1));
    assert_eq!(names(&conn).await, ["a", "b", "c"]);
    assert_eq!(foos.find(&a.id).await.unwrap().bar, Some(7));
    // Grouped by kind wherever the writes stand: one command a kind.
    assert_eq!(sent, ["insert", "update", "delete"]);
}

#[tokio::test]
async fn consecutive_writes_of_a_kind_travel_as_one_command() {
    let (conn, commands) = monitored().await;
    let foos = conn.repo::<Foo>();
    let writes = || {
        let mut writes: Vec<Write<Foo>> =
            (0..50).map(|i| Write::insert(foo(&format!("f{i}"), None))).collect();
        writes.extend(
            (0..50)
                .map(|i| Write::update_many(Foo::FOO.eq(format!("f{i}")), Foo::BAR.set(Some(i)))),
        );
        writes.extend((0..10).map(|i| Write::delete_many(Foo::FOO.eq(format!("f{i}")))));
        writes.extend((50..55).map(|i| Write::insert(foo(&format!("f{i}"), None))));
        writes
    };
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let outcome = foos
        .bulk_write(writes())
        .on_progress(move |p: BulkProgress| seen.lock().unwrap().push((p.written, p.total)))
        .await
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors().collect::<Vec<_>>());
    assert_eq!(commands.take(), ["insert", "update", "delete", "insert"]);
    assert_eq!(*progress.lock().unwrap(), [(50, 115), (100, 115), (110, 115), (115, 115)]);
    assert_eq!((outcome.inserted(), outcome.modified(), outcome.deleted()), (55, 50, 10));
    assert_eq!(foos.count(Query::all()).await.unwrap(), 45);

    // Unordered, the last inserts join the first.
    foos.delete_many(Query::all()).await.unwrap();
    commands.clear();
    let outcome = foos.bulk_write(writes()).ordered(false).await.unwrap();
    assert!(outcome.is_ok());
    assert_eq!(commands.take(), ["insert", "update", "delete"]);

    // Nothing to write: no round trip.
    let outcome = foos.bulk_write(Vec::new()).await.unwrap();
    assert_eq!((outcome.writes().len(), outcome.commands()), (0, 0));
    assert_eq!(commands.take(), Vec::<String>::new());
}

/// A model of large documents, for the size limit of a command.
#[derive(Debug, Clone, Model, Serialize, Deserialize)]
#[model(key = id)]
struct Blob {
    #[serde(rename = "_id")]
    id: i64,
    data: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::test]
async fn a_batch_over_16_mib_is_split_into_commands_under_it() {
    let (conn, commands) = monitored().await;
    let blobs = conn.repo::<Blob>();
    let data = "x".repeat(1 << 20);
    let writes = (0..18).map(|id| Write::insert(BlobInsert { id, data: data.clone() }));
    let outcome = blobs.bulk_write(writes).await.unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors().collect::<Vec<_>>());
    assert_eq!(outcome.inserted(), 18);
    // 15 documents of 1 MiB fit under 16 MiB with the command's own fields.
    assert_eq!(commands.take(), ["insert", "insert"]);
    assert_eq!(blobs.count(Query::all()).await.unwrap(), 18);
}

#[tokio::test]
async fn bulk_writes_set_timestamps_count_versions_and_leave_none_out() {
    let (conn, _) = monitored().await;
    let customers = conn.repo::<Customer>();
    let (t1, t2, t3) =
        (DateTime::from_millis(1_000), DateTime::from_millis(2_000), DateTime::from_millis(3_000));
    let outcome = customers
        .bulk_write([
            Write::insert(customer("ann@example.com", "Oslo", &[])),
            Write::insert(customer("bo@example.com", "Rome", &[])),
        ])
        .now(t1)
        .await
        .unwrap();
    let [WriteOutcome::Inserted(ann), WriteOutcome::Inserted(bo)] = &outcome.into_writes()[..]
    else {
        panic!("expected two inserts");
    };
    let (ann, bo) = (ann.clone(), bo.clone());
    assert_eq!((ann.created_at, ann.updated_at, ann.version), (t1, None, 0));
    let raw = stored(&conn, "customers", doc! { "_id": ann.id }).await.unwrap();
    for absent in ["billing", "visits", "referrer", "updated_at"] {
        assert!(!raw.contains_key(absent), "{absent} in {raw}");
    }

    // An update by key and a replace, each counting a version.
    let mut renamed = bo.clone();
    renamed.name = "Bo".into();
    let upsert = Write::upsert(
        Customer::EMAIL.eq("cy@example.com"),
        Customer::NAME
            .set_on_insert("Cy")
            .and(Customer::ADDRESS.set_on_insert(orders::address("Lima")))
            .and(Customer::TAGS.set_on_insert(Vec::<String>::new()))
            .and(Customer::POINTS.inc(1)),
    );
    let outcome = customers
        .bulk_write([
            Write::update(&ann.id, Customer::POINTS.inc(5)),
            Write::replace(renamed),
            upsert,
        ])
        .now(t2)
        .await
        .unwrap();
    assert!(outcome.is_ok(), "{:?}", outcome.errors().collect::<Vec<_>>());
    let Some(WriteOutcome::Replaced(replaced)) = outcome.get(1) else {
        panic!("expected a replace, got {:?}", outcome.get(1));
    };
    assert_eq!((replaced.version, replaced.updated_at), (1, Some(t2)));
    let ann_now = customers.find(&ann.id).await.unwrap();
    assert_eq!((ann_now.points, ann_now.version, ann_now.updated_at), (5, 1, Some(t2)));
    let bo_now = customers.find(&bo.id).await.unwrap();
    assert_eq!((bo_now.name.as_str(), bo_now.version, bo_now.created_at), ("Bo", 1, t1));
    let Some(WriteOutcome::Upserted(cy)) = outcome.get(2) else {
        panic!("expected an upsert that inserted, got {:?}", outcome.get(2));
    };
    let cy = customers.find(cy).await.unwrap();
    assert_eq!(
        (cy.name.as_str(), cy.created_at, cy.updated_at, cy.version),
        ("Cy", t2, Some(t2), 1)
    );

    // A replace from a stale read is a version conflict, with nothing
    // written; the fresh one beside it applies; a replace of no document
    // is not found.
    let mut stale = ann.clone(); // read at version 0; stored is at 1
    stale.name = "stale".into();
    let mut fresh = bo_now.clone();
    fresh.points = 9;
    let mut missing = bo_now.clone();
    missing.id = model::Uuid::new();
    let outcome = customers
        .bulk_write([Write::replace(stale), Write::replace(fresh), Write::replace(missing)])
        .ordered(false)
        .now(t3)
        .await
        .unwrap();
    assert!(
        matches!(
            outcome.get(0),
            Some(WriteOutcome::Failed(Error::VersionConflict { expected: 0, .. }))
        ),
        "{:?}",
        outcome.get(0)
    );
    assert!(matches!(outcome.get(1), Some(WriteOutcome::Replaced(c)) if c.version == 2));
    assert!(
        matches!(outcome.get(2), Some(WriteOutcome::Failed(Error::NotFound { .. }))),
        "{:?}",
        outcome.get(2)
    );
    let ann_after = customers.find(&ann.id).await.unwrap();
    assert_eq!((ann_after.name, ann_after.version), (ann_now.name, 1));
    let bo_after = customers.find(&bo.id).await.unwrap();
    assert_eq!((bo_after.points, bo_after.version, bo_after.updated_at), (9, 2, Some(t3)));
}

#[tokio::test]
async fn a_write_the_validator_rejects_is_reported_at_its_position() {
    let (conn, _) = monitored().await;
    let customers = conn.repo::<Customer>();
    let ann = customers.insert_one(customer("ann@example.com", "Oslo", &[])).await.unwrap();
    let outcome = customers
        .bulk_write([
            // Impossible through the typed paths: `points` is an integer.
            Write::update(&ann.id, Update::raw(doc! { "$set": { "points": "many" } })),
            Write::insert(customer("bo@example.com", "Rome", &[])),
        ])
        .ordered(false)
        .await
        .unwrap();
    assert!(
        matches!(outcome.get(0), Some(WriteOutcome::Failed(Error::Validation { .. }))),
        "{:?}",
        outcome.get(0)
    );
    assert!(matches!(outcome.get(1), Some(WriteOutcome::Inserted(_))));
    assert_eq!(customers.find(&ann.id).await.unwrap().points, 0);
    assert_eq!(customers.count(Query::all()).await.unwrap(), 2);
}

#[tokio::test]
async fn a_write_that_cannot_be_built_fails_before_anything_is_sent() {
    let (conn, commands) = monitored().await;
    let foos = conn.repo::<Foo>();
    let outcome = foos
        .bulk_write([
            Write::insert(foo("a", None)),
            Write::update_many(Query::all(), Update::raw(doc! { "bar": 1 })), // not an operator
            Write::insert(foo("b", None)),
        ])
        .await
        .unwrap();
    assert!(matches!(outcome.get(1), Some(WriteOutcome::Failed(Error::InvalidArgument { .. }))));
    assert!(matches!(outcome.get(2), Some(WriteOutcome::NotAttempted)));
    assert_eq!(commands.take(), ["insert"]);
    assert_eq!(names(&conn).await, ["a"]);
}

#[tokio::test]
async fn a_bulk_write_in_a_transaction_is_undone_with_it() {
    let (conn, _) = monitored().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let result: model::Result<()> = conn
        .transaction(async |s| {
            let writes =
                [Write::insert(foo("b", None)), Write::update(&a.id, Foo::BAR.set(Some(9)))];
            let outcome = foos.bulk_write(writes).session(s).await?;
            assert!(outcome.is_ok(), "{:?}", outcome.errors().collect::<Vec<_>>());
            assert_eq!(foos.count(Query::all()).session(s).await?, 2, "seen inside");
            Err(Error::InvalidArgument { message: "roll back".into() })
        })
        .await;
    assert!(matches!(result, Err(Error::InvalidArgument { .. })), "{result:?}");
    assert_eq!(names(&conn).await, ["a"]);
    assert_eq!(foos.find(&a.id).await.unwrap().bar, Some(1));
}

#[tokio::test]
async fn a_bulk_write_takes_the_connection_strings_write_concern() {
    use model::mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
    let db = testkit::database().await;
    let mut options = ClientOptions::parse(&db.uri).await.unwrap();
    options.write_concern = Some(WriteConcern::builder().w(Acknowledgment::Nodes(0)).build());
    let client = model::mongodb::Client::with_options(options).unwrap();
    let conn = Connection::from_client(client, db.name);
    // Unacknowledged (`w: 0`) from the client's options, as for every
    // other write: refused, since no outcome could be reported.
    let error = conn.repo::<Foo>().bulk_write([Write::insert(foo("a", None))]).await.unwrap_err();
    assert!(matches!(error, Error::Unacknowledged { .. }), "{error:?}");
    let single = conn.repo::<Foo>().insert_one(foo("b", None)).await.unwrap_err();
    assert!(matches!(single, Error::Unacknowledged { .. }), "as insert_one: {single:?}");
}
