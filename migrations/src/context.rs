//! What a step's body works with: the connection, the lease's signal,
//! and typed backfills that report progress and resume after a crash.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{StreamExt, TryStreamExt};
use std::time::{Duration, Instant};

use bson::{Bson, doc};
use lock::Signal;
use model_core::{Connection, Key as _, Model, Query, Repo, Sort, Update};

use crate::record::{BackfillProgress, Changelog};

/// A step's view of its run: what [`step!`](crate::step)'s body gets.
#[derive(Clone)]
pub struct StepContext {
    pub(crate) conn: Connection,
    pub(crate) signal: Signal,
    pub(crate) step: Arc<str>,
    pub(crate) changelog: Changelog,
    /// How far an earlier, interrupted run of this step's backfills went.
    pub(crate) progress: Arc<BTreeMap<String, BackfillProgress>>,
    /// How many backfills this run of the step has started: the index of
    /// the next, which names its progress.
    pub(crate) rewrites: Arc<AtomicUsize>,
}

impl std::fmt::Debug for StepContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepContext").field("step", &self.step).finish_non_exhaustive()
    }
}

/// A backfill stopped because the run's lease was lost: another runner
/// may be running the step. The runner reports
/// [`MigrationError::LeaseLost`](crate::MigrationError::LeaseLost).
#[derive(Debug, thiserror::Error)]
#[error("the migration lease was lost: the backfill stopped")]
pub struct LeaseLost;

/// How far a backfill has gone, given to [`Rewrite::on_progress`] after
/// every batch.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Documents read so far, an interrupted earlier run's included.
    pub done: u64,
    /// Documents this run rewrote (the function returned an update).
    pub rewritten: u64,
    /// Documents per second read by this run.
    pub per_second: f64,
}

impl StepContext {
    /// The connection the migrations run on.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The run's lease signal: fires when the lease is lost. Stop when it
    /// does (the backfills here check it between batches).
    pub fn signal(&self) -> &Signal {
        &self.signal
    }

    /// The step's name.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The repository of `M`.
    pub fn repo<M: Model>(&self) -> Repo<M> {
        self.conn.repo::<M>()
    }

    /// Applies `update` to every document of `M` matching `query`, in one
    /// `updateMany`; how many changed.
    ///
    /// # Errors
    /// [`LeaseLost`] if the lease was lost before it was sent; the
    /// repository's errors.
    pub async fn update_all<M: Model>(
        &self,
        query: Query<M>,
        update: Update<M>,
    ) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
        if self.signal.is_cancelled() {
            return Err(Box::new(LeaseLost));
        }
        let changed = self.conn.repo::<M>().update_many(query, update).await?;
        tracing::info!(step = %self.step, changed, "update_all applied");
        Ok(changed)
    }

    /// A read-modify-write over every document of `M` matching `query`,
    /// in key order and in batches: see [`Rewrite`].
    pub fn rewrite<M: Model>(&self, query: Query<M>) -> Rewrite<'_, M> {
        Rewrite { cx: self, query, batch: DEFAULT_BATCH, rate: None, on_progress: None }
    }
}

/// Documents a backfill reads per batch unless told.
pub const DEFAULT_BATCH: u64 = 500;

/// How many of a batch's updates a backfill has in flight at once.
const IN_FLIGHT: usize = 8;

type OnProgress = Box<dyn FnMut(Progress) + Send>;

/// `cx.rewrite(query)`: reads every matching document in key order,
/// [`batch`](Self::batch) documents at a time (memory stays bounded by a
/// batch), hands each to a function that returns the update to apply to
/// it (or `None`), and applies it by key. After each batch it records
/// where it is in the step's changelog record (each backfill of a step on
/// its own, by the order the body calls them), so a rerun of the step
/// resumes there and skips a backfill that finished (documents are never
/// skipped; the last batch before a crash may be applied again, so the
/// function should be idempotent). No update is sent once the lease's
/// signal has fired, though updates already sent may land. It
/// logs a `tracing` event with the counts and the rate, calls
/// [`on_progress`](Self::on_progress), sleeps to keep to
/// [`rate`](Self::rate), and stops with [`LeaseLost`] when the lease's
/// signal fires.
#[must_use = "a backfill does nothing until run"]
pub struct Rewrite<'a, M: Model> {
    cx: &'a StepContext,
    query: Query<M>,
    batch: u64,
    rate: Option<u32>,
    on_progress: Option<OnProgress>,
}

impl<M: Model> Rewrite<'_, M> {
    /// Documents per batch (1 to [`MAX_PAGE_LIMIT`](model_core::MAX_PAGE_LIMIT);
    /// default [`DEFAULT_BATCH`]).
    pub fn batch(mut self, batch: u64) -> Self {
        self.batch = batch;
        self
    }

    /// At most `per_second` documents read per second.
    pub fn rate(mut self, per_second: u32) -> Self {
        self.rate = Some(per_second);
        self
    }

    /// Called after every batch with the progress so far (a progress bar).
    pub fn on_progress(mut self, on_progress: impl FnMut(Progress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(on_progress));
        self
    }

    /// Runs the backfill: `rewrite` gets each document and returns the
    /// update to apply to it, or `None` to leave it. Returns the progress
    /// at the end.
    ///
    /// # Errors
    /// [`LeaseLost`] when the lease's signal fired; the repository's errors.
    pub async fn run(
        mut self,
        mut rewrite: impl FnMut(&M) -> Option<Update<M>> + Send,
    ) -> Result<Progress, Box<dyn std::error::Error + Send + Sync>> {
        let cx = self.cx;
        let repo = cx.conn.repo::<M>();
        // This backfill's place among the step's, and how far an earlier
        // run of the step took it.
        let index = cx.rewrites.fetch_add(1, Ordering::SeqCst);
        let earlier = cx.progress.get(&index.to_string()).cloned().unwrap_or_default();
        let before = u64::try_from(earlier.done).unwrap_or(0);
        if earlier.finished {
            return Ok(Progress { done: before, rewritten: 0, per_second: 0.0 });
        }
        let mut after: Option<Bson> = earlier.after;
        let started = Instant::now();
        let (mut read, mut rewritten) = (0_u64, 0_u64);
        let progress = |read: u64, rewritten: u64| Progress {
            done: before + read,
            rewritten,
            per_second: read as f64 / started.elapsed().as_secs_f64().max(1e-9),
        };
        loop {
            if cx.signal.is_cancelled() {
                return Err(Box::new(LeaseLost));
            }
            // The next batch in key order: a keyset on `_id` alone, which
            // the `_id` index serves.
            let mut query = self.query.clone();
            if let Some(after) = &after {
                query = query.and(Query::raw(doc! { "_id": { "$gt": after.clone() } }));
            }
            let batch: Vec<M> =
                repo.find_many(query).sort(Sort::key_order()).limit(self.batch).await?;
            let finished = (batch.len() as u64) < self.batch;
            if let Some(last) = batch.last() {
                after = Some(last.key().to_bson()?);
            }
            // The batch's updates, computed in order, then sent
            // `IN_FLIGHT` at a time: each a plain `update` by key (the
            // document is not read back), with the repository's
            // timestamps and version. None is sent once the lease is lost.
            let mut updates = Vec::new();
            for document in &batch {
                if let Some(update) = rewrite(document) {
                    updates.push((M::key_filter(document.key())?, update));
                }
            }
            let (repo, signal) = (&repo, &cx.signal);
            let sent: Vec<u64> = futures::stream::iter(updates)
                .map(|(key, update)| async move {
                    if signal.is_cancelled() {
                        return Err(Box::new(LeaseLost) as Box<dyn std::error::Error + Send + Sync>);
                    }
                    Ok(repo.update_many(Query::raw(key), update).await?)
                })
                .buffer_unordered(IN_FLIGHT)
                .try_collect()
                .await?;
            rewritten += sent.len() as u64;
            read += batch.len() as u64;
            let now = progress(read, rewritten);
            let kept = BackfillProgress {
                after: after.clone(),
                done: i64::try_from(now.done).unwrap_or(i64::MAX),
                finished,
            };
            cx.changelog.progress(&cx.step, cx.signal.owner(), index, &kept).await?;
            tracing::info!(
                step = %cx.step,
                backfill = index,
                done = now.done,
                rewritten = now.rewritten,
                per_second = now.per_second as u64,
                "backfill progress"
            );
            if let Some(on_progress) = &mut self.on_progress {
                on_progress(now);
            }
            if finished {
                return Ok(now);
            }
            if let Some(rate) = self.rate.filter(|r| *r > 0) {
                let due = Duration::from_secs_f64(read as f64 / f64::from(rate));
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}
