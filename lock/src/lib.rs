//! A distributed lock (a lease) on MongoDB, with owner identity, fencing
//! tokens and server-clock expiry.
//!
//! A worker fleet uses it so that one job runs in one place at a time:
//!
//! ```no_run
//! # async fn demo(conn: model_core::Connection) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! let locks = lock::Locks::new(&conn);
//! locks.setup().await?; // the validator and index of `locks`, once at startup
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
//! Each key has one lease document in `locks` ([`Lock`]: `owner`,
//! `expires_at`, `token`, `created_at`, `updated_at`), kept for the life
//! of the key. Every write uses majority, journaled write concern
//! (`w: majority, j: true`) unless [`Locks::with_write_concern`] says
//! otherwise.
//!
//! 1. **Acquire**: one `findOneAndUpdate` upsert on `{_id: key}` whose
//!    update pipeline first computes whether the lease is free (no owner,
//!    or `expires_at <= $$NOW`) and no live waiter is queued ahead of the
//!    caller (see the queue below), then, only if so, sets a fresh random
//!    `owner`, `expires_at = $$NOW + ttl`, `created_at = $$NOW` and
//!    `token = token + 1` (for a new document: the server's clock in
//!    milliseconds × 1000, see below). The acquirer owns the lease
//!    iff the returned `owner` is its own; its fencing token is the
//!    returned `token`. (MongoDB rejects `$expr` in an upsert filter, so
//!    the condition is in the pipeline.)
//! 2. **Extend**: `findOneAndUpdate` on `{_id, owner, expires_at > $$NOW}`
//!    setting `expires_at = $$NOW + ttl`. An expired lease is not revived,
//!    even if nobody took it since.
//! 3. **Release**: `updateOne {_id, owner}` whose pipeline hands the
//!    lease to the first live waiter of the queue (its owner id, `token +
//!    1`, `expires_at = $$NOW` + the ttl it asked for), or, with nobody
//!    waiting, removes `owner`: compare-and-clear. The document, and its
//!    token, stay.
//!
//! # The queue: waiting in arrival order
//! A waiting acquisition ([`Locks::acquire`], `.wait(..)`, a campaign)
//! keeps one owner id for its whole wait. Its first refused attempt adds it
//! to the tail of the key's `queue` (in the lease document, written by the
//! same pipeline that refused it): `{owner, expires_at, ttl_ms}`, its
//! place lasting the larger of its ttl and 10 s by the server's clock.
//! Each later attempt renews the place (every half of the place's ttl, so
//! at least every 5 s, or when it is woken). Then:
//!
//! - **Hand-off**: a release gives the lease to the first waiter whose
//!   place is live, in the release's own write. That waiter sees the
//!   change of holder on its change stream and claims the lease with its
//!   next attempt (which moves the expiry to `$$NOW + ttl`, so its client
//!   reckons the lease from a command it sent); a hand-off costs the
//!   release and the claim, two commands, and wakes no other waiter into
//!   a command.
//! - **Expiry**: when a holder's lease expires unreleased, the waiter
//!   first in line as it last saw the queue wakes at that expiry (once; if
//!   the lease was extended meanwhile, it backs off) and takes the lease by
//!   the acquire pipeline, which lets only the first live waiter in. If
//!   the waiters ahead of another one left or died without a change of
//!   holder, that one finds out at its next renewal, within 5 s.
//! - **Never jumped**: [`Locks::try_lock`] and every attempt take a free
//!   lease only when no live waiter is queued ahead, so a newcomer never
//!   overtakes the queue; `try_lock` stays one command.
//! - **Leaving**: a waiter that times out leaves the queue (one command;
//!   a lease handed to it meanwhile is handed on); one dropped while
//!   waiting leaves in the background; one that dies is skipped once its
//!   place expires, and dropped from the queue by the next write. A lease
//!   handed to a waiter that died meanwhile ends at its ttl and goes to
//!   the next in line. A waiter looks for a hand-off at least every third
//!   of its ttl (polling) or is told at once (change stream); if it is
//!   still too late, it may retake the expired lease it was handed as long
//!   as nobody took it since, else it joins the tail again.
//!
//! **Why no waiter starves**: places are served in the order they were
//! added, each added by a single-document write, so the server orders
//! them; a live place is only ever removed by its own acquisition, a
//! hand-off to it, or its waiter leaving, and nothing is added ahead of
//! it. Every lease ends (by
//! release or expiry), and then the first live place gets it; so a waiter
//! that keeps its place is served after at most the waiters ahead of it
//! when it arrived, each holding for as long as its own work takes.
//!
//! The token argument below is unchanged: a hand-off is an acquisition
//! made by the release's write, and adds 1 to the token in that same
//! single-document write.
//!
//! Semaphores ([`LockAction::permits`]) queue the same way in their
//! [`Semaphore`] document: a waiter takes a permit only when the free
//! permits outnumber the live waiters ahead of it, and a release hands its
//! permit to the first live waiter in the same write. Their waiters poll
//! (with backoff scaled by their place) instead of watching a change
//! stream.
//!
//! Expiry is judged only by the server's clock (`$$NOW`), so a client with
//! a skewed clock can neither take a live lease nor keep a dead one. The
//! client's own clock ([`Clock`], injectable) only measures durations: when
//! to heartbeat, and when to fire the signal (a fifth of the ttl before
//! the lease could end, so a client clock up to 20% slow still hears of a
//! lost lease before the server lets another holder in).
//!
//! An uncontended acquire and release costs **two commands**, each
//! heartbeat one (measured by the tests with the driver's command
//! monitoring).
//!
//! # Why the fencing token is safe
//! Tokens must strictly increase across the successful acquisitions of a
//! key, in the order they happen. Each acquisition sets its token in the
//! same single-document write that takes the lease: `token + 1` of the
//! document it replaces. MongoDB applies writes to one document one at a
//! time, so the acquisitions of a key form a sequence, and each reads the
//! token the one before it wrote. No clock, timeout or reply time is
//! involved: a holder paused past its ttl, a slow reply, or a server clock
//! that jumps cannot make two holders share a token or order them wrongly.
//! A release or an expiry changes the owner, never the token.
//!
//! The library never deletes a lease document (there is no TTL index), but
//! an operator's cleanup may, and [`Locks::repo`] is public. So a key's
//! first token does not start at 1: a document that has no token (new, or
//! re-created after a deletion) starts from the server's clock,
//! `$$NOW` in milliseconds × 1000, computed in the same acquire pipeline.
//! That re-created document starts above every token the key had before,
//! because:
//!
//! - A key's acquisitions are serialized writes to one document, each a
//!   journaled round trip of its own; a document created at millisecond
//!   `c` has handed out `c × 1000 + k` by its `k`-th acquisition, and
//!   stays below the floor of every later millisecond as long as fewer
//!   than 1,000 acquisitions per millisecond were made of the key since
//!   its creation (about a million a second, sustained; a journaled write
//!   takes far longer than a microsecond). The floor of a later document
//!   is therefore above every token of the earlier one.
//! - What this does rely on: the server's clock not stepping back between
//!   the deletion and the re-creation by more than the time since the
//!   deleted document's last acquisition (a failover to a node whose clock
//!   is behind, or a manual clock change), and the deletion and the
//!   re-creation not falling in the same millisecond as that last
//!   acquisition (three serialized writes within one millisecond). A
//!   document restored from an old backup keeps its old token: restore a
//!   lock collection only with its tokens raised above the clock's floor.
//!
//! Tokens are `i64`; the floor reaches `i64::MAX` in about 290,000 years.
//!
//! # Waiting, semaphores
//! A waiting acquisition is woken by the changes of its key's holder (an
//! update setting or removing `owner`, an insert, a replace or a delete),
//! seen by one change stream per
//! [`Locks`] (and its clones), shared by every waiter of every key in the
//! process: opened by the first wait before its next attempt, so no release
//! between an attempt and the stream is missed; resumed from its last
//! resume token after an error; closed when nobody waits. It also sleeps
//! until the holder's expiry (its `expires_at` against the server's clock,
//! whose offset from this client's wall clock is read once from `hello`).
//! Without change streams it polls with backoff. A key with
//! several permits ([`LockAction::permits`]) is a [`Semaphore`] document in
//! `lock_semaphores`: one acquisition drops the expired holders and, if
//! fewer than the permits remain, adds one with the next token, in one
//! write; each holder extends and releases its own entry.
//!
//! # Leader election
//! [`Locks::campaign`] waits until this process holds a key's lease, then
//! keeps it with the same heartbeat and [`Signal`] as the closure form: a
//! [`Leadership`] whose term is the lease's fencing token, so its fenced
//! writes ([`Locks::fenced`]) and the token a resource remembers both
//! carry the term. [`Leadership::resign`] releases it; dropping it
//! resigns in the background. [`Locks::leader`] reads the current
//! [`Leader`] once (a live lease by the server's clock) and
//! [`Locks::observe`] streams its changes in order: the current leader,
//! then each new term, resignation or expiry. An observer has a change
//! stream of its own on the key (every term is seen, however short);
//! without change streams it reads every 250 ms and at the leader's
//! expiry.
//!
//! An earlier release counted tokens in a separate `lock_fences`
//! collection and deleted released leases: [`Locks::setup`] (or the first
//! acquisition of a [`Locks`]) raises each key's token to at least its
//! counter there, once, so tokens continue above every token handed out
//! before. Run every process of a fleet on one release of the protocol.
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
#![forbid(unsafe_code)]

mod action;
mod backoff;
mod clock;
mod election;
mod error;
mod fenced;
mod heartbeat;
mod lease;
mod locks;
mod model;
mod pipeline;
mod queue;
mod semaphore;
mod wait;

pub use action::{DEFAULT_TTL, LockAction, Signal};
pub use clock::{Clock, SystemClock};
pub use election::{Campaign, Leader, Leadership};
pub use error::{LockingError, Reason, Result};
pub use fenced::Held;
pub use lease::Lease;
pub use locks::{Locks, MAX_PERMITS, MAX_RETRIES};
pub(crate) use model::{Fence, Lock, Semaphore};

/// The documents the lock keeps, as models: the lease of a key
/// ([`Lock`]), its queue of [`Waiter`](store::Waiter)s, the
/// holders of a [`Semaphore`], and the legacy
/// [`Fence`] counters. For reading them ([`Locks::repo`])
/// and for migrations; the protocol writes them.
pub mod store {
    pub use crate::model::{
        Fence, FenceInsert, Lock, LockInsert, Permit, Semaphore, SemaphoreInsert, Waiter,
    };
}
pub use tokio_util::sync::CancellationToken;
