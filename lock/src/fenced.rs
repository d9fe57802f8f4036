//! Writes fenced by a held lease: applied only while the lease is still
//! this holder's, checked by the database in the write's own transaction.

use futures::future::BoxFuture;
use model_core::mongodb::ClientSession;
use model_core::{Model as _, Result as ModelResult};
use tracing::Instrument;

use crate::{Lease, Lock, LockingError, Locks, Reason, Result, Signal, pipeline};

/// A held lease a write can be fenced by: a [`Lease`], or the [`Signal`]
/// the closure of [`Locks::lock`] receives.
pub trait Held {
    /// The key the lease is on.
    fn key(&self) -> &str;
    /// The random id of the acquisition.
    fn owner(&self) -> &str;
    /// 1 for a lock; the key's permits for a semaphore.
    fn permits(&self) -> u32 {
        1
    }
}

impl Held for Lease {
    fn key(&self) -> &str {
        Lease::key(self)
    }
    fn owner(&self) -> &str {
        Lease::owner(self)
    }
    fn permits(&self) -> u32 {
        Lease::permits(self)
    }
}

impl Held for Signal {
    fn key(&self) -> &str {
        Signal::key(self)
    }
    fn owner(&self) -> &str {
        Signal::owner(self)
    }
    fn permits(&self) -> u32 {
        Signal::permits(self)
    }
}

impl Locks {
    /// Runs `write` so that it applies only while `held` is still this
    /// holder's live lease: in one transaction that first checks the lease
    /// (same owner, not expired by the server's clock) and touches it
    /// (`updated_at`), then runs `write` with the session (pass it to every
    /// operation: `.session(s)`), then commits. `write` gets the session
    /// and `context` (what it borrows: a repository, say) and returns a
    /// boxed future (`Box::pin(async move { .. })`), as the driver's
    /// `and_run` does, so the call can run inside the closure of
    /// [`lock`](Locks::lock), whose future must be `Send`.
    ///
    /// A holder that lost its lease (paused past its ttl, cut off) gets
    /// [`LockingError::Fenced`] with [`Reason::Lost`] and nothing it wrote
    /// is kept, whether or not the next holder has written yet: the check
    /// reads the lease itself, not a token the resource remembers. A
    /// take-over racing the write either comes first (the check fails) or
    /// conflicts with the touch and waits for the commit, so the write is
    /// ordered inside the lease.
    ///
    /// Cost: the check-and-touch (`update`), `write`'s own commands and
    /// `commitTransaction`: two commands more than the bare write. Needs a
    /// deployment with transactions (a replica set, or a server with them).
    ///
    /// ```no_run
    /// # #[derive(Debug, model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = ::model_core, key = id)]
    /// # struct Report { #[serde(rename = "_id")] id: String, rows: i64,
    /// #   created_at: model_core::DateTime, updated_at: Option<model_core::DateTime> }
    /// # async fn demo(locks: lock::Locks, reports: model_core::Repo<Report>) -> Result<(), lock::LockingError> {
    /// let fencing = locks.clone();
    /// locks
    ///     .lock("nightly-report", |signal| async move {
    ///         fencing
    ///             .fenced(&signal, &reports, |s, reports| {
    ///                 Box::pin(async move {
    ///                     let today = "today".to_string();
    ///                     reports.update(&today, Report::ROWS.inc(100)).session(s).await
    ///                 })
    ///             })
    ///             .await
    ///     })
    ///     .await??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`LockingError::Fenced`]: [`Reason::Lost`] when the lease is no
    /// longer `held`'s; [`Reason::Failed`] when `write` or the transaction
    /// failed, with its error as the source. Either way nothing `write`
    /// wrote is kept.
    ///
    /// # Cancel safety
    /// Dropped before the commit, nothing is kept (the transaction is
    /// never committed); the lease is untouched but for `updated_at`.
    pub async fn fenced<C, T, F>(&self, held: &impl Held, context: C, write: F) -> Result<T>
    where
        C: Send,
        F: for<'s> FnMut(&'s mut ClientSession, &'s mut C) -> BoxFuture<'s, ModelResult<T>> + Send,
        T: Send,
    {
        let (key, owner) = (held.key(), held.owner());
        let failed = |e| LockingError::fenced(key, Reason::Failed, Some(e));
        // A lock's lease document, or a semaphore's, as raw documents.
        let (coll, live) = if held.permits() > 1 {
            let coll = self.semaphores().collection().await.map_err(failed)?;
            (coll.clone_with_type::<bson::Document>(), pipeline::live_permit(key, owner))
        } else {
            let coll = self.repo().collection().await.map_err(failed)?;
            (coll.clone_with_type::<bson::Document>(), pipeline::live_lease(key, owner))
        };
        let mut fencing = Fencing { coll, live, lost: false, context, write };
        let outcome = self
            .repo()
            .connection()
            .transaction_with(&mut fencing, |session, fencing| {
                Box::pin(async move {
                    fencing.lost = false;
                    let touched = fencing
                        .coll
                        .update_one(fencing.live.clone(), pipeline::touch())
                        .session(&mut *session)
                        .await
                        .map_err(|e| model_core::Error::from_driver(Lock::COLLECTION, e))?;
                    if touched.matched_count == 0 {
                        fencing.lost = true;
                        return Err(model_core::Error::NotFound {
                            collection: Lock::COLLECTION.to_string(),
                        });
                    }
                    (fencing.write)(session, &mut fencing.context).await
                })
            })
            .instrument(crate::locks::span("fenced", key))
            .await;
        match outcome {
            Ok(value) => Ok(value),
            Err(_) if fencing.lost => {
                tracing::debug!("fenced write refused: the lease moved on");
                Err(LockingError::fenced(key, Reason::Lost, None))
            }
            Err(error) => Err(failed(error)),
        }
    }
}

/// What a fenced write's transaction works with.
struct Fencing<C, F> {
    coll: model_core::mongodb::Collection<bson::Document>,
    /// The filter of the live lease.
    live: bson::Document,
    /// Set when the lease was found no longer `owner`'s.
    lost: bool,
    context: C,
    write: F,
}
