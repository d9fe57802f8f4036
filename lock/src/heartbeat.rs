//! The heartbeat of a held lease: extends it every ttl/2 and fires the
//! signal when it is lost.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{Lease, LockingError, Locks, Reason};

/// What `on_error` is stored as.
pub(crate) type OnError = Arc<dyn Fn(LockingError) + Send + Sync>;

/// How long a failed extension waits before it is retried.
pub(crate) const RETRY_DELAY: Duration = Duration::from_millis(10);

/// The heartbeat of one held lease.
pub(crate) struct Heartbeat {
    pub locks: Locks,
    pub lease: Lease,
    pub retries: u32,
    /// Fired when the lease is lost.
    pub signal: CancellationToken,
    /// Fired by the holder when it is done.
    pub stop: CancellationToken,
    pub on_error: Option<OnError>,
}

impl Heartbeat {
    /// Extends the lease every ttl/2 until stopped (`false`) or until the
    /// lease is lost (`true`): then the signal is fired and `on_error`
    /// called once.
    ///
    /// A failed extension is retried after [`RETRY_DELAY`] up to `retries`
    /// times; a lease found lost is not retried. Whatever the retries, the
    /// signal fires a fifth of the ttl before the lease could end (by
    /// [`Lease::valid_until`]), so the holder learns of the loss first,
    /// even on a client clock running up to 20% slow.
    pub async fn run(mut self) -> bool {
        let clock = self.locks.inner.clock.clone();
        let ttl = self.lease.ttl;
        let ttl_ms = ttl.as_millis() as i64;
        let wait = |until: std::time::Instant| {
            tokio::time::sleep(until.saturating_duration_since(clock.now()))
        };
        loop {
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => return false,
                _ = wait(self.lease.renewed_at + ttl / 2) => {}
            }
            let give_up = self.lease.valid_until() - ttl / 5;
            let mut failures = 0;
            let mut last_failure = None;
            let error = loop {
                if clock.now() >= give_up {
                    let source = match last_failure {
                        Some(LockingError::Relock { source, .. }) => source.map(|s| *s),
                        _ => None,
                    };
                    break Some(LockingError::relock(&self.lease.key, Reason::Expiring, source));
                }
                // Boxed: an extension runs every ttl/2, and inline its
                // future (the driver's command) made the heartbeat's task,
                // allocated on every `lock`, kilobytes larger (~5,500
                // instructions a closure-form cycle, callgrind,
                // `--op-loop lock_closure`).
                let extend = Box::pin(
                    self.locks
                        .extend_checked(&self.lease, ttl, ttl_ms)
                        .instrument(crate::locks::span("extend", &self.lease.key)),
                );
                let attempt = tokio::select! {
                    biased;
                    _ = self.stop.cancelled() => return false,
                    result = extend => Some(result),
                    _ = wait(give_up) => None,
                };
                match attempt {
                    None => continue,
                    Some(Ok(lease)) => {
                        tracing::trace!("extended");
                        self.lease = lease;
                        break None;
                    }
                    Some(Err(error)) if error.reason() == Some(Reason::Lost) => break Some(error),
                    Some(Err(error)) if failures < self.retries => {
                        tracing::debug!(error = %error, failures, "extension failed; retrying");
                        failures += 1;
                        last_failure = Some(error);
                        tokio::select! {
                            biased;
                            _ = self.stop.cancelled() => return false,
                            _ = tokio::time::sleep(RETRY_DELAY) => {}
                        }
                    }
                    Some(Err(error)) => break Some(error),
                }
            };
            let Some(error) = error else { continue };
            let held = clock.now().saturating_duration_since(self.lease.acquired_at);
            tracing::warn!(
                error = %error,
                token = self.lease.token,
                hold_ms = held.as_millis() as u64,
                extensions = self.lease.extensions,
                "lease lost"
            );
            self.signal.cancel();
            if let Some(on_error) = &self.on_error {
                on_error(error);
            }
            return true;
        }
    }
}
