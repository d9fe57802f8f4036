//! The document the lock keeps: the lease of a key ([`Lock`]), which also
//! counts its fencing tokens; and the counters earlier releases kept
//! apart ([`Fence`]), read once to carry them over.

use model_core::DateTime;
use model_derive::Model;
use serde::{Deserialize, Serialize};

/// The lease on one key: who holds it, until when (by the server's
/// clock), and the key's fencing token.
///
/// Stored in the collection `locks`, one document per key ever locked,
/// and never deleted by the library: releasing a lease removes its
/// `owner` and keeps the document, so the `token` it counts only grows. A
/// document deleted by hand is re-created with a token above its old one
/// (see the crate docs).
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(crate = ::model_core, collection = "locks", key = id)]
#[model(index(keys(id, expires_at)))]
pub struct Lock {
    /// The key the lease is on.
    #[serde(rename = "_id")]
    pub id: String,
    /// A random id, new for every acquisition; absent while nobody holds
    /// the key. Extending and releasing match it, so a stale or foreign
    /// handle can do neither.
    pub owner: Option<String>,
    /// When the current (or last) lease ends, by the server's clock
    /// (`$$NOW` + ttl).
    pub expires_at: DateTime,
    /// The fencing token of the current (or last) holder: one more than
    /// the one before, set by the acquisition itself. The first is the
    /// server's clock in milliseconds × 1000.
    #[serde(default)]
    pub token: i64,
    /// The waiters of the key, in arrival order: a release hands the lease
    /// to the first live one, and an acquisition never jumps them.
    #[serde(default)]
    pub queue: Vec<Waiter>,
    /// When the current (or last) holder acquired the lease (server clock).
    pub created_at: DateTime,
    /// When the lease was last extended or released (server clock).
    pub updated_at: Option<DateTime>,
}

/// One waiter in a [`Lock`]'s queue: its owner id, the expiry of its
/// place (renewed while it waits; an expired entry is skipped and
/// dropped), and the ttl of the lease it asks for.
#[derive(Debug, Clone, PartialEq, model_derive::Schema, Serialize, Deserialize)]
#[model(crate = ::model_core)]
pub struct Waiter {
    /// The owner id the waiter will hold the lease under.
    pub owner: String,
    /// When this place in the queue ends unless renewed (server clock).
    pub expires_at: DateTime,
    /// The ttl of the lease a release hands to this waiter, in ms.
    pub ttl_ms: i64,
}

/// The fencing counter of one key as earlier releases kept it, in the
/// collection `lock_fences`: read once by [`Locks::setup`](crate::Locks::setup)
/// (or the first acquisition of a [`Locks`](crate::Locks)), so that the
/// tokens of a key continue above it. Nothing writes it any more.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(crate = ::model_core, collection = "lock_fences", key = id)]
pub struct Fence {
    /// The key the counter belongs to.
    #[serde(rename = "_id")]
    pub id: String,
    /// The last token handed out for the key.
    pub token: i64,
    /// When the key was first locked (server clock).
    pub created_at: DateTime,
    /// When the last token was handed out (server clock).
    pub updated_at: DateTime,
}

/// The holders of a counting semaphore on one key (a lock with more than
/// one permit, [`LockAction::permits`](crate::LockAction::permits)), in
/// the collection `lock_semaphores`: one document per key, never deleted.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(crate = ::model_core, collection = "lock_semaphores", key = id)]
pub struct Semaphore {
    /// The key.
    #[serde(rename = "_id")]
    pub id: String,
    /// The holders whose leases were live at the last acquisition, and
    /// those acquired since; expired ones are dropped by the next one.
    pub holders: Vec<Permit>,
    /// The last fencing token handed out for the key; the first is the
    /// server's clock in milliseconds × 1000.
    #[serde(default)]
    pub token: i64,
    /// The waiters for a permit, in arrival order: a release hands its
    /// permit to the first live one, and an acquisition never jumps them.
    #[serde(default)]
    pub queue: Vec<Waiter>,
    /// When the key was first acquired (server clock).
    pub created_at: DateTime,
    /// When a holder last acquired, extended or released (server clock).
    pub updated_at: Option<DateTime>,
}

/// One holder of a [`Semaphore`]: its own owner id, expiry and token.
#[derive(Debug, Clone, PartialEq, model_derive::Schema, Serialize, Deserialize)]
#[model(crate = ::model_core)]
pub struct Permit {
    /// The random id of the acquisition.
    pub owner: String,
    /// When this holder's lease ends, by the server's clock.
    pub expires_at: DateTime,
    /// This holder's fencing token.
    pub token: i64,
}
