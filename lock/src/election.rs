//! Leader election on a key's lease: campaign, lead with the lock's
//! heartbeat and signal, resign; read or observe the leader and its term.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use futures::StreamExt;
use futures::stream::BoxStream;
use model_core::mongodb::change_stream::event::{ChangeStreamEvent, OperationType};
use model_core::{DateTime, Model as _};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::action::{Held as Guard, hold};
use crate::heartbeat::OnError;
use crate::locks::{MAX_RETRIES, validate};
use crate::{DEFAULT_TTL, Held, Lock, LockingError, Locks, Result, Signal};

/// How often an observer without change streams reads the leader.
const POLL: Duration = Duration::from_millis(250);

/// The longest an observer's change stream waits on the server for an
/// event before it asks again.
const MAX_AWAIT: Duration = Duration::from_secs(10);

/// The leader of a key: who leads, in which term, since and until when
/// (by the server's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// The key led.
    pub key: String,
    /// The leader's random id (its lease's owner).
    pub owner: String,
    /// The term: the fencing token of the leader's lease, strictly greater
    /// than every earlier term of the key.
    pub term: i64,
    /// When the term began (the acquisition, server clock).
    pub since: DateTime,
    /// When the leader's lease ends unless extended (server clock), as
    /// last seen.
    pub expires_at: DateTime,
}

impl Leader {
    fn from_lock(lock: Lock) -> Option<Leader> {
        Some(Leader {
            owner: lock.owner?,
            key: lock.id,
            term: lock.token,
            since: lock.created_at,
            expires_at: lock.expires_at,
        })
    }

    /// The leader a stored lease document names, if it has an owner.
    fn from_document(key: &str, stored: &Document) -> Option<Leader> {
        Some(Leader {
            key: key.to_string(),
            owner: stored.get_str("owner").ok()?.to_string(),
            term: stored.get_i64("token").ok()?,
            since: *stored.get_datetime("created_at").ok()?,
            expires_at: *stored.get_datetime("expires_at").ok()?,
        })
    }

    /// Whether `other` is the same leader in the same term.
    fn same_term(this: &Option<Leader>, other: &Option<Leader>) -> bool {
        match (this, other) {
            (Some(a), Some(b)) => a.owner == b.owner && a.term == b.term,
            (None, None) => true,
            _ => false,
        }
    }
}

/// `locks.campaign(key)`: waits until this process leads `key`. Set
/// options with the builder methods, run with `.await`.
#[must_use = "a campaign does nothing until awaited"]
pub struct Campaign<'a> {
    locks: &'a Locks,
    key: String,
    ttl: Duration,
    retries: u32,
    timeout: Option<Duration>,
    on_error: Option<OnError>,
}

impl std::fmt::Debug for Campaign<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Campaign")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<'a> Campaign<'a> {
    /// How long the leader's lease lasts unless extended; the heartbeat
    /// extends it every `ttl / 2`. Default 3 s.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many times a failed extension is retried before leadership
    /// counts as lost. Default 0; at most [`MAX_RETRIES`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Gives up with [`Reason::TimedOut`](crate::Reason::TimedOut) after
    /// `timeout`; by default a campaign waits until it leads.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Called with a [`LockingError::Relock`] when leadership is lost.
    pub fn on_error(mut self, on_error: impl Fn(LockingError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(on_error));
        self
    }

    async fn run(self) -> Result<Leadership> {
        let Campaign { locks, key, ttl, retries, timeout, on_error } = self;
        let ttl_ms = validate(&key, ttl)?;
        if retries > MAX_RETRIES {
            return Err(LockingError::invalid(format!(
                "{retries} retries; at most {MAX_RETRIES} are allowed"
            )));
        }
        let timeout = timeout.unwrap_or(Duration::MAX);
        let lease = locks.acquire_checked(&key, 1, ttl, ttl_ms, timeout).await?;
        tracing::info!(term = lease.token, "leading");
        let (signal, guard) = hold(locks, lease, retries, on_error);
        Ok(Leadership { signal, guard: Some(guard) })
    }
}

impl<'a> IntoFuture for Campaign<'a> {
    type Output = Result<Leadership>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let span = crate::locks::span("campaign", &self.key);
        Box::pin(self.run().instrument(span))
    }
}

/// Leadership of a key, won by [`Locks::campaign`]: kept by a heartbeat
/// until [`resign`](Self::resign)ed, dropped, or lost (then its
/// [`signal`](Self::signal) fires). Its [`term`](Self::term) is the
/// fencing token of its lease: pass the leadership to
/// [`Locks::fenced`] (it is [`Held`]) or the term to what it writes.
pub struct Leadership {
    signal: Signal,
    guard: Option<Guard>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("key", &self.key())
            .field("term", &self.term())
            .field("is_leader", &self.is_leader())
            .finish()
    }
}

impl Leadership {
    /// The key led.
    pub fn key(&self) -> &str {
        self.signal.key()
    }

    /// The term: strictly greater than every earlier term of the key.
    pub fn term(&self) -> i64 {
        self.signal.token()
    }

    /// Fires when leadership is lost (the lease could not be extended in
    /// time): stop acting as the leader.
    pub fn signal(&self) -> &Signal {
        &self.signal
    }

    /// Whether this process still leads, as far as its heartbeat knows.
    pub fn is_leader(&self) -> bool {
        !self.signal.is_cancelled()
    }

    /// Steps down: stops the heartbeat and releases the lease, so the next
    /// campaigner leads at once. Leadership already lost is not an error.
    ///
    /// # Errors
    /// [`LockingError::Unlock`] when the release failed (leadership then
    /// ends at the lease's expiry).
    ///
    /// # Cancel safety
    /// Dropped, the release continues in the background.
    pub async fn resign(mut self) -> Result<()> {
        match self.guard.take() {
            Some(guard) => guard.release().await,
            None => Ok(()),
        }
    }
}

impl Held for Leadership {
    fn key(&self) -> &str {
        self.signal.key()
    }
    fn owner(&self) -> &str {
        self.signal.owner()
    }
}

impl Locks {
    /// Campaigns for leadership of `key`: waits until its lease is free by
    /// the server's clock and takes it (woken by releases and expiries as
    /// [`acquire`](Self::acquire) is), then keeps it with the lock's
    /// heartbeat. The term is the lease's fencing token.
    ///
    /// ```no_run
    /// # async fn demo(locks: lock::Locks) -> Result<(), lock::LockingError> {
    /// let leadership = locks.campaign("scheduler").await?;
    /// println!("leading in term {}", leadership.term());
    /// tokio::select! {
    ///     _ = leadership.signal().cancelled() => println!("leadership lost"),
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
    /// }
    /// leadership.resign().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    /// As [`acquire`](Self::acquire) while campaigning; once won, dropping
    /// the [`Leadership`] stops the heartbeat and resigns in the background.
    pub fn campaign(&self, key: impl Into<String>) -> Campaign<'_> {
        Campaign {
            locks: self,
            key: key.into(),
            ttl: DEFAULT_TTL,
            retries: 0,
            timeout: None,
            on_error: None,
        }
    }

    /// The current leader of `key` by the server's clock (a live lease),
    /// read once; `None` when nobody leads.
    ///
    /// # Errors
    /// [`LockingError::Observe`] when the read failed.
    pub async fn leader(&self, key: &str) -> Result<Option<Leader>> {
        let failed = |e| LockingError::observe(key, Some(e));
        let coll = self.repo().collection().await.map_err(failed)?.clone();
        let filter = doc! {
            "_id": key,
            "owner": { "$type": "string" },
            "$expr": { "$gt": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] },
        };
        let read = async move { coll.find_one(filter).await };
        let found = self.conn().bounded(Lock::COLLECTION, read).await.map_err(failed)?;
        Ok(found.and_then(Leader::from_lock))
    }

    /// The leaders of `key` as they change: first the current one (or
    /// `None`), then each change in order — a new term, a resignation or
    /// an expiry by the server's clock (`None`). Extensions of the same
    /// term are not changes.
    ///
    /// Each observer has a change stream of its own on the key where the
    /// deployment has them (and sees every term, however short); without
    /// them, or with [`polling`](Self::polling), it reads the leader every
    /// 250 ms and at the leader's expiry, and may miss a term shorter than
    /// that. A failed read is an `Err` item, after which the stream ends.
    /// Dropping the stream stops the observer.
    pub fn observe(&self, key: impl Into<String>) -> BoxStream<'static, Result<Option<Leader>>> {
        let (sender, receiver) = mpsc::channel(16);
        let task = tokio::spawn(self.clone().observing(key.into(), sender));
        let stop = AbortOnDrop(task);
        futures::stream::unfold((receiver, stop), |(mut receiver, stop)| async move {
            receiver.recv().await.map(|item| (item, (receiver, stop)))
        })
        .boxed()
    }

    /// Sends `key`'s leader, then each change of it, until the receiver
    /// is gone or a read fails.
    async fn observing(self, key: String, sender: mpsc::Sender<Result<Option<Leader>>>) {
        let offset_ms = self.offset_ms().await;
        // Opened before the first read, so no change after it is missed.
        let mut events = match self.inner.polling {
            true => None,
            false => self.watch_key(&key).await,
        };
        let mut current = match self.leader(&key).await {
            Ok(leader) => leader,
            Err(error) => {
                let _ = sender.send(Err(error)).await;
                return;
            }
        };
        if sender.send(Ok(current.clone())).await.is_err() {
            return;
        }
        // The highest term sent: terms never go back.
        let mut highest = current.as_ref().map_or(i64::MIN, |leader| leader.term);
        loop {
            let expiry = current.as_ref().map(|l| until(l.expires_at, offset_ms));
            let pause = match &events {
                Some(_) => expiry.unwrap_or(MAX_AWAIT),
                None => expiry.map_or(POLL, |e| e.min(POLL)),
            };
            let next = match events.as_mut() {
                Some(stream) => tokio::select! {
                    event = stream.next() => match event {
                        Some(Ok(event)) => Some(apply(&key, current.clone(), event)),
                        // Ended or failed: observe by reading from now on.
                        _ => {
                            events = None;
                            None
                        }
                    },
                    _ = tokio::time::sleep(pause) => None,
                },
                None => {
                    tokio::time::sleep(pause).await;
                    None
                }
            };
            let next = match next {
                // A change from before the first read: older than what was
                // sent, and never sent after it.
                Some(Some(Some(leader))) if leader.term < highest => continue,
                Some(Some(next)) => next,
                // A timer, or an event that does not say enough: read.
                _ => match self.leader(&key).await {
                    Ok(leader) => leader,
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                        return;
                    }
                },
            };
            let changed = !Leader::same_term(&current, &next);
            current = next;
            if let Some(leader) = &current {
                highest = highest.max(leader.term);
            }
            if changed && sender.send(Ok(current.clone())).await.is_err() {
                return;
            }
        }
    }

    /// A change stream of every change to `key`'s lease document.
    async fn watch_key(
        &self,
        key: &str,
    ) -> Option<model_core::mongodb::change_stream::ChangeStream<ChangeStreamEvent<Document>>> {
        let coll = self.repo().collection().await.ok()?.clone_with_type::<Document>();
        let pipeline = [doc! { "$match": { "documentKey._id": key } }];
        let open = async move { coll.watch().pipeline(pipeline).max_await_time(MAX_AWAIT).await };
        self.conn().bounded(Lock::COLLECTION, open).await.ok()
    }
}

/// How long until `expires_at` (server clock) as this client reckons it.
fn until(expires_at: DateTime, offset_ms: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let left = expires_at.timestamp_millis() - (now + offset_ms);
    Duration::from_millis(left.max(0) as u64 + 2)
}

/// The leader after `event`, from `current`: `Some(leader)` when the
/// event says it, `None` when the leader must be read.
fn apply(
    key: &str,
    current: Option<Leader>,
    event: ChangeStreamEvent<Document>,
) -> Option<Option<Leader>> {
    match event.operation_type {
        // Who leads after a deletion or a release is read from the server:
        // the event may predate the observer's first read.
        OperationType::Delete => None,
        OperationType::Insert | OperationType::Replace => {
            let stored = event.full_document?;
            Some(Leader::from_document(key, &stored))
        }
        OperationType::Update => {
            let change = event.update_description?;
            if change.removed_fields.iter().any(|f| f == "owner") {
                return None;
            }
            let updated = &change.updated_fields;
            match updated.get("owner") {
                // A new term: the acquisition sets all of these.
                Some(Bson::String(owner)) => Some(Some(Leader {
                    key: key.to_string(),
                    owner: owner.clone(),
                    term: updated.get_i64("token").ok()?,
                    since: *updated.get_datetime("created_at").ok()?,
                    expires_at: *updated.get_datetime("expires_at").ok()?,
                })),
                Some(_) => None,
                // The same owner: a new term if the token moved (a lease
                // handed to it that it retook), else an extension.
                None => {
                    let mut leader = current?;
                    if let Ok(term) = updated.get_i64("token") {
                        leader.term = term;
                        leader.since = *updated.get_datetime("created_at").ok()?;
                    }
                    if let Ok(expires_at) = updated.get_datetime("expires_at") {
                        leader.expires_at = *expires_at;
                    }
                    Some(Some(leader))
                }
            }
        }
        _ => None,
    }
}

/// Aborts the observer's task when its stream is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
