//! Extension and release failures injected with the server's `failCommand`
//! fail point. There is one such fail point per server, so these tests run
//! one at a time, each scoped to its own client's app name.

mod lock_util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::doc;
use lock::{LockingError, Reason};
use lock_util::Env;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server error code no driver retries: BadValue.
const ERROR_CODE: i32 = 2;

/// Collects what `on_error` receives.
fn recorder() -> (Arc<Mutex<Vec<LockingError>>>, impl Fn(LockingError) + Send + Sync + 'static) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    (errors, move |error| sink.lock().unwrap().push(error))
}

/// Whether the lease on `key` is live by the server's clock right now.
async fn live_on_server(env: &Env, key: &str) -> bool {
    let live = doc! {
        "_id": key,
        "$expr": { "$gt": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] },
    };
    env.raw("locks").find_one(live).await.unwrap().is_some()
}

/// The server's error code behind a lock error.
fn server_code(error: &LockingError) -> Option<i32> {
    testkit::server_code(error.server_error()?.driver_error()?)
}

#[tokio::test]
async fn a_failed_extension_fires_the_signal_and_reports_relock_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let ttl = Duration::from_millis(400);
    let (errors, on_error) = recorder();
    let env_ref = &env;
    let before = Instant::now();
    let (fired_after, live_at_signal) = env
        .locks
        .lock("job", |signal| async move {
            env_ref
                .fail("alwaysOn".into(), &["findAndModify"], doc! { "errorCode": ERROR_CODE })
                .await;
            tokio::time::timeout(Duration::from_secs(5), signal.cancelled())
                .await
                .expect("the signal never fired");
            let fired_after = before.elapsed();
            (fired_after, live_on_server(env_ref, "job").await)
        })
        .ttl(ttl)
        .retries(2)
        .on_error(on_error)
        .await
        .unwrap();
    env.fail_off().await;

    assert!(fired_after < ttl, "fired {fired_after:?} after the acquire began");
    assert!(live_at_signal, "the lease had expired when the signal fired");
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0], LockingError::Relock { reason: Reason::Failed, .. }),
        "{:?}",
        errors[0]
    );
    assert_eq!(server_code(&errors[0]), Some(ERROR_CODE));
    let stored = env.lease_doc("job").await.unwrap();
    assert!(!stored.contains_key("owner"), "the lease was not released: {stored}");
}

#[tokio::test]
async fn the_signal_fires_before_expiry_even_when_retries_outlast_the_lease() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let ttl = Duration::from_millis(400);
    let (errors, on_error) = recorder();
    let env_ref = &env;
    let before = Instant::now();
    let (fired_after, live_at_signal) = env
        .locks
        .lock("job", |signal| async move {
            env_ref
                .fail("alwaysOn".into(), &["findAndModify"], doc! { "errorCode": ERROR_CODE })
                .await;
            signal.cancelled().await;
            (before.elapsed(), live_on_server(env_ref, "job").await)
        })
        .ttl(ttl)
        .retries(lock::MAX_RETRIES)
        .on_error(on_error)
        .await
        .unwrap();
    env.fail_off().await;

    assert!(fired_after < ttl, "fired {fired_after:?} after the acquire began");
    assert!(fired_after > ttl / 2, "fired {fired_after:?}: before the first heartbeat?");
    assert!(live_at_signal, "the lease had expired when the signal fired");
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0], LockingError::Relock { reason: Reason::Expiring, .. }),
        "{:?}",
        errors[0]
    );
    assert_eq!(server_code(&errors[0]), Some(ERROR_CODE), "the last failure is the source");
}

#[tokio::test]
async fn extension_failures_within_the_retries_are_absorbed() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let contender = env.peer().await;
    let ttl = Duration::from_millis(300);
    let (errors, on_error) = recorder();
    let env_ref = &env;
    let (cancelled, taken) = env
        .locks
        .lock("job", |signal| async move {
            let times = doc! { "times": 2 };
            env_ref.fail(times.into(), &["findAndModify"], doc! { "errorCode": ERROR_CODE }).await;
            tokio::time::sleep(ttl * 3).await;
            let taken = contender.locks.try_lock("job", ttl).await.unwrap();
            (signal.is_cancelled(), taken.is_some())
        })
        .ttl(ttl)
        .retries(3)
        .on_error(on_error)
        .await
        .unwrap();
    env.fail_off().await;

    assert!(!cancelled, "the signal fired");
    assert!(!taken, "a contender took the lease");
    assert!(errors.lock().unwrap().is_empty(), "{:?}", errors.lock().unwrap());
}

#[tokio::test]
async fn a_failed_release_reports_unlock_once_and_returns_the_value() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let (errors, on_error) = recorder();
    let env_ref = &env;
    let (value, token) = env
        .locks
        .lock("job", |signal| async move {
            let once = doc! { "times": 1 };
            env_ref.fail(once.into(), &["update"], doc! { "errorCode": ERROR_CODE }).await;
            (42, signal.token())
        })
        .ttl(Duration::from_millis(300))
        .on_error(on_error)
        .await
        .unwrap();
    env.fail_off().await;

    assert_eq!(value, 42);
    let errors = std::mem::take(&mut *errors.lock().unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(&errors[0], LockingError::Unlock { key, reason: Reason::Failed, .. } if key == "job"),
        "{:?}",
        errors[0]
    );
    assert_eq!(server_code(&errors[0]), Some(ERROR_CODE));
    // Not released, so the lease stays until it expires; then it is free.
    assert!(env.lease_doc("job").await.is_some());
    let contender = env.peer().await;
    let next = contender
        .locks
        .acquire("job", Duration::from_secs(1), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(next.token(), token + 1);
}

#[tokio::test]
async fn an_acquire_slower_than_the_ttl_is_one_command_and_tokens_stay_in_order() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let ttl = Duration::from_millis(100);
    env.locks.setup().await.unwrap();
    // The acquire is held for 2.5 ttls by the server.
    let block = doc! { "blockConnection": true, "blockTimeMS": 250 };
    env.fail(doc! { "times": 1 }.into(), &["findAndModify"], block).await;
    env.take_commands();
    let slow = env.locks.try_lock("job", ttl).await;
    env.fail_off().await;
    let slow = slow.unwrap().expect("acquired");
    // The earlier protocol confirmed a slow acquisition with a third
    // command; the token now comes with the acquisition itself.
    assert_eq!(env.take_commands(), ["findAndModify"], "one command, however slow");
    tokio::time::sleep(ttl * 2).await;
    let next = env.peer().await.locks.try_lock("job", ttl).await.unwrap().expect("expired");
    assert_eq!(next.token(), slow.token() + 1);
}

#[tokio::test]
async fn the_signal_fires_before_the_server_expiry_on_a_clock_10_percent_fast_or_slow() {
    let _serial = ONE_AT_A_TIME.lock().await;
    for rate in [1.1, 0.9] {
        let env = Env::new().await;
        let locks = lock::Locks::new(&env.conn).with_clock(lock_util::RateClock::new(rate));
        let ttl = Duration::from_millis(500);
        let env_ref = &env;
        let before = Instant::now();
        let (fired_after, live_at_signal) = locks
            .lock("job", |signal| async move {
                // Every extension fails from now on: only the signal's own
                // deadline, read on the skewed clock, ends the lease.
                env_ref
                    .fail("alwaysOn".into(), &["findAndModify"], doc! { "errorCode": ERROR_CODE })
                    .await;
                signal.cancelled().await;
                (before.elapsed(), live_on_server(env_ref, "job").await)
            })
            .ttl(ttl)
            .retries(lock::MAX_RETRIES)
            .await
            .unwrap();
        env.fail_off().await;
        assert!(live_at_signal, "rate {rate}: the lease had expired when the signal fired");
        assert!(fired_after < ttl, "rate {rate}: fired {fired_after:?} after the acquire began");
        assert!(fired_after > ttl / 2, "rate {rate}: fired {fired_after:?}, before a heartbeat");
    }
}
