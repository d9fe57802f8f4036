//! Writes fenced by the lease (`Locks::fenced`): the classic pause. Holder
//! A, a child process, is stopped (SIGSTOP) past its ttl; B takes the lock
//! (and in one variant writes); A resumes and writes. A's write must be
//! refused in both variants, and B's data left intact. A token a resource
//! remembers would have let A write in the first variant, since B had not
//! written yet.
#![allow(unsafe_code)] // SIGSTOP, SIGCONT and SIGKILL of child processes (libc::kill)

mod lock_util;

use std::time::Duration;

use lock::{LockingError, Reason};
use lock_util::Env;
use model::{DateTime, Model};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// What the holders write.
#[derive(Debug, Clone, Model, Serialize, Deserialize)]
#[model(collection = "reports", key = id)]
struct Report {
    #[serde(rename = "_id")]
    id: String,
    value: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

const CHILD_DB: &str = "LOCK_FENCED_CHILD_DB";
const TTL: Duration = Duration::from_millis(500);

fn report() -> String {
    "report".to_string()
}

/// Writes `value` under `held`'s lease.
async fn fenced_write(env: &Env, held: &impl lock::Held, value: &str) -> lock::Result<Report> {
    let reports = env.conn.repo::<Report>();
    env.locks
        .fenced(held, (reports, value.to_string()), |s, (reports, value)| {
            Box::pin(async move {
                reports.update(&report(), Report::VALUE.set(value.as_str())).session(s).await
            })
        })
        .await
}

/// The child: holds the lock, says so, waits for the word, writes "A"
/// under its lease, and prints what happened.
async fn holder_a(uri: &str, db: &str) {
    let env = Env::on(uri, db).await;
    let env_ref = &env;
    let outcome = env
        .locks
        .lock("job", |signal| async move {
            println!("HELD {}", signal.token());
            let mut line = String::new();
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            stdin.read_line(&mut line).await.unwrap();
            match fenced_write(env_ref, &signal, "A").await {
                Ok(_) => println!("APPLIED"),
                Err(LockingError::Fenced { reason, .. }) => println!("REFUSED {reason:?}"),
                Err(other) => println!("FAILED {other}"),
            }
        })
        .ttl(TTL)
        .await;
    // The lease was lost while stopped: the release may fail; the lock
    // itself was acquired.
    outcome.unwrap();
}

async fn pause_and_fence(b_writes: bool) {
    let test = if b_writes {
        "a_paused_holder_cannot_write_after_the_next_holder_wrote"
    } else {
        "a_paused_holder_cannot_write_even_before_the_next_holder_writes"
    };
    if let Ok(db) = std::env::var(CHILD_DB) {
        holder_a(&std::env::var("MONGODB_URI").unwrap(), &db).await;
        return;
    }
    let env = Env::new().await;
    let reports = env.conn.repo::<Report>();
    reports.insert_one(ReportInsert { id: report(), value: "initial".into() }).await.unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(CHILD_DB, &env.db)
        .env("MONGODB_URI", &env.uri)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap() as libc::pid_t;
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = async || loop {
        let line = lines.next_line().await.unwrap().expect("the child ended early");
        if ["HELD", "APPLIED", "REFUSED", "FAILED"].iter().any(|w| line.starts_with(w)) {
            return line;
        }
    };
    let held = next_line().await;
    let a_token: i64 = held.strip_prefix("HELD ").and_then(|t| t.parse().ok()).expect(&held);

    // A stops, past its ttl: its heartbeat cannot run.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    tokio::time::sleep(TTL * 2).await;
    let b = env.peer().await;
    let lease = b.locks.acquire("job", Duration::from_secs(10), Duration::from_secs(5)).await;
    let lease = lease.unwrap();
    assert_eq!(lease.token(), a_token + 1);
    if b_writes {
        fenced_write(&b, &lease, "B").await.unwrap();
    }

    // A resumes and writes under the lease it believes it holds.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    stdin.write_all(b"write\n").await.unwrap();
    stdin.flush().await.unwrap();
    assert_eq!(next_line().await, "REFUSED Lost", "A's stale write must be refused");
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the child failed: {status}");

    let stored = reports.find(&report()).await.unwrap();
    assert_eq!(stored.value, if b_writes { "B" } else { "initial" }, "B's data is intact");
    let held = env.lease_doc("job").await.unwrap();
    assert_eq!(held.get_str("owner").unwrap(), lease.owner(), "B still holds the lease");
    // B's own fenced writes still apply.
    assert_eq!(fenced_write(&b, &lease, "B2").await.unwrap().value, "B2");
    b.locks.release(&lease).await.unwrap();
    let refused = fenced_write(&b, &lease, "late").await.unwrap_err();
    assert!(matches!(refused, LockingError::Fenced { reason: Reason::Lost, .. }), "{refused:?}");
    assert_eq!(reports.find(&report()).await.unwrap().value, "B2");
}

#[tokio::test]
async fn a_paused_holder_cannot_write_even_before_the_next_holder_writes() {
    pause_and_fence(false).await;
}

#[tokio::test]
async fn a_paused_holder_cannot_write_after_the_next_holder_wrote() {
    pause_and_fence(true).await;
}

#[tokio::test]
async fn a_failing_fenced_write_keeps_nothing_and_reports_its_error() {
    let env = Env::new().await;
    let reports = env.conn.repo::<Report>();
    reports.insert_one(ReportInsert { id: report(), value: "initial".into() }).await.unwrap();
    let lease = env.locks.try_lock("job", Duration::from_secs(10)).await.unwrap().unwrap();
    let failed = env
        .locks
        .fenced(&lease, &reports, |s, reports| {
            Box::pin(async move {
                reports.update(&report(), Report::VALUE.set("half")).session(&mut *s).await?;
                // The second write fails: a duplicate key.
                let dup = ReportInsert { id: report(), value: "dup".into() };
                reports.insert_one(dup).session(s).await
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(failed, LockingError::Fenced { reason: Reason::Failed, .. }), "{failed:?}");
    assert!(matches!(failed.server_error(), Some(model::Error::Conflict { .. })), "{failed:?}");
    assert_eq!(reports.find(&report()).await.unwrap().value, "initial", "nothing kept");
    // The check-and-touch, the write, then the commit.
    env.take_commands();
    fenced_write(&env, &lease, "ok").await.unwrap();
    let commands = env.take_commands();
    // (`commitTransaction` goes to `admin`, which the log leaves out.)
    assert_eq!(commands, ["update", "findAndModify"], "{commands:?}");
}

/// A key's tokens stay strictly increasing when its lease document is
/// deleted by hand (an operator's cleanup): released and deleted, deleted
/// while held, and expired. The holder whose document was deleted under it
/// is refused both by the lease check and by a store that keeps the
/// highest token it has seen.
#[tokio::test]
async fn tokens_keep_increasing_when_the_lease_document_is_deleted() {
    let env = Env::new().await;
    let other = env.peer().await;
    let reports = env.conn.repo::<Report>();
    reports.insert_one(ReportInsert { id: report(), value: "initial".into() }).await.unwrap();
    let delete = async || {
        let deleted = env.raw("locks").delete_one(bson::doc! { "_id": "job" }).await.unwrap();
        assert_eq!(deleted.deleted_count, 1);
    };
    let mut tokens = Vec::new();

    let first = env.locks.try_lock("job", Duration::from_secs(10)).await.unwrap().unwrap();
    tokens.push(first.token());
    env.locks.release(&first).await.unwrap();
    delete().await;
    // Re-created after a release and a deletion.
    let stale = env.locks.try_lock("job", Duration::from_secs(10)).await.unwrap().unwrap();
    tokens.push(stale.token());
    // Deleted while held: the key looks free, and another takes it.
    delete().await;
    let current = other.locks.try_lock("job", Duration::from_secs(1)).await.unwrap().unwrap();
    tokens.push(current.token());
    // The store keeps the highest token it has seen (the README's pattern).
    let store = env.raw("reports");
    let write = async |token: i64, value: &str| {
        let filter = bson::doc! { "_id": report(), "$or": [
            { "fence": { "$exists": false } }, { "fence": { "$lte": token } },
        ] };
        let update = bson::doc! { "$set": { "fence": token, "value": value } };
        store.update_one(filter, update).await.unwrap().modified_count
    };
    assert_eq!(write(current.token(), "current").await, 1);
    assert_eq!(write(stale.token(), "stale").await, 0, "the older token is refused");
    let refused = fenced_write(&env, &stale, "stale").await.unwrap_err();
    assert!(matches!(refused, LockingError::Fenced { reason: Reason::Lost, .. }), "{refused:?}");
    assert_eq!(reports.find(&report()).await.unwrap().value, "current");
    // Expired by the server's clock, then taken again.
    let started = std::time::Instant::now();
    let expired = loop {
        if let Some(lease) = env.locks.try_lock("job", Duration::from_secs(10)).await.unwrap() {
            break lease;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the 1 s lease never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokens.push(expired.token());
    assert!(tokens.windows(2).all(|pair| pair[0] < pair[1]), "{tokens:?}");
}
