//! The driver's per-operation options pass through every action, set per
//! repository and per action (the action's own winning), checked in the
//! commands the client sends.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{Document, doc};
use common::*;
use model::mongodb::event::EventHandler;
use model::mongodb::event::command::CommandEvent;
use model::mongodb::options::{
    Acknowledgment, ClientOptions, Collation, Hint, ReadConcern, ReadPreference, SelectionCriteria,
    WriteConcern,
};
use model::{Connection, Options, Query};

/// A connection whose client records every command it sends to the test's database.
async fn recorded() -> (Connection, Arc<Mutex<Vec<Document>>>) {
    let db = testkit::database().await;
    let mut options = ClientOptions::parse(&db.uri).await.unwrap();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let (sink, name) = (commands.clone(), db.name.clone());
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event
            && started.db == name
        {
            sink.lock().unwrap().push(started.command);
        }
    }));
    let client = model::mongodb::Client::with_options(options).unwrap();
    (Connection::from_client(client, db.name), commands)
}

/// The last command named `name` that was sent.
fn last(commands: &Mutex<Vec<Document>>, name: &str) -> Document {
    let commands = commands.lock().unwrap();
    commands.iter().rev().find(|c| c.contains_key(name)).cloned().unwrap_or_else(|| {
        panic!(
            "no `{name}` among {:?}",
            commands.iter().map(|c| c.keys().next()).collect::<Vec<_>>()
        )
    })
}

fn majority() -> WriteConcern {
    WriteConcern::builder().w(Acknowledgment::Majority).build()
}

#[tokio::test]
async fn repository_options_apply_to_every_operation_and_actions_override_them() {
    let (conn, commands) = recorded().await;
    let mut defaults = Options::default();
    defaults.write_concern = Some(majority());
    defaults.comment = Some("from the repo".into());
    defaults.read_concern = Some(ReadConcern::local());
    let foos = conn.repo::<Foo>().with_options(defaults);

    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let insert = last(&commands, "insert");
    assert_eq!(insert.get_document("writeConcern").unwrap().get_str("w"), Ok("majority"));
    assert_eq!(insert.get_str("comment"), Ok("from the repo"));

    foos.update(&a.id, Foo::BAR.inc(1)).comment("mine").await.unwrap();
    let update = last(&commands, "findAndModify");
    assert_eq!(update.get_str("comment"), Ok("mine"), "the action's own wins");
    assert_eq!(update.get_document("writeConcern").unwrap().get_str("w"), Ok("majority"));

    assert_eq!(foos.count(Query::all()).await.unwrap(), 1);
    let count = last(&commands, "aggregate");
    assert_eq!(count.get_document("readConcern").unwrap().get_str("level"), Ok("local"));
}

#[tokio::test]
async fn transaction_options_reach_the_transaction() {
    let (conn, commands) = recorded().await;
    let foos = conn.repo::<Foo>();
    let options = model::mongodb::options::TransactionOptions::builder()
        .read_concern(ReadConcern::majority())
        .build();
    let inserted = conn
        .transaction_as(options, async |s| -> model::Result<_> {
            foos.insert_one(foo("in", Some(1))).session(s).await
        })
        .await
        .unwrap();
    // The transaction's first command carries its read concern.
    let insert = last(&commands, "insert");
    assert_eq!(insert.get_document("readConcern").unwrap().get_str("level"), Ok("majority"));
    assert!(insert.contains_key("txnNumber"), "{insert}");
    assert_eq!(foos.find(&inserted.id).await.unwrap().foo, "in");
}

#[tokio::test]
async fn reads_pass_read_concern_hint_collation_comment_and_max_time() {
    let (conn, commands) = recorded().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([foo("a", Some(1)), foo("B", Some(2))]).await.unwrap();
    let found = foos
        .find_many(Foo::FOO.eq("b"))
        .read_concern(ReadConcern::majority())
        .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
        .hint(Hint::Keys(doc! { "_id": 1 }))
        .collation(Collation::builder().locale("simple").build())
        .comment("find b")
        .max_time(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(found.is_empty(), "simple collation is case-sensitive");
    let find = last(&commands, "find");
    assert_eq!(find.get_document("readConcern").unwrap().get_str("level"), Ok("majority"));
    assert_eq!(find.get_document("hint").unwrap(), &doc! { "_id": 1 });
    assert_eq!(find.get_document("collation").unwrap().get_str("locale"), Ok("simple"));
    assert_eq!(find.get_str("comment"), Ok("find b"));
    assert_eq!(
        find.get("maxTimeMS").and_then(|v| v.as_i64().or(v.as_i32().map(i64::from))),
        Some(5000)
    );
}

#[tokio::test]
async fn writes_pass_write_concern_and_comment() {
    let (conn, commands) = recorded().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", None)).write_concern(majority()).await.unwrap();
    foos.update_many(Foo::FOO.eq("a"), Foo::BAR.set(3)).comment("bulk").await.unwrap();
    assert_eq!(last(&commands, "update").get_str("comment"), Ok("bulk"));
    foos.find_one_and_delete(Foo::ID.eq(a.id)).write_concern(majority()).await.unwrap();
    let delete = last(&commands, "findAndModify");
    assert_eq!(delete.get_document("writeConcern").unwrap().get_str("w"), Ok("majority"));
    assert_eq!(foos.count(Query::all()).await.unwrap(), 0);
}

#[tokio::test]
async fn streams_fetch_bounded_batches_and_pipelines_carry_options() {
    use futures::TryStreamExt;
    let (conn, commands) = recorded().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many((0..3).map(|i| foo(&format!("f{i}"), Some(i)))).await.unwrap();

    // Unless told, a stream asks for `ITERATE_BATCH_SIZE` documents per batch.
    let all: Vec<Foo> = foos.iterate(Query::all()).await.unwrap().try_collect().await.unwrap();
    assert_eq!(all.len(), 3);
    let find = last(&commands, "find");
    assert_eq!(find.get("batchSize"), Some(&model::action::ITERATE_BATCH_SIZE.into()), "{find}");
    let some = foos.iterate(Query::all()).batch_size(2).await.unwrap();
    assert_eq!(some.try_collect::<Vec<_>>().await.unwrap().len(), 3);
    assert_eq!(last(&commands, "find").get_i32("batchSize").unwrap(), 2);
    assert_eq!(last(&commands, "getMore").get_i32("batchSize").unwrap(), 2);

    // An aggregation takes the read options too.
    let hint = Hint::Keys(doc! { "_id": 1 });
    let docs =
        foos.aggregate(Query::all()).hint(hint).comment("agg").max_time(Duration::from_secs(5));
    assert_eq!(docs.await.unwrap().len(), 3);
    let aggregate = last(&commands, "aggregate");
    assert_eq!(aggregate.get_document("hint").unwrap(), &doc! { "_id": 1 });
    assert_eq!(aggregate.get_str("comment").unwrap(), "agg");
    let max_time = aggregate.get("maxTimeMS");
    assert!(
        matches!(max_time, Some(bson::Bson::Int32(5000) | bson::Bson::Int64(5000))),
        "{aggregate}"
    );
}
