//! A distributed lock (a lease) on MongoDB, with owner identity, fencing
//! tokens and server-clock expiry.
//!
//! A worker fleet uses it so that one job runs in one place at a time:
//!
//! ```no_run
//! # async fn demo(conn: model_core::Connection) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! let locks = lock::Locks::new(&conn);
//! locks.setup().await?; // the TTL index, once at startup
//!
//! let outcome = locks
//!     .lock("nightly-report", |signal| async move {
//!         // Runs in one place at a time. Stop when signal.is_cancelled():
//!         // the lease was lost and another worker may hold it.
//!         format!("ran with fencing token {}", signal.token())
//!     })
//!     .ttl(Duration::from_secs(10))
//!     .await;
//! match outcome {
//!     Ok(message) => println!("{message}"),
//!     Err(error) => println!("someone else runs it: {error}"),
//! }
//! # Ok(()) }
//! ```
//!
//! # The protocol
//! Each key has a lease document in `locks` ([`Lock`]: `owner`,
//! `expires_at`, `token`, `created_at`, `updated_at`) and a counter in
//! `lock_fences` ([`Fence`]) that is never deleted. Every write uses
//! majority, journaled write concern (`w: majority, j: true`) unless [`Locks::with_write_concern`] says
//! otherwise.
//!
//! 1. **Acquire**: one `findOneAndUpdate` upsert on `{_id: key}` whose
//!    update pipeline first computes whether the lease is free (no owner,
//!    or `expires_at <= $$NOW`), then, only if so, sets a fresh random
//!    `owner`, `expires_at = $$NOW + ttl` and `created_at = $$NOW`. The
//!    acquirer owns the lease iff the returned `owner` is its own. (MongoDB
//!    rejects `$expr` in an upsert filter, so the condition is in the
//!    pipeline.)
//! 2. **Fence**: the owner bumps the key's counter (`findOneAndUpdate`
//!    upsert, +1) and takes the new value as its fencing token.
//! 3. **Extend**: `findOneAndUpdate` on `{_id, owner, expires_at > $$NOW}`
//!    setting `expires_at = $$NOW + ttl` and recording the token. An
//!    expired lease is not revived, even if nobody took it since.
//! 4. **Release**: `deleteOne {_id, owner}`: compare-and-delete.
//!
//! Expiry is judged only by the server's clock (`$$NOW`), so a client with
//! a skewed clock can neither take a live lease nor keep a dead one. The
//! client's own clock ([`Clock`], injectable) only measures durations.
//! The TTL index on `expires_at` removes leases nobody released; nothing
//! depends on when it runs.
//!
//! An uncontended acquire and release costs **three commands**: acquire,
//! fence, release (measured by the tests with the driver's command
//! monitoring). Each heartbeat costs one.
//!
//! # Why the fencing token is safe
//! Tokens must strictly increase across the *successful* acquisitions of a
//! key, in the order they happen, even after releases and after the TTL
//! monitor deleted the lease document. The counter lives in a separate,
//! never-deleted document, so it only grows. What remains is the order:
//! the holder must bump the counter *while its lease is valid*. Leases of
//! one key never overlap (acquire takes only an expired or absent lease),
//! so bumps made inside them happen in the order of the leases, and every
//! later holder bumps after this one.
//!
//! The client checks that with its monotonic clock: it notes the time `t0`
//! just before sending the acquire, and `t1` when the bump's reply
//! arrives. The server started the lease no earlier than `t0`, so the
//! lease lasts until at least `t0 + ttl`, and the bump happened before
//! `t1`. If `t1 - t0 < ttl / 2` (half the ttl is the margin for the two
//! clocks' rates), the bump was inside the lease: done, in two commands.
//! Otherwise (a slow network, a paused process) the client confirms with an
//! extension on `{_id, owner, expires_at > $$NOW}`, which also stores the
//! token: if it succeeds the lease never lapsed, so the bump was inside
//! it; if not, the acquisition is reported as not acquired
//! ([`Reason::Lost`]). A token bumped but never used is harmless: tokens
//! only need to increase, not to be dense.
//!
//! A late holder's bump cannot break this either: a holder whose bump
//! arrives after its lease ended gets a higher number, but it then fails
//! its check and the confirming extension (its owner is gone), so it never
//! uses that token.
//!
//! # Using the token
//! The protected resource remembers the highest token it has seen and
//! rejects writes carrying a lower one, so a holder that lost its lease
//! (a long pause, say) cannot overwrite the work of the next holder:
//!
//! ```
//! struct Store { highest_token: i64, value: String }
//! impl Store {
//!     fn write(&mut self, token: i64, value: &str) -> Result<(), &'static str> {
//!         if token < self.highest_token {
//!             return Err("stale fencing token: the lease was lost");
//!         }
//!         self.highest_token = token;
//!         self.value = value.to_string();
//!         Ok(())
//!     }
//! }
//! let mut store = Store { highest_token: 0, value: String::new() };
//! store.write(7, "from the holder with token 7").unwrap();
//! store.write(8, "from the next holder").unwrap();
//! assert!(store.write(7, "from the paused first holder").is_err());
//! ```
//!
//! In MongoDB, make the token part of the write's filter:
//! `update_one({_id, fence: {$lte: token}}, {$set: {fence: token, ...}})`.
#![deny(missing_docs)]

mod action;
mod backoff;
mod clock;
mod error;
mod heartbeat;
mod lease;
mod locks;
mod model;
mod pipeline;

pub use action::{DEFAULT_TTL, LockAction, Signal};
pub use clock::{Clock, SystemClock};
pub use error::{LockingError, Reason, Result};
pub use lease::Lease;
pub use locks::{Locks, MAX_RETRIES};
pub use model::{Fence, FenceInsert, Lock, LockInsert};
pub use tokio_util::sync::CancellationToken;
