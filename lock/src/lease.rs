//! A held lease: the handle the low-level API returns.

use std::time::{Duration, Instant};

use model_core::DateTime;

/// One acquisition of a key: its owner id, its fencing token and its expiry.
///
/// Returned by [`Locks::try_lock`](crate::Locks::try_lock) and
/// [`Locks::extend`](crate::Locks::extend); pass it to
/// [`Locks::release`](crate::Locks::release). A handle stays a value after
/// its lease ended: extending or releasing a stale one fails with
/// [`Reason::Lost`](crate::Reason::Lost) and changes nothing, because both
/// match the owner id and only a live lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub(crate) key: String,
    pub(crate) owner: String,
    pub(crate) token: i64,
    pub(crate) expires_at: DateTime,
    pub(crate) renewed_at: Instant,
    pub(crate) ttl: Duration,
    /// When the acquisition's command was sent (client clock).
    pub(crate) acquired_at: Instant,
    /// How many extensions succeeded.
    pub(crate) extensions: u32,
    /// 1 for a lock; the permits of the key for a semaphore.
    pub(crate) permits: u32,
}

impl Lease {
    /// The key the lease is on.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The random id of this acquisition, stored as the lease's `owner`.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The fencing token: strictly greater than the token of every earlier
    /// acquisition of the key. Pass it to the protected resource, and have
    /// the resource reject a token lower than the highest it has seen.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// When the lease ends, by the *server's* clock. Do not compare it with
    /// the client's clock; use [`valid_until`](Self::valid_until).
    pub fn expires_at(&self) -> DateTime {
        self.expires_at
    }

    /// The ttl the lease was last acquired or extended with.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many holders the key admits: 1 for a lock, more for a semaphore.
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// How many times the lease was extended.
    pub fn extensions(&self) -> u32 {
        self.extensions
    }

    /// A lower bound of the lease's end on the client's monotonic clock:
    /// when the command that set the expiry was *sent*, plus the ttl. The
    /// server started the ttl later than that, so the lease is held at
    /// least until then (as long as the two clocks run at the same rate).
    pub fn valid_until(&self) -> Instant {
        self.renewed_at + self.ttl
    }
}
