//! The runner: one per fleet, under a lease of the lock crate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use lock::{LockingError, Locks, Reason, Signal};
use model_core::{Connection, Migration, MigrationReport, Model};
use mongodb::options::ValidationLevel;

use crate::context::{LeaseLost, StepContext};
use crate::error::{MigrationError, Result};
use crate::record::{CHANGELOG, Changelog, StepRecord, StepState};
use crate::step::Step;

/// The default ttl of the run's lease; the heartbeat extends it every half.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// How long a run waits for another runner's lease by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);

/// Versioned data migrations: an ordered list of named [`Step`]s, each
/// applied once per database, and the models whose validators and
/// indexes are synced after them.
///
/// [`run`](Self::run) takes a lease from the lock crate (heartbeat,
/// server clock), so one process of a fleet runs the steps while the
/// others wait and then find them applied. Each step is recorded
/// `applying` before it runs and `applied` after, in a write fenced by
/// the lease: a runner that lost its lease cannot record a step. A step
/// left `applying` or `failed` blocks later runs until
/// [`resolve`](Self::resolve)d, unless it is
/// [`rerunnable`](Step::rerunnable). An applied step whose definition
/// changed is refused, unless [`rebaseline`](Self::rebaseline)d.
///
/// ```no_run
/// # async fn demo(conn: model_core::Connection) -> Result<(), migrations::MigrationError> {
/// use migrations::{Migrations, StepContext, step};
/// let report = Migrations::new(&conn)
///     .step(step!("2026-12-01-nothing-yet", |cx: StepContext| async move {
///         let _ = cx.connection();
///         Ok(())
///     }))
///     .run()
///     .await?;
/// println!("applied {:?}", report.applied);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Migrations {
    conn: Connection,
    locks: Locks,
    steps: Vec<Step>,
    schema: Vec<Migration>,
    changelog: String,
    lease_key: String,
    ttl: Duration,
    wait: Duration,
}

impl std::fmt::Debug for Migrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrations")
            .field("steps", &self.steps)
            .field("changelog", &self.changelog)
            .field("lease_key", &self.lease_key)
            .field("ttl", &self.ttl)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What a run did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunReport {
    /// The steps this run applied, in order.
    pub applied: Vec<String>,
    /// How many steps were applied already.
    pub already_applied: usize,
    /// The schema sync's report per synced model.
    pub schema: Vec<MigrationReport>,
}

/// Where a step stands, as [`Migrations::plan`] reads it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StepStatus {
    /// Applied with this definition.
    Applied,
    /// Not applied yet: the next run applies it.
    Pending,
    /// Applied with another definition: the next run refuses
    /// ([`MigrationError::Edited`]).
    Edited {
        /// The checksum recorded.
        recorded: String,
    },
    /// Left `applying` or `failed`: the next run refuses unless the step is
    /// rerunnable ([`MigrationError::Crashed`]).
    Crashed {
        /// The record's state.
        state: StepState,
        /// The runner that left it.
        runner: String,
    },
}

/// One step in a [`Plan`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlannedStep {
    /// The step's name.
    pub name: String,
    /// The checksum of its definition now.
    pub checksum: String,
    /// Where it stands.
    pub status: StepStatus,
    /// For a declared backfill ([`update_all!`](crate::update_all)) not yet
    /// applied, how many documents it would touch now.
    pub touches: Option<u64>,
}

/// What a run would do, read without writing anything.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    /// Every step of the list, in order.
    pub steps: Vec<PlannedStep>,
    /// The schema changes the sync would make, per synced model.
    pub schema: Vec<MigrationReport>,
}

impl Plan {
    /// The steps a run would apply.
    pub fn pending(&self) -> impl Iterator<Item = &PlannedStep> {
        self.steps.iter().filter(|s| s.status != StepStatus::Applied)
    }
}

/// How to resolve a step left `applying` or `failed` ([`Migrations::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// Its effect is complete (checked by hand): record it applied.
    Applied,
    /// Run it again on the next run; its backfills resume where they
    /// stopped.
    Retry,
    /// Run it again on the next run, its backfills from the start.
    Restart,
}

/// What [`Migrations::resolve`] and [`Migrations::rebaseline`] do to a
/// step's record.
#[derive(Debug, Clone, Copy)]
enum Amend {
    /// A crashed step recorded applied.
    Applied,
    /// A crashed step marked to run again.
    Retry,
    /// A crashed step marked to run again, its progress cleared.
    Restart,
    /// An applied step's checksum replaced by the current one.
    Rebaseline,
}

impl Migrations {
    /// Migrations on `conn`, with a lock of its own ([`Locks::new`]).
    pub fn new(conn: &Connection) -> Self {
        Migrations {
            conn: conn.clone(),
            locks: Locks::new(conn),
            steps: Vec::new(),
            schema: Vec::new(),
            changelog: CHANGELOG.to_string(),
            lease_key: format!("{CHANGELOG}:run"),
            ttl: DEFAULT_TTL,
            wait: DEFAULT_WAIT,
        }
    }

    /// Uses `locks` for the run's lease (its clock, write concern, polling).
    pub fn with_locks(mut self, locks: Locks) -> Self {
        self.locks = locks;
        self
    }

    /// Adds a step after the ones added before. Steps run in this order.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Syncs `M`'s validator and indexes (as
    /// [`Connection::migrate`](model_core::Connection::migrate) does) after
    /// the steps: the new validator is applied once the steps that make
    /// stored documents pass it have run. While steps run, the
    /// collection's current validator is off (`validationLevel: "off"`), so
    /// a step can move documents from the old shape to the new; it is
    /// restored if a step or the sync fails. The sync refuses, as
    /// `migrate` does, a validator stored documents still fail.
    pub fn sync<M: Model>(mut self) -> Self {
        self.schema.push(Migration::of::<M>());
        self
    }

    /// The changelog collection (default `migrations`; the history is
    /// `<name>_history`). The lease key follows it.
    pub fn changelog(mut self, name: impl Into<String>) -> Self {
        self.changelog = name.into();
        self.lease_key = format!("{}:run", self.changelog);
        self
    }

    /// The run's lease ttl (default [`DEFAULT_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long a run waits for another runner (default [`DEFAULT_WAIT`]).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for step in &self.steps {
            if step.name.trim().is_empty() {
                return Err(MigrationError::InvalidSteps { message: "a step has no name".into() });
            }
            if !seen.insert(step.name.as_str()) {
                return Err(MigrationError::InvalidSteps {
                    message: format!("two steps are named `{}`", step.name),
                });
            }
        }
        Ok(())
    }

    fn find(&self, name: &str) -> Result<(usize, &Step)> {
        self.steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
            .ok_or_else(|| MigrationError::UnknownStep { step: name.to_string() })
    }

    async fn changelog_of(&self) -> Result<Changelog> {
        Ok(Changelog::new(&self.conn.database().await?, &self.changelog))
    }

    /// Refuses a list whose recorded steps are in another order than they
    /// were applied in, or that lists a new step before an applied one.
    fn check_order(&self, records: &HashMap<String, StepRecord>) -> Result<()> {
        let mut last: Option<&StepRecord> = None;
        let mut pending: Option<&str> = None;
        for step in &self.steps {
            match records.get(&step.name) {
                None => pending = pending.or(Some(step.name.as_str())),
                Some(record) => {
                    if let Some(pending) = pending {
                        return Err(MigrationError::OrderChanged {
                            step: pending.to_string(),
                            applied: record.step.clone(),
                        });
                    }
                    if let Some(last) = last.filter(|last| last.seq > record.seq) {
                        return Err(MigrationError::OrderChanged {
                            step: last.step.clone(),
                            applied: record.step.clone(),
                        });
                    }
                    last = Some(record);
                }
            }
        }
        Ok(())
    }

    fn status(step: &Step, record: Option<&StepRecord>) -> StepStatus {
        match record {
            None => StepStatus::Pending,
            Some(r) if r.state == StepState::Retry => StepStatus::Pending,
            Some(r) if r.state != StepState::Applied => {
                StepStatus::Crashed { state: r.state, runner: r.runner.clone() }
            }
            Some(r) if r.checksum != step.checksum() => {
                StepStatus::Edited { recorded: r.checksum.clone() }
            }
            Some(_) => StepStatus::Applied,
        }
    }

    /// What [`run`](Self::run) would do, with nothing written: each step's
    /// status and checksum, for each pending declared backfill the
    /// documents it would touch, and the schema changes of the sync.
    ///
    /// # Errors
    /// [`MigrationError::InvalidSteps`] and [`MigrationError::OrderChanged`]
    /// as `run` would; a failed read.
    pub async fn plan(&self) -> Result<Plan> {
        self.validate()?;
        let records = self.changelog_of().await?.read().await?;
        self.check_order(&records)?;
        let mut steps = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let status = Self::status(step, records.get(&step.name));
            let touches = match (&step.count, &status) {
                (Some(count), StepStatus::Pending | StepStatus::Crashed { .. }) => {
                    Some(count(self.conn.clone()).await?)
                }
                _ => None,
            };
            steps.push(PlannedStep {
                name: step.name.clone(),
                checksum: step.checksum(),
                status,
                touches,
            });
        }
        let schema = self.conn.migration_plan(&self.schema).await?;
        Ok(Plan { steps, schema })
    }

    /// Applies the pending steps in order, under the run's lease, then
    /// syncs the schema of the models given to [`sync`](Self::sync).
    ///
    /// Waits up to [`wait`](Self::wait) for another runner; then finds the
    /// steps it applied and goes on from there.
    ///
    /// # Errors
    /// Refused before running anything: [`MigrationError::InvalidSteps`],
    /// [`OrderChanged`](MigrationError::OrderChanged),
    /// [`Edited`](MigrationError::Edited),
    /// [`Crashed`](MigrationError::Crashed). While running:
    /// [`StepFailed`](MigrationError::StepFailed) (recorded `failed`),
    /// [`LeaseLost`](MigrationError::LeaseLost) (not recorded applied),
    /// [`Lease`](MigrationError::Lease), [`Model`](MigrationError::Model).
    ///
    /// # Cancel safety
    /// Dropped mid-step, the step stays `applying` (a crash state) and the
    /// lease is released; the next run refuses until it is resolved. The
    /// synced collections' validators stay off until a later run syncs or
    /// restores them.
    pub async fn run(&self) -> Result<RunReport> {
        self.validate()?;
        self.held(|signal| self.run_held(signal)).await
    }

    /// Resolves a step left `applying` or `failed`: records it
    /// [`Applied`](Resolution::Applied) (with the current checksum), or
    /// marks it to run again on the next run, its backfills resuming where
    /// they stopped ([`Retry`](Resolution::Retry)) or from the start
    /// ([`Restart`](Resolution::Restart)); under the run's lease. Appended
    /// to the history.
    ///
    /// # Errors
    /// [`MigrationError::UnknownStep`] or
    /// [`NotCrashed`](MigrationError::NotCrashed), with nothing written.
    pub async fn resolve(&self, step: &str, how: Resolution) -> Result<()> {
        let amend = match how {
            Resolution::Applied => Amend::Applied,
            Resolution::Retry => Amend::Retry,
            Resolution::Restart => Amend::Restart,
        };
        self.amend(step, amend).await
    }

    /// Accepts the current definition of an applied step that was edited:
    /// its recorded checksum becomes the current one, under the run's
    /// lease. Appended to the history.
    ///
    /// # Errors
    /// [`MigrationError::UnknownStep`] or
    /// [`NotApplied`](MigrationError::NotApplied), with nothing written.
    pub async fn rebaseline(&self, step: &str) -> Result<()> {
        self.amend(step, Amend::Rebaseline).await
    }

    /// Changes `step`'s record as `amend` says, under the run's lease, and
    /// appends the change to the history.
    async fn amend(&self, step: &str, amend: Amend) -> Result<()> {
        self.validate()?;
        let checksum = self.find(step)?.1.checksum();
        self.held(|signal| async move {
            let changelog = self.changelog_of().await?;
            let state = changelog.read().await?.get(step).map(|r| r.state);
            let (allowed, refused): (bool, fn(String) -> MigrationError) = match amend {
                Amend::Rebaseline => {
                    (state == Some(StepState::Applied), |step| MigrationError::NotApplied { step })
                }
                Amend::Applied | Amend::Retry | Amend::Restart => {
                    (matches!(state, Some(StepState::Applying | StepState::Failed)), |step| {
                        MigrationError::NotCrashed { step }
                    })
                }
            };
            if !allowed {
                return Err(refused(step.to_string()));
            }
            let runner = (signal.owner().to_string(), signal.token());
            let owned = step.to_string();
            self.fenced(&signal, step, &changelog, move |s, log| {
                let (runner, checksum, step) = (runner.clone(), checksum.clone(), owned.clone());
                Box::pin(async move {
                    let run = (runner.0.as_str(), runner.1);
                    let event = match amend {
                        Amend::Applied => {
                            log.amend(s, &step, &checksum, run, true).await?;
                            "resolved-applied"
                        }
                        Amend::Retry => {
                            log.retry(s, &step, run).await?;
                            "resolved-retry"
                        }
                        Amend::Restart => {
                            log.retry(s, &step, run).await?;
                            log.restart(s, &step).await?;
                            "resolved-restart"
                        }
                        Amend::Rebaseline => {
                            log.amend(s, &step, &checksum, run, false).await?;
                            "rebaselined"
                        }
                    };
                    log.log(Some(s), &step, event, &checksum, run, None).await
                })
            })
            .await
        })
        .await
    }

    /// Runs `f` under the run's lease.
    async fn held<'a, F, Fut, T>(&'a self, f: F) -> Result<T>
    where
        F: FnOnce(Signal) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T>> + Send + 'a,
        T: Send + 'a,
    {
        self.locks
            .lock(self.lease_key.clone(), f)
            .ttl(self.ttl)
            .retries(2)
            .wait(self.wait)
            .on_error(|error| tracing::warn!(error = %error, "migration lease"))
            .await
            .map_err(MigrationError::Lease)?
    }

    /// A changelog write fenced by the run's lease: applied only while the
    /// lease is still this run's.
    async fn fenced<F>(
        &self,
        signal: &Signal,
        step: &str,
        changelog: &Changelog,
        write: F,
    ) -> Result<()>
    where
        F: for<'s> FnMut(
                &'s mut mongodb::ClientSession,
                &'s mut Changelog,
            ) -> BoxFuture<'s, mongodb::error::Result<()>>
            + Send,
    {
        let mut write = write;
        let outcome = self
            .locks
            .fenced(signal, changelog.clone(), move |s, log| {
                let call = write(s, log);
                Box::pin(async move {
                    call.await.map_err(|e| model_core::Error::from_driver(CHANGELOG, e))
                })
            })
            .await;
        match outcome {
            Ok(()) => Ok(()),
            Err(LockingError::Fenced { reason: Reason::Lost, .. }) => {
                Err(MigrationError::LeaseLost { step: step.to_string() })
            }
            // The changelog write or its transaction failed.
            Err(LockingError::Fenced { source: Some(source), .. }) => {
                Err(MigrationError::Model(*source))
            }
            Err(error) => Err(MigrationError::Lease(error)),
        }
    }

    async fn run_held(&self, signal: Signal) -> Result<RunReport> {
        let changelog = self.changelog_of().await?;
        let records = changelog.read().await?;
        self.check_order(&records)?;
        // Refuse before running anything.
        let mut todo = Vec::new();
        for step in &self.steps {
            match Self::status(step, records.get(&step.name)) {
                StepStatus::Applied => {}
                StepStatus::Pending => todo.push(step),
                StepStatus::Edited { recorded } => {
                    return Err(MigrationError::Edited {
                        step: step.name.clone(),
                        recorded,
                        current: step.checksum(),
                    });
                }
                StepStatus::Crashed { state, runner } => {
                    if !step.rerunnable {
                        return Err(MigrationError::Crashed {
                            step: step.name.clone(),
                            state: state.as_str().to_string(),
                            runner,
                        });
                    }
                    todo.push(step);
                }
            }
        }
        let already_applied = self.steps.len() - todo.len();
        // A step's `seq` is its place in the order of application.
        let mut next_seq = records.values().map(|r| r.seq + 1).max().unwrap_or(0);
        let mut applied = Vec::new();
        // The synced collections' validators are off while the steps run
        // (documents pass the old validator no more once a step renames a
        // field, and the new one not yet); the sync below sets the new one.
        if !todo.is_empty() {
            self.relax(&signal).await?;
        }
        for step in todo {
            let record = records.get(&step.name);
            // A step run again keeps its place.
            let seq = match record {
                Some(record) => record.seq,
                None => {
                    next_seq += 1;
                    next_seq - 1
                }
            };
            if let Err(error) = self.apply(&signal, &changelog, seq, step, record).await {
                self.restore(&signal).await;
                return Err(error);
            }
            applied.push(step.name.clone());
        }
        if signal.is_cancelled() {
            self.restore(&signal).await;
            let step = applied.last().cloned().unwrap_or_default();
            return Err(MigrationError::LeaseLost { step });
        }
        let schema = match self.conn.migrate_all(&self.schema).await {
            Ok(schema) => schema,
            Err(error) => {
                self.restore(&signal).await;
                return Err(error.into());
            }
        };
        Ok(RunReport { applied, already_applied, schema })
    }

    /// The `validationLevel` of collection `name`, if it exists.
    async fn level_of(
        db: &mongodb::Database,
        name: &str,
    ) -> Result<Option<(bool, Option<ValidationLevel>)>> {
        use futures::TryStreamExt;
        let listed = db.list_collections().filter(bson::doc! { "name": name }).await?;
        let specs: Vec<_> = listed.try_collect().await?;
        Ok(specs
            .into_iter()
            .next()
            .map(|spec| (spec.options.validator.is_some(), spec.options.validation_level)))
    }

    /// Turns off the validator of every synced collection that has one
    /// (`validationLevel: "off"`) while the steps run. On a failure, what
    /// it turned off is turned on again.
    async fn relax(&self, signal: &Signal) -> Result<()> {
        let db = self.conn.database().await?;
        for migration in &self.schema {
            let name = migration.collection();
            let relaxed = async {
                match Self::level_of(&db, name).await? {
                    Some((true, level)) if level != Some(ValidationLevel::Off) => {
                        let off = bson::doc! { "collMod": name, "validationLevel": "off" };
                        db.run_command(off).await?;
                        tracing::info!(collection = name, "validator off while the steps run");
                        Ok(())
                    }
                    _ => Ok::<_, MigrationError>(()),
                }
            };
            if let Err(error) = relaxed.await {
                self.restore(signal).await;
                return Err(error);
            }
        }
        Ok(())
    }

    /// After a failed run: sets every synced collection whose validator is
    /// off back to its model's declared level (also what a crashed run
    /// left off). Not once the lease is lost: the run that holds it now
    /// has them off on purpose. Best effort: the next run's sync sets them.
    async fn restore(&self, signal: &Signal) {
        if signal.is_cancelled() {
            return;
        }
        let Ok(db) = self.conn.database().await else { return };
        for migration in &self.schema {
            let name = migration.collection();
            let level = match migration.level() {
                ValidationLevel::Moderate => "moderate",
                ValidationLevel::Off => continue,
                _ => "strict",
            };
            let restored = async {
                if let Some((true, Some(ValidationLevel::Off))) = Self::level_of(&db, name).await? {
                    let on = bson::doc! { "collMod": name, "validationLevel": level };
                    db.run_command(on).await?;
                }
                Ok::<_, MigrationError>(())
            };
            if let Err(error) = restored.await {
                tracing::warn!(collection = %name, error = %error, "validator not restored");
            }
        }
    }

    /// Runs one step: `applying` (fenced), the body, then `applied`
    /// (fenced) or `failed`.
    async fn apply(
        &self,
        signal: &Signal,
        changelog: &Changelog,
        seq: i64,
        step: &Step,
        record: Option<&StepRecord>,
    ) -> Result<()> {
        let name = step.name.as_str();
        let checksum = step.checksum();
        let runner = (signal.owner().to_string(), signal.token());
        let (run, cs, owned) = (runner.clone(), checksum.clone(), name.to_string());
        self.fenced(signal, name, changelog, move |s, log| {
            let (run, cs, name) = (run.clone(), cs.clone(), owned.clone());
            Box::pin(async move {
                log.begin(s, &name, &cs, seq, (&run.0, run.1)).await?;
                log.log(Some(s), &name, "started", &cs, (&run.0, run.1), None).await
            })
        })
        .await?;
        tracing::info!(step = name, checksum = %checksum, "migration step started");

        let cx = StepContext {
            conn: self.conn.clone(),
            signal: signal.clone(),
            step: Arc::from(name),
            changelog: changelog.clone(),
            progress: Arc::new(record.map(|r| r.progress.clone()).unwrap_or_default()),
            rewrites: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        let outcome = (step.run)(cx).await;
        if signal.is_cancelled() || matches!(&outcome, Err(e) if e.is::<LeaseLost>()) {
            tracing::warn!(step = name, "migration lease lost: the step is not recorded");
            return Err(MigrationError::LeaseLost { step: name.to_string() });
        }
        let (state, error) = match &outcome {
            Ok(()) => (StepState::Applied, None),
            Err(error) => (StepState::Failed, Some(bounded(&error.to_string()))),
        };
        let event = if error.is_some() { "failed" } else { "applied" };
        let (run, cs, err) = (runner.clone(), checksum.clone(), error.clone());
        // Set when the record is no longer this run's (another runner
        // began the step again): the step is then not recorded.
        let lost = Arc::new(AtomicBool::new(false));
        let seen = lost.clone();
        let owned = name.to_string();
        self.fenced(signal, name, changelog, move |s, log| {
            let (run, cs, err, seen) = (run.clone(), cs.clone(), err.clone(), seen.clone());
            let name = owned.clone();
            Box::pin(async move {
                if !log.end(s, &name, &run.0, state, err.clone()).await? {
                    seen.store(true, Ordering::Relaxed);
                    return Ok(());
                }
                log.log(Some(s), &name, event, &cs, (&run.0, run.1), err).await
            })
        })
        .await?;
        if lost.load(Ordering::Relaxed) {
            return Err(MigrationError::LeaseLost { step: name.to_string() });
        }
        match outcome {
            Ok(()) => {
                tracing::info!(step = name, "migration step applied");
                Ok(())
            }
            Err(source) => Err(MigrationError::StepFailed { step: name.to_string(), source }),
        }
    }
}

/// How much of a step's error the changelog keeps.
const ERROR_CHARS: usize = 1000;

/// `text`, cut to [`ERROR_CHARS`] characters (with `…` when cut).
fn bounded(text: &str) -> String {
    let mut chars = text.chars();
    let mut kept: String = chars.by_ref().take(ERROR_CHARS).collect();
    if chars.next().is_some() {
        kept.push('…');
    }
    kept
}
