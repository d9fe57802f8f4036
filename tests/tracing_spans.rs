//! Every repository operation opens a `model` span naming the collection and
//! the operation (and the key where there is one), never document contents.

mod common;

use common::*;
use model::Query;

#[tokio::test]
async fn operations_open_spans_with_collection_operation_and_key() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let recorder = testkit::SpanRecorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    let a = foos.insert_one(foo("secret-value", Some(1))).await.unwrap();
    foos.find(&a.id).await.unwrap();
    foos.count(Query::all()).await.unwrap();
    drop(guard);

    let spans = recorder.lines();
    let ours: Vec<&String> = spans.iter().filter(|s| s.starts_with("model{")).collect();
    assert_eq!(ours.len(), 3, "{spans:#?}");
    assert_eq!(
        ours[0],
        "model{db.system.name=mongodb db.collection.name=foos db.operation.name=insert_one}"
    );
    assert_eq!(
        ours[1],
        &format!(
            "model{{db.system.name=mongodb db.collection.name=foos db.operation.name=find key={:?}}}",
            a.id
        )
    );
    assert_eq!(
        ours[2],
        "model{db.system.name=mongodb db.collection.name=foos db.operation.name=count}"
    );
    assert!(
        spans.iter().all(|s| !s.contains("secret-value")),
        "no document contents in spans: {spans:#?}"
    );
}
