//! Counting semaphores: up to N holders of one key, each with its own
//! lease, owner id and fencing token, in one document per key (so the
//! count is decided by one atomic write, by the server's clock).

use std::time::Duration;

use model_core::Model as _;
use model_core::mongodb::options::ReturnDocument;
use tracing::Instrument;

use crate::locks::{Attempt, answer_or_give_back};
use crate::{Lease, LockingError, Locks, Reason, Result, Semaphore, pipeline};

impl Locks {
    /// One attempt by `owner` at one of `permits` permits of `key`; with
    /// `queue_ttl_ms`, a refused attempt queues `owner` for that long.
    pub(crate) async fn attempt_permit(
        &self,
        key: &str,
        owner: &str,
        permits: u32,
        (ttl, ttl_ms): (Duration, i64),
        queue_ttl_ms: Option<i64>,
    ) -> Result<Attempt> {
        let failed = |e| LockingError::lock(key, Reason::Failed, Some(e));
        let owner = owner.to_string();
        let coll = self.inner.semaphores.collection().await.map_err(failed)?.clone();
        let update = pipeline::acquire_permit(&owner, ttl_ms, permits, queue_ttl_ms);
        let filter = bson::doc! { "_id": key };
        let write_concern = self.inner.write_concern.clone();
        let sent = self.inner.clock.now();
        let (release, mine, give_back_to) =
            (bson::doc! { "_id": key }, owner.clone(), coll.clone());
        let acquire = async move {
            coll.find_one_and_update(filter, update)
                .upsert(true)
                .return_document(ReturnDocument::After)
                .write_concern(write_concern)
                .await
        };
        let write_concern = self.inner.write_concern.clone();
        // An answer after the timeout: unless it shows the permit is not
        // this owner's, give it back (as the lock's acquire does).
        let give_back = move |late: model_core::mongodb::error::Result<Option<Semaphore>>| {
            let others = matches!(&late, Ok(Some(s))
                if !s.holders.iter().any(|h| h.owner == mine)
                    && !s.queue.iter().any(|w| w.owner == mine));
            async move {
                if !others {
                    let take_back =
                        give_back_to.update_one(release, pipeline::release_permit(&mine, permits));
                    let _ = take_back.write_concern(write_concern).await;
                    tracing::debug!(
                        "released a permit an acquire answered after its timeout may hold"
                    );
                }
            }
        };
        let timeout = self.conn().timeout();
        let answered = answer_or_give_back(timeout, Semaphore::COLLECTION, acquire, give_back);
        let semaphore = match answered.await {
            Ok(semaphore) => semaphore,
            Err(error) => {
                let _ = self.leave_permits(key, &owner, permits).await;
                return Err(failed(error));
            }
        };
        let Some(semaphore) = semaphore else {
            // A reply without the document the upsert returns: whether
            // this attempt was admitted is unknown (see `attempt`).
            let _ = self.leave_permits(key, &owner, permits).await;
            return Ok(Attempt::Held(None));
        };
        let mine = semaphore.holders.iter().find(|h| h.owner == owner).cloned();
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
            None => Attempt::Waiting(semaphore),
        })
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

    /// Takes `owner` out of `key`'s holders and queue (a permit handed to
    /// it meanwhile is handed on). One command.
    pub(crate) async fn leave_permits(
        &self,
        key: &str,
        owner: &str,
        permits: u32,
    ) -> model_core::Result<()> {
        let coll = self.inner.semaphores.collection().await?.clone();
        let (filter, update) =
            (bson::doc! { "_id": key }, pipeline::release_permit(owner, permits));
        let write_concern = self.inner.write_concern.clone();
        let leave =
            async move { coll.update_one(filter, update).write_concern(write_concern).await };
        self.conn().bounded(Semaphore::COLLECTION, leave).await.map(|_| ())
    }

    /// Removes `owner` from `key`'s holders, handing its permit to the
    /// first live waiter.
    pub(crate) async fn release_permit(&self, key: &str, owner: &str, permits: u32) -> Result<()> {
        let failed = |e| LockingError::unlock(key, Reason::Failed, Some(e));
        let coll = self.inner.semaphores.collection().await.map_err(failed)?.clone();
        let (filter, update) =
            (pipeline::held_permit(key, owner), pipeline::release_permit(owner, permits));
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
