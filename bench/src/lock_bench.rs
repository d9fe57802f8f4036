//! Lock figures: the commands an uncontended acquire+release sends
//! (counted by the driver's command monitoring), and 8 then 64 waiters on
//! one key with `.wait`, split over two clients (each with its own `Locks`
//! and change stream), woken by change streams and polling: critical
//! sections per second, hand-off latency (drawn as an SVG), commands per
//! hand-off, fairness (acquisitions per waiter, longest wait), and the
//! commands each waiter sends while the lock is held.

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

/// How many tasks wait on the contended key, in each run.
const WAITERS: [usize; 2] = [8, 64];

/// The clients the waiters are split over.
const CLIENTS: usize = 2;

/// What the lock section measured.
#[derive(Debug)]
pub struct LockResults {
    /// Commands (names, in order) of one `try_lock` + `release`.
    pub cycle_commands: Vec<String>,
    /// Commands of one `lock(key, closure)` whose closure returns at once.
    pub closure_commands: Vec<String>,
    /// Commands of the hand-written raw cycle.
    pub raw_commands: Vec<String>,
    /// Contention, woken by change streams then by polling.
    pub contention: Vec<Contention>,
    /// The contention runs that failed, with their errors.
    pub failed: Vec<String>,
}

/// Waiters on one key, waiting one way.
#[derive(Debug)]
pub struct Contention {
    /// `notified` (change streams) or `polling`.
    pub mode: &'static str,
    /// How many tasks waited.
    pub waiters: usize,
    /// Commands sent by the waiters' clients while contending, per
    /// critical section (all / without `getMore`).
    pub commands_per_handoff: (f64, f64),
    /// Sections each waiter ran: the fewest and the most.
    pub sections_per_waiter: (u64, u64),
    /// The longest a waiter waited for one section, ms.
    pub longest_wait_ms: f64,
    /// Critical sections completed under contention.
    pub sections: u64,
    /// Wall time they took.
    pub wall: Duration,
    /// Hand-off latencies (one section's end -> the next one's start), ms.
    pub handoffs_ms: Vec<f64>,
    /// Sections that overlapped the previous one (must be 0).
    pub overlaps: usize,
    /// Commands each waiter sent per second while the lock was held by
    /// someone else for a second.
    pub idle_commands_per_waiter_sec: f64,
}

/// A client that counts the commands it sends.
async fn counting_client(
    uri: &str,
) -> Result<(mongodb::Client, Arc<Mutex<Vec<String>>>), BoxError> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut options = ClientOptions::parse(uri).await?;
    let sink = seen.clone();
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            sink.lock().expect("not poisoned").push(started.command_name);
        }
    }));
    // As a service would: waiters share a bounded pool (SecantusDB closed
    // connections under 64 polling waiters with a pool each could fill).
    options.max_pool_size = Some(16);
    Ok((mongodb::Client::with_options(options)?, seen))
}

/// Runs the lock measurements against `uri`.
pub fn run(plan: &Plan, uri: &str) -> Result<Option<LockResults>, BoxError> {
    let runtime = crate::Flavor::MultiThread.runtime();
    let results = runtime.block_on(measure(plan, uri))?;
    let svg = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lock-handoff.svg");
    std::fs::create_dir_all(svg.parent().expect("a parent"))?;
    results.plot(&svg)?;
    progress!("lock: hand-off latencies drawn in {}", svg.display());
    Ok(Some(results))
}

async fn measure(plan: &Plan, uri: &str) -> Result<LockResults, BoxError> {
    let (client, seen) = counting_client(uri).await?;
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

    let mut contention = Vec::new();
    let mut failed = Vec::new();
    for waiters in WAITERS {
        for mode in ["notified", "polling"] {
            progress!(
                "lock: {waiters} waiters on one key over {CLIENTS} clients ({mode}), {} critical sections",
                plan.contended_sections
            );
            match contend(plan, uri, &db, mode, waiters).await {
                Ok(run) => contention.push(run),
                // Reported, and the other runs go on.
                Err(error) => {
                    progress!("lock: {waiters} waiters ({mode}) failed: {error}");
                    failed.push(format!("{waiters} {mode}: {error}"));
                }
            }
        }
    }
    // Best effort: the figures are in already.
    let _ = client.database(&db).drop().await;
    client.shutdown().await;
    Ok(LockResults { cycle_commands, closure_commands, raw_commands, contention, failed })
}

/// `waiters` tasks on one key, waiting `mode`'s way, split over
/// [`CLIENTS`] clients of their own; then the commands they send while
/// another client holds it.
async fn contend(
    plan: &Plan,
    uri: &str,
    db: &str,
    mode: &'static str,
    waiters: usize,
) -> Result<Contention, BoxError> {
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (client, seen) = counting_client(uri).await?;
        let conn = Connection::from_client(client.clone(), db);
        let locks = if mode == "polling" { Locks::new(&conn).polling() } else { Locks::new(&conn) };
        clients.push((client, seen, locks));
    }
    let key = format!("contended-{mode}-{waiters}");
    let sections: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let target = plan.contended_sections;
    for (_, seen, _) in &clients {
        seen.lock().expect("not poisoned").clear();
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..waiters)
        .map(|waiter| {
            let locks = clients[waiter % CLIENTS].2.clone();
            let (sections, key) = (sections.clone(), key.clone());
            tokio::spawn(async move {
                let (mut ran, mut longest) = (0_u64, Duration::ZERO);
                loop {
                    let done = sections.clone();
                    let asked = Instant::now();
                    let more = locks
                        .lock(&key, |_signal| async move {
                            let start = Instant::now();
                            let mut done = done.lock().expect("not poisoned");
                            if done.len() as u64 >= target {
                                return None;
                            }
                            // The critical section itself is empty: the
                            // figure is the lock's own throughput.
                            done.push((start, Instant::now()));
                            Some(start)
                        })
                        .ttl(LOCK_TTL)
                        .wait(Duration::from_secs(120))
                        .await?;
                    let Some(start) = more else {
                        return Ok::<_, model::lock::LockingError>((ran, longest));
                    };
                    ran += 1;
                    longest = longest.max(start - asked);
                }
            })
        })
        .collect();
    let mut per_waiter = Vec::new();
    for task in tasks {
        per_waiter.push(task.await??);
    }
    let wall = started.elapsed();
    let sent: Vec<String> = clients
        .iter()
        .flat_map(|(_, seen, _)| std::mem::take(&mut *seen.lock().expect("not poisoned")))
        .collect();
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
    let n = sections.len().max(1) as f64;
    let without_get_more = sent.iter().filter(|c| *c != "getMore").count();
    let commands_per_handoff = (sent.len() as f64 / n, without_get_more as f64 / n);
    let fewest = per_waiter.iter().map(|(ran, _)| *ran).min().unwrap_or(0);
    let most = per_waiter.iter().map(|(ran, _)| *ran).max().unwrap_or(0);
    let longest = per_waiter.iter().map(|(_, wait)| *wait).max().unwrap_or_default();

    // Held by another client for a while: what do the waiters send?
    let holder_client = mongodb::Client::with_uri_str(uri).await?;
    let holder = Locks::new(&Connection::from_client(holder_client.clone(), db));
    let idle_key = format!("held-{mode}-{waiters}");
    let held = holder.try_lock(&idle_key, LOCK_TTL).await?.ok_or("held")?;
    let idle_waiters: Vec<_> = (0..waiters)
        .map(|waiter| {
            let (locks, key) = (clients[waiter % CLIENTS].2.clone(), idle_key.clone());
            tokio::spawn(async move {
                let lease = locks.acquire(&key, LOCK_TTL, Duration::from_secs(60)).await?;
                locks.release(&lease).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await; // settled: all waiting
    for (_, seen, _) in &clients {
        seen.lock().expect("not poisoned").clear();
    }
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let idle: usize = clients
        .iter()
        .map(|(_, seen, _)| {
            let seen = seen.lock().expect("not poisoned");
            seen.iter().filter(|c| *c != "getMore").count()
        })
        .sum();
    holder.release(&held).await?;
    for waiter in idle_waiters {
        waiter.await??;
    }
    holder_client.shutdown().await;
    for (client, _, _) in clients {
        client.shutdown().await;
    }
    Ok(Contention {
        mode,
        waiters,
        commands_per_handoff,
        sections_per_waiter: (fewest, most),
        longest_wait_ms: longest.as_secs_f64() * 1e3,
        sections: sections.len() as u64,
        wall,
        handoffs_ms,
        overlaps,
        idle_commands_per_waiter_sec: idle as f64 / waiters as f64 / window.as_secs_f64(),
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

impl Contention {
    fn per_second(&self) -> f64 {
        self.sections as f64 / self.wall.as_secs_f64()
    }
}

impl LockResults {
    /// Markdown.
    pub fn table(&self) -> String {
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
        s += "\n| waiters over 2 clients, `.wait` | sections/s | hand-off p50 ms | p99 ms | commands per hand-off (without getMore) | sections per waiter (min–max) | longest wait ms | overlaps | commands per idle waiter per s (without getMore) |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
        for c in &self.contention {
            s += &format!(
                "| {} {} | {:.1} ({} in {:.2} s) | {:.2} | {:.2} | {:.2} ({:.2}) | {}–{} | {:.0} | {} | {:.2} |\n",
                c.waiters,
                c.mode,
                c.per_second(),
                c.sections,
                c.wall.as_secs_f64(),
                Spread::quantile(&c.handoffs_ms, 0.5),
                Spread::quantile(&c.handoffs_ms, 0.99),
                c.commands_per_handoff.0,
                c.commands_per_handoff.1,
                c.sections_per_waiter.0,
                c.sections_per_waiter.1,
                c.longest_wait_ms,
                c.overlaps,
                c.idle_commands_per_waiter_sec,
            );
        }
        for failed in &self.failed {
            s += &format!("\nFailed: {failed}\n");
        }
        s
    }

    /// JSON.
    pub fn json(&self) -> Value {
        json!({
            "cycle_commands": self.cycle_commands,
            "closure_commands": self.closure_commands,
            "raw_commands": self.raw_commands,
            "clients": CLIENTS,
            "failed": self.failed,
            "contention": self.contention.iter().map(|c| json!({
                "mode": c.mode,
                "waiters": c.waiters,
                "commands_per_handoff": crate::report::round3(c.commands_per_handoff.0),
                "commands_per_handoff_without_getmore": crate::report::round3(c.commands_per_handoff.1),
                "sections_per_waiter_min": c.sections_per_waiter.0,
                "sections_per_waiter_max": c.sections_per_waiter.1,
                "longest_wait_ms": crate::report::round3(c.longest_wait_ms),
                "sections": c.sections,
                "seconds": c.wall.as_secs_f64(),
                "sections_per_sec": crate::report::round3(c.per_second()),
                "handoff_ms_p50": crate::report::round3(Spread::quantile(&c.handoffs_ms, 0.5)),
                "handoff_ms_p99": crate::report::round3(Spread::quantile(&c.handoffs_ms, 0.99)),
                "overlaps": c.overlaps,
                "idle_commands_per_waiter_sec": crate::report::round3(c.idle_commands_per_waiter_sec),
            })).collect::<Vec<_>>(),
        })
    }

    /// Draws the hand-off latency distributions (one cumulative curve per
    /// way of waiting) as an SVG at `path`.
    pub fn plot(&self, path: &std::path::Path) -> Result<(), BoxError> {
        use plotters::prelude::*;
        let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let most = self
            .contention
            .iter()
            .flat_map(|c| c.handoffs_ms.iter().copied())
            .fold(1.0_f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Lock hand-off latency, waiters over 2 clients (cumulative share)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d((0.05_f64..most * 1.1).log_scale(), 0.0_f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("release → next holder (ms, log scale)")
            .y_desc("share of hand-offs")
            .draw()?;
        for (c, color) in self.contention.iter().zip([BLUE, RED, GREEN, MAGENTA]) {
            let mut sorted = c.handoffs_ms.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len().max(1) as f64;
            let points: Vec<(f64, f64)> = sorted
                .iter()
                .enumerate()
                .map(|(i, ms)| (ms.max(0.05), (i + 1) as f64 / n))
                .collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(format!(
                    "{} {} (p50 {:.2} ms, p99 {:.2} ms)",
                    c.waiters,
                    c.mode,
                    Spread::quantile(&c.handoffs_ms, 0.5),
                    Spread::quantile(&c.handoffs_ms, 0.99)
                ))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
        root.present()?;
        Ok(())
    }
}
