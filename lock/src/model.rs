//! The two documents the lock keeps: the lease of a key ([`Lock`]) and the
//! never-deleted fencing counter of a key ([`Fence`]).

use model_core::DateTime;
use model_derive::Model;
use serde::{Deserialize, Serialize};

/// The lease on one key: who holds it and until when, by the server's clock.
///
/// Stored in the collection `locks`, one document per held key. The TTL
/// index on `expires_at` (expire after 0 s) only cleans up leases that
/// nobody released; correctness never depends on it, because every
/// acquisition compares `expires_at` with the server's `$$NOW` itself.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(crate = ::model_core, collection = "locks", key = id)]
#[model(index(keys(id, expires_at)))]
pub struct Lock {
    /// The key the lease is on.
    #[serde(rename = "_id")]
    pub id: String,
    /// A random id, new for every acquisition. Extending and releasing
    /// match it, so a stale or foreign handle can do neither.
    pub owner: String,
    /// When the lease ends, by the server's clock (`$$NOW` + ttl).
    #[model(index, expire_after = 0)]
    pub expires_at: DateTime,
    /// The holder's fencing token, recorded by its first extension
    /// (`None` until then: recording it at acquisition would cost a round trip).
    pub token: Option<i64>,
    /// When the current holder acquired the lease (server clock).
    pub created_at: DateTime,
    /// When the current holder last extended the lease (server clock).
    pub updated_at: Option<DateTime>,
}

/// The fencing counter of one key: the last token handed out.
///
/// Stored in the collection `lock_fences` and never deleted, so a token
/// stays strictly greater than every earlier one of the key after a
/// release and after the TTL monitor removed the [`Lock`] document.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(crate = ::model_core, collection = "lock_fences", key = id)]
pub struct Fence {
    /// The key the counter belongs to.
    #[serde(rename = "_id")]
    pub id: String,
    /// The last token handed out for the key; the first is 1.
    pub token: i64,
    /// When the key was first locked (server clock).
    pub created_at: DateTime,
    /// When the last token was handed out (server clock).
    pub updated_at: DateTime,
}
