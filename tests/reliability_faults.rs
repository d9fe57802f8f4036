//! Server faults injected with the `failCommand` fail point: dropped
//! connections and retryable error codes on every write command, errors no
//! driver retries, and commands the server holds past the client's timeout.
//!
//! Each test's client has its own app name and the fail point is scoped to
//! it. A server has one `failCommand` fail point (arming it replaces the
//! previous one), so each test runs its own server ([`FaultServer`]).

mod reliability;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bson::{Document, doc};
use model::{Error, Query, Uuid};
use reliability::*;

/// The faults a retryable write survives: a dropped connection and the
/// three "this node cannot take writes now" codes.
fn retryable_faults() -> [(&'static str, Document); 4] {
    [
        ("closeConnection", doc! { "closeConnection": true }),
        ("ShutdownInProgress", doc! { "errorCode": 91 }),
        ("PrimarySteppedDown", doc! { "errorCode": 189 }),
        ("NotWritablePrimary", doc! { "errorCode": 10107 }),
    ]
}

/// The write commands the repository sends.
const WRITE_COMMANDS: [&str; 4] = ["insert", "update", "findAndModify", "delete"];

/// The sum of `n` over the items of `group`, as stored.
async fn sum_of_n(client: &Client, group: &str) -> i64 {
    let items = client.conn.repo::<Item>().find_many(Item::GROUP.eq(group)).await.unwrap();
    items.iter().map(|i| i.n).sum()
}

/// Arms `data` on the next `command` of `c` and forgets the commands sent so far.
async fn arm(c: &Client, command: &str, data: &Document) {
    c.fail(1, &[command], data.clone()).await;
    c.commands.clear();
}

/// Injects `fault` once on each retryable write in turn (insert_one,
/// insert_many, update_one, delete_one): each succeeds after one retry and
/// takes effect exactly once.
async fn every_retryable_write_survives(fault: usize) {
    let (fault, data) = retryable_faults()[fault].clone();
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let group = "g";
    let retried = |command: &str| {
        let sent = c.commands.count(command);
        assert_eq!(sent, 2, "{fault} on {command}: the fault fired and the write was retried once");
    };
    let mut figures = Figures { faults: 4, operations: 4, ..Figures::default() };

    arm(&c, "insert", &data).await;
    let first = items.insert_one(item("first", group)).await;
    let first = first.unwrap_or_else(|e| panic!("{fault} on insert_one: {e:?}"));
    retried("insert");

    arm(&c, "insert", &data).await;
    let rest = items.insert_many((1..6).map(|i| item(format!("item{i}"), group))).await;
    assert_eq!(rest.unwrap().len(), 5, "{fault} on insert_many");
    retried("insert");
    let stored = items.count(Item::GROUP.eq(group)).await.unwrap();
    figures.lost += 6_u64.saturating_sub(stored);
    figures.duplicated += stored.saturating_sub(6);
    assert_eq!(stored, 6, "{fault}: six inserted, six stored");

    arm(&c, "findAndModify", &data).await;
    let after = items.update(&first.id, Item::N.inc(10)).await;
    let after = after.unwrap_or_else(|e| panic!("{fault} on update_one: {e:?}"));
    retried("findAndModify");
    figures.duplicated += u64::from(after.n > 10);
    assert_eq!(after.n, 10, "{fault} on update_one: incremented exactly once");

    arm(&c, "delete", &data).await;
    items.delete(&first.id).await.unwrap_or_else(|e| {
        panic!("{fault} on delete_one: a retry must not turn into NotFound: {e:?}")
    });
    retried("delete");
    assert!(matches!(items.find(&first.id).await, Err(Error::NotFound { .. })));
    assert_eq!(items.count(Item::GROUP.eq(group)).await.unwrap(), 5);
    c.fail_off().await;
    figures.print(&format!("every_retryable_write_survives_{fault}_exactly_once"));
}

#[tokio::test]
async fn every_retryable_write_survives_a_dropped_connection_exactly_once() {
    every_retryable_write_survives(0).await;
}

#[tokio::test]
async fn every_retryable_write_survives_shutdown_in_progress_exactly_once() {
    every_retryable_write_survives(1).await;
}

#[tokio::test]
async fn every_retryable_write_survives_primary_stepped_down_exactly_once() {
    every_retryable_write_survives(2).await;
}

#[tokio::test]
async fn every_retryable_write_survives_not_writable_primary_exactly_once() {
    every_retryable_write_survives(3).await;
}

#[tokio::test]
async fn update_many_and_delete_many_are_not_retried_so_a_fault_is_an_error_and_writes_nothing() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    items.insert_many((0..4).map(|i| item(format!("m{i}"), "m"))).await.unwrap();
    let mut figures = Figures::default();
    for (i, (fault, data)) in retryable_faults().into_iter().enumerate() {
        if i % 2 == 0 {
            arm(&c, "update", &data).await;
            let error = items.update_many(Item::GROUP.eq("m"), Item::N.inc(1)).await.unwrap_err();
            assert!(matches!(error, Error::Mongo(_)), "{fault} on update_many: {error:?}");
            assert_eq!(
                c.commands.count("update"),
                1,
                "{fault}: a multi-document write is not retried"
            );
        } else {
            arm(&c, "delete", &data).await;
            let error = items.delete_many(Item::GROUP.eq("m")).await.unwrap_err();
            assert!(matches!(error, Error::Mongo(_)), "{fault} on delete_many: {error:?}");
            assert_eq!(
                c.commands.count("delete"),
                1,
                "{fault}: a multi-document write is not retried"
            );
        }
        assert_eq!(sum_of_n(&c, "m").await, 0, "{fault}: nothing updated");
        assert_eq!(items.count(Item::GROUP.eq("m")).await.unwrap(), 4, "{fault}: nothing deleted");
        figures.faults += 1;
        figures.operations += 1;
    }
    c.fail_off().await;
    // Run again by the caller, each takes effect once.
    assert_eq!(items.update_many(Item::GROUP.eq("m"), Item::N.inc(1)).await.unwrap(), 4);
    assert_eq!(sum_of_n(&c, "m").await, 4);
    assert_eq!(items.delete_many(Item::GROUP.eq("m")).await.unwrap(), 4);
    figures.operations += 2;
    figures.print(
        "update_many_and_delete_many_are_not_retried_so_a_fault_is_an_error_and_writes_nothing",
    );
}

/// One step of the mixed workload.
#[derive(Debug, Clone, Copy)]
enum Op {
    Insert,
    Increment,
    IncrementAll,
    DeleteOldest,
}

impl Op {
    fn command(self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Increment => "findAndModify",
            Op::IncrementAll => "update",
            Op::DeleteOldest => "delete",
        }
    }
}

#[tokio::test]
async fn a_mixed_workload_under_repeated_faults_loses_and_doubles_nothing() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let steps = if heavy() { 600 } else { 60 };
    let counter = items.insert_one(item("counter", "counter")).await.unwrap();
    let faults = retryable_faults();
    // Two inserts per delete, so the set of live items grows.
    let ops =
        [Op::Insert, Op::Increment, Op::Insert, Op::IncrementAll, Op::Insert, Op::DeleteOldest];

    // What the database must hold: the live items with their `n`.
    let mut expected: Vec<(Uuid, i64)> = Vec::new();
    let mut increments = 0;
    let mut figures = Figures::default();
    let mut should_send = 0;
    c.commands.clear();
    for step in 0..steps {
        let op = ops[step % ops.len()];
        // update_many is not a retryable write: faults go to the others.
        if step % 5 == 0 && !matches!(op, Op::IncrementAll) {
            let (_, data) = &faults[figures.faults as usize % faults.len()];
            c.fail(1, &[op.command()], data.clone()).await;
            figures.faults += 1;
            should_send += 1;
        }
        figures.operations += 1;
        should_send += 1;
        let done = match op {
            Op::Insert => {
                let inserted = items.insert_one(item(format!("w{step}"), "w")).await;
                inserted.map(|doc| expected.push((doc.id, 0)))
            }
            Op::Increment => {
                increments += 1;
                items.update(&counter.id, Item::N.inc(1)).await.map(drop)
            }
            Op::IncrementAll => {
                let modified = items.update_many(Item::GROUP.eq("w"), Item::N.inc(1)).await;
                modified.map(|modified| {
                    assert_eq!(modified, expected.len() as u64, "step {step}");
                    expected.iter_mut().for_each(|(_, n)| *n += 1);
                })
            }
            Op::DeleteOldest => {
                let (oldest, _) = expected.remove(0);
                items.delete(&oldest).await
            }
        };
        done.unwrap_or_else(|e| panic!("step {step} ({op:?}): {e:?}"));
    }
    c.fail_off().await;

    let sent: usize = WRITE_COMMANDS.iter().map(|name| c.commands.count(name)).sum();
    assert_eq!(sent, should_send, "every fault fired and cost exactly one retry");

    let stored: HashMap<Uuid, i64> = items
        .find_many(Item::GROUP.eq("w"))
        .await
        .unwrap()
        .into_iter()
        .map(|item| (item.id, item.n))
        .collect();
    for (id, n) in &expected {
        match stored.get(id) {
            None => figures.lost += 1,
            Some(stored_n) if stored_n > n => figures.duplicated += 1,
            Some(stored_n) if stored_n < n => figures.lost += 1,
            Some(_) => {}
        }
    }
    figures.duplicated += (stored.len() as u64).saturating_sub(expected.len() as u64);
    let counted = items.find(&counter.id).await.unwrap().n;
    figures.duplicated += (counted - increments).max(0) as u64;
    figures.lost += (increments - counted).max(0) as u64;
    figures.print("a_mixed_workload_under_repeated_faults_loses_and_doubles_nothing");
    assert_eq!(counted, increments, "the counter took every increment exactly once");
    assert_eq!(stored.len(), expected.len(), "the live items, no more, no fewer");
    assert_eq!((figures.lost, figures.duplicated), (0, 0));
}

#[tokio::test]
async fn a_fault_that_outlasts_the_one_retry_is_a_typed_error_and_writes_nothing() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let kept = items.insert_one(item("kept", "kept")).await.unwrap();
    let mut figures = Figures::default();
    for (fault, data) in retryable_faults() {
        let check = |error: &Error, command: &str| {
            assert!(matches!(error, Error::Mongo(_)), "{fault} on {command}: {error:?}");
            match data.get_i32("errorCode") {
                Ok(code) => {
                    assert_eq!(server_code(error), Some(code), "{fault}: {error:?}");
                    assert!(error.has_label("RetryableWriteError"), "{fault}: {error:?}");
                }
                Err(_) => assert!(is_network_error(error), "{fault}: {error:?}"),
            }
            assert_eq!(c.commands.count(command), 2, "{fault} on {command}: tried twice, no more");
        };

        // One write kind per fault, in turn.
        let (command, error) = match figures.operations % 3 {
            0 => {
                c.fail(2, &["insert"], data.clone()).await;
                c.commands.clear();
                ("insert", items.insert_one(item(fault, "lost")).await.unwrap_err())
            }
            1 => {
                c.fail(2, &["findAndModify"], data.clone()).await;
                c.commands.clear();
                ("findAndModify", items.update(&kept.id, Item::N.inc(1)).await.unwrap_err())
            }
            _ => {
                c.fail(2, &["delete"], data.clone()).await;
                c.commands.clear();
                ("delete", items.delete(&kept.id).await.unwrap_err())
            }
        };
        check(&error, command);
        figures.faults += 2;
        figures.operations += 1;
    }
    c.fail_off().await;
    assert_eq!(items.count(Item::GROUP.eq("lost")).await.unwrap(), 0, "no insert was written");
    assert_eq!(items.find(&kept.id).await.unwrap().n, 0, "no increment was written");
    figures.print("a_fault_that_outlasts_the_one_retry_is_a_typed_error_and_writes_nothing");
}

#[tokio::test]
async fn errors_no_driver_retries_are_typed_and_write_nothing() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let kept = items.insert_one(item("kept", "kept")).await.unwrap();
    let bad_value = doc! { "errorCode": 2 };

    c.fail(1, &["insert"], bad_value.clone()).await;
    c.commands.clear();
    let error = items.insert_one(item("a", "new")).await.unwrap_err();
    assert!(matches!(error, Error::Mongo(_)) && server_code(&error) == Some(2), "{error:?}");
    assert_eq!(c.commands.count("insert"), 1, "BadValue is not retried");

    c.fail(1, &["insert"], bad_value.clone()).await;
    let error = items.insert_many((0..5).map(|i| item(format!("m{i}"), "new"))).await;
    let error = error.unwrap_err();
    assert_eq!(server_code(&error), Some(2), "{error:?}");

    c.fail(1, &["findAndModify"], bad_value.clone()).await;
    let error = items.update(&kept.id, Item::N.inc(1)).await.unwrap_err();
    assert_eq!(server_code(&error), Some(2), "{error:?}");

    c.fail(1, &["update"], bad_value.clone()).await;
    let error = items.update_many(Query::all(), Item::N.inc(1)).await.unwrap_err();
    assert_eq!(server_code(&error), Some(2), "{error:?}");

    c.fail(1, &["delete"], bad_value.clone()).await;
    let error = items.delete(&kept.id).await.unwrap_err();
    assert_eq!(server_code(&error), Some(2), "{error:?}");
    c.fail_off().await;

    assert_eq!(c.stored("items").await, 1, "only the item written before the faults");
    assert_eq!(items.find(&kept.id).await.unwrap().n, 0, "no increment was written");
    Figures { faults: 5, operations: 5, ..Figures::default() }
        .print("errors_no_driver_retries_are_typed_and_write_nothing");
}

#[tokio::test]
async fn without_retryable_writes_a_fault_is_an_error_and_writes_nothing() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let spec = ClientSpec { retry_writes: false, ..ClientSpec::default() };
    let c = server.client(spec).await;
    let items = c.conn.repo::<Item>();

    c.fail(1, &["insert"], doc! { "closeConnection": true }).await;
    c.commands.clear();
    let error = items.insert_one(item("a", "g")).await.unwrap_err();
    assert!(is_network_error(&error), "{error:?}");
    assert_eq!(c.commands.count("insert"), 1, "not retried");

    c.fail(1, &["insert"], doc! { "errorCode": 91 }).await;
    let error = items.insert_one(item("b", "g")).await.unwrap_err();
    assert_eq!(server_code(&error), Some(91), "{error:?}");
    assert!(!error.has_label("RetryableWriteError"), "{error:?}");
    c.fail_off().await;
    assert_eq!(c.stored("items").await, 0, "nothing written");

    // The client recovers on its own once the fault is gone.
    items.insert_one(item("c", "g")).await.unwrap();
    assert_eq!(c.stored("items").await, 1);
    Figures { faults: 2, operations: 3, ..Figures::default() }
        .print("without_retryable_writes_a_fault_is_an_error_and_writes_nothing");
}

#[tokio::test]
async fn a_command_held_past_the_timeout_fails_with_a_timeout_instead_of_hanging() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let timeout = Duration::from_millis(300);
    let conn = c.conn.with_timeout(timeout);
    let items = conn.repo::<Item>();
    let kept = items.insert_one(item("kept", "kept")).await.unwrap();
    let held = |ms: i32| doc! { "blockConnection": true, "blockTimeMS": ms };
    let bound = timeout + Duration::from_millis(700);

    c.fail(1, &["find"], held(1_000)).await;
    let began = Instant::now();
    let error = items.find(&kept.id).await.unwrap_err();
    let took = began.elapsed();
    let Error::Timeout { collection, timeout: after } = &error else {
        panic!("not a timeout: {error:?}");
    };
    assert_eq!((collection.as_str(), *after), ("items", timeout));
    assert!(took < bound, "a read held for 3 s gave up after {took:?}");
    assert_eq!(error.to_string(), "the operation on `items` did not finish within 300ms");
    assert_eq!(items.find(&kept.id).await.unwrap(), kept, "the next read goes through");

    c.fail(1, &["findAndModify"], held(1_000)).await;
    let began = Instant::now();
    let error = items.update(&kept.id, Item::N.inc(1)).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(began.elapsed() < bound, "gave up after {:?}", began.elapsed());

    // A timed-out write is abandoned by the client, not by the server: it
    // may still be applied. It is applied once, never retried.
    c.fail(1, &["insert"], held(1_000)).await;
    c.commands.clear();
    let id = Uuid::new();
    let began = Instant::now();
    let error = items.insert_one(item_with_id(id, "late", "late")).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(began.elapsed() < bound, "gave up after {:?}", began.elapsed());
    c.fail_off().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let late = c.conn.repo::<Item>();
    while late.count(Item::GROUP.eq("late")).await.unwrap() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(late.count(Item::GROUP.eq("late")).await.unwrap(), 1, "applied once, late");
    assert_eq!(c.commands.count("insert"), 1, "a timeout is not retried");
    let deadline = Instant::now() + Duration::from_secs(10);
    while late.find(&kept.id).await.unwrap().n == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(late.find(&kept.id).await.unwrap().n, 1, "the held increment, applied once");
    Figures { faults: 3, operations: 3, ..Figures::default() }
        .print("a_command_held_past_the_timeout_fails_with_a_timeout_instead_of_hanging");
}

/// A caller's error type that wraps the model's (as `#[error(transparent)]`
/// would): a transient error inside it is still seen and retried.
#[derive(Debug)]
struct JobError(Error);

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job failed: {}", self.0)
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError(e)
    }
}

#[tokio::test]
async fn a_transient_transaction_error_inside_a_callers_error_is_retried_once_and_applied_once() {
    let Some(server) = FaultServer::start().await else {
        return;
    };
    let c = server.client(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let kept = items.insert_one(item("kept", "kept")).await.unwrap();
    // The transaction's first write fails once with a write conflict
    // labelled transient, as mongod reports two transactions colliding.
    let conflict = doc! { "errorCode": 112, "errorLabels": ["TransientTransactionError"] };
    c.fail(1, &["findAndModify"], conflict).await;
    c.commands.clear();
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let outcome: Result<i64, JobError> = c
        .conn
        .transaction_as(None, async |s| {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let updated = items.update(&kept.id, Item::N.inc(1)).session(s).await?;
            Ok(updated.n)
        })
        .await;
    c.fail_off().await;
    assert_eq!(outcome.unwrap(), 1);
    assert_eq!(attempts.into_inner(), 2, "the whole transaction ran again");
    assert_eq!(c.commands.count("findAndModify"), 2);
    assert_eq!(items.find(&kept.id).await.unwrap().n, 1, "applied once");
    Figures { faults: 1, operations: 1, ..Figures::default() }.print(
        "a_transient_transaction_error_inside_a_callers_error_is_retried_once_and_applied_once",
    );
}
