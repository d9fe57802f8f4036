//! Lock figures: the commands an uncontended acquire+release sends
//! (counted by the driver's command monitoring), and eight waiters on one
//! key with `.wait`: critical sections per second and hand-off latency.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::Connection;
use model::lock::Locks;
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::ClientOptions;
use serde_json::{Value, json};

use crate::Plan;
use crate::e2e::BoxError;
use crate::measure::Spread;
use crate::progress;
use crate::raw_lock::{LOCK_TTL, RawLocks};

/// How many tasks wait on the contended key.
const WAITERS: usize = 8;

/// What the lock section measured.
#[derive(Debug)]
pub struct LockResults {
    /// Commands (names, in order) of one `try_lock` + `release`.
    pub cycle_commands: Vec<String>,
    /// Commands of one `lock(key, closure)` whose closure returns at once.
    pub closure_commands: Vec<String>,
    /// Commands of the hand-written raw cycle.
    pub raw_commands: Vec<String>,
    /// Critical sections completed under contention.
    pub sections: u64,
    /// Wall time they took.
    pub wall: Duration,
    /// Hand-off latencies (one section's end -> the next one's start), ms.
    pub handoffs_ms: Vec<f64>,
    /// Sections that overlapped the previous one (must be 0).
    pub overlaps: usize,
}

/// Runs the lock measurements against `uri`.
pub fn run(plan: &Plan, uri: &str) -> Result<Option<LockResults>, BoxError> {
    let runtime = crate::Flavor::MultiThread.runtime();
    runtime.block_on(measure(plan, uri)).map(Some)
}

async fn measure(plan: &Plan, uri: &str) -> Result<LockResults, BoxError> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut options = ClientOptions::parse(uri).await?;
    let sink = seen.clone();
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            sink.lock().expect("not poisoned").push(started.command_name);
        }
    }));
    let client = mongodb::Client::with_options(options)?;
    let db = testkit::unique_name("bench_lock");
    let conn = Connection::from_client(client.clone(), db.as_str());
    let locks = Locks::new(&conn);
    locks.setup().await?;
    let raw = RawLocks::new(&client.database(&db));

    progress!("lock: commands per uncontended cycle");
    // Warm up (connection, collection creation by the first upsert).
    let lease = locks.try_lock("warm", LOCK_TTL).await?.ok_or("held")?;
    locks.release(&lease).await?;
    let cycle_commands = commands(&seen, async {
        let lease = locks.try_lock("cycle", LOCK_TTL).await?.ok_or("held")?;
        locks.release(&lease).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let closure_commands = commands(&seen, async {
        locks.lock("closure", |_| async {}).ttl(LOCK_TTL).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let raw_commands = commands(&seen, async {
        let (owner, _) = raw.try_lock("raw", LOCK_TTL).await?.ok_or("held")?;
        raw.release("raw", &owner).await?;
        Ok::<_, BoxError>(())
    })
    .await?;

    progress!("lock: {WAITERS} waiters on one key, {} critical sections", plan.contended_sections);
    let sections: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let target = plan.contended_sections;
    let started = Instant::now();
    let tasks: Vec<_> = (0..WAITERS)
        .map(|_| {
            let locks = locks.clone();
            let sections = sections.clone();
            tokio::spawn(async move {
                loop {
                    let done = sections.clone();
                    let more = locks
                        .lock("contended", |_signal| async move {
                            let start = Instant::now();
                            let mut done = done.lock().expect("not poisoned");
                            if done.len() as u64 >= target {
                                return false;
                            }
                            // The critical section itself is empty: the
                            // figure is the lock's own throughput.
                            done.push((start, Instant::now()));
                            true
                        })
                        .ttl(LOCK_TTL)
                        .wait(Duration::from_secs(60))
                        .await?;
                    if !more {
                        return Ok::<_, model::lock::LockingError>(());
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let wall = started.elapsed();
    let mut sections = std::mem::take(&mut *sections.lock().expect("not poisoned"));
    sections.sort_by_key(|(start, _)| *start);
    let mut handoffs_ms = Vec::new();
    let mut overlaps = 0;
    for pair in sections.windows(2) {
        let (previous_end, next_start) = (pair[0].1, pair[1].0);
        match next_start.checked_duration_since(previous_end) {
            Some(gap) => handoffs_ms.push(gap.as_secs_f64() * 1e3),
            None => overlaps += 1,
        }
    }
    client.database(&db).drop().await?;
    client.shutdown().await;
    Ok(LockResults {
        cycle_commands,
        closure_commands,
        raw_commands,
        sections: sections.len() as u64,
        wall,
        handoffs_ms,
        overlaps,
    })
}

/// The names of the commands `f` sends.
async fn commands(
    seen: &Mutex<Vec<String>>,
    f: impl Future<Output = Result<(), BoxError>>,
) -> Result<Vec<String>, BoxError> {
    seen.lock().expect("not poisoned").clear();
    f.await?;
    Ok(std::mem::take(&mut *seen.lock().expect("not poisoned")))
}

impl LockResults {
    fn per_second(&self) -> f64 {
        self.sections as f64 / self.wall.as_secs_f64()
    }

    /// Markdown.
    pub fn table(&self) -> String {
        let p50 = Spread::quantile(&self.handoffs_ms, 0.5);
        let p99 = Spread::quantile(&self.handoffs_ms, 0.99);
        let mut s = String::from("\n### Lock\n\n| figure | value |\n|---|--:|\n");
        s += &format!(
            "| commands per uncontended try_lock + release | {} ({}) |\n",
            self.cycle_commands.len(),
            self.cycle_commands.join(", ")
        );
        s += &format!(
            "| commands per uncontended lock(key, closure) | {} ({}) |\n",
            self.closure_commands.len(),
            self.closure_commands.join(", ")
        );
        s += &format!(
            "| commands per hand-written raw cycle | {} ({}) |\n",
            self.raw_commands.len(),
            self.raw_commands.join(", ")
        );
        s += &format!(
            "| {WAITERS} waiters, `.wait`: critical sections/s | {:.1} ({} sections in {:.2} s) |\n",
            self.per_second(),
            self.sections,
            self.wall.as_secs_f64()
        );
        s += &format!("| hand-off latency p50 (release → next holder) | {p50:.2} ms |\n");
        s += &format!("| hand-off latency p99 | {p99:.2} ms |\n");
        s += &format!("| overlapping critical sections | {} |\n", self.overlaps);
        s
    }

    /// JSON.
    pub fn json(&self) -> Value {
        json!({
            "cycle_commands": self.cycle_commands,
            "closure_commands": self.closure_commands,
            "raw_commands": self.raw_commands,
            "waiters": WAITERS,
            "sections": self.sections,
            "seconds": self.wall.as_secs_f64(),
            "sections_per_sec": crate::report::round3(self.per_second()),
            "handoff_ms_p50": crate::report::round3(Spread::quantile(&self.handoffs_ms, 0.5)),
            "handoff_ms_p99": crate::report::round3(Spread::quantile(&self.handoffs_ms, 0.99)),
            "overlaps": self.overlaps,
        })
    }
}
