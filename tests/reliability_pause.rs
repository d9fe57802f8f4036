//! A paused server (SIGSTOP) with many callers bounded by the connection's
//! timeout: every call during the pause times out, and once the server
//! resumes the calls succeed again at once — the connection does not stay
//! unusable while abandoned requests drain.
#![allow(unsafe_code)] // SIGSTOP, SIGCONT and SIGKILL of child processes (libc::kill)

mod reliability;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use model::Error;
use reliability::*;
use tokio::sync::Mutex;

/// What the callers saw, with the time of each call's end.
#[derive(Default)]
struct Log {
    ends: Vec<(Instant, bool)>,
}

#[tokio::test]
async fn calls_recover_within_a_second_after_a_pause_with_eight_callers() {
    // Heavy: 32 callers, a 10 s pause.
    let (callers, pause) =
        if heavy() { (32, Duration::from_secs(10)) } else { (8, Duration::from_secs(3)) };
    let name = format!("pause recovery, {callers} callers");
    let name = name.as_str();
    if !can_control_servers(name) {
        return;
    }
    let dir = DataDir::new();
    let server = start_server(dir.path(), None).await;
    let pid = server.pid().unwrap() as libc::pid_t;
    let c = Client::on(server.uri(), "pause", ClientSpec::default()).await;
    let timeout = Duration::from_millis(300);
    let items = c.conn.with_timeout(timeout).repo::<Item>();
    let seeded = items.insert_one(item("seed", "g")).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..callers)
        .map(|_| {
            let (items, stop, log, calls) =
                (items.clone(), stop.clone(), log.clone(), calls.clone());
            tokio::spawn(async move {
                // Bounded: at most 20,000 calls per caller.
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let result = items.find(&seeded.id).await;
                    calls.fetch_add(1, Ordering::Relaxed);
                    if let Err(error) = &result {
                        assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
                    }
                    log.lock().await.ends.push((Instant::now(), result.is_ok()));
                    if result.is_ok() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    // SAFETY: plain kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let paused = Instant::now();
    tokio::time::sleep(pause).await;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let resumed = Instant::now();

    // Wait (bounded: 60 s) for a second of successes only.
    let began = Instant::now();
    let recovered = loop {
        assert!(began.elapsed() < Duration::from_secs(60), "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = log.lock().await;
        let last_failure = log.ends.iter().rev().find(|(_, ok)| !ok).map(|(at, _)| *at);
        let last_failure = last_failure.unwrap_or(resumed).max(resumed);
        if Instant::now().duration_since(last_failure) > Duration::from_secs(1)
            && log.ends.iter().any(|(at, ok)| *ok && *at > last_failure)
        {
            break last_failure.duration_since(resumed);
        }
    };
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    let log = log.lock().await;
    let during = log.ends.iter().filter(|(at, ok)| !ok && *at >= paused && *at <= resumed).count();
    let after = log.ends.iter().filter(|(at, ok)| !ok && *at > resumed).count();
    println!(
        "[reliability] {name}: timeouts during the {} s pause {during}, after it {after}; \
         recovered {:.2} s after the resume; {} calls",
        pause.as_secs(),
        recovered.as_secs_f64(),
        calls.load(Ordering::Relaxed)
    );
    Figures { faults: 1, operations: calls.load(Ordering::Relaxed), ..Figures::default() }
        .print(name);
    assert!(during > 0, "calls timed out during the pause");
    // Generous bound (the figure is printed): the issue measured 29.7 s.
    assert!(recovered < Duration::from_secs(5), "recovered only after {recovered:?}");
    drop(server);
}

#[tokio::test]
async fn nothing_hangs_on_a_paused_server_when_a_timeout_is_set() {
    const NAME: &str = "nothing hangs on a paused server";
    let Some((_dir, server, pid, c)) = pausable_server(NAME, "hang").await else {
        return;
    };
    let conn = c.conn.with_timeout(Duration::from_millis(300));
    let locks = model::lock::Locks::new(&conn);
    // Before the pause, on a loaded machine a first call can take longer
    // than the 300 ms bound: `setup` is idempotent, so try it again.
    let mut tries = 0;
    while let Err(error) = locks.setup().await {
        tries += 1;
        assert!(tries < 10, "setup failed before the pause: {error:?}");
    }
    // The lease to extend and release is taken without the bound.
    let unbounded = model::lock::Locks::new(&c.conn);
    let lease = unbounded.try_lock("held", Duration::from_secs(30)).await.unwrap().unwrap();
    let items = conn.repo::<Item>();

    // SAFETY: plain kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let mut took = Vec::new();
    macro_rules! ends {
        ($name:literal, $call:expr) => {{
            let began = Instant::now();
            let outcome = tokio::time::timeout(Duration::from_secs(10), $call).await;
            let elapsed = began.elapsed();
            let outcome = outcome.unwrap_or_else(|_| panic!("{} hung", $name));
            assert!(outcome.is_err(), "{} succeeded on a paused server", $name);
            took.push(format!("{} {} ms", $name, elapsed.as_millis()));
            elapsed
        }};
    }
    let slowest = [
        ends!("migrate", conn.migrate::<Item>()),
        ends!("create_indexes", items.create_indexes()),
        ends!("Locks::setup", locks.setup()),
        ends!("try_lock", locks.try_lock("other", Duration::from_secs(10))),
        ends!("try_lock_permits", locks.try_lock_permits("pool", 1, Duration::from_secs(10))),
        ends!("acquire", locks.acquire("other", Duration::from_secs(10), Duration::from_secs(60))),
        ends!("extend", locks.extend(&lease, Duration::from_secs(30))),
        ends!("release", locks.release(&lease)),
        ends!("find", items.find(&model::Uuid::new())),
    ]
    .into_iter()
    .max()
    .unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let resumed = Instant::now();
    println!("[reliability] {NAME}: {}", took.join(", "));

    // The acquires that timed out reach the server now; each releases what
    // it took, so the key is free long before their 10 s ttl.
    let other = model::lock::Locks::new(&c.conn);
    let freed = loop {
        if other.try_lock("other", Duration::from_secs(1)).await.unwrap().is_some() {
            break resumed.elapsed();
        }
        assert!(resumed.elapsed() < Duration::from_secs(8), "a timed-out acquire kept the key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("[reliability] {NAME}: the key was free {} ms after the resume", freed.as_millis());
    // The same for a semaphore's only permit.
    let freed = loop {
        if other.try_lock_permits("pool", 1, Duration::from_secs(1)).await.unwrap().is_some() {
            break resumed.elapsed();
        }
        assert!(resumed.elapsed() < Duration::from_secs(8), "a timed-out acquire kept the permit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("[reliability] {NAME}: the permit was free {} ms after the resume", freed.as_millis());
    // Generous: a failed acquire also tries (bounded) to release.
    assert!(slowest < Duration::from_secs(3), "slowest call took {slowest:?}");
    drop(server);
}
