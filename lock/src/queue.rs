//! Waiting in line for a lock: a waiter's place in the key's queue, kept
//! while it waits, and the hand-off that makes it the holder.

use std::time::Duration;

use futures::StreamExt;
use model_core::{DateTime, Model as _};

use crate::backoff::Backoff;
use crate::locks::Attempt;
use crate::wait::Change;
use crate::{Lease, Lock, LockingError, Locks, Reason, Result, Semaphore, pipeline};

/// The shortest a waiter's place lasts unless renewed: a waiter renews it
/// every half of this (or of the ttl it asks for, if longer), and a
/// waiter that died is skipped once it has run out.
pub(crate) const MIN_PLACE: Duration = Duration::from_secs(10);

/// What a waiter knows of the key from the last reply and the releases
/// since.
#[derive(Debug, Default)]
struct View {
    /// When the holder's lease ends (server clock), if it is held.
    holder_until: Option<DateTime>,
    /// The live waiters queued ahead of this one, first first.
    ahead: Vec<String>,
}

impl View {
    fn of(lock: Option<&Lock>, owner: &str) -> View {
        let Some(lock) = lock else { return View::default() };
        let ahead = lock.queue.iter().take_while(|w| w.owner != owner);
        View {
            holder_until: lock.owner.as_ref().map(|_| lock.expires_at),
            ahead: ahead.map(|w| w.owner.clone()).collect(),
        }
    }

    fn of_semaphore(semaphore: &Semaphore, owner: &str) -> View {
        let ahead = semaphore.queue.iter().take_while(|w| w.owner != owner);
        View {
            // Any holder's expiry may free a permit.
            holder_until: semaphore.holders.iter().map(|h| h.expires_at).min(),
            ahead: ahead.map(|w| w.owner.clone()).collect(),
        }
    }

    /// The lease was handed to `owner` (until `until`): the waiters ahead
    /// up to it are gone from the queue.
    fn handed_to(&mut self, owner: &str, until: Option<DateTime>) {
        if let Some(at) = self.ahead.iter().position(|w| w == owner) {
            self.ahead.drain(..=at);
        }
        self.holder_until = until;
    }
}

/// A waiter's place in the queue: left in the background if the waiting
/// future is dropped while it is queued.
struct Place {
    locks: Locks,
    key: String,
    owner: String,
    permits: u32,
    queued: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.queued
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (locks, key, owner) = (self.locks.clone(), self.key.clone(), self.owner.clone());
            let permits = self.permits;
            runtime.spawn(async move {
                let _ = locks.leave_any(&key, &owner, permits).await;
            });
        }
    }
}

impl Locks {
    /// Waits in `key`'s queue until the lease is this waiter's: taken when
    /// it is free and nobody waits ahead, or handed over by a release. The
    /// place is renewed every half of its ttl; woken by the key's changes
    /// (one change stream per `Locks`), by the holder's expiry when first
    /// in line, or, without change streams, by polling with backoff.
    pub(crate) async fn acquire_queued(
        &self,
        key: &str,
        permits: u32,
        (ttl, ttl_ms): (Duration, i64),
        timeout: Duration,
    ) -> Result<Lease> {
        let clock = self.inner.clock.clone();
        let started = clock.now();
        // `None`: a timeout too long to represent, so no deadline at all.
        let deadline = started.checked_add(timeout);
        let owner = uuid::Uuid::new_v4().simple().to_string();
        let place_ttl = ttl.max(MIN_PLACE);
        let place_ms = Some(place_ttl.as_millis() as i64);
        let mut place = Place {
            locks: self.clone(),
            key: key.to_string(),
            owner: owner.clone(),
            permits,
            queued: false,
        };
        let mut backoff = Backoff::new();
        // Subscribed before the first attempt when the change stream runs
        // already (another waiter of this `Locks`): no retry is needed.
        // A semaphore's waiters poll: its changes of holders look like its
        // acquisitions to a change stream.
        let watched = permits == 1;
        let mut releases = if watched { self.running_releases(key) } else { None };
        let mut offset_ms = None;
        let mut attempts = 0_u32;
        // The holder's expiry a wait ended at, to try it once only.
        let mut woke_at_expiry: Option<DateTime> = None;
        let claim_window = (ttl / 3).max(Duration::from_millis(1));
        loop {
            attempts += 1;
            let sent = clock.now();
            // The place counts as queued while the attempt is in flight:
            // dropped then, the waiter leaves.
            place.queued = true;
            let mut view = match self.attempt(key, &owner, permits, ttl, ttl_ms, place_ms).await {
                Ok(Attempt::Acquired(lease)) => {
                    place.queued = false;
                    crate::locks::acquired(
                        &lease,
                        clock.now().saturating_duration_since(started),
                        attempts,
                    );
                    return Ok(lease);
                }
                Ok(Attempt::Held(lock)) => View::of(lock.as_ref(), &owner),
                Ok(Attempt::Waiting(semaphore)) => View::of_semaphore(&semaphore, &owner),
                Err(error) => {
                    // The attempt left the queue on its way out.
                    place.queued = false;
                    return Err(error);
                }
            };
            // The first refusal opens the change stream, then tries again
            // at once, so no release between the two is missed.
            let offset_ms = match offset_ms {
                Some(offset_ms) => offset_ms,
                None => {
                    let read = *offset_ms.insert(self.offset_ms().await);
                    if watched && releases.is_none() {
                        releases = self.releases(key).await;
                        if releases.is_some() {
                            continue;
                        }
                    }
                    read
                }
            };
            let renew_at = sent + place_ttl / 2;
            // The expiry this attempt was made at, if it was.
            let tried = woke_at_expiry.take();
            // Sleeps until something may have changed for this waiter.
            loop {
                let now = clock.now();
                let left = match deadline {
                    Some(deadline) => deadline.saturating_duration_since(now),
                    None => Duration::MAX,
                };
                if left.is_zero() {
                    // Dropped during the leave, the guard leaves again.
                    let _ = self.leave_any(key, &owner, permits).await;
                    place.queued = false;
                    return Err(LockingError::lock(key, Reason::TimedOut, None));
                }
                // Only the first in line acts on the holder's expiry. An
                // expiry already tried (the clocks' offset was misjudged,
                // or the holder extended since) is tried again after a
                // backoff, not at once.
                let expiry = match (view.ahead.is_empty(), view.holder_until) {
                    (true, Some(until)) if tried == Some(until) => Some(backoff.next()),
                    (true, Some(until)) => Some(self.until(until, offset_ms)),
                    _ => None,
                };
                let mut until = renew_at.saturating_duration_since(now).min(left);
                let at_expiry = expiry.is_some_and(|expiry| expiry <= until);
                if let Some(expiry) = expiry {
                    until = until.min(expiry);
                }
                let Some(stream) = releases.as_mut() else {
                    // Polling: only the first in line can take the lease,
                    // so those behind it poll more slowly, by their place.
                    // A lease handed to it lasts its ttl: it looks at least
                    // every third of that, to claim it in time.
                    let behind = u32::try_from(view.ahead.len()).unwrap_or(u32::MAX);
                    let pause = backoff.next().saturating_mul(behind.saturating_add(1));
                    let pause = pause.min(claim_window);
                    tokio::time::sleep(until.min(pause)).await;
                    woke_at_expiry =
                        (at_expiry && until <= pause).then_some(view.holder_until).flatten();
                    break;
                };
                let change: Option<Change> = tokio::select! {
                    change = stream.next() => match change {
                        Some(change) => Some(change),
                        None => {
                            // The stream ended: poll from now on.
                            releases = None;
                            break;
                        }
                    },
                    _ = tokio::time::sleep(until) => {
                        woke_at_expiry = at_expiry.then_some(view.holder_until).flatten();
                        None
                    }
                };
                match change {
                    // Handed to another waiter (or taken): still waiting.
                    Some(Change { owner: Some(holder), expires_at, known: true })
                        if holder != owner =>
                    {
                        view.handed_to(&holder, expires_at);
                    }
                    // Handed to this waiter, freed, or unknown: attempt.
                    _ => break,
                }
            }
        }
    }

    /// Takes `owner` out of `key`'s queue; if a release handed it the
    /// lease meanwhile, hands the lease on (or clears it). One command.
    pub(crate) async fn leave(&self, key: &str, owner: &str) -> model_core::Result<()> {
        let coll = self.repo().collection().await?.clone();
        let (filter, update) = (bson::doc! { "_id": key }, pipeline::release(owner));
        let write_concern = self.inner.write_concern.clone();
        let leave =
            async move { coll.update_one(filter, update).write_concern(write_concern).await };
        self.conn().bounded(Lock::COLLECTION, leave).await.map(|_| ())
    }

    /// [`leave`](Self::leave) for a lock, the same for a semaphore.
    async fn leave_any(&self, key: &str, owner: &str, permits: u32) -> model_core::Result<()> {
        match permits {
            1 => self.leave(key, owner).await,
            _ => self.leave_permits(key, owner, permits).await,
        }
    }

    /// How long until `until` (server clock), as this client reckons it.
    fn until(&self, until: DateTime, offset_ms: i64) -> Duration {
        let server_now = crate::wait::wall_ms() + offset_ms;
        let left = until.timestamp_millis() - server_now;
        Duration::from_millis(left.max(0) as u64) + crate::wait::EXPIRY_SLACK
    }
}
