//! `Send` pins, as tokio pins its types: the handles, every action's
//! future and every stream can cross threads (a spawned task, a web
//! handler), and the owned ones are `'static`. Checked when this compiles;
//! the test only builds the futures (a `Connection` sends nothing until
//! its first operation) and drops them unpolled.

mod common;

use std::future::IntoFuture;

use common::*;
use futures::StreamExt;
use model::lock::Locks;
use model::{Connection, Query, Repo};

fn send_static<T: Send + Sync + 'static>() {}

fn is_send<T: Send>(_: &T) {}

fn is_send_static<T: Send + 'static>(_: &T) {}

#[test]
fn handles_are_send_sync_and_static() {
    send_static::<Connection>();
    send_static::<Repo<Foo>>();
    send_static::<Locks>();
    send_static::<model::lock::Lease>();
    send_static::<model::lock::Signal>();
    send_static::<model::lock::Leadership>();
    send_static::<model::lock::LockingError>();
    send_static::<model::Error>();
    send_static::<model::action::BulkOutcome<Foo>>();
    send_static::<model::Write<Foo>>();
    send_static::<model::migrations::Migrations>();
}

/// Every action of the repository, awaited in one future, its streams
/// read across awaits.
async fn every_action(foos: Repo<Foo>, key: model::Uuid) -> model::Result<()> {
    let query = || Query::<Foo>::all();
    foos.find(&key).await?;
    foos.find_one(query()).await?;
    foos.find_many(query()).await?;
    foos.find_many_to_map_by(|f| f.foo.clone(), query()).await?;
    foos.count(query()).await?;
    foos.paginate(query()).await?;
    foos.scroll(query()).await?;
    foos.insert_one(foo("a", None)).await?;
    foos.insert_many([foo("b", None)]).await?;
    foos.update(&key, Foo::BAR.set(Some(1))).await?;
    foos.update_many(query(), Foo::BAR.set(Some(2))).await?;
    foos.upsert(Foo::FOO.eq("c"), Foo::BAR.set(Some(3))).await?;
    let writes = [model::Write::insert(foo("d", None)), model::Write::delete(&key)];
    let outcome = foos.bulk_write(writes).on_progress(|_| {}).await?;
    foos.count(query()).await?; // the outcome held across an await
    drop(outcome);
    foos.find_one_and_update(query(), Foo::BAR.set(Some(4))).await?;
    foos.find_one_and_delete(query()).await?;
    let found = foos.find(&key).await?;
    foos.find_one_and_replace(query(), found.clone()).await?;
    foos.replace(found).await?;
    foos.delete(&key).await?;
    foos.delete_many(query()).await?;
    foos.distinct(Foo::FOO, query()).await?;
    foos.count_by(Foo::BAR, query()).await?;
    foos.aggregate(query()).await?;
    foos.with_collection("estimated_count", |c| async move { c.estimated_document_count().await })
        .await?;
    let mut stream = foos.iterate(query()).await?;
    while let Some(item) = stream.next().await {
        item?;
    }
    let mut stream = foos.aggregate(query()).stream().await?;
    while let Some(item) = stream.next().await {
        item?;
    }
    let mut changes = foos.watch(query()).await?;
    is_send_static(&changes);
    changes.next().await;
    // The form a web handler needs: the closure owns what it uses.
    let owned = foos.clone();
    foos.connection()
        .transaction(async move |s| {
            owned.insert_one(foo("d", None)).session(s).await?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Every operation of the lock, awaited in one future.
async fn every_lock_operation(locks: Locks) -> Result<(), model::lock::LockingError> {
    let ttl = std::time::Duration::from_secs(5);
    if let Some(lease) = locks.try_lock("a", ttl).await? {
        let lease = locks.extend(&lease, ttl).await?;
        locks.release(&lease).await?;
    }
    let lease = locks.acquire("a", ttl, ttl).await?;
    locks.release(&lease).await?;
    locks.lock("a", |signal| async move { signal.token() }).await?;
    let leadership = locks.campaign("leader").await?;
    locks.leader("leader").await?;
    let mut leaders = locks.observe("leader");
    is_send_static(&leaders);
    leaders.next().await;
    leadership.resign().await?;
    Ok(())
}

#[test]
fn every_future_and_stream_is_send() {
    let conn = Connection::new("mongodb://127.0.0.1:1", "send_pins");
    let foos = conn.repo::<Foo>();
    is_send(&every_action(foos.clone(), model::Uuid::new()));
    is_send_static(&every_action(foos.clone(), model::Uuid::new()));
    is_send_static(&every_lock_operation(Locks::new(&conn)));
    is_send(&foos.find_many(Query::all()).into_future());
    let migrations = model::migrations::Migrations::new(&conn);
    is_send_static(&async move { migrations.run().await });
}
