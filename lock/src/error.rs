//! The one error type of the lock.

use std::fmt;

/// A `Result` whose error defaults to [`LockingError`].
pub type Result<T, E = LockingError> = std::result::Result<T, E>;

/// Everything locking can fail with: acquiring ([`Lock`](Self::Lock)),
/// extending ([`Relock`](Self::Relock)), releasing ([`Unlock`](Self::Unlock)),
/// or an argument rejected before anything was sent.
///
/// A server failure is kept as the [`source`](std::error::Error::source),
/// never stringified: a boxed [`model_core::Error`] (boxed to keep the
/// error small), which in turn keeps the driver's error.
/// [`server_error`](Self::server_error) returns it unboxed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockingError {
    /// The lock was not acquired: another owner holds it, `.wait` timed
    /// out, the lease was lost before its fencing token was confirmed, or a
    /// command failed.
    #[error("lock `{key}` was not acquired: {reason}")]
    Lock {
        /// The key.
        key: String,
        /// Why.
        reason: Reason,
        /// The server error, when a command failed.
        #[source]
        source: Option<Box<model_core::Error>>,
    },
    /// The lease could not be extended: it was lost (expired by the
    /// server's clock, or taken by another owner), it was about to expire
    /// before an extension succeeded, or a command failed.
    #[error("the lease on `{key}` was not extended: {reason}")]
    Relock {
        /// The key.
        key: String,
        /// Why.
        reason: Reason,
        /// The server error, when a command failed.
        #[source]
        source: Option<Box<model_core::Error>>,
    },
    /// The lease could not be released: it was no longer held by this
    /// owner, or the command failed (the lease then ends at its expiry).
    #[error("the lease on `{key}` was not released: {reason}")]
    Unlock {
        /// The key.
        key: String,
        /// Why.
        reason: Reason,
        /// The server error, when a command failed.
        #[source]
        source: Option<Box<model_core::Error>>,
    },
    /// A fenced write ([`Locks::fenced`](crate::Locks::fenced)) was not
    /// applied, and nothing it wrote was kept: the lease is no longer this
    /// holder's ([`Reason::Lost`]: it expired by the server's clock or
    /// another owner took it), or the write or its transaction failed
    /// ([`Reason::Failed`]; the source says how).
    #[error("the write under the lease on `{key}` was not applied: {reason}")]
    Fenced {
        /// The key.
        key: String,
        /// Why.
        reason: Reason,
        /// The write's or the transaction's error, when one failed.
        #[source]
        source: Option<Box<model_core::Error>>,
    },
    /// The leader of a key ([`Locks::leader`](crate::Locks::leader),
    /// [`Locks::observe`](crate::Locks::observe)) could not be read.
    #[error("the leader of `{key}` could not be read")]
    Observe {
        /// The key.
        key: String,
        /// The server error.
        #[source]
        source: Option<Box<model_core::Error>>,
    },
    /// An argument is out of range (an empty key, a zero ttl, absurd
    /// retries); nothing was sent.
    #[error("invalid lock argument: {message}")]
    InvalidArgument {
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// Why a lock operation did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Another owner holds a lease that has not expired.
    Held,
    /// `.wait` gave up before the lock became free.
    TimedOut,
    /// The lease is gone: it expired by the server's clock, another owner
    /// took it, or its document was deleted.
    Lost,
    /// The lease was about to expire before an extension succeeded.
    Expiring,
    /// A command failed; the error's source says how.
    Failed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Held => "another owner holds it",
            Reason::TimedOut => "timed out waiting for it",
            Reason::Lost => "the lease expired or another owner took it",
            Reason::Expiring => "the lease was about to expire before an extension succeeded",
            Reason::Failed => "a command failed",
        })
    }
}

impl LockingError {
    /// The key the error is about (none for an invalid argument).
    pub fn key(&self) -> Option<&str> {
        match self {
            LockingError::Lock { key, .. }
            | LockingError::Relock { key, .. }
            | LockingError::Unlock { key, .. }
            | LockingError::Fenced { key, .. }
            | LockingError::Observe { key, .. } => Some(key),
            LockingError::InvalidArgument { .. } => None,
        }
    }

    /// Why the operation did not succeed (none for an invalid argument).
    pub fn reason(&self) -> Option<Reason> {
        match self {
            LockingError::Lock { reason, .. }
            | LockingError::Relock { reason, .. }
            | LockingError::Unlock { reason, .. }
            | LockingError::Fenced { reason, .. } => Some(*reason),
            LockingError::Observe { .. } => Some(Reason::Failed),
            LockingError::InvalidArgument { .. } => None,
        }
    }

    /// The server error underneath, when a command failed
    /// ([`Reason::Failed`], sometimes [`Reason::Expiring`]).
    pub fn server_error(&self) -> Option<&model_core::Error> {
        match self {
            LockingError::Lock { source, .. }
            | LockingError::Relock { source, .. }
            | LockingError::Unlock { source, .. }
            | LockingError::Fenced { source, .. }
            | LockingError::Observe { source, .. } => source.as_deref(),
            LockingError::InvalidArgument { .. } => None,
        }
    }

    pub(crate) fn lock(key: &str, reason: Reason, source: Option<model_core::Error>) -> Self {
        LockingError::Lock { key: key.to_string(), reason, source: source.map(Box::new) }
    }

    pub(crate) fn relock(key: &str, reason: Reason, source: Option<model_core::Error>) -> Self {
        LockingError::Relock { key: key.to_string(), reason, source: source.map(Box::new) }
    }

    pub(crate) fn unlock(key: &str, reason: Reason, source: Option<model_core::Error>) -> Self {
        LockingError::Unlock { key: key.to_string(), reason, source: source.map(Box::new) }
    }

    pub(crate) fn fenced(key: &str, reason: Reason, source: Option<model_core::Error>) -> Self {
        LockingError::Fenced { key: key.to_string(), reason, source: source.map(Box::new) }
    }

    pub(crate) fn observe(key: &str, source: Option<model_core::Error>) -> Self {
        LockingError::Observe { key: key.to_string(), source: source.map(Box::new) }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        LockingError::InvalidArgument { message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn the_message_names_the_key_and_reason_but_not_the_source() {
        let error =
            LockingError::relock("job", Reason::Failed, Some(model_core::Error::Disconnected));
        assert_eq!(error.to_string(), "the lease on `job` was not extended: a command failed");
        let source = error.source().expect("a source");
        assert_eq!(source.to_string(), model_core::Error::Disconnected.to_string());
        assert!(matches!(error.server_error(), Some(model_core::Error::Disconnected)));
        assert_eq!((error.key(), error.reason()), (Some("job"), Some(Reason::Failed)));
    }

    #[test]
    fn a_lock_that_is_held_has_no_source() {
        let error = LockingError::lock("job", Reason::Held, None);
        assert_eq!(error.to_string(), "lock `job` was not acquired: another owner holds it");
        assert!(error.source().is_none());
        assert!(error.server_error().is_none());
    }
}
