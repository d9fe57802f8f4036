//! Four workers, one job at a time: a distributed lock on MongoDB.
//!
//! Each worker wants to run the same job three times. The lock lets one
//! run at a time; the others wait for it. Each run gets a fencing token
//! higher than every earlier run's.
//!
//! Uses `MONGODB_URI` when set; otherwise starts a local test server.
//! Run: `cargo run --example lock`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use model::lock::{LockingError, Locks};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?; // MONGODB_URI, or a local server
    let conn = model::Connection::new(&server.uri, testkit::unique_name("lock_example"));
    let locks = Locks::new(&conn);
    locks.setup().await?; // the validator and index of `locks`, once at startup

    let running = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 1..=4 {
        let locks = locks.clone();
        let running = running.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..3 {
                let running = &running;
                locks
                    .lock("nightly-report", |signal| async move {
                        let others = running.fetch_add(1, Ordering::SeqCst);
                        println!("worker {worker} runs the job (token {})", signal.token());
                        assert_eq!(others, 0, "two workers ran the job at once");
                        // The work; a real job would stop when signal.is_cancelled().
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .ttl(Duration::from_secs(2))
                    .wait(Duration::from_secs(10))
                    .on_error(move |error| eprintln!("worker {worker}: {error}"))
                    .await?;
                // Other work, outside the lock, before wanting the job again.
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            Ok::<_, LockingError>(())
        }));
    }
    for worker in workers {
        worker.await??;
    }

    // Without `.wait`, a held lock fails at once.
    let held = locks.try_lock("nightly-report", Duration::from_secs(2)).await?.expect("free");
    let busy = locks.lock("nightly-report", |_| async {}).await;
    println!("while held: {}", busy.unwrap_err());
    locks.release(&held).await?;

    conn.database().await?.drop().await?;
    conn.disconnect().await;
    Ok(())
}
