//! The queue of a lock's waiters: acquisitions in arrival order, a
//! release handing the lease to the first live waiter, `try_lock` never
//! jumping the queue, waiters that give up, are dropped or die leaving it.

mod lock_util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{Document, doc};
use lock::{LockingError, Reason};
use lock_util::{Env, HOLD};

const CHILD_DB: &str = "LOCK_QUEUE_CHILD_DB";

/// The owners queued for `key`, first first.
async fn queued(env: &Env, key: &str) -> Vec<String> {
    queued_in(env, "locks", key).await
}

/// The owners queued for `key` in `collection`, first first.
async fn queued_in(env: &Env, collection: &str, key: &str) -> Vec<String> {
    let stored = env.raw(collection).find_one(doc! { "_id": key }).await.unwrap();
    let stored = stored.unwrap_or_default();
    let queue = stored.get_array("queue").cloned().unwrap_or_default();
    queue.iter().filter_map(|w| w.as_document()?.get_str("owner").ok().map(String::from)).collect()
}

/// Waits (up to 20 s) until `key`'s queue has `len` entries.
async fn until_queued(env: &Env, key: &str, len: usize) -> Vec<String> {
    until_queued_in(env, "locks", key, len).await
}

/// Waits (up to 20 s) until `key`'s queue in `collection` has `len` entries.
async fn until_queued_in(env: &Env, collection: &str, key: &str, len: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queue = queued_in(env, collection, key).await;
        if queue.len() == len {
            return queue;
        }
        assert!(Instant::now() < deadline, "the queue never had {len} entries: {queue:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waiters queued on `key` one after another, each a client of its own
/// that arrives once the one before is queued; each takes one of
/// `permits` (a lock for 1), notes its index and token, and releases.
struct Waiters {
    order: Arc<Mutex<Vec<(usize, i64)>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Waiters {
    async fn queue(env: &Env, key: &'static str, permits: u32, count: usize) -> Waiters {
        let collection = if permits == 1 { "locks" } else { "lock_semaphores" };
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for waiter in 0..count {
            let (peer, order) = (env.peer().await, order.clone());
            tasks.push(tokio::spawn(async move {
                let wait = Duration::from_secs(60);
                let lease = match permits {
                    1 => peer.locks.acquire(key, HOLD, wait).await,
                    _ => peer.locks.acquire_permits(key, permits, HOLD, wait).await,
                };
                let lease = lease.unwrap();
                order.lock().unwrap().push((waiter, lease.token()));
                peer.locks.release(&lease).await.unwrap();
            }));
            until_queued_in(env, collection, key, waiter + 1).await;
        }
        Waiters { order, tasks }
    }

    /// Each waiter's index and token, in the order they noticed their turn.
    async fn served(self) -> Vec<(usize, i64)> {
        for task in self.tasks {
            task.await.unwrap();
        }
        self.order.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn eight_waiters_acquire_in_the_order_they_arrived() {
    const WAITERS: usize = 8;
    let env = Env::new().await;
    let held = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    let waiters = Waiters::queue(&env, "job", 1, WAITERS).await;
    env.locks.release(&held).await.unwrap();
    let order = waiters.served().await;
    let waiters: Vec<usize> = order.iter().map(|(waiter, _)| *waiter).collect();
    assert_eq!(waiters, (0..WAITERS).collect::<Vec<_>>(), "acquired in arrival order");
    let tokens: Vec<i64> = order.iter().map(|(_, token)| *token).collect();
    let expected: Vec<i64> = (1..=WAITERS as i64).map(|i| held.token() + i).collect();
    assert_eq!(tokens, expected, "one token per hand-off, in order");
}

/// A waiter entry written by hand: an owner nobody runs, live for a minute.
async fn forge_waiter(env: &Env, key: &str, owner: &str) {
    let entry = doc! {
        "owner": owner,
        "expires_at": bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + 60_000),
        "ttl_ms": 60_000_i64,
    };
    let locks = env.raw("locks");
    let pushed = locks.update_one(doc! { "_id": key }, doc! { "$push": { "queue": entry } });
    assert_eq!(pushed.await.unwrap().modified_count, 1);
}

#[tokio::test]
async fn try_lock_never_jumps_the_queue_and_a_release_hands_over_in_one_write() {
    let env = Env::new().await;
    let other = env.peer().await;
    let held = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    forge_waiter(&env, "job", "queued-first").await;
    // Held, with a waiter: refused, and not queued.
    assert!(other.locks.try_lock("job", HOLD).await.unwrap().is_none());
    assert_eq!(queued(&env, "job").await, ["queued-first"]);

    // The release hands the lease to the waiter in the same write.
    env.take_commands();
    env.locks.release(&held).await.unwrap();
    assert_eq!(env.take_commands(), ["update"]);
    let stored: Document = env.lease_doc("job").await.unwrap();
    assert_eq!(stored.get_str("owner").unwrap(), "queued-first", "{stored}");
    assert_eq!(stored.get_i64("token").unwrap(), held.token() + 1, "{stored}");
    assert!(queued(&env, "job").await.is_empty());

    // Free by its expiry, but a live waiter is queued: still refused.
    let expired = doc! { "$set": { "expires_at": bson::DateTime::from_millis(0) } };
    env.raw("locks").update_one(doc! { "_id": "job" }, expired).await.unwrap();
    forge_waiter(&env, "job", "queued-second").await;
    assert!(other.locks.try_lock("job", HOLD).await.unwrap().is_none());
    // Once that waiter's place has expired, the key is free again.
    let stale = doc! { "$set": { "queue.0.expires_at": bson::DateTime::from_millis(0) } };
    env.raw("locks").update_one(doc! { "_id": "job" }, stale).await.unwrap();
    let lease = other.locks.try_lock("job", HOLD).await.unwrap().expect("free: no live waiter");
    assert_eq!(lease.token(), held.token() + 2);
    assert!(queued(&env, "job").await.is_empty(), "the expired place was dropped");
}

#[tokio::test]
async fn a_waiter_that_times_out_or_is_dropped_leaves_the_queue() {
    let env = Env::new().await;
    let waiter = env.peer().await;
    let held = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    let timed_out = waiter.locks.acquire("job", HOLD, Duration::from_millis(300)).await;
    assert!(matches!(timed_out, Err(LockingError::Lock { reason: Reason::TimedOut, .. })));
    assert!(queued(&env, "job").await.is_empty(), "a waiter that timed out left");

    let locks = waiter.locks.clone();
    let task =
        tokio::spawn(async move { locks.acquire("job", HOLD, Duration::from_secs(60)).await });
    until_queued(&env, "job", 1).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    until_queued(&env, "job", 0).await;
    // Nobody is handed the lease at its release: it is free.
    env.locks.release(&held).await.unwrap();
    let stored = env.lease_doc("job").await.unwrap();
    assert!(!stored.contains_key("owner"), "{stored}");
}

#[tokio::test]
async fn the_head_of_the_queue_takes_an_expired_lease_before_those_behind() {
    let env = Env::new().await;
    // Never released: only its expiry frees the key.
    let held = env.locks.try_lock("job", Duration::from_secs(2)).await.unwrap().unwrap();
    let order = Waiters::queue(&env, "job", 1, 2).await.served().await;
    assert_eq!(order, [(0, held.token() + 1), (1, held.token() + 2)], "the head first");
}

/// The child: waits for the lock, and is killed while it waits.
async fn doomed_waiter(uri: &str, db: &str) {
    let env = Env::on(uri, db).await;
    let waited = env.locks.acquire("job", Duration::from_secs(2), Duration::from_secs(60)).await;
    println!("UNEXPECTED {waited:?}");
}

/// The child: holds the lock with a heartbeat, and is killed holding it.
async fn doomed_holder(uri: &str, db: &str) {
    let env = Env::on(uri, db).await;
    let held = env.locks.lock("job", |_signal| async {
        println!("HOLDING");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
    held.ttl(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test]
async fn a_holder_killed_holding_the_lock_hands_over_at_its_expiry_to_the_head() {
    const TEST: &str = "a_holder_killed_holding_the_lock_hands_over_at_its_expiry_to_the_head";
    if let Ok(db) = std::env::var(CHILD_DB) {
        doomed_holder(&std::env::var("MONGODB_URI").unwrap(), &db).await;
        return;
    }
    use tokio::io::AsyncBufReadExt;
    let env = Env::new().await;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture"])
        .env(CHILD_DB, &env.db)
        .env("MONGODB_URI", &env.uri)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let holding = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("HOLDING") {
                return;
            }
        }
        panic!("the child ended without holding the lock");
    };
    tokio::time::timeout(Duration::from_secs(30), holding).await.expect("the child holds");
    let held = env.lease_doc("job").await.unwrap().get_i64("token").unwrap();
    let waiters = Waiters::queue(&env, "job", 1, 2).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let order = waiters.served().await;
    assert_eq!(order, [(0, held + 1), (1, held + 2)], "the head first, at the expiry");
}

#[tokio::test]
async fn a_waiter_killed_in_the_queue_is_skipped_once_its_place_expires() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        doomed_waiter(&std::env::var("MONGODB_URI").unwrap(), &db).await;
        return;
    }
    let env = Env::new().await;
    let held = env.locks.try_lock("job", Duration::from_secs(60)).await.unwrap().unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_waiter_killed_in_the_queue_is_skipped_once_its_place_expires"])
        .env(CHILD_DB, &env.db)
        .env("MONGODB_URI", &env.uri)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let dead = until_queued(&env, "job", 1).await.remove(0);
    let waiter = env.peer().await;
    let waiting = {
        let locks = waiter.locks.clone();
        tokio::spawn(async move { locks.acquire("job", HOLD, Duration::from_secs(60)).await })
    };
    until_queued(&env, "job", 2).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // The killed waiter's place runs out (10 s at least, unless renewed);
    // the live waiter behind it renews its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = env.lease_doc("job").await.unwrap();
        let queue = stored.get_array("queue").unwrap();
        let dead_until = queue
            .iter()
            .filter_map(|w| w.as_document())
            .find(|w| w.get_str("owner") == Ok(dead.as_str()))
            .map(|w| w.get_datetime("expires_at").unwrap().timestamp_millis());
        match dead_until {
            Some(until) if until > bson::DateTime::now().timestamp_millis() => {}
            _ => break,
        }
        assert!(Instant::now() < deadline, "the killed waiter's place never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The release skips it: the live waiter gets the lease, the next token.
    env.locks.release(&held).await.unwrap();
    let lease = waiting.await.unwrap().unwrap();
    assert_eq!(lease.token(), held.token() + 1, "no token went to the dead waiter");
    assert!(!queued(&env, "job").await.contains(&dead));
}

#[tokio::test]
async fn semaphore_waiters_get_their_permits_in_arrival_order() {
    const WAITERS: usize = 4;
    let env = Env::new().await;
    let first = env.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().unwrap();
    let second = env.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().unwrap();
    let waiters = Waiters::queue(&env, "pool", 2, WAITERS).await;
    // All permits held, waiters queued: a newcomer does not jump them.
    assert!(env.peer().await.locks.try_lock_permits("pool", 2, HOLD).await.unwrap().is_none());
    env.locks.release(&first).await.unwrap();
    env.locks.release(&second).await.unwrap();
    // Two permits are held at once, so two waiters may notice theirs in
    // either order; the grant order is the tokens' (each grant adds 1).
    let mut order = waiters.served().await;
    order.sort_by_key(|(_, token)| *token);
    let waiters: Vec<usize> = order.iter().map(|(waiter, _)| *waiter).collect();
    assert_eq!(waiters, (0..WAITERS).collect::<Vec<_>>(), "permits granted in arrival order");
    assert!(order[0].1 > second.token());
}
