//! The update pipelines and filters of the protocol, in one place.
//!
//! Dates are compared as milliseconds (`$toLong`), which every server
//! evaluates the same way; SecantusDB 0.7 compares a stored date with
//! `$$NOW` wrongly, and the numbers avoid that on every server.

use bson::{Bson, Document, doc};

/// The temporary field the acquire pipeline computes and then removes.
const FREE: &str = "__lock_free";

/// `true` when the stored lease has expired by the server's clock.
fn expired() -> Document {
    doc! { "$lte": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] }
}

/// The acquire update: takes the lease for `owner` if the key is free
/// (no owner, or its lease expired by `$$NOW`), else leaves it unchanged.
/// Run as an upsert on `{ _id: key }`; the caller owns the lease iff the
/// returned `owner` is its own.
pub fn acquire(owner: &str, ttl_ms: i64) -> Vec<Document> {
    let free = format!("${FREE}");
    let take = |taken: Bson, kept: &str| doc! { "$cond": [&free, taken, kept] };
    vec![
        doc! { "$set": { FREE: {
            "$or": [{ "$eq": [{ "$type": "$owner" }, "missing"] }, expired()]
        } } },
        doc! { "$set": {
            "owner": take(doc! { "$literal": owner }.into(), "$owner"),
            "expires_at": take(doc! { "$add": ["$$NOW", ttl_ms] }.into(), "$expires_at"),
            "token": take(Bson::Null, "$token"),
            "created_at": take("$$NOW".into(), "$created_at"),
            "updated_at": take(Bson::Null, "$updated_at"),
        } },
        doc! { "$unset": FREE },
    ]
}

/// The filter of an extension: this owner's lease, not yet expired.
pub fn live_lease(key: &str, owner: &str) -> Document {
    doc! { "_id": key, "owner": owner, "$expr": { "$not": [expired()] } }
}

/// The extension update: expiry moved to `$$NOW + ttl`, the token recorded.
pub fn extend(ttl_ms: i64, token: i64) -> Vec<Document> {
    vec![doc! { "$set": {
        "expires_at": { "$add": ["$$NOW", ttl_ms] },
        "token": token,
        "updated_at": "$$NOW",
    } }]
}

/// The filter of a release: this owner's lease (compare-and-delete).
pub fn owned(key: &str, owner: &str) -> Document {
    doc! { "_id": key, "owner": owner }
}

/// The fence bump: the counter of the key plus one, created at 1.
pub fn bump_fence() -> Vec<Document> {
    vec![doc! { "$set": {
        "token": { "$add": [{ "$ifNull": ["$token", 0_i64] }, 1_i64] },
        "created_at": { "$ifNull": ["$created_at", "$$NOW"] },
        "updated_at": "$$NOW",
    } }]
}
