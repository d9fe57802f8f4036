//! The client clock the lock reads, injectable for tests.

use std::fmt::Debug;
use std::time::Instant;

/// The client's monotonic clock, as the lock reads it.
///
/// The lock never decides expiry from the client's clock: the server's
/// `$$NOW` does. It reads this clock only to measure durations on the
/// client: when the next heartbeat is due, whether the fencing token was
/// issued inside the lease (see the crate docs), the local deadline at
/// which the signal fires, and the `.wait` timeout and backoff.
///
/// Only differences between two readings matter, so an offset (a clock
/// "5 minutes fast") changes nothing; a clock that runs at the wrong
/// *rate* would. Inject one with [`Locks::with_clock`](crate::Locks::with_clock).
///
/// ```
/// use std::time::{Duration, Instant};
/// #[derive(Debug)]
/// struct FiveMinutesFast;
/// impl lock::Clock for FiveMinutesFast {
///     fn now(&self) -> Instant {
///         Instant::now() + Duration::from_secs(300)
///     }
/// }
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock ([`Instant::now`]); the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}
