//! Lock figures: the commands an uncontended acquire+release sends
//! (counted by the driver's command monitoring), and eight waiters on one
//! key with `.wait`, woken by change streams and polling: critical
//! sections per second, hand-off latency (drawn as an SVG), and the
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
    /// Contention, woken by change streams then by polling.
    pub contention: Vec<Contention>,
}

/// Eight waiters on one key, waiting one way.
#[derive(Debug)]
pub struct Contention {
    /// `notified` (change streams) or `polling`.
    pub mode: &'static str,
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
    // Every waiter of the change-stream mode keeps a getMore waiting.
    options.max_pool_size = Some(2 * WAITERS as u32 + 4);
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
    for mode in ["notified", "polling"] {
        progress!(
            "lock: {WAITERS} waiters on one key ({mode}), {} critical sections",
            plan.contended_sections
        );
        contention.push(contend(plan, uri, &db, mode).await?);
    }
    client.database(&db).drop().await?;
    client.shutdown().await;
    Ok(LockResults { cycle_commands, closure_commands, raw_commands, contention })
}

/// Eight waiters on one key, waiting `mode`'s way, through a client of
/// their own; then the commands they send while another client holds it.
async fn contend(
    plan: &Plan,
    uri: &str,
    db: &str,
    mode: &'static str,
) -> Result<Contention, BoxError> {
    let (client, seen) = counting_client(uri).await?;
    let conn = Connection::from_client(client.clone(), db);
    let locks = if mode == "polling" { Locks::new(&conn).polling() } else { Locks::new(&conn) };
    let key = format!("contended-{mode}");
    let sections: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let target = plan.contended_sections;
    let started = Instant::now();
    let tasks: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (locks, sections, key) = (locks.clone(), sections.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    let done = sections.clone();
                    let more = locks
                        .lock(&key, |_signal| async move {
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

    // Held by another client for a while: what do the waiters send?
    let holder_client = mongodb::Client::with_uri_str(uri).await?;
    let holder = Locks::new(&Connection::from_client(holder_client.clone(), db));
    let idle_key = format!("held-{mode}");
    let held = holder.try_lock(&idle_key, LOCK_TTL).await?.ok_or("held")?;
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (locks, key) = (locks.clone(), idle_key.clone());
            tokio::spawn(async move {
                let lease = locks.acquire(&key, LOCK_TTL, Duration::from_secs(30)).await?;
                locks.release(&lease).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await; // settled: all waiting
    seen.lock().expect("not poisoned").clear();
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let idle = seen.lock().expect("not poisoned").len();
    holder.release(&held).await?;
    for waiter in waiters {
        waiter.await??;
    }
    holder_client.shutdown().await;
    client.shutdown().await;
    Ok(Contention {
        mode,
        sections: sections.len() as u64,
        wall,
        handoffs_ms,
        overlaps,
        idle_commands_per_waiter_sec: idle as f64 / WAITERS as f64 / window.as_secs_f64(),
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
        s += "\n| {WAITERS} waiters, `.wait` | sections/s | hand-off p50 ms | p99 ms | overlaps | commands per idle waiter per s |\n|---|--:|--:|--:|--:|--:|\n"
            .replace("{WAITERS}", &WAITERS.to_string())
            .as_str();
        for c in &self.contention {
            s += &format!(
                "| {} | {:.1} ({} in {:.2} s) | {:.2} | {:.2} | {} | {:.2} |\n",
                c.mode,
                c.per_second(),
                c.sections,
                c.wall.as_secs_f64(),
                Spread::quantile(&c.handoffs_ms, 0.5),
                Spread::quantile(&c.handoffs_ms, 0.99),
                c.overlaps,
                c.idle_commands_per_waiter_sec,
            );
        }
        s
    }

    /// JSON.
    pub fn json(&self) -> Value {
        json!({
            "cycle_commands": self.cycle_commands,
            "closure_commands": self.closure_commands,
            "raw_commands": self.raw_commands,
            "waiters": WAITERS,
            "contention": self.contention.iter().map(|c| json!({
                "mode": c.mode,
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
                format!("Lock hand-off latency, {WAITERS} waiters (cumulative share)"),
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
        for (c, color) in self.contention.iter().zip([BLUE, RED]) {
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
                    "{} (p50 {:.2} ms, p99 {:.2} ms)",
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
