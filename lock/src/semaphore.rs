//! Counting semaphores: up to N holders of one key, each with its own
//! lease, owner id and fencing token, in one document per key (so the
//! count is decided by one atomic write, by the server's clock).

use std::time::Duration;

use model_core::Model as _;
use model_core::mongodb::options::ReturnDocument;
use tracing::Instrument;

use crate::locks::Attempt;
use crate::{Lease, LockingError, Locks, Reason, Result, Semaphore, pipeline};

impl Locks {
    /// One attempt at one of `permits` permits of `key`.
    pub(crate) async fn attempt_permit(
        &self,
        key: &str,
        permits: u32,
        ttl: Duration,
        ttl_ms: i64,
    ) -> Result<Attempt> {
        let failed = |e| LockingError::lock(key, Reason::Failed, Some(e));
        let owner = uuid::Uuid::new_v4().simple().to_string();
        let coll = self.inner.semaphores.collection().await.map_err(failed)?.clone();
        let (filter, update) =
            (bson::doc! { "_id": key }, pipeline::acquire_permit(&owner, ttl_ms, permits));
        let write_concern = self.inner.write_concern.clone();
        let sent = self.inner.clock.now();
        let (release, mine) = (pipeline::held_permit(key, &owner), owner.clone());
        let acquire = async move {
            let acquired = coll
                .find_one_and_update(filter, update)
                .upsert(true)
                .return_document(ReturnDocument::After)
                .write_concern(write_concern.clone())
                .await;
            (acquired, coll, release, mine, write_concern)
        };
        let semaphore = match self.acquire_permit_command(acquire).await {
            Ok(semaphore) => semaphore,
            Err(error) => {
                let _ = self.release_permit(key, &owner).await;
                return Err(failed(error));
            }
        };
        let Some(semaphore) = semaphore else {
            // A reply without the document the upsert returns: whether
            // this attempt was admitted is unknown (see `attempt`).
            let _ = self.release_permit(key, &owner).await;
            return Ok(Attempt::Held(None));
        };
        let mine = semaphore.holders.into_iter().find(|h| h.owner == owner);
        Ok(match mine {
            Some(permit) => Attempt::Acquired(Lease {
                key: key.to_string(),
                owner,
                token: permit.token,
                expires_at: permit.expires_at,
                renewed_at: sent,
                ttl,
                acquired_at: sent,
                extensions: 0,
                permits,
            }),
            None => Attempt::Held(None),
        })
    }

    /// Runs the acquire `command` bounded by the connection's timeout, on
    /// its own task: if the caller has given up by the time the server
    /// answers, the task takes back the permit the answer may hold (as the
    /// lock's acquire does), so an acquire landing after its timeout keeps
    /// nothing.
    async fn acquire_permit_command<F>(&self, command: F) -> model_core::Result<Option<Semaphore>>
    where
        F: std::future::Future<
                Output = (
                    model_core::mongodb::error::Result<Option<Semaphore>>,
                    model_core::mongodb::Collection<Semaphore>,
                    bson::Document,
                    String,
                    model_core::mongodb::options::WriteConcern,
                ),
            > + Send
            + 'static,
    {
        let driver_error = |e| model_core::Error::from_driver(Semaphore::COLLECTION, e);
        let Some(timeout) = self.conn().timeout() else {
            return command.await.0.map_err(driver_error);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let task = async move {
            let (acquired, coll, release, owner, write_concern) = command.await;
            // Err: the caller timed out and is gone. Unless the answer
            // shows the permit is not this owner's, let go of it.
            if let Err(acquired) = reply.send(acquired) {
                let not_ours =
                    matches!(&acquired, Ok(Some(s)) if !s.holders.iter().any(|h| h.owner == owner));
                if !not_ours {
                    let take_back = coll.update_one(release, pipeline::release_permit(&owner));
                    let _ = take_back.write_concern(write_concern).await;
                    tracing::debug!(
                        "released a permit an acquire answered after its timeout may hold"
                    );
                }
            }
        };
        tokio::spawn(task.in_current_span());
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(acquired)) => acquired.map_err(driver_error),
            // The task was dropped: the runtime is shutting down.
            Ok(Err(_)) => Err(model_core::Error::Disconnected),
            Err(_) => Err(model_core::Error::Timeout {
                collection: Semaphore::COLLECTION.to_string(),
                timeout,
            }),
        }
    }

    /// Extends `lease`'s permit if it is still live.
    pub(crate) async fn extend_permit(
        &self,
        lease: &Lease,
        ttl: Duration,
        ttl_ms: i64,
    ) -> Result<Lease> {
        let key = lease.key.as_str();
        let failed = |e| LockingError::relock(key, Reason::Failed, Some(e));
        let coll = self.inner.semaphores.collection().await.map_err(failed)?.clone();
        let (filter, update) = (
            pipeline::held_permit(key, &lease.owner),
            pipeline::extend_permit(&lease.owner, ttl_ms),
        );
        let write_concern = self.inner.write_concern.clone();
        let sent = self.inner.clock.now();
        let extend = async move {
            coll.find_one_and_update(filter, update)
                .return_document(ReturnDocument::After)
                .write_concern(write_concern)
                .await
        };
        let semaphore = self.conn().bounded(Semaphore::COLLECTION, extend).await.map_err(failed)?;
        let mine = semaphore.and_then(|s| s.holders.into_iter().find(|h| h.owner == lease.owner));
        match mine {
            // Moved on: it was live, and now ends ttl from now.
            Some(permit) if permit.expires_at > lease.expires_at => Ok(Lease {
                expires_at: permit.expires_at,
                renewed_at: sent,
                ttl,
                extensions: lease.extensions + 1,
                ..lease.clone()
            }),
            _ => {
                tracing::debug!("lost");
                Err(LockingError::relock(key, Reason::Lost, None))
            }
        }
    }

    /// Removes `owner` from `key`'s holders.
    pub(crate) async fn release_permit(&self, key: &str, owner: &str) -> Result<()> {
        let failed = |e| LockingError::unlock(key, Reason::Failed, Some(e));
        let coll = self.inner.semaphores.collection().await.map_err(failed)?.clone();
        let (filter, update) = (pipeline::held_permit(key, owner), pipeline::release_permit(owner));
        let write_concern = self.inner.write_concern.clone();
        let release =
            async move { coll.update_one(filter, update).write_concern(write_concern).await };
        let released = self
            .conn()
            .bounded(Semaphore::COLLECTION, release)
            .in_current_span()
            .await
            .map_err(failed)?;
        if released.matched_count == 1 {
            Ok(())
        } else {
            Err(LockingError::unlock(key, Reason::Lost, None))
        }
    }
}
