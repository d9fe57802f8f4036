//! The lock's reference behaviours, its low-level API, the cost of a
//! cycle, and skewed client clocks. Each test has a database of its own.

mod lock_util;

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bson::doc;
use lock::{LockingError, Locks, MAX_RETRIES, Reason};
use lock_util::{Env, HOLD, RateClock, clock_floor};

#[tokio::test]
async fn a_held_lock_fails_at_once_with_lock_error() {
    let env = Env::new().await;
    let contender = env.peer().await;
    let ran = Arc::new(AtomicBool::new(false));
    let outcome = env
        .locks
        .lock("job", |_| async {
            let started = Instant::now();
            let ran = ran.clone();
            let result = contender
                .locks
                .lock("job", |_| async move { ran.store(true, Ordering::SeqCst) })
                .ttl(Duration::from_secs(5))
                .await;
            (result, started.elapsed())
        })
        .ttl(Duration::from_secs(5))
        .await
        .unwrap();
    let (result, elapsed) = outcome;
    let error = result.unwrap_err();
    assert!(
        matches!(&error, LockingError::Lock { key, reason: Reason::Held, source: None } if key == "job"),
        "{error:?}"
    );
    assert!(!ran.load(Ordering::SeqCst), "the contender's closure ran");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[tokio::test]
async fn the_heartbeat_keeps_the_lease_past_several_ttls() {
    // Longer than `TTL`: an extension must land within 0.3 ttl of being
    // sent (it is sent at ttl/2, the signal fires at 0.8 ttl), and the
    // test server's journaled writes (`j: true`) stall for more than
    // 300 ms now and then (seen in CI runs with 300 ms and 1 s ttls).
    const TTL: Duration = Duration::from_secs(2);
    let env = Env::new().await;
    let contender = env.peer().await;
    let started = Instant::now();
    let (token, cancelled) = env
        .locks
        .lock("job", |signal| async move {
            for _ in 0..3 {
                tokio::time::sleep(TTL).await;
                let taken = contender.locks.try_lock("job", TTL).await.unwrap();
                assert!(
                    taken.is_none(),
                    "a contender took the lease after {:?}",
                    started.elapsed()
                );
            }
            (signal.token(), signal.is_cancelled())
        })
        .ttl(TTL)
        .await
        .unwrap();
    assert!(started.elapsed() >= TTL * 3);
    assert!(!cancelled, "the signal fired while the heartbeat was extending");
    let stored = env.lease_doc("job").await.unwrap();
    assert_eq!(token, clock_floor(&stored), "a key's first token is the clock's floor");
}

#[tokio::test]
async fn the_acquisition_itself_stores_the_token_and_the_heartbeat_keeps_it() {
    // The heartbeat extends at ttl/2; a ttl of seconds keeps a stall of the
    // test server from expiring the lease before the extension lands.
    const TTL: Duration = Duration::from_secs(2);
    let env = Env::new().await;
    let inspect = &env;
    let (token, at_acquisition, after_extension) = env
        .locks
        .lock("job", |signal| async move {
            let at_acquisition = inspect.lease_doc("job").await.unwrap();
            // Watched until the first extension is stored (at ttl/2).
            let deadline = Instant::now() + Duration::from_secs(10);
            let extended = loop {
                let stored = inspect.lease_doc("job").await.unwrap();
                if stored.get_datetime("updated_at").is_ok() || Instant::now() > deadline {
                    break stored;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            (signal.token(), at_acquisition, extended)
        })
        .ttl(TTL)
        .await
        .unwrap();
    assert_eq!(token, clock_floor(&at_acquisition));
    assert_eq!(at_acquisition.get_i64("token").unwrap(), token, "{at_acquisition}");
    assert!(at_acquisition.get_datetime("updated_at").is_err(), "{at_acquisition}");
    assert_eq!(after_extension.get_i64("token").unwrap(), token, "{after_extension}");
    assert!(after_extension.get_datetime("updated_at").is_ok(), "no extension: {after_extension}");
    assert_eq!(after_extension.get_str("owner"), at_acquisition.get_str("owner"));
}

#[tokio::test]
async fn the_lock_is_free_again_after_the_holder_finishes() {
    let env = Env::new().await;
    let first = env.locks.lock("job", |s| async move { s.token() }).await.unwrap();
    // Released: the owner is gone, the document and its token stay.
    let stored = env.lease_doc("job").await.expect("the lease document is kept");
    assert!(!stored.contains_key("owner"), "{stored}");
    assert_eq!(stored.get_i64("token").unwrap(), first);
    let contender = env.peer().await;
    let second = contender.locks.try_lock("job", HOLD).await.unwrap().expect("free");
    assert_eq!(second.token(), first + 1);
}

#[tokio::test]
async fn tokens_count_every_acquisition_in_order_through_releases_and_expiries() {
    let env = Env::new().await;
    let other = env.peer().await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let lease = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
        tokens.push(lease.token());
        env.locks.release(&lease).await.unwrap();
        // Left to expire, then taken over by another client.
        let short = other.locks.try_lock("job", Duration::from_millis(30)).await.unwrap();
        tokens.push(short.unwrap().token());
        tokio::time::sleep(Duration::from_millis(60)).await;
        let taken = env.locks.try_lock("job", HOLD).await.unwrap().expect("expired: free");
        tokens.push(taken.token());
        env.locks.release(&taken).await.unwrap();
    }
    let first = tokens[0];
    assert_eq!(tokens, (first..first + 9).collect::<Vec<i64>>());
    // A refused acquisition takes no token.
    let held = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    assert!(other.locks.try_lock("job", HOLD).await.unwrap().is_none());
    env.locks.release(&held).await.unwrap();
    let next = other.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    assert_eq!((held.token(), next.token()), (first + 9, first + 10));
    // Keys count apart: another key's first token is the clock's floor.
    let other_first = env.locks.try_lock("other", HOLD).await.unwrap().unwrap().token();
    assert_eq!(other_first, clock_floor(&env.lease_doc("other").await.unwrap()));
}

#[tokio::test]
async fn tokens_continue_above_the_counters_of_an_earlier_release() {
    let env = Env::new().await;
    // What an earlier release left: a counter in `lock_fences`, and (from
    // its TTL index) no lease document. The counter is above the clock's
    // floor, so only the carry-over can give the tokens that follow.
    const COUNTER: i64 = i64::MAX / 2;
    let now = model::DateTime::now();
    env.raw("lock_fences")
        .insert_one(doc! { "_id": "job", "token": COUNTER, "created_at": now, "updated_at": now })
        .await
        .unwrap();
    let lease = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    assert_eq!(lease.token(), COUNTER + 1, "the first acquisition carries the counter over");
    env.locks.release(&lease).await.unwrap();
    // Another process, set up: the counter is not carried over twice.
    let other = env.peer().await;
    other.locks.setup().await.unwrap();
    let next = other.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    assert_eq!(next.token(), COUNTER + 2);
}

#[derive(Debug, PartialEq)]
struct JobFailed(&'static str);

#[tokio::test]
async fn the_closure_error_is_returned_unchanged_and_the_lock_released() {
    let env = Env::new().await;
    let outcome: Result<Result<(), JobFailed>, LockingError> =
        env.locks.lock("job", |_| async { Err(JobFailed("disk full")) }).await;
    assert_eq!(outcome.unwrap(), Err(JobFailed("disk full")));
    assert!(!env.lease_doc("job").await.unwrap().contains_key("owner"), "released");
    assert!(env.locks.try_lock("job", HOLD).await.unwrap().is_some());
}

#[tokio::test]
async fn invalid_arguments_are_rejected_before_anything_is_sent() {
    let env = Env::new().await;
    let ran = AtomicUsize::new(0);
    let run = |_| async { ran.fetch_add(1, Ordering::SeqCst) };
    let outcomes = [
        env.locks.lock("", run).await.map(drop),
        env.locks.lock("job", run).ttl(Duration::ZERO).await.map(drop),
        env.locks.lock("job", run).ttl(Duration::from_micros(500)).await.map(drop),
        env.locks.lock("job", run).retries(MAX_RETRIES + 1).await.map(drop),
        env.locks.try_lock("job", Duration::ZERO).await.map(drop),
        env.locks.acquire("", HOLD, HOLD).await.map(drop),
    ];
    for outcome in outcomes {
        assert!(matches!(outcome, Err(LockingError::InvalidArgument { .. })), "{outcome:?}");
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(env.take_commands(), Vec::<String>::new());
}

#[tokio::test]
async fn wait_acquires_once_the_holder_releases() {
    let env = Env::new().await;
    let contender = env.peer().await;
    let (held, acquired) = tokio::sync::oneshot::channel();
    let released = Arc::new(AtomicBool::new(false));
    let holder = {
        let released = released.clone();
        async move {
            env.locks
                .lock("job", |signal| async move {
                    held.send(()).unwrap();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    released.store(true, Ordering::SeqCst);
                    signal.token()
                })
                .await
                .unwrap()
        }
    };
    let waiter = async {
        acquired.await.unwrap();
        contender
            .locks
            .lock("job", |signal| async move { (released.load(Ordering::SeqCst), signal.token()) })
            .wait(Duration::from_secs(5))
            .await
            .unwrap()
    };
    let (first, (after_release, second)) = tokio::join!(holder, waiter);
    assert!(after_release, "the waiter ran before the holder finished");
    assert!(second > first);
}

#[tokio::test]
async fn wait_times_out_with_lock_error() {
    let env = Env::new().await;
    let contender = env.peer().await;
    let held = env.locks.try_lock("job", Duration::from_secs(5)).await.unwrap().unwrap();
    let started = Instant::now();
    let outcome = contender.locks.lock("job", |_| async {}).wait(Duration::from_millis(150)).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(outcome, Err(LockingError::Lock { reason: Reason::TimedOut, .. })),
        "{outcome:?}"
    );
    assert!(elapsed >= Duration::from_millis(150), "gave up after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "gave up after {elapsed:?}");
    env.locks.release(&held).await.unwrap();
}

#[tokio::test]
async fn a_stale_handle_can_neither_extend_nor_release() {
    let env = Env::new().await;
    let contender = env.peer().await;
    let stale = env.locks.try_lock("job", Duration::from_millis(100)).await.unwrap().unwrap();
    let current = contender
        .locks
        .acquire("job", Duration::from_secs(5), Duration::from_secs(5))
        .await
        .unwrap();
    assert_ne!(current.owner(), stale.owner());

    let extended = env.locks.extend(&stale, Duration::from_secs(5)).await;
    assert!(
        matches!(extended, Err(LockingError::Relock { reason: Reason::Lost, .. })),
        "{extended:?}"
    );
    let released = env.locks.release(&stale).await;
    assert!(
        matches!(released, Err(LockingError::Unlock { reason: Reason::Lost, .. })),
        "{released:?}"
    );
    let stored = env.lease_doc("job").await.unwrap();
    assert_eq!(stored.get_str("owner").unwrap(), current.owner());
    assert_eq!(stored.get_datetime("expires_at").unwrap(), &current.expires_at());

    let current = contender.locks.extend(&current, Duration::from_secs(5)).await.unwrap();
    contender.locks.release(&current).await.unwrap();
    let stored = env.lease_doc("job").await.unwrap();
    assert!(!stored.contains_key("owner"), "{stored}");
    assert_eq!(current.token(), stale.token() + 1);
}

#[tokio::test]
async fn an_expired_lease_is_not_revived_by_its_owner() {
    let env = Env::new().await;
    let lease = env.locks.try_lock("job", Duration::from_millis(50)).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // let it expire on the server
    let extended = env.locks.extend(&lease, Duration::from_secs(5)).await;
    assert!(
        matches!(extended, Err(LockingError::Relock { reason: Reason::Lost, .. })),
        "{extended:?}"
    );
    let contender = env.peer().await;
    assert!(contender.locks.try_lock("job", HOLD).await.unwrap().is_some());
}

#[tokio::test]
async fn an_uncontended_acquire_and_release_costs_two_commands() {
    let env = Env::new().await;
    env.locks.setup().await.unwrap();
    env.take_commands();

    let lease = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    env.locks.release(&lease).await.unwrap();
    assert_eq!(env.take_commands(), ["findAndModify", "update"]);

    env.locks.lock("job", |_| async {}).ttl(HOLD).await.unwrap();
    assert_eq!(env.take_commands(), ["findAndModify", "update"]);

    // A held lock costs the contender one command.
    let held = env.locks.try_lock("job", HOLD).await.unwrap().unwrap();
    env.take_commands();
    assert!(env.locks.try_lock("job", HOLD).await.unwrap().is_none());
    assert_eq!(env.take_commands(), ["findAndModify"]);
    env.locks.release(&held).await.unwrap();
}

#[tokio::test]
async fn setup_drops_the_ttl_index_of_an_earlier_release_and_keeps_the_compound_one() {
    use futures::TryStreamExt;
    let env = Env::new().await;
    // An earlier release deleted expired leases (and their tokens) by TTL.
    let ttl_index = mongodb::IndexModel::builder()
        .keys(doc! { "expires_at": 1 })
        .options(mongodb::options::IndexOptions::builder().expire_after(Duration::ZERO).build())
        .build();
    env.raw("locks").create_index(ttl_index).await.unwrap();
    env.locks.setup().await.unwrap();
    let indexes: Vec<_> =
        env.raw("locks").list_indexes().await.unwrap().try_collect().await.unwrap();
    assert!(
        indexes.iter().all(|i| i.options.as_ref().and_then(|o| o.expire_after).is_none()),
        "a TTL index is left: {indexes:?}"
    );
    assert!(indexes.iter().any(|i| i.keys == doc! { "_id": 1, "expires_at": 1 }));
}

#[tokio::test]
async fn a_client_clock_10_percent_fast_cannot_take_a_live_lease() {
    let env = Env::new().await;
    let fast = Locks::new(&env.peer().await.conn).with_clock(RateClock::new(1.1));
    let holder = Locks::new(&env.conn).with_clock(RateClock::new(0.9));
    // Seconds, not milliseconds: a stall of the test server between the
    // lock and its extension must not expire it.
    let ttl = Duration::from_secs(2);
    let started = Instant::now();
    let lease = holder.try_lock("job", ttl).await.unwrap().unwrap();

    // Waiting on a clock 10% fast does not let the fast client in while the
    // holder extends. It tries again once the first ttl has run out by the
    // server's clock: only the extension the server stored keeps the lease.
    let waited = fast.acquire("job", HOLD, ttl / 2).await;
    assert!(matches!(waited, Err(LockingError::Lock { reason: Reason::TimedOut, .. })));
    let lease = holder.extend(&lease, ttl * 2).await.unwrap();
    tokio::time::sleep_until((started + ttl + Duration::from_millis(100)).into()).await;
    assert!(fast.try_lock("job", HOLD).await.unwrap().is_none());
    holder.release(&lease).await.unwrap();
    assert_eq!(fast.try_lock("job", HOLD).await.unwrap().unwrap().token(), lease.token() + 1);
}

#[tokio::test]
async fn a_client_clock_10_percent_slow_cannot_keep_an_expired_lease() {
    let env = Env::new().await;
    let slow = Locks::new(&env.conn).with_clock(RateClock::new(0.9));
    let other = Locks::new(&env.peer().await.conn).with_clock(RateClock::new(1.1));
    let lease = slow.try_lock("job", Duration::from_millis(100)).await.unwrap().unwrap();

    let taken = other.acquire("job", Duration::from_secs(5), Duration::from_secs(2)).await.unwrap();
    assert_eq!(taken.token(), lease.token() + 1);
    assert!(matches!(
        slow.extend(&lease, Duration::from_secs(5)).await,
        Err(LockingError::Relock { reason: Reason::Lost, .. })
    ));
    assert!(matches!(
        slow.release(&lease).await,
        Err(LockingError::Unlock { reason: Reason::Lost, .. })
    ));
    let stored = env.lease_doc("job").await.unwrap();
    assert_eq!(stored.get_str("owner").unwrap(), taken.owner());
}

#[tokio::test]
async fn the_closure_form_holds_under_skewed_clocks() {
    let env = Env::new().await;
    let fast = Locks::new(&env.peer().await.conn).with_clock(RateClock::new(1.1));
    let slow = Locks::new(&env.conn).with_clock(RateClock::new(0.9));
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let worker = |locks: Locks| {
        let (inside, overlaps) = (inside.clone(), overlaps.clone());
        async move {
            for _ in 0..10 {
                locks
                    .lock("job", |_| async {
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    })
                    .ttl(HOLD)
                    .wait(Duration::from_secs(10))
                    .await
                    .unwrap();
            }
        }
    };
    tokio::join!(worker(fast), worker(slow));
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn lock_events_report_wait_hold_extensions_and_losses() {
    let env = Env::new().await;
    let contender = env.peer().await;
    let recorder = testkit::SpanRecorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    // Short enough to wait out, long enough to outlast a stall between the
    // lock and its extension.
    let short = Duration::from_secs(2);
    let held = env.locks.try_lock("job", short).await.unwrap().unwrap();
    let held = env.locks.extend(&held, short).await.unwrap();
    // The contender waits for the expiry, then holds it a while.
    let lease = contender.locks.acquire("job", HOLD, Duration::from_secs(5)).await.unwrap();
    let lease = contender.locks.extend(&lease, HOLD).await.unwrap();
    let lease = contender.locks.extend(&lease, HOLD).await.unwrap();
    contender.locks.release(&lease).await.unwrap();
    assert!(env.locks.release(&held).await.is_err(), "a lost lease cannot be released");
    drop(guard);

    let events: Vec<String> = recorder.events();
    let find = |needle: &str| events.iter().find(|e| e.contains(needle)).cloned();
    let second = format!("token={}", held.token() + 1);
    let acquired =
        find(&second).unwrap_or_else(|| panic!("no acquisition of {second}: {events:?}"));
    assert!(acquired.contains("wait_ms=") && acquired.contains("attempts="), "{acquired}");
    let wait_ms: u64 = field(&acquired, "wait_ms");
    assert!(wait_ms >= 100, "the contender waited for the expiry: {acquired}");
    assert!(field::<u64>(&acquired, "attempts") >= 2, "{acquired}");
    let released = find("message=released").unwrap_or_else(|| panic!("no release: {events:?}"));
    assert_eq!(field::<u32>(&released, "extensions"), 2, "{released}");
    assert!(released.contains("hold_ms="), "{released}");
    assert!(events.iter().any(|e| e.contains("extensions=1")), "{events:?}");
}

/// The value of `name=` in a recorded event.
fn field<T: std::str::FromStr>(event: &str, name: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let start = event.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name} in {event}"));
    let value = &event[start + name.len() + 1..];
    let value = value.split([' ', '}']).next().unwrap();
    value.parse().unwrap()
}

#[tokio::test]
async fn lock_operations_open_spans_with_collection_operation_and_key() {
    let env = Env::new().await;
    let recorder = testkit::SpanRecorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    env.locks.lock("job-7", |_| async { "secret-result" }).await.unwrap();
    let lease = env.locks.try_lock("job-7", HOLD).await.unwrap().unwrap();
    env.locks.extend(&lease, HOLD).await.unwrap();
    env.locks.release(&lease).await.unwrap();
    drop(guard);

    let spans: Vec<String> = recorder.spans("lock");
    for op in ["lock", "release", "try_lock", "extend"] {
        let expected = format!(
            "lock{{db.system.name=mongodb db.collection.name=locks db.operation.name={op} key=job-7}}"
        );
        assert!(spans.contains(&expected), "no {expected} in {spans:?}");
    }
    assert!(spans.iter().all(|s| !s.contains("secret") && !s.contains(lease.owner())), "{spans:?}");
}

#[tokio::test]
async fn dropping_the_lock_future_releases_the_lease_in_the_background() {
    let env = Env::new().await;
    let (started, running) = tokio::sync::oneshot::channel();
    let holder = env
        .locks
        .lock("job", |_| async {
            started.send(()).unwrap();
            std::future::pending::<()>().await
        })
        .ttl(Duration::from_secs(30))
        .into_future();
    tokio::select! {
        _ = holder => unreachable!("the closure never ends"),
        _ = running => {} // dropping `holder` here
    }
    // The holder's lease lasts 30 s: only the background release frees it sooner.
    let contender = env.peer().await;
    let lease = contender.locks.acquire("job", HOLD, Duration::from_secs(5)).await;
    assert!(lease.is_ok(), "{lease:?}");
}

#[tokio::test]
async fn a_waiter_is_woken_by_the_release_and_sends_nothing_while_the_lock_is_held() {
    let env = Env::new().await;
    let waiter = env.peer().await;
    // Held for 5 s, released after 600 ms: only a wake-up by the release
    // hands it over before the lease would expire.
    let held = env.locks.try_lock("job", Duration::from_secs(5)).await.unwrap().unwrap();
    let started = Instant::now();
    let waiting = {
        let locks = waiter.locks.clone();
        tokio::spawn(async move {
            let lease = locks.acquire("job", HOLD, Duration::from_secs(10)).await.unwrap();
            (lease, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = waiter.take_commands();
    assert!(settled.iter().any(|c| c == "aggregate"), "a change stream was opened: {settled:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While the lock is held the waiter makes no attempt: its change
    // stream waits on the server. (mongod answers a waiting `getMore`
    // after its `maxAwaitTimeMS`, 10 s here; SecantusDB answers it at any
    // write to the server, so a few may show while other tests write.)
    let idle = waiter.take_commands();
    assert!(idle.iter().all(|c| c == "getMore"), "attempts while held: {idle:?}");
    println!("idle waiter over 300 ms: {} getMore ({})", idle.len(), server_name());
    let released_at = Instant::now();
    env.locks.release(&held).await.unwrap();
    let (lease, acquired_at) = waiting.await.unwrap();
    assert_eq!(lease.token(), held.token() + 1);
    assert!(acquired_at >= released_at, "acquired before the release");
    assert!(acquired_at - started < Duration::from_secs(5), "woken by the expiry, not the release");
    waiter.locks.release(&lease).await.unwrap();
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_with_nobody_releasing_it() {
    let env = Env::new().await;
    let waiter = env.peer().await;
    let ttl = Duration::from_millis(400);
    // Timed from before the first lock is sent: the server stamps the lease
    // while handling it, and a slow reply (a journaled write that stalls)
    // arrives after that, so a clock started on the reply runs late.
    let started = Instant::now();
    let held = env.locks.try_lock("job", ttl).await.unwrap().unwrap();
    let lease = waiter.locks.acquire("job", HOLD, Duration::from_secs(20)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(lease.token(), held.token() + 1);
    assert!(waited >= ttl - Duration::from_millis(50), "taken after {waited:?}, before the expiry");
    // Woken by the expiry it computed, not by the change stream's 10 s wait.
    assert!(waited < Duration::from_secs(5), "taken only after {waited:?}");
}

/// Which server the tests run on, for the messages of behaviour that differs.
fn server_name() -> &'static str {
    match testkit::server().process().map(|p| p.kind()) {
        Some(testkit::ServerKind::Mongod) => "mongod",
        Some(testkit::ServerKind::Secantus) => "SecantusDB",
        _ => "the server at MONGODB_URI",
    }
}

#[tokio::test]
async fn a_polling_waiter_attempts_while_the_lock_is_held_and_opens_no_stream() {
    let env = Env::new().await;
    let waiter = env.peer().await;
    let held = env.locks.try_lock("job", Duration::from_secs(5)).await.unwrap().unwrap();
    let waiting = {
        let locks = waiter.locks.clone().polling();
        tokio::spawn(async move { locks.acquire("job", HOLD, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = waiter.take_commands();
    assert!(!sent.iter().any(|c| c == "aggregate"), "{sent:?}");
    let attempts = sent.iter().filter(|c| *c == "findAndModify").count();
    assert!(attempts >= 3, "backoff up to 100 ms: {attempts} attempts in 300 ms ({sent:?})");
    env.locks.release(&held).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap().token(), held.token() + 1);
}

/// Every waiter of every key of a `Locks` shares one change stream: 100
/// waiters on 10 keys in one process open one (seen by command
/// monitoring), each is woken by its key's releases, and the stream is
/// closed once nobody waits.
#[tokio::test]
async fn a_hundred_waiters_on_ten_keys_share_one_change_stream() {
    const KEYS: usize = 10;
    const WAITERS: usize = 100;
    let env = Env::new().await;
    let waiter = env.peer().await;
    let key = |i: usize| format!("job-{}", i % KEYS);
    let mut held = Vec::new();
    for i in 0..KEYS {
        held.push(env.locks.try_lock(&key(i), Duration::from_secs(60)).await.unwrap().unwrap());
    }
    let mut waiting = Vec::new();
    for i in 0..WAITERS {
        let (locks, key) = (waiter.locks.clone(), key(i));
        waiting.push(tokio::spawn(async move {
            let lease = locks.acquire(&key, HOLD, Duration::from_secs(120)).await.unwrap();
            locks.release(&lease).await.unwrap();
        }));
    }
    // Every waiter has made its first attempt and waits.
    let mut sent = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent.iter().filter(|c| *c == "findAndModify").count() < WAITERS {
        assert!(Instant::now() < deadline, "the waiters did not all try: {sent:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        sent.extend(waiter.take_commands());
    }
    for lease in &held {
        env.locks.release(lease).await.unwrap();
    }
    for task in waiting {
        task.await.unwrap();
    }
    sent.extend(waiter.take_commands());
    let streams = sent.iter().filter(|c| *c == "aggregate").count();
    assert_eq!(streams, 1, "one change stream for every waiter of every key");
    // Unused, the stream is closed (the driver kills its cursor).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sent.iter().any(|c| c == "killCursors") {
        assert!(Instant::now() < deadline, "the stream was never closed: {:?}", &sent[..10]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        sent.extend(waiter.take_commands());
    }
}
