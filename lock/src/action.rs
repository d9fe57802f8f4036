//! `locks.lock(key, |signal| ...)`: the closure form.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tracing::Instrument;

use crate::heartbeat::{Heartbeat, OnError};
use crate::locks::{MAX_RETRIES, validate};
use crate::{Lease, LockingError, Locks, Reason, Result};

/// The default ttl of [`Locks::lock`]: 3 seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);

/// What the closure of [`Locks::lock`] receives: the fencing token of the
/// acquisition and the signal that fires when the lease is lost.
///
/// Check [`is_cancelled`](Self::is_cancelled) between steps, or race the
/// work against [`cancelled`](Self::cancelled), and stop when it fires:
/// another worker may hold the lock from then on. Pass
/// [`token`](Self::token) to every write the work makes, so the store can
/// reject a write from a holder that lost the lease.
#[derive(Debug, Clone)]
pub struct Signal {
    key: Arc<str>,
    owner: Arc<str>,
    token: i64,
    permits: u32,
    cancel: CancellationToken,
}

impl Signal {
    /// The key that is locked.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing token: strictly greater than that of every earlier
    /// acquisition of the key.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The random id of this acquisition, stored as the lease's `owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How many holders the key admits: 1 for a lock, more for a semaphore.
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// Whether the lease was lost.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the lease is lost.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// The signal as a [`CancellationToken`], to hand to code that takes one.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.cancel
    }
}

/// `locks.lock(key, f)`: runs `f` while holding the lease on `key`.
/// Set options with the builder methods, run with `.await`.
///
/// Output: `Ok` with the closure's value, unchanged (a closure that
/// returns a `Result` gives `Ok(Err(e))` for its own error), or
/// `Err(LockingError)` when the lock was not acquired.
#[must_use = "a lock action does nothing until awaited"]
pub struct LockAction<'a, F> {
    locks: &'a Locks,
    key: String,
    f: F,
    ttl: Duration,
    retries: u32,
    wait: Option<Duration>,
    on_error: Option<OnError>,
    permits: u32,
}

impl<F> std::fmt::Debug for LockAction<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockAction")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("retries", &self.retries)
            .field("wait", &self.wait)
            .field("on_error", &self.on_error.is_some())
            .finish()
    }
}

impl Locks {
    /// Runs `f` while holding the lease on `key`.
    ///
    /// Acquires the lease or fails at once with [`LockingError::Lock`]
    /// ([`Reason::Held`]); with [`.wait(timeout)`](LockAction::wait) it
    /// retries until acquired or timed out. While `f` runs, a heartbeat
    /// extends the lease every ttl/2; a failed extension is retried after
    /// about 10 ms up to [`retries`](LockAction::retries) times, and after
    /// that the lease counts as lost: [`on_error`](LockAction::on_error)
    /// gets a [`LockingError::Relock`] and the [`Signal`] fires, a fifth of
    /// the ttl before the lease could end at the latest. When `f` ends the
    /// heartbeat stops and the lease is released; a failed release calls
    /// `on_error` with a [`LockingError::Unlock`] and does not fail the call.
    ///
    /// ```no_run
    /// # async fn demo(locks: lock::Locks) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let rows = locks
    ///     .lock("nightly-report", |signal| async move {
    ///         // ... work; stop when signal.is_cancelled() ...
    ///         Ok::<_, std::io::Error>(42)
    ///     })
    ///     .ttl(Duration::from_secs(10))
    ///     .retries(2)
    ///     .wait(Duration::from_secs(30))
    ///     .on_error(|error| eprintln!("{error}"))
    ///     .await??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    /// Dropping the future drops `f`'s future, stops the heartbeat and
    /// releases the lease in a background task (if a tokio runtime is
    /// running); otherwise the lease ends at its expiry. Dropped while
    /// waiting, the waiter leaves the key's queue in the background (a
    /// lease handed to it meanwhile is handed on); dropped while an acquire
    /// command is in flight, what that command took ends at its expiry.
    pub fn lock<F, Fut>(&self, key: impl Into<String>, f: F) -> LockAction<'_, F>
    where
        F: FnOnce(Signal) -> Fut,
        Fut: Future,
    {
        LockAction {
            locks: self,
            key: key.into(),
            f,
            ttl: DEFAULT_TTL,
            retries: 0,
            wait: None,
            on_error: None,
            permits: 1,
        }
    }
}

impl<F> LockAction<'_, F> {
    /// How long a lease lasts unless extended; the heartbeat extends it
    /// every `ttl / 2`. Default 3 s; between 1 ms and one year.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many times a failed extension is retried before the lease
    /// counts as lost. Default 0; at most [`MAX_RETRIES`].
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Wait for the lock instead of failing at once: wait in the key's
    /// queue, in arrival order, until it is acquired, or fail with
    /// [`Reason::TimedOut`] after `timeout` (leaving the queue).
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Admits up to `permits` holders of the key at once (a counting
    /// semaphore), each with its own lease, heartbeat, signal and fencing
    /// token. Default 1: a lock. Every holder of a key must give the same
    /// number (at most [`MAX_PERMITS`](crate::MAX_PERMITS)). A semaphore's
    /// waiters queue in arrival order, as a lock's do, and poll with
    /// backoff instead of watching a change stream.
    pub fn permits(mut self, permits: u32) -> Self {
        self.permits = permits;
        self
    }

    /// Called with a [`LockingError::Relock`] when the lease is lost, and
    /// with a [`LockingError::Unlock`] when the release fails; at most once
    /// each. Runs on a tokio worker: keep it short.
    pub fn on_error(mut self, on_error: impl Fn(LockingError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(on_error));
        self
    }
}

impl<'a, F, Fut> LockAction<'a, F>
where
    F: FnOnce(Signal) -> Fut + Send + 'a,
    Fut: Future + Send + 'a,
    Fut::Output: Send + 'a,
{
    async fn run(self) -> Result<Fut::Output> {
        let LockAction { locks, key, f, ttl, retries, wait, on_error, permits } = self;
        let ttl_ms = validate(&key, ttl)?;
        crate::locks::validate_permits(permits)?;
        if retries > MAX_RETRIES {
            return Err(LockingError::invalid(format!(
                "{retries} retries; at most {MAX_RETRIES} are allowed"
            )));
        }
        let lease = match wait {
            None => locks
                .try_lock_checked(&key, permits, ttl, ttl_ms)
                .await?
                .ok_or_else(|| LockingError::lock(&key, Reason::Held, None))?,
            Some(timeout) => locks.acquire_checked(&key, permits, ttl, ttl_ms, timeout).await?,
        };

        let (signal, held) = hold(locks, lease, retries, on_error.clone());
        let value = f(signal).await;
        if let Err(error) = held.release().await {
            tracing::warn!(error = %error, "release failed");
            if let Some(on_error) = &on_error {
                on_error(error);
            }
        }
        Ok(value)
    }
}

/// Starts the heartbeat of `lease`: the signal it fires when the lease is
/// lost, and the guard that stops it and releases the lease.
pub(crate) fn hold(
    locks: &Locks,
    lease: Lease,
    retries: u32,
    on_error: Option<OnError>,
) -> (Signal, Held) {
    let cancel = CancellationToken::new();
    let stop = CancellationToken::new();
    let beat = Heartbeat {
        locks: locks.clone(),
        lease: lease.clone(),
        retries,
        signal: cancel.clone(),
        stop: stop.clone(),
        on_error: on_error.clone(),
    };
    // Boxed: a task's cell is allocated cache-line aligned, which the
    // allocator serves by its slow path when the cell is large (~23,000
    // instructions a `lock` with the heartbeat inline, callgrind,
    // `--op-loop lock_closure`); a box is an ordinary allocation.
    let heartbeat = tokio::spawn(Box::pin(beat.run().in_current_span()));
    let signal = Signal {
        key: Arc::from(lease.key.as_str()),
        owner: Arc::from(lease.owner.as_str()),
        token: lease.token,
        permits: lease.permits,
        cancel,
    };
    let held = Held { locks: locks.clone(), lease: Some(lease), stop, heartbeat };
    (signal, held)
}

impl<'a, F, Fut> IntoFuture for LockAction<'a, F>
where
    F: FnOnce(Signal) -> Fut + Send + 'a,
    Fut: Future + Send + 'a,
    Fut::Output: Send + 'a,
{
    type Output = Result<Fut::Output>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let span = crate::locks::span("lock", &self.key);
        Box::pin(self.run().instrument(span))
    }
}

/// A lease held with its heartbeat. Stops the heartbeat when dropped, and
/// releases the lease in the background if the holder was dropped before
/// it could release it.
pub(crate) struct Held {
    locks: Locks,
    lease: Option<Lease>,
    stop: CancellationToken,
    heartbeat: tokio::task::JoinHandle<bool>,
}

impl Held {
    /// Stops the heartbeat and releases the lease. A lease already lost
    /// (the heartbeat reported it) is not an error.
    pub(crate) async fn release(mut self) -> Result<()> {
        self.stop.cancel();
        let lost = match (&mut self.heartbeat).await {
            Ok(lost) => lost,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => false,
        };
        let Some(lease) = self.lease.clone() else { return Ok(()) };
        // A release slower than the ttl is moot (the lease has ended), and
        // must not keep the holder's value from its caller.
        let released = tokio::time::timeout(lease.ttl, self.locks.release(&lease))
            .await
            .unwrap_or_else(|_| Err(LockingError::unlock(&lease.key, Reason::Failed, None)));
        // Only now: dropped while releasing, the guard still releases.
        self.lease = None;
        match released {
            // The loss was reported already.
            Err(error) if lost && error.reason() == Some(Reason::Lost) => Ok(()),
            released => released,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(lease) = self.lease.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let locks = self.locks.clone();
            runtime.spawn(async move {
                let _ = locks.release(&lease).await;
            });
        }
    }
}
