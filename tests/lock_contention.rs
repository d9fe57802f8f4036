//! Mutual exclusion under contention (tasks, then two OS processes) and
//! fencing tokens over many acquisitions.

mod lock_util;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::doc;
use lock::Locks;
use lock_util::Env;
use tokio::io::AsyncBufReadExt;

/// A critical section: an unguarded read-modify-write of `counter` with a
/// 1 ms sleep inside, recording the fencing token it ran with.
async fn unguarded_increment(counter: &AtomicI64, tokens: &Mutex<Vec<i64>>, token: i64) {
    let read = counter.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1)).await;
    counter.store(read + 1, Ordering::SeqCst);
    tokens.lock().unwrap().push(token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tasks_on_two_keys_keep_both_counters_exact() {
    const TASKS: usize = 16;
    const ITERATIONS: usize = 100;
    let env = Env::new().await;
    let keys = ["alpha", "beta"];
    let counters: HashMap<&str, (AtomicI64, Mutex<Vec<i64>>)> =
        keys.iter().map(|key| (*key, (AtomicI64::new(0), Mutex::new(Vec::new())))).collect();
    let counters = Arc::new(counters);
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let locks = env.locks.clone();
        let counters = counters.clone();
        let key = keys[task % keys.len()];
        tasks.push(tokio::spawn(async move {
            for _ in 0..ITERATIONS {
                let (counter, tokens) = &counters[key];
                locks
                    .lock(key, |signal| unguarded_increment(counter, tokens, signal.token()))
                    .wait(Duration::from_secs(30))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let per_key = (TASKS / keys.len() * ITERATIONS) as i64;
    for key in keys {
        let (counter, tokens) = &counters[key];
        assert_eq!(counter.load(Ordering::SeqCst), per_key, "counter of {key}");
        let tokens = tokens.lock().unwrap();
        assert!(tokens.windows(2).all(|pair| pair[0] < pair[1]), "tokens of {key} out of order");
    }
}

const CHILD_DB: &str = "LOCK_CONTENTION_CHILD_DB";
const READY: &str = "lock-contention-child-ready";
const PROCESS_TASKS: usize = 2;
const PROCESS_ITERATIONS: usize = 50;

/// One process's share: tasks incrementing a counter document with an
/// unguarded read-modify-write under the lock on `shared`.
async fn increment_counter_document(env: &Env) {
    let pid = i64::from(std::process::id());
    let mut tasks = Vec::new();
    for _ in 0..PROCESS_TASKS {
        let locks: Locks = env.locks.clone();
        let counters = env.raw("counters");
        tasks.push(tokio::spawn(async move {
            for _ in 0..PROCESS_ITERATIONS {
                locks
                    .lock("shared", |_| async {
                        let found = counters.find_one(doc! { "_id": "shared" }).await.unwrap();
                        let (n, last, switches) = found.map_or((0, pid, 0), |d| {
                            let get = |f| d.get_i64(f).unwrap();
                            (get("n"), get("last"), get("switches"))
                        });
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        let next = doc! {
                            "n": n + 1,
                            "last": pid,
                            "switches": switches + i64::from(last != pid),
                        };
                        counters
                            .replace_one(doc! { "_id": "shared" }, next)
                            .upsert(true)
                            .await
                            .unwrap();
                    })
                    .wait(Duration::from_secs(30))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn two_processes_on_one_key_keep_the_counter_exact() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        // The second contender: this same test binary, re-executed.
        let uri = std::env::var("MONGODB_URI").unwrap();
        let env = Env::on(&uri, &db).await;
        println!("{READY}");
        increment_counter_document(&env).await;
        return;
    }
    let env = Env::new().await;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "two_processes_on_one_key_keep_the_counter_exact", "--nocapture"])
        .env(CHILD_DB, &env.db)
        .env("MONGODB_URI", &env.uri)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == READY {
            break;
        }
    }
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    increment_counter_document(&env).await;
    let status = child.wait().await.unwrap();
    drain.await.unwrap();
    assert!(status.success(), "the child process failed: {status}");

    let counter = env.raw("counters").find_one(doc! { "_id": "shared" }).await.unwrap().unwrap();
    let expected = (2 * PROCESS_TASKS * PROCESS_ITERATIONS) as i64;
    assert_eq!(counter.get_i64("n").unwrap(), expected);
    // The two processes took turns, not one after the other.
    assert!(counter.get_i64("switches").unwrap() >= 2, "{counter}");
}

#[tokio::test]
async fn fencing_tokens_count_a_thousand_acquisitions_exactly() {
    const ACQUISITIONS: usize = 1_000;
    let first = Env::new().await;
    let second = first.peer().await;
    let ttl = Duration::from_secs(5);
    let short = Duration::from_millis(100);
    let (mut first_token, mut last, mut released, mut expired) = (0, 0, 0, 0);
    for i in 0..ACQUISITIONS {
        let locks = if i % 2 == 0 { &first.locks } else { &second.locks };
        let lease = match i % 100 {
            // The previous lease was left to expire: wait for it.
            99 => locks.acquire("job", ttl, Duration::from_secs(2)).await.unwrap(),
            98 => locks.try_lock("job", short).await.unwrap().unwrap(),
            _ => locks.try_lock("job", ttl).await.unwrap().unwrap(),
        };
        // Each acquisition, released or expired, counts one: no gaps, no
        // repeats. The first is the server clock's floor.
        if i == 0 {
            first_token = lease.token();
        } else {
            assert_eq!(lease.token(), last + 1, "at {i}");
        }
        last = lease.token();
        if i % 100 == 98 {
            expired += 1;
        } else {
            locks.release(&lease).await.unwrap();
            released += 1;
        }
    }
    assert_eq!((released, expired), (990, 10));
    assert_eq!(last - first_token + 1, ACQUISITIONS as i64);
}
