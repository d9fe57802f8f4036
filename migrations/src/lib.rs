//! Versioned data migrations for `#[derive(Model)]` models, run once per
//! fleet.
//!
//! A [`Migrations`] is an ordered list of named [`Step`]s written in Rust
//! ([`step!`], or [`update_all!`] for a typed update of every matching
//! document), each applied once per database and recorded in a changelog
//! collection (`migrations`): its checksum, state, runner, and start and
//! end by the server's clock, with an append-only history of every
//! attempt (`migrations_history`).
//!
//! - **One runner per fleet.** A run holds a lease of the lock crate
//!   (heartbeat, expiry by the server's clock). Other processes starting
//!   the same migrations wait, then find the steps applied. A step's body
//!   gets the lease's [`Signal`](lock::Signal) through its
//!   [`StepContext`], and the write that records it applied is fenced by
//!   the lease: a runner that lost its lease cannot record a step.
//! - **Checksums taken at compile time.** The macros hash the step's
//!   tokens; an applied step edited later is refused
//!   ([`MigrationError::Edited`]) until [`Migrations::rebaseline`]d.
//! - **Crash states.** A step is recorded `applying` before it runs. A
//!   crash leaves it so, and later runs refuse
//!   ([`MigrationError::Crashed`]) until it is
//!   [`resolve`](Migrations::resolve)d, unless it is
//!   [`rerunnable`](Step::rerunnable).
//! - **Typed backfills.** [`StepContext::update_all`] and
//!   [`StepContext::rewrite`] (read-modify-write in key order, in batches,
//!   resumable after a crash, with progress and an optional rate).
//! - **Schema sync in the same run.** [`Migrations::sync`] applies a model's
//!   validator and indexes after the steps that make stored documents
//!   pass them.
//! - **Plan.** [`Migrations::plan`] reads what a run would do, writing
//!   nothing.
//!
//! Down steps are not offered: a step that must be undone is a new step.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod context;
mod error;
mod record;
mod runner;
mod step;

pub use context::{DEFAULT_BATCH, LeaseLost, Progress, Rewrite, StepContext};
pub use error::{MigrationError, Result, StepResult};
pub use record::{BackfillProgress, CHANGELOG, StepRecord, StepState};
pub use runner::{
    DEFAULT_TTL, DEFAULT_WAIT, Migrations, Plan, PlannedStep, Resolution, RunReport, StepStatus,
};
pub use step::{Step, checksum};
