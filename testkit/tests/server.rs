//! The shared server answers, hands out distinct databases, and a dedicated
//! server dies with its handle.

use bson::doc;

#[tokio::test]
async fn shared_server_answers_and_databases_are_distinct() {
    let a = testkit::database().await;
    let b = testkit::database().await;
    assert_ne!(a.name, b.name);
    let client = mongodb::Client::with_uri_str(&a.uri).await.unwrap();
    let coll = client.database(&a.name).collection::<bson::Document>("c");
    coll.insert_one(doc! { "x": 1 }).await.unwrap();
    let other = client.database(&b.name).collection::<bson::Document>("c");
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 1);
    assert_eq!(other.count_documents(doc! {}).await.unwrap(), 0);
}

#[test]
fn dedicated_server_is_killed_on_drop() {
    let kind = testkit::server().kind;
    if kind == testkit::ServerKind::External {
        return; // nothing to start against an external server
    }
    let server = testkit::ServerProcess::start(testkit::ServerOptions::new(kind)).unwrap();
    let pid = server.pid().expect("running") as i32;
    // SAFETY: signal 0 only probes for existence.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "server runs");
    drop(server);
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "server is gone after drop");
}
