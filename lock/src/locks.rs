//! `Locks`: the low-level protocol (try-lock, extend, release) on a
//! [`Connection`].

use std::sync::Arc;
use std::time::Duration;

use model_core::mongodb::options::{ReturnDocument, WriteConcern};
use model_core::{Connection, Model as _, Repo};
use tracing::Instrument;

use crate::{
    Clock, Fence, Lease, Lock, LockingError, Reason, Result, Semaphore, SystemClock, pipeline,
};

/// The most extension retries [`LockAction::retries`](crate::LockAction::retries) accepts.
pub const MAX_RETRIES: u32 = 1_000;

/// The longest ttl accepted: one year.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Distributed locks (leases) on the `locks` collection of a database.
///
/// Cheap to clone; clones share the connection and the clock.
///
/// The closure form, [`lock`](Self::lock), is the easy path: it acquires,
/// heartbeats, signals a lost lease and releases. The low-level
/// [`try_lock`](Self::try_lock), [`acquire`](Self::acquire),
/// [`extend`](Self::extend) and [`release`](Self::release) are the steps it
/// is made of.
///
/// ```no_run
/// # async fn demo(conn: model_core::Connection) -> Result<(), lock::LockingError> {
/// let locks = lock::Locks::new(&conn);
/// if let Some(lease) = locks.try_lock("nightly-report", std::time::Duration::from_secs(10)).await? {
///     // ... work, passing lease.token() to what the work writes ...
///     locks.release(&lease).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Locks {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    locks: Repo<Lock>,
    pub(crate) semaphores: Repo<Semaphore>,
    fences: Repo<Fence>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) write_concern: WriteConcern,
    /// Set once the counters of `lock_fences` were carried over.
    carried: tokio::sync::OnceCell<()>,
    /// How waits wait, and the change stream they share.
    pub(crate) waiting: crate::wait::Waiting,
    /// Waits poll even where change streams exist.
    pub(crate) polling: bool,
}

impl std::fmt::Debug for Locks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locks")
            .field("connection", self.inner.locks.connection())
            .field("clock", &self.inner.clock)
            .field("write_concern", &self.inner.write_concern)
            .finish()
    }
}

impl Locks {
    /// Locks stored in `conn`'s database, with the system clock and
    /// majority, journaled write concern. Nothing is sent until the first operation.
    pub fn new(conn: &Connection) -> Self {
        Locks {
            inner: Arc::new(Inner {
                locks: conn.repo::<Lock>(),
                semaphores: conn.repo::<Semaphore>(),
                fences: conn.repo::<Fence>(),
                clock: Arc::new(SystemClock),
                write_concern: durable_majority(),
                carried: tokio::sync::OnceCell::new(),
                waiting: Default::default(),
                polling: false,
            }),
        }
    }

    /// The same locks, reading `clock` instead of the system clock (for tests).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.rebuild(|inner| inner.clock = Arc::new(clock))
    }

    /// The same locks, writing with `write_concern` instead of majority + journal.
    pub fn with_write_concern(self, write_concern: WriteConcern) -> Self {
        self.rebuild(|inner| inner.write_concern = write_concern)
    }

    /// The same locks, whose waits poll with jittered backoff (2 ms
    /// doubling to 100 ms, and at the holder's expiry) instead of watching
    /// for releases with the change stream a `Locks` shares among its
    /// waiters: for deployments without change streams, or where even one
    /// per process costs too much. Each waiter then sends attempts while
    /// the lock is held.
    pub fn polling(self) -> Self {
        self.rebuild(|inner| inner.polling = true)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner {
            locks: self.inner.locks.clone(),
            semaphores: self.inner.semaphores.clone(),
            fences: self.inner.fences.clone(),
            clock: self.inner.clock.clone(),
            write_concern: self.inner.write_concern.clone(),
            carried: tokio::sync::OnceCell::new(),
            waiting: Default::default(),
            polling: self.inner.polling,
        };
        change(&mut inner);
        Locks { inner: Arc::new(inner) }
    }

    /// Migrates the `locks` collection (its validator and its index on
    /// (`_id`, `expires_at`); an earlier release's TTL index, which
    /// deleted released leases and with them their tokens, is dropped) and
    /// carries the counters an earlier release kept in `lock_fences` over,
    /// so each key's tokens continue above them. Call it once at startup,
    /// like a migration; the first acquisition of a `Locks` that did not
    /// run it carries the counters over itself.
    ///
    /// # Errors
    /// A driver error.
    ///
    /// # Cancel safety
    /// Safe to drop; run it again to finish.
    pub async fn setup(&self) -> model_core::Result<()> {
        self.conn().migrate::<Lock>().await?;
        self.conn().migrate::<Semaphore>().await?;
        self.carry_over().await
    }

    /// Carries the counters of `lock_fences` over, once per `Locks`.
    async fn carry_over(&self) -> model_core::Result<()> {
        self.inner
            .carried
            .get_or_try_init(|| async {
                let fences = self.inner.fences.find_many(model_core::Query::all()).await?;
                for fence in fences {
                    let coll = self.inner.locks.collection().await?.clone();
                    let filter = bson::doc! { "_id": &fence.id };
                    let update = pipeline::carry_over(fence.token);
                    let write_concern = self.inner.write_concern.clone();
                    let carry = async move {
                        coll.update_one(filter, update)
                            .upsert(true)
                            .write_concern(write_concern)
                            .await
                    };
                    self.conn().bounded(Lock::COLLECTION, carry).await?;
                    tracing::debug!(key = %fence.id, token = fence.token, "carried a fence over");
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The connection the lock's commands run on (and are bounded by).
    pub(crate) fn conn(&self) -> &Connection {
        self.inner.locks.connection()
    }

    /// The repository of the lease documents, to inspect them.
    pub fn repo(&self) -> &Repo<Lock> {
        &self.inner.locks
    }

    /// The repository of the semaphores' holders (locks with several permits).
    pub fn semaphores(&self) -> &Repo<Semaphore> {
        &self.inner.semaphores
    }

    /// The repository of the counters an earlier release kept in
    /// `lock_fences` (read once, by [`setup`](Self::setup)).
    pub fn fences(&self) -> &Repo<Fence> {
        &self.inner.fences
    }

    /// The clock this instance reads.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// Takes the lease on `key` for `ttl` if it is free, in one command;
    /// `None` when another owner holds it.
    ///
    /// The lease is free when nobody holds it or its holder's lease expired
    /// by the *server's* clock. See the crate docs for the protocol and why
    /// the returned [`token`](Lease::token) is fenced.
    ///
    /// # Errors
    /// [`LockingError::InvalidArgument`] for an empty key or a ttl under a
    /// millisecond or over a year (nothing sent); [`LockingError::Lock`]
    /// with [`Reason::Failed`] when a command failed (the lease, if
    /// taken, is released on a best-effort basis, else it expires).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future after the server took the
    /// lease leaves it held by an owner nobody knows until the ttl passes.
    pub async fn try_lock(&self, key: &str, ttl: Duration) -> Result<Option<Lease>> {
        let ttl_ms = validate(key, ttl)?;
        async {
            let lease = self.try_lock_checked(key, 1, ttl, ttl_ms).await?;
            match &lease {
                Some(lease) => tracing::debug!(token = lease.token, wait_ms = 0_u64, "acquired"),
                None => tracing::debug!("held by another owner"),
            }
            Ok(lease)
        }
        .instrument(span("try_lock", key))
        .await
    }

    /// Takes the lease on `key` for `ttl`, waiting in the key's queue (see
    /// the crate docs) while another owner holds it, for up to `timeout`:
    /// woken by the changes of holder its `Locks`' change stream sees, or
    /// polling with backoff. A failed command ends the wait at once.
    ///
    /// # Errors
    /// As [`try_lock`](Self::try_lock); [`LockingError::Lock`] with
    /// [`Reason::TimedOut`] when `timeout` passed first.
    ///
    /// # Cancel safety
    /// As [`try_lock`](Self::try_lock).
    pub async fn acquire(&self, key: &str, ttl: Duration, timeout: Duration) -> Result<Lease> {
        let ttl_ms = validate(key, ttl)?;
        self.acquire_checked(key, 1, ttl, ttl_ms, timeout).instrument(span("acquire", key)).await
    }

    /// Takes one of `permits` permits of `key` for `ttl` if fewer than
    /// `permits` holders have a live lease on it (a counting semaphore), in
    /// one command; `None` when all are held. Each holder has its own
    /// lease, owner id and fencing token (strictly increasing across all
    /// holders of the key); extend and release it like a lock's. One
    /// permit is a lock ([`try_lock`](Self::try_lock)). The permit count
    /// is the caller's: give every holder of a key the same.
    ///
    /// # Errors
    /// As [`try_lock`](Self::try_lock); [`LockingError::InvalidArgument`]
    /// for 0 permits or more than [`MAX_PERMITS`].
    ///
    /// # Cancel safety
    /// As [`try_lock`](Self::try_lock).
    pub async fn try_lock_permits(
        &self,
        key: &str,
        permits: u32,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let ttl_ms = validate(key, ttl)?;
        validate_permits(permits)?;
        self.try_lock_checked(key, permits, ttl, ttl_ms).instrument(span("try_lock", key)).await
    }

    /// [`try_lock_permits`](Self::try_lock_permits), retrying with backoff
    /// (and woken by expiries) for up to `timeout`.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    /// As [`try_lock`](Self::try_lock).
    pub async fn acquire_permits(
        &self,
        key: &str,
        permits: u32,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Lease> {
        let ttl_ms = validate(key, ttl)?;
        validate_permits(permits)?;
        self.acquire_checked(key, permits, ttl, ttl_ms, timeout)
            .instrument(span("acquire", key))
            .await
    }

    /// Extends `lease` to end `ttl` from now (server clock); one command.
    ///
    /// Only a live lease of the same owner is extended: a stale handle (an
    /// expired lease, or one another owner took since) gets
    /// [`Reason::Lost`] and changes nothing.
    ///
    /// # Errors
    /// [`LockingError::Relock`] with [`Reason::Lost`] or [`Reason::Failed`];
    /// [`LockingError::InvalidArgument`] for a ttl out of range.
    ///
    /// # Cancel safety
    /// Cancel safe: dropped, the lease is either unchanged or extended,
    /// and `lease` stays valid until its [`valid_until`](Lease::valid_until).
    pub async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        let ttl_ms = validate(&lease.key, ttl)?;
        self.extend_checked(lease, ttl, ttl_ms).instrument(span("extend", &lease.key)).await
    }

    /// Releases `lease`: removes the owner from the lease document if it
    /// is still this one (compare-and-clear; the document and its token
    /// stay); one command.
    ///
    /// # Errors
    /// [`LockingError::Unlock`] with [`Reason::Lost`] when the lease was no
    /// longer this owner's (nothing is changed), or [`Reason::Failed`] when
    /// the command failed (the lease then ends at its expiry).
    ///
    /// # Cancel safety
    /// Safe to drop: the lease is either released or ends at its expiry.
    pub async fn release(&self, lease: &Lease) -> Result<()> {
        self.release_owned(&lease.key, &lease.owner, lease.permits).await?;
        let held = self.inner.clock.now().saturating_duration_since(lease.acquired_at);
        tracing::debug!(
            key = %lease.key,
            token = lease.token,
            hold_ms = held.as_millis() as u64,
            extensions = lease.extensions,
            "released"
        );
        Ok(())
    }

    /// Clears the owner of `key`'s lease if it is `owner`, handing the
    /// lease to the first live waiter (for a semaphore, removes `owner`
    /// from its holders).
    async fn release_owned(&self, key: &str, owner: &str, permits: u32) -> Result<()> {
        if permits > 1 {
            let release = self.release_permit(key, owner, permits);
            return release.instrument(span("release", key)).await;
        }
        async {
            let collection = self
                .inner
                .locks
                .collection()
                .await
                .map_err(|e| LockingError::unlock(key, Reason::Failed, Some(e)))?;
            let (coll, filter) = (collection.clone(), pipeline::owned(key, owner));
            let (update, write_concern) =
                (pipeline::release(owner), self.inner.write_concern.clone());
            let release =
                async move { coll.update_one(filter, update).write_concern(write_concern).await };
            let released = self
                .conn()
                .bounded(Lock::COLLECTION, release)
                .await
                .map_err(|e| LockingError::unlock(key, Reason::Failed, Some(e)))?;
            if released.matched_count == 1 {
                Ok(())
            } else {
                Err(LockingError::unlock(key, Reason::Lost, None))
            }
        }
        .instrument(span("release", key))
        .await
    }

    pub(crate) async fn acquire_checked(
        &self,
        key: &str,
        permits: u32,
        ttl: Duration,
        ttl_ms: i64,
        timeout: Duration,
    ) -> Result<Lease> {
        self.acquire_queued(key, permits, (ttl, ttl_ms), timeout).await
    }

    pub(crate) async fn try_lock_checked(
        &self,
        key: &str,
        permits: u32,
        ttl: Duration,
        ttl_ms: i64,
    ) -> Result<Option<Lease>> {
        let owner = uuid::Uuid::new_v4().simple().to_string();
        match self.attempt(key, &owner, permits, ttl, ttl_ms, None).await? {
            Attempt::Acquired(lease) => Ok(Some(lease)),
            Attempt::Held(_) | Attempt::Waiting(_) => Ok(None),
        }
    }

    /// One acquisition attempt by `owner`: the lease, or the holder's
    /// lease document. With `queue_ttl_ms`, a refused attempt queues
    /// `owner` (or renews its place) for that long.
    pub(crate) async fn attempt(
        &self,
        key: &str,
        owner: &str,
        permits: u32,
        ttl: Duration,
        ttl_ms: i64,
        queue_ttl_ms: Option<i64>,
    ) -> Result<Attempt> {
        if permits > 1 {
            return self.attempt_permit(key, owner, permits, (ttl, ttl_ms), queue_ttl_ms).await;
        }
        let failed = |e| LockingError::lock(key, Reason::Failed, Some(e));
        self.carry_over().await.map_err(failed)?;
        let collection = self.inner.locks.collection().await.map_err(failed)?;

        // Take the lease if it is free by the server's clock and nobody
        // waits ahead; the same write counts the token.
        let sent = self.inner.clock.now();
        let command = self.acquire_command(key, owner, ttl_ms, queue_ttl_ms, collection.clone());
        let lock = match command.await {
            Ok(lock) => lock,
            Err(error) => {
                // The acquire may have been applied and only its reply
                // lost (or not yet answered): let go of what it may have
                // taken or queued (best effort; if this fails too, the
                // lease and the place end at their expiry).
                let _ = self.leave(key, owner).await;
                return Err(failed(error));
            }
        };
        match lock {
            Some(lock) if lock.owner.as_deref() == Some(owner) => Ok(Attempt::Acquired(Lease {
                key: key.to_string(),
                owner: owner.to_string(),
                token: lock.token,
                expires_at: lock.expires_at,
                renewed_at: sent,
                ttl,
                acquired_at: sent,
                extensions: 0,
                permits: 1,
            })),
            Some(lock) => Ok(Attempt::Held(Some(lock))),
            None => {
                // An upsert returning the document after the write always
                // shows a document; a reply without one (seen on servers
                // racing two upserts that create the document) leaves
                // unknown whether this acquire took the lease: let go of
                // it, as for a lost reply.
                let _ = self.leave(key, owner).await;
                Ok(Attempt::Held(None))
            }
        }
    }

    /// The acquire command, bounded by the connection's timeout (see
    /// [`answer_or_give_back`]): an acquire that lands after its timeout
    /// releases what it took, so it leaves nothing held.
    async fn acquire_command(
        &self,
        key: &str,
        owner: &str,
        ttl_ms: i64,
        queue_ttl_ms: Option<i64>,
        coll: model_core::mongodb::Collection<Lock>,
    ) -> model_core::Result<Option<Lock>> {
        let filter = bson::doc! { "_id": key };
        let update = pipeline::acquire(owner, ttl_ms, queue_ttl_ms);
        let write_concern = self.inner.write_concern.clone();
        let (release, leave) = (bson::doc! { "_id": key }, pipeline::release(owner));
        let owner = owner.to_string();
        let give_back_to = coll.clone();
        let acquire = async move {
            coll.find_one_and_update(filter, update)
                .upsert(true)
                .return_document(ReturnDocument::After)
                .write_concern(write_concern)
                .await
        };
        let write_concern = self.inner.write_concern.clone();
        answer_or_give_back(self.conn().timeout(), Lock::COLLECTION, acquire, move |acquired| {
            // Unless the answer shows the lease as another owner's and
            // this one not queued, this acquire may hold it (taken, or its
            // reply lost or without the document) or wait for it.
            let others = matches!(&acquired, Ok(Some(lock))
                if lock.owner.as_deref() != Some(owner.as_str())
                    && !lock.queue.iter().any(|w| w.owner == owner));
            async move {
                if !others {
                    let release = give_back_to.update_one(release, leave);
                    let _ = release.write_concern(write_concern).await;
                    tracing::debug!("released what an acquire answered after its timeout may hold");
                }
            }
        })
        .await
    }

    pub(crate) async fn extend_checked(
        &self,
        lease: &Lease,
        ttl: Duration,
        ttl_ms: i64,
    ) -> Result<Lease> {
        if lease.permits > 1 {
            return self.extend_permit(lease, ttl, ttl_ms).await;
        }
        let key = lease.key.as_str();
        let failed = |e| LockingError::relock(key, Reason::Failed, Some(e));
        let collection = self.inner.locks.collection().await.map_err(failed)?;
        let sent = self.inner.clock.now();
        let (coll, filter) = (collection.clone(), pipeline::live_lease(key, &lease.owner));
        let (update, write_concern) = (pipeline::extend(ttl_ms), self.inner.write_concern.clone());
        let extend = async move {
            coll.find_one_and_update(filter, update)
                .return_document(ReturnDocument::After)
                .write_concern(write_concern)
                .await
        };
        let lock = self.conn().bounded(Lock::COLLECTION, extend).await.map_err(failed)?;
        match lock {
            Some(lock) => {
                tracing::trace!(extensions = lease.extensions + 1, "extended");
                Ok(Lease {
                    expires_at: lock.expires_at,
                    renewed_at: sent,
                    ttl,
                    extensions: lease.extensions + 1,
                    ..lease.clone()
                })
            }
            None => {
                tracing::debug!("lost");
                Err(LockingError::relock(key, Reason::Lost, None))
            }
        }
    }
}

/// Runs the write `command` bounded by `timeout` (none: awaited as it
/// is). With a timeout it runs on its own task, so that its answer is
/// seen even after the caller has given up: then `give_back` gets that
/// late answer, to undo what the write may hold. An acquire abandoned at
/// its timeout still reaches the server; this keeps it from holding
/// anything nobody knows about.
pub(crate) async fn answer_or_give_back<T, C, G, R>(
    timeout: Option<Duration>,
    collection: &'static str,
    command: C,
    give_back: G,
) -> model_core::Result<T>
where
    T: Send + 'static,
    C: std::future::Future<Output = model_core::mongodb::error::Result<T>> + Send + 'static,
    G: FnOnce(model_core::mongodb::error::Result<T>) -> R + Send + 'static,
    R: std::future::Future<Output = ()> + Send + 'static,
{
    let driver_error = |e| model_core::Error::from_driver(collection, e);
    let Some(timeout) = timeout else {
        return command.await.map_err(driver_error);
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let task = async move {
        // Err: the caller timed out and is gone.
        if let Err(late) = reply.send(command.await) {
            give_back(late).await;
        }
    };
    tokio::spawn(task.in_current_span());
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(answered)) => answered.map_err(driver_error),
        // The task was dropped: the runtime is shutting down.
        Ok(Err(_)) => Err(model_core::Error::Disconnected),
        Err(_) => Err(model_core::Error::Timeout { collection: collection.to_string(), timeout }),
    }
}

/// What one acquisition attempt found.
pub(crate) enum Attempt {
    Acquired(Lease),
    /// Held by another owner: its lease document.
    Held(Option<Lock>),
    /// A semaphore's permits all held (or promised to waiters ahead).
    Waiting(Semaphore),
}

/// Logs an acquisition after `waited` and `attempts`.
pub(crate) fn acquired(lease: &Lease, waited: Duration, attempts: u32) {
    tracing::debug!(token = lease.token, wait_ms = waited.as_millis() as u64, attempts, "acquired");
}

/// The span of a lock operation: the collection, the operation and the key.
pub(crate) fn span(op: &'static str, key: &str) -> tracing::Span {
    tracing::debug_span!(
        "lock",
        db.system.name = "mongodb",
        db.collection.name = Lock::COLLECTION,
        db.operation.name = op,
        key
    )
}

/// Checks a key and a ttl; the ttl in whole milliseconds.
pub(crate) fn validate(key: &str, ttl: Duration) -> Result<i64> {
    if key.is_empty() {
        return Err(LockingError::invalid("the lock key is empty"));
    }
    if ttl < Duration::from_millis(1) || ttl > MAX_TTL {
        return Err(LockingError::invalid(format!(
            "the ttl is {ttl:?}; it must be between 1 ms and one year"
        )));
    }
    Ok(ttl.as_millis() as i64)
}

/// The most permits a semaphore takes.
pub const MAX_PERMITS: u32 = 10_000;

pub(crate) fn validate_permits(permits: u32) -> Result<()> {
    if permits == 0 || permits > MAX_PERMITS {
        return Err(LockingError::invalid(format!(
            "{permits} permits; between 1 and {MAX_PERMITS} are allowed"
        )));
    }
    Ok(())
}

/// Majority *and* journaled: a lease or fence write acknowledged before it
/// reached the journal could be lost in a crash, and a lost fence bump would
/// hand the next holder a token already given out. (mongod journals
/// majority writes by default; other servers need `j: true` said.)
fn durable_majority() -> WriteConcern {
    let mut concern = WriteConcern::majority();
    concern.journal = Some(true);
    concern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ttls_are_checked() {
        assert_eq!(validate("job", Duration::from_millis(1500)).unwrap(), 1500);
        for (key, ttl) in [
            ("", Duration::from_secs(1)),
            ("job", Duration::ZERO),
            ("job", Duration::from_micros(999)),
            ("job", MAX_TTL + Duration::from_secs(1)),
        ] {
            assert!(
                matches!(validate(key, ttl), Err(LockingError::InvalidArgument { .. })),
                "{key:?} {ttl:?}"
            );
        }
    }
}
