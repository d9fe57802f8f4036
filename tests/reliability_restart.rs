//! The server dies: killed with SIGKILL mid-workload and restarted on the
//! same port from its data directory, or paused with SIGSTOP. Calls during
//! the outage fail fast with clear errors, calls after it succeed, every
//! acknowledged write is still there, and a lock holder learns it lost the
//! lease before anyone else can take it.
//!
//! Each test runs its own server; with `MONGODB_URI` set they are skipped.
#![allow(unsafe_code)] // SIGSTOP, SIGCONT and SIGKILL of child processes (libc::kill)

mod reliability;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use model::{Error, Repo, Uuid};
use mongodb::options::{Acknowledgment, WriteConcern};
use reliability::*;
use testkit::ServerProcess;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// What the writer has seen so far.
#[derive(Debug, Default, Clone)]
struct Progress {
    acknowledged: usize,
    failed: usize,
    last_acknowledged: Option<Instant>,
}

/// One insert of the writer and how it ended.
struct Outcome {
    id: Uuid,
    result: Result<(), Error>,
    took: Duration,
}

/// Inserts items one after another, each with a fresh key, until stopped.
struct Writer {
    progress: watch::Receiver<Progress>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Outcome>>,
}

impl Writer {
    fn start(items: Repo<Item>) -> Writer {
        let (progress, receiver) = watch::channel(Progress::default());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let id = Uuid::new();
                let began = Instant::now();
                let insert = item_with_id(id, format!("w{}", outcomes.len()), "w");
                let result = items.insert_one(insert).await.map(drop);
                progress.send_modify(|p| match result {
                    Ok(()) => {
                        p.acknowledged += 1;
                        p.last_acknowledged = Some(Instant::now());
                    }
                    Err(_) => p.failed += 1,
                });
                outcomes.push(Outcome { id, result, took: began.elapsed() });
            }
            outcomes
        });
        Writer { progress: receiver, stop, task }
    }

    /// Waits until `done` holds for the progress.
    async fn until(&mut self, done: impl FnMut(&Progress) -> bool) -> Progress {
        let waited = tokio::time::timeout(Duration::from_secs(60), self.progress.wait_for(done));
        waited.await.expect("the writer stalled").unwrap().clone()
    }

    async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Acknowledged writes missing, and stored documents nobody wrote.
async fn audit(items: &Repo<Item>, outcomes: &[Outcome]) -> (u64, u64) {
    let stored: Vec<Uuid> = items
        .find_many(Item::GROUP.eq("w"))
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.id)
        .collect();
    let duplicated = duplicates(stored.iter().copied());
    let stored: HashSet<Uuid> = stored.into_iter().collect();
    let acknowledged: HashSet<Uuid> =
        outcomes.iter().filter(|o| o.result.is_ok()).map(|o| o.id).collect();
    let attempted: HashSet<Uuid> = outcomes.iter().map(|o| o.id).collect();
    let lost = acknowledged.difference(&stored).count() as u64;
    let phantom = stored.difference(&attempted).count() as u64;
    (lost, duplicated + phantom)
}

/// Restarts the server on `port` from `dir`, and says how long it took.
async fn restart(dir: &DataDir, port: u16) -> ServerProcess {
    let began = Instant::now();
    let server = start_server(dir.path(), Some(port)).await;
    println!("[reliability] restarted on port {port} in {:?}", began.elapsed());
    server
}

/// Every failure of `outcomes` must be a clear outage error, returned
/// within the server selection timeout (plus scheduling slack); returns how
/// many found no server.
fn check_outage_errors(outcomes: &[Outcome], host: &str, selection: Duration) -> usize {
    let mut selection_failures = 0;
    for outcome in outcomes {
        let Err(error) = &outcome.result else {
            continue;
        };
        // The write in flight when the server died fails with a network
        // error; later ones find no server within the selection timeout.
        if is_server_selection_error(error) {
            selection_failures += 1;
            assert!(whole_chain(error).contains(host), "the error names {host}: {error}");
        } else {
            assert!(is_network_error(error), "not a clear outage error: {error:?}");
        }
        let took = outcome.took;
        assert!(took < selection + Duration::from_secs(2), "failed only after {took:?}: {error:?}");
    }
    selection_failures
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_a_restart_on_the_same_port() {
    const NAME: &str = "acknowledged_writes_survive_kill_9_and_a_restart_on_the_same_port";
    if !can_control_servers(NAME) {
        return;
    }
    let dir = DataDir::new();
    let mut server = start_server(dir.path(), None).await;
    let port = server.port();
    let selection = Duration::from_millis(500);
    let spec = ClientSpec { server_selection_timeout: selection, ..ClientSpec::default() };
    // The asserted workload waits for the journal; a second one, with the
    // default write concern (w: 1, j: false), measures what that risks.
    let journaled =
        Client::on(server.uri(), "journaled", ClientSpec { journal: true, ..spec.clone() }).await;
    let unjournaled = Client::on(server.uri(), "unjournaled", spec).await;
    let (items, plain_items) = (journaled.conn.repo::<Item>(), unjournaled.conn.repo::<Item>());
    let (cycles, outage, batch) =
        if heavy() { (5, Duration::from_secs(5), 300) } else { (1, Duration::from_secs(1), 40) };

    let mut writer = Writer::start(items.clone());
    let plain_writer = Writer::start(plain_items.clone());
    let mut figures = Figures::default();
    writer.until(|p| p.acknowledged >= batch).await;
    for _ in 0..cycles {
        let failed_before = writer.progress.borrow().failed;
        server.kill();
        let killed = Instant::now();
        figures.faults += 1;
        // Calls fail while the server is down: wait for one, then let the
        // outage run its course.
        let down = writer.until(|p| p.failed > failed_before).await;
        tokio::time::sleep(outage.saturating_sub(killed.elapsed())).await;
        server = restart(&dir, port).await;
        let back = writer.until(|p| p.acknowledged > down.acknowledged).await;
        let survived = back.last_acknowledged.unwrap() - killed;
        figures.longest_outage = figures.longest_outage.max(survived);
        writer.until(|p| p.acknowledged >= back.acknowledged + batch).await;
    }
    let outcomes = writer.finish().await;
    let plain_outcomes = plain_writer.finish().await;

    let host = format!("127.0.0.1:{port}");
    let found_no_server = check_outage_errors(&outcomes, &host, selection);
    assert!(found_no_server >= 1, "calls made during the outage failed");
    check_outage_errors(&plain_outcomes, &host, selection);

    let (lost, duplicated) = audit(&items, &outcomes).await;
    let (plain_lost, plain_duplicated) = audit(&plain_items, &plain_outcomes).await;
    let acknowledged = |o: &[Outcome]| o.iter().filter(|o| o.result.is_ok()).count();
    figures.operations = (outcomes.len() + plain_outcomes.len()) as u64;
    figures.lost = lost;
    figures.duplicated = duplicated + plain_duplicated;
    figures.print(NAME);
    println!(
        "[reliability] {NAME}: j:true {} acknowledged, {} failed, {lost} lost; \
         w:1 {} acknowledged, {} failed, {plain_lost} lost (w:1 does not promise durability); {cycles} outage(s)",
        acknowledged(&outcomes),
        outcomes.len() - acknowledged(&outcomes),
        acknowledged(&plain_outcomes),
        plain_outcomes.len() - acknowledged(&plain_outcomes),
    );
    assert_eq!((lost, duplicated), (0, 0), "every journaled acknowledged write is there, once");
    assert_eq!(plain_duplicated, 0, "nothing stored that was not written");
    drop(server);
}

#[tokio::test]
async fn a_paused_server_makes_calls_time_out_and_loses_nothing_when_it_resumes() {
    const NAME: &str = "a_paused_server_makes_calls_time_out_and_loses_nothing_when_it_resumes";
    let Some((_dir, server, pid, c)) = pausable_server(NAME, "pause").await else {
        return;
    };
    let timeout = Duration::from_millis(300);
    let items = c.conn.with_timeout(timeout).repo::<Item>();
    let pause = Duration::from_millis(1500);

    let mut writer = Writer::start(items.clone());
    writer.until(|p| p.acknowledged >= 40).await;
    let failed_before = writer.progress.borrow().failed;
    // SAFETY: plain kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let paused = Instant::now();
    let stuck = writer.until(|p| p.failed > failed_before).await;
    tokio::time::sleep(pause.saturating_sub(paused.elapsed())).await;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let resumed = writer.until(|p| p.acknowledged > stuck.acknowledged).await;
    let survived = resumed.last_acknowledged.unwrap() - paused;
    writer.until(|p| p.acknowledged >= resumed.acknowledged + 40).await;
    let outcomes = writer.finish().await;

    for outcome in &outcomes {
        if let Err(error) = &outcome.result {
            assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
            assert!(outcome.took < timeout + Duration::from_millis(700), "took {:?}", outcome.took);
        }
    }
    // A timed-out insert may have been applied when the server resumed: it
    // counts as attempted, not as phantom.
    let (lost, duplicated) = audit(&c.conn.repo::<Item>(), &outcomes).await;
    let figures = Figures {
        faults: 1,
        operations: outcomes.len() as u64,
        lost,
        duplicated,
        longest_outage: survived,
        ..Figures::default()
    };
    figures.print(NAME);
    assert_eq!((lost, duplicated), (0, 0));
    drop(server);
}

/// Majority write concern, journaled.
fn journaled() -> WriteConcern {
    WriteConcern::builder().w(Acknowledgment::Majority).journal(true).build()
}

/// Contender's view of one key while the holder is cut off.
struct Contention {
    held_seen: u32,
    acquired: lock::Lease,
}

/// Tries to take `key` every 20 ms until it gets it.
async fn contend(locks: &lock::Locks, key: &str, ttl: Duration) -> Contention {
    let mut held_seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the contender never got the lock");
        match locks.try_lock(key, ttl).await {
            Ok(Some(acquired)) => {
                return Contention { held_seen, acquired };
            }
            Ok(None) => held_seen += 1,
            Err(error) => println!("[reliability] contender: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A holder takes `job` on a dedicated server, which is then killed; it
/// retries its extension `retries` times. Once it has been signalled the
/// server restarts from its data and a contender tries to take `job`.
/// Returns how long before the lease's end the holder was signalled
/// (`None` when skipped).
async fn cut_off_holder(name: &str, retries: u32, ttl: Duration) -> Option<Duration> {
    if !can_control_servers(name) {
        return None;
    }
    let dir = DataDir::new();
    let mut server = start_server(dir.path(), None).await;
    let port = server.port();
    let spec = ClientSpec {
        server_selection_timeout: Duration::from_millis(200),
        ..ClientSpec::default()
    };
    let holder = Client::on(server.uri(), "locks", spec).await;
    // Journaled: SecantusDB does not journal a majority write unless asked
    // (mongod does, by default), and an unjournaled acquisition can be lost
    // to SIGKILL, handing the next holder the same fencing token.
    let holder_locks = lock::Locks::new(&holder.conn).with_write_concern(journaled());

    let (held_tx, held_rx) = oneshot::channel();
    let (signal_tx, signal_rx) = oneshot::channel::<SystemTime>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = errors.clone();
    let holding = tokio::spawn(async move {
        holder_locks
            .lock("job", |signal| async move {
                held_tx.send(signal.token()).unwrap();
                signal.cancelled().await;
                signal_tx.send(SystemTime::now()).unwrap();
                // Still busy, and no longer extending: the lease must stay
                // until it expires.
                let _ = done_rx.await;
            })
            .ttl(ttl)
            .retries(retries)
            .on_error(move |error| sink.lock().unwrap().push(error.to_string()))
            .await
    });
    let token = tokio::time::timeout(Duration::from_secs(10), held_rx).await.unwrap().unwrap();
    server.kill();
    let killed = Instant::now();
    let signalled = tokio::time::timeout(ttl + Duration::from_secs(2), signal_rx)
        .await
        .expect("no signal")
        .unwrap();
    server = restart(&dir, port).await;
    let outage = killed.elapsed();

    // The lease survived the restart: read its expiry (the server's clock).
    let observer = Client::on(server.uri(), "locks", ClientSpec::default()).await;
    let observer_locks = lock::Locks::new(&observer.conn).with_write_concern(journaled());
    let lease = observer_locks.repo().find(&"job".to_string()).await.unwrap();
    let expires_at = lease.expires_at.to_system_time();
    let warning = expires_at.duration_since(signalled).unwrap_or_default();
    assert!(
        signalled < expires_at,
        "the signal came at {signalled:?}, after the lease ended at {expires_at:?}"
    );

    let contention = contend(&observer_locks, "job", ttl).await;
    // When the server granted it: its expiry minus its ttl, by the server's clock.
    let granted_at = contention.acquired.expires_at().to_system_time() - ttl;
    let violations = u64::from(granted_at < expires_at);
    done_tx.send(()).unwrap();
    holding.await.unwrap().unwrap();

    let figures = Figures {
        faults: 1,
        operations: u64::from(contention.held_seen) + 3,
        exclusion_violations: violations,
        longest_outage: outage,
        ..Figures::default()
    };
    figures.print(name);
    println!(
        "[reliability] {name}: signal {warning:?} before expiry, contender refused {} times, granted {:?} after expiry",
        contention.held_seen,
        granted_at.duration_since(expires_at).unwrap_or_default(),
    );
    assert_eq!(
        violations,
        0,
        "the contender got the lock {:?} early",
        expires_at.duration_since(granted_at)
    );
    assert!(
        contention.acquired.token() > token,
        "fencing tokens increase across the restart: holder {token}, then {}",
        contention.acquired.token()
    );
    let errors = errors.lock().unwrap().clone();
    assert!(
        !errors.is_empty() && errors[0].contains("not extended"),
        "on_error heard of the loss: {errors:?}"
    );
    drop(server);
    Some(warning)
}

#[tokio::test]
async fn a_lock_holder_whose_extension_fails_is_signalled_before_its_lease_ends_and_nobody_takes_it_early()
 {
    // No retries: the first failed extension (at ttl/2) is the loss, and the
    // server is back well before the lease ends, so the contender must be
    // refused until then.
    let name = "a_lock_holder_whose_extension_fails_is_signalled_before_its_lease_ends_and_nobody_takes_it_early";
    cut_off_holder(name, 0, Duration::from_secs(6)).await;
}

#[tokio::test]
async fn a_lock_holder_retrying_through_an_outage_gives_up_before_its_lease_ends() {
    // Retries without end: the holder gives up by the deadline, a fifth of
    // the ttl before the lease could end.
    let name = "a_lock_holder_retrying_through_an_outage_gives_up_before_its_lease_ends";
    let ttl = Duration::from_secs(3);
    if let Some(warning) = cut_off_holder(name, lock::MAX_RETRIES, ttl).await {
        assert!(warning >= ttl / 20, "signalled only {warning:?} before the lease ended");
    }
}
