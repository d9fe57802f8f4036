//! Replies lost after the server applied the command: a TCP proxy
//! (`testkit::FaultProxy`) forwards the command, swallows the reply and
//! closes the connection, which `failCommand` (it fires before the command
//! runs) cannot do. Without a restart the driver's retry is answered from
//! the server's retryable-write record; across a restart, what happens
//! depends on whether the server kept that record (mongod does; SecantusDB
//! does not): each test prints which server it ran on.

mod reliability;

use std::time::{Duration, Instant};

use model::Error;
use model::lock::{LockingError, Locks, Reason};
use reliability::*;
use testkit::{FaultProxy, ServerProcess};

/// A proxy in front of `uri`, and a client of `db` through it.
async fn behind_proxy(uri: &str, db: &str, spec: ClientSpec) -> (FaultProxy, Client) {
    let proxy = FaultProxy::for_uri(uri).unwrap();
    let client = Client::on(&proxy.uri(uri).unwrap(), db, spec).await;
    (proxy, client)
}

/// Runs `op` with the reply of its `command` lost, and the server killed
/// and restarted from its data before the driver's retry gets through.
async fn across_restart<T: Send + 'static>(
    proxy: &FaultProxy,
    server: &mut ServerProcess,
    dir: &DataDir,
    command: &str,
    op: impl Future<Output = T> + Send + 'static,
) -> T {
    proxy.partition_after_drop(true);
    let dropped = proxy.replies_dropped() + 1;
    proxy.drop_reply(command, 1);
    let task = tokio::spawn(op);
    until_dropped(proxy, dropped).await;
    let port = server.port();
    server.kill();
    *server = start_server(dir.path(), Some(port)).await;
    proxy.black_hole(false);
    task.await.unwrap()
}

/// Waits (bounded) until the proxy has swallowed `n` replies.
async fn until_dropped(proxy: &FaultProxy, n: u64) {
    let began = Instant::now();
    while proxy.replies_dropped() < n {
        assert!(began.elapsed() < Duration::from_secs(30), "no reply was dropped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_single_document_write_whose_reply_was_lost_is_retried_and_applied_once() {
    let db = testkit::database().await;
    let (proxy, client) = behind_proxy(&db.uri, &db.name, ClientSpec::default()).await;
    let items = client.conn.repo::<Item>();
    let mut figures = Figures::default();

    proxy.drop_reply("insert", 1);
    let a = items.insert_one(item("a", "g")).await.expect("the retry answers");
    assert_eq!(client.stored("items").await, 1, "stored once");

    proxy.drop_reply("findAndModify", 1);
    let a2 = items.update(&a.id, Item::N.inc(1)).await.expect("the retry answers");
    assert_eq!(a2.n, 1, "incremented once");

    proxy.drop_reply("findAndModify", 1);
    let guarded = items.find_one_and_update(Item::N.eq(1), Item::N.inc(1)).await.unwrap();
    assert_eq!(guarded.map(|a| a.n), Some(2), "the guarded write applied once");

    proxy.drop_reply("delete", 1);
    items.delete(&a.id).await.expect("the retry answers");
    assert_eq!(client.stored("items").await, 0);

    proxy.drop_reply("insert", 1);
    let many = items.insert_many((0..3).map(|i| item(format!("m{i}"), "m"))).await;
    assert_eq!(many.expect("the retry answers").len(), 3);
    assert_eq!(client.stored("items").await, 3, "stored once each");

    figures.faults = proxy.replies_dropped();
    figures.operations = 5;
    assert_eq!(figures.faults, 5, "every reply was lost once");
    figures.print("lost reply, retried");
}

#[tokio::test]
async fn a_lost_reply_of_a_multi_document_write_is_an_error_though_applied() {
    let db = testkit::database().await;
    let (proxy, client) = behind_proxy(&db.uri, &db.name, ClientSpec::default()).await;
    let items = client.conn.repo::<Item>();
    items.insert_many([item("a", "g"), item("b", "g")]).await.unwrap();

    // `update_many` is not a retryable write: the driver reports the
    // broken connection, and the server has applied the update.
    proxy.drop_reply("update", 1);
    let err = items.update_many(Item::GROUP.eq("g"), Item::N.inc(1)).await.unwrap_err();
    assert!(is_network_error(&err), "{err:?}");
    assert_eq!(items.count(Item::N.eq(1)).await.unwrap(), 2, "applied, though it failed");
    println!("[lost-reply] update_many: {err} (applied to 2 of 2)");
}

#[tokio::test]
async fn a_lost_acquire_reply_leaves_the_key_free() {
    let db = testkit::database().await;
    let spec = ClientSpec { retry_writes: false, ..ClientSpec::default() };
    let (proxy, client) = behind_proxy(&db.uri, &db.name, spec).await;
    let locks = Locks::new(&client.conn);

    proxy.drop_reply("findAndModify", 1);
    let err = locks.try_lock("job", Duration::from_secs(60)).await.unwrap_err();
    assert!(matches!(err, LockingError::Lock { reason: Reason::Failed, .. }), "{err:?}");
    assert_eq!(proxy.replies_dropped(), 1, "the acquire was applied, its reply lost");

    // The failed attempt released what it took: the key is free at once,
    // not after the 60 s ttl.
    let other = model::Connection::new(&db.uri, &db.name);
    let lease = Locks::new(&other).try_lock("job", Duration::from_secs(5)).await.unwrap();
    assert!(lease.is_some(), "the key is free");
}

#[tokio::test]
async fn across_a_server_restart_a_generated_key_insert_is_applied_once() {
    if !can_control_servers("lost reply across a restart") {
        return;
    }
    let dir = DataDir::new();
    let mut server = start_server(dir.path(), None).await;
    let kind = server.kind();
    let spec = ClientSpec {
        journal: true, // the first attempt must survive the kill
        server_selection_timeout: Duration::from_secs(60),
        ..ClientSpec::default()
    };
    let (proxy, client) = behind_proxy(server.uri(), "lost", spec).await;
    let items = client.conn.repo::<Item>();
    let counted = items.insert_one(item("counted", "g")).await.unwrap();
    let mut figures = Figures { faults: 3, operations: 3, ..Figures::default() };

    // insert_one with a generated key: the retry reaches a server that
    // forgot the first attempt (SecantusDB) and fails on its own key; the
    // repository sees the stored document is its own.
    let insert = {
        let items = items.clone();
        async move { items.insert_one(item("once", "g")).await }
    };
    let inserted = across_restart(&proxy, &mut server, &dir, "insert", insert).await;
    let inserted = inserted.expect("applied once, reported once");
    assert_eq!(items.count(Item::NAME.eq("once")).await.unwrap(), 1);
    assert_eq!(items.find(&inserted.id).await.unwrap(), inserted);

    // update_one +1: not idempotent; a server that forgot the first
    // attempt applies the retry again.
    let update = {
        let (items, id) = (items.clone(), counted.id);
        async move { items.update(&id, Item::N.inc(1)).await }
    };
    let updated = across_restart(&proxy, &mut server, &dir, "findAndModify", update).await;
    let updated = updated.expect("the retry succeeds");
    assert!((1..=2).contains(&updated.n), "applied at least once, at most twice: {}", updated.n);
    figures.duplicated += u64::try_from(updated.n - 1).unwrap();

    // delete_one: a retry that finds nothing to delete.
    let delete = {
        let (items, id) = (items.clone(), counted.id);
        async move { items.delete(&id).await }
    };
    let deleted = across_restart(&proxy, &mut server, &dir, "delete", delete).await;
    assert!(matches!(deleted, Ok(()) | Err(Error::NotFound { .. })), "{deleted:?}");
    assert_eq!(items.count(Item::ID.eq(counted.id)).await.unwrap(), 0, "deleted");

    // insert_one with the caller's key: a duplicate of it may be anyone's,
    // so it is reported as the server says.
    let given = model::Uuid::new();
    let insert = {
        let items = items.clone();
        async move { items.insert_one(item_with_id(given, "given", "g")).await }
    };
    let given_outcome = across_restart(&proxy, &mut server, &dir, "insert", insert).await;
    assert!(matches!(given_outcome, Ok(_) | Err(Error::Conflict { .. })), "{given_outcome:?}");
    assert_eq!(items.count(Item::NAME.eq("given")).await.unwrap(), 1, "stored once");

    // insert_many of three.
    let insert = {
        let items = items.clone();
        async move { items.insert_many((0..3).map(|i| item(format!("many{i}"), "many"))).await }
    };
    let many = across_restart(&proxy, &mut server, &dir, "insert", insert).await;
    assert!(matches!(many, Ok(_) | Err(Error::Conflict { .. })), "{many:?}");
    assert_eq!(items.count(Item::GROUP.eq("many")).await.unwrap(), 3, "stored once each");
    figures.faults += 2;
    figures.operations += 2;

    let verdict = |ok: bool| if ok { "Ok" } else { "an error, though applied" };
    println!(
        "[lost-reply] across a restart of {kind:?}: insert_one (generated key) Ok, stored once; \
         insert_one (given key) {}; insert_many {}; update_one +1 applied {} time(s); \
         delete_one {}",
        verdict(given_outcome.is_ok()),
        verdict(many.is_ok()),
        updated.n,
        verdict(deleted.is_ok()),
    );
    drop(server);
    figures.print("lost reply across a restart");
}
