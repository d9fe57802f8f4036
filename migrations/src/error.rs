//! The one error type of the migration runner.

/// What a step's body returns: `Ok(())`, or the error that stops the run.
pub type StepResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A `Result` whose error defaults to [`MigrationError`].
pub type Result<T, E = MigrationError> = std::result::Result<T, E>;

/// Everything a migration run, plan, resolve or re-baseline can fail with.
/// Every variant that names a step refused *before* writing anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The step list is not usable (an empty or duplicate name); nothing
    /// was read or written.
    #[error("invalid step list: {message}")]
    InvalidSteps {
        /// What is wrong.
        message: String,
    },
    /// No step of the list has this name (given to `resolve` or
    /// `rebaseline`); nothing was written.
    #[error("no step is named `{step}`")]
    UnknownStep {
        /// The name given.
        step: String,
    },
    /// The recorded steps appear in another order in the list than the
    /// one they were applied in: a step was moved or inserted before an
    /// applied one. Nothing was run.
    #[error(
        "the step list changed order: `{step}` is listed before `{applied}`, which was applied before it"
    )]
    OrderChanged {
        /// The step listed too early.
        step: String,
        /// The step applied before it, listed after it.
        applied: String,
    },
    /// An applied step's definition changed since it was applied (its
    /// checksum differs). Nothing was run. If the edit is intended (a
    /// comment, a rename of a variable), `rebaseline` the step.
    #[error("step `{step}` was edited after it was applied (checksum {recorded}, now {current})")]
    Edited {
        /// The step.
        step: String,
        /// The checksum recorded when it was applied.
        recorded: String,
        /// The checksum of the definition now.
        current: String,
    },
    /// A step was left `applying` (its runner died or lost its lease
    /// mid-step) or `failed`: its effect may be half done. Nothing was
    /// run. Resolve it (`resolve(step, Resolution::Applied | Retry)`) after
    /// checking the data, or declare the step `rerunnable`.
    #[error("step `{step}` is {state} since an earlier run (runner {runner}): resolve it first")]
    Crashed {
        /// The step.
        step: String,
        /// `applying` or `failed`.
        state: String,
        /// The runner that left it so.
        runner: String,
    },
    /// `resolve` was asked for a step that is not in a crash state.
    #[error("step `{step}` is not applying or failed: nothing to resolve")]
    NotCrashed {
        /// The step.
        step: String,
    },
    /// `rebaseline` was asked for a step that was never applied.
    #[error("step `{step}` was never applied: nothing to re-baseline")]
    NotApplied {
        /// The step.
        step: String,
    },
    /// A step's body failed; the step is recorded `failed` and blocks
    /// later runs until resolved (unless `rerunnable`).
    #[error("step `{step}` failed")]
    StepFailed {
        /// The step.
        step: String,
        /// The body's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The run's lease was lost (it expired by the server's clock, or
    /// another runner took it over) while `step` ran: the step was not
    /// recorded as applied, and another runner may be running it.
    #[error("the migration lease was lost during step `{step}`")]
    LeaseLost {
        /// The step.
        step: String,
    },
    /// The lease could not be acquired (another runner held it past the
    /// wait), or a command of the lease (not a changelog write) failed.
    #[error("the migration lease was not acquired")]
    Lease(#[source] lock::LockingError),
    /// A changelog read or write (fenced ones included), or a schema sync,
    /// failed.
    #[error("a changelog or schema operation failed")]
    Model(#[source] model_core::Error),
}

impl From<model_core::Error> for MigrationError {
    fn from(error: model_core::Error) -> Self {
        MigrationError::Model(error)
    }
}

impl From<mongodb::error::Error> for MigrationError {
    fn from(error: mongodb::error::Error) -> Self {
        MigrationError::Model(model_core::Error::from_driver(crate::record::CHANGELOG, error))
    }
}
