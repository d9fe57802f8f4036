//! A step: a name, the checksum of its definition, and what it runs.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use model_core::{Connection, Model, Query, Update};

use crate::context::StepContext;
use crate::error::StepResult;

/// The checksum of a step's definition: FNV-1a (64 bits) of its tokens
/// as [`stringify!`] prints them, so formatting and comments do not count
/// and any change of code does. A `const fn`: the [`step!`](crate::step)
/// and [`update_all!`](crate::update_all) macros evaluate it at compile time.
pub const fn checksum(definition: &str) -> u64 {
    let bytes = definition.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The text of a checksum as the changelog stores it: 16 hex digits.
pub(crate) fn checksum_text(checksum: u64) -> String {
    format!("{checksum:016x}")
}

type Run = Arc<dyn Fn(StepContext) -> BoxFuture<'static, StepResult> + Send + Sync>;
type Count = Arc<dyn Fn(Connection) -> BoxFuture<'static, model_core::Result<u64>> + Send + Sync>;

/// One named step of a data migration, applied once per database.
///
/// Made with [`step!`](crate::step) (a body written in Rust) or
/// [`update_all!`](crate::update_all) (a typed update of every matching
/// document), which take the checksum of the definition at compile time.
#[derive(Clone)]
pub struct Step {
    pub(crate) name: String,
    pub(crate) checksum: u64,
    pub(crate) run: Run,
    /// How many documents the step would touch, for a declared backfill.
    pub(crate) count: Option<Count>,
    pub(crate) rerunnable: bool,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("checksum", &checksum_text(self.checksum))
            .field("rerunnable", &self.rerunnable)
            .finish()
    }
}

impl Step {
    /// A step named `name` that runs `run`; `checksum` identifies its
    /// definition ([`step!`](crate::step) computes it). Prefer the macro:
    /// a checksum that does not follow the code cannot catch an edit.
    pub fn new<F, Fut>(name: impl Into<String>, checksum: u64, run: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StepResult> + Send + 'static,
    {
        let run: Run = Arc::new(move |cx| Box::pin(run(cx)));
        Step { name: name.into(), checksum, run, count: None, rerunnable: false }
    }

    /// A step that applies `update` to every document of `M` matching
    /// `query` ([`update_all!`](crate::update_all) computes `checksum`).
    /// The plan counts the documents it would touch.
    pub fn update_all<M: Model>(
        name: impl Into<String>,
        checksum: u64,
        query: Query<M>,
        update: Update<M>,
    ) -> Self
    where
        Update<M>: Clone,
    {
        let counted = query.clone();
        let count: Count = Arc::new(move |conn: Connection| {
            let query = counted.clone();
            Box::pin(async move { conn.repo::<M>().count(query).await })
        });
        let mut step = Step::new(name, checksum, move |cx: StepContext| {
            let (query, update) = (query.clone(), update.clone());
            async move { cx.update_all(query, update).await.map(|_| ()) }
        });
        step.count = Some(count);
        step
    }

    /// Marks the step safe to run again after a crash (it is idempotent):
    /// a run that finds it `applying` or `failed` runs it again instead of
    /// refusing.
    pub fn rerunnable(mut self) -> Self {
        self.rerunnable = true;
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checksum of the step's definition, as the changelog stores it.
    pub fn checksum(&self) -> String {
        checksum_text(self.checksum)
    }
}

/// A [`Step`] whose body is written in Rust, with the checksum of its
/// tokens taken at compile time:
///
/// ```
/// use migrations::{step, StepContext};
/// let s = step!("2026-12-add-slugs", |cx: StepContext| async move {
///     // cx.connection(), cx.signal(), cx.rewrite::<M>(..) ...
///     Ok(())
/// });
/// assert_eq!(s.name(), "2026-12-add-slugs");
/// ```
#[macro_export]
macro_rules! step {
    ($name:expr, $run:expr $(,)?) => {
        $crate::Step::new(
            $name,
            {
                const CHECKSUM: u64 = $crate::checksum(stringify!($run));
                CHECKSUM
            },
            $run,
        )
    };
}

/// A [`Step`] that applies a typed update to every document of a model
/// matching a typed query, with the checksum of its tokens taken at
/// compile time; the plan counts the documents it would touch:
///
/// ```
/// # #[derive(Debug, model_derive::Model, serde::Serialize, serde::Deserialize)]
/// # #[model(crate = ::model_core, key = id)]
/// # struct Customer {
/// #     #[serde(rename = "_id")] id: i64,
/// #     tier: Option<String>,
/// #     created_at: model_core::DateTime,
/// #     updated_at: Option<model_core::DateTime>,
/// # }
/// use migrations::update_all;
/// let step = update_all!(
///     "2026-12-default-tier",
///     Customer,
///     Customer::TIER.absent(),
///     Customer::TIER.set(Some("free".to_string()))
/// );
/// assert_eq!(step.name(), "2026-12-default-tier");
/// ```
#[macro_export]
macro_rules! update_all {
    ($name:expr, $model:ty, $query:expr, $update:expr $(,)?) => {
        $crate::Step::update_all::<$model>(
            $name,
            {
                const CHECKSUM: u64 = $crate::checksum(concat!(
                    stringify!($model),
                    stringify!($query),
                    stringify!($update)
                ));
                CHECKSUM
            },
            $query,
            $update,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_follow_the_tokens_not_the_layout() {
        assert_eq!(checksum(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(checksum("a + 1"), checksum("a + 2"));
        // `stringify!` prints tokens, so layout and comments do not count.
        assert_eq!(stringify!(a + 1 /* note */), stringify!(a + 1));
    }
}
