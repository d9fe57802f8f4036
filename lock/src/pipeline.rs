//! The update pipelines and filters of the protocol, in one place.
//!
//! Dates are compared as milliseconds (`$toLong`), which every server
//! evaluates the same way; SecantusDB 0.7 compares a stored date with
//! `$$NOW` wrongly, and the numbers avoid that on every server.

use bson::{Bson, Document, doc};

/// The temporary field the acquire pipeline computes and then removes.
const FREE: &str = "__lock_free";

/// The token a key's document starts from when it has none: the server's
/// clock in milliseconds × 1000 (`$$NOW`), so a re-created document starts
/// above every token its key had before (the argument is in the crate docs).
fn floor() -> Document {
    doc! { "$multiply": [{ "$toLong": "$$NOW" }, 1000_i64] }
}

/// The next token: the stored one plus 1, or the [`floor`] on a document
/// that has none (new, or re-created after a deletion).
fn next_token() -> Document {
    doc! { "$ifNull": [{ "$add": ["$token", 1_i64] }, floor()] }
}

/// `true` when the stored lease has expired by the server's clock.
fn expired() -> Document {
    doc! { "$lte": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] }
}

/// The live entries of the key's queue of waiters, in arrival order.
fn live_queue() -> Document {
    doc! { "$filter": { "input": { "$ifNull": ["$queue", []] }, "cond": this_live() } }
}

/// The entries of `queue` (a field path or an array) but `owner`'s.
fn without(owner: &str, queue: impl Into<Bson>) -> Document {
    doc! { "$filter": { "input": queue.into(), "cond": { "$not": [this_owner(owner)] } } }
}

/// `owner`'s index in the queue at the field path `queue` (-1: absent).
fn position(owner: &str, queue: &str) -> Document {
    doc! { "$indexOfArray": [
        { "$map": { "input": queue, "in": "$$this.owner" } }, { "$literal": owner },
    ] }
}

/// The queue at `queue` (a field path, `__pos` set to `owner`'s place)
/// after a refused attempt: with `queue_ttl_ms`, `owner`'s place renewed
/// for that long, or added at the tail asking for `ttl_ms`; else as it is.
fn placed(owner: &str, ttl_ms: i64, queue_ttl_ms: Option<i64>, queue: &str) -> Bson {
    let Some(queue_ttl_ms) = queue_ttl_ms else { return queue.into() };
    let until = doc! { "$add": ["$$NOW", queue_ttl_ms] };
    doc! { "$cond": [
        { "$gte": ["$__pos", 0] },
        { "$map": { "input": queue, "in": { "$cond": [
            this_owner(owner),
            { "$mergeObjects": ["$$this", { "expires_at": until.clone() }] },
            "$$this",
        ] } } },
        { "$concatArrays": [queue, [{
            "owner": { "$literal": owner },
            "expires_at": until,
            "ttl_ms": ttl_ms,
        }]] },
    ] }
    .into()
}

/// The acquire update: takes the lease for `owner` if the key is free (no
/// owner, or its lease expired by `$$NOW`) and no live waiter is queued
/// ahead of `owner`, adding 1 to its token in the same write (the clock's
/// [`floor`] on a new document), and takes `owner` out of the queue. A
/// lease already handed to `owner` by a release ([`release`]) is claimed:
/// its expiry moved to `$$NOW + ttl`. Otherwise, with `queue_ttl_ms`,
/// `owner` joins the tail of the queue of waiters (or renews its entry
/// there) for that long; without, the document keeps its lease. Expired
/// entries of the queue are dropped. Run as an upsert on `{ _id: key }`;
/// the caller owns the lease iff the returned `owner` is its own, and its
/// fencing token is then the returned `token`.
pub fn acquire(owner: &str, ttl_ms: i64, queue_ttl_ms: Option<i64>) -> Vec<Document> {
    let me = doc! { "$literal": owner };
    let free = format!("${FREE}");
    let take = |taken: Bson, kept: &str| doc! { "$cond": [&free, taken, kept] };
    let waiting = placed(owner, ttl_ms, queue_ttl_ms, "$__live");
    let without_me = without(owner, "$__live");
    vec![
        doc! { "$set": {
            "__live": live_queue(),
            "__open": { "$or": [{ "$in": [{ "$type": "$owner" }, ["missing", "null"]] }, expired()] },
        } },
        doc! { "$set": {
            "__pos": position(owner, "$__live"),
            "__claim": { "$and": [{ "$eq": ["$owner", &me] }, { "$not": ["$__open"] }] },
        } },
        // Free, and nobody live ahead; or a lease handed to this owner
        // that expired unclaimed (nobody took it since): retaken.
        doc! { "$set": { FREE: { "$and": [
            "$__open",
            { "$or": [
                { "$eq": [{ "$size": "$__live" }, 0] },
                { "$eq": ["$__pos", 0] },
                { "$eq": ["$owner", &me] },
            ] },
        ] } } },
        doc! { "$set": {
            "owner": take(me.clone().into(), "$owner"),
            "expires_at": { "$cond": [
                { "$or": [&free, "$__claim"] }, { "$add": ["$$NOW", ttl_ms] }, "$expires_at",
            ] },
            "token": take(next_token().into(), "$token"),
            "created_at": take("$$NOW".into(), "$created_at"),
            "updated_at": { "$cond": [
                &free, Bson::Null, { "$cond": ["$__claim", "$$NOW", "$updated_at"] },
            ] },
            "queue": { "$cond": [{ "$or": [&free, "$__claim"] }, without_me, waiting] },
        } },
        doc! { "$unset": ["__live", "__open", "__pos", "__claim", FREE] },
    ]
}

/// The release (with `filter` [`owned`]) or the leaving (with `{ _id }`)
/// of `owner`: out of the queue of waiters, and if it holds the lease,
/// the lease handed to the first live waiter in the same write (a new
/// owner, token + 1, expiry `$$NOW` + the waiter's ttl), or cleared (no
/// owner; the document and its token kept) when nobody waits.
pub fn release(owner: &str) -> Vec<Document> {
    let me = doc! { "$literal": owner };
    let next = "$__next";
    let handed = doc! { "$ne": [{ "$type": next }, "missing"] };
    let hand = |handed_over: Bson, kept: Bson| doc! { "$cond": [&handed, handed_over, kept] };
    vec![
        doc! { "$set": {
            "__live": without(owner, live_queue()),
            "__mine": { "$eq": ["$owner", &me] },
        } },
        doc! { "$set": {
            "__next": { "$cond": ["$__mine", { "$arrayElemAt": ["$__live", 0] }, "$$REMOVE"] },
        } },
        doc! { "$set": {
            "owner": { "$cond": ["$__mine", hand("$__next.owner".into(), "$$REMOVE".into()), "$owner"] },
            "expires_at": hand(doc! { "$add": ["$$NOW", "$__next.ttl_ms"] }.into(), "$expires_at".into()),
            "token": hand(next_token().into(), "$token".into()),
            "created_at": hand("$$NOW".into(), "$created_at".into()),
            "updated_at": { "$cond": ["$__mine", hand(Bson::Null, "$$NOW".into()), "$updated_at"] },
            "queue": hand(
                doc! { "$slice": ["$__live", 1, { "$max": [1, { "$size": "$__live" }] }] }.into(),
                "$__live".into(),
            ),
        } },
        doc! { "$unset": ["__live", "__mine", "__next"] },
    ]
}

/// The filter of an extension: this owner's lease, not yet expired.
pub fn live_lease(key: &str, owner: &str) -> Document {
    doc! { "_id": key, "owner": owner, "$expr": { "$not": [expired()] } }
}

/// The extension update: expiry moved to `$$NOW + ttl`.
pub fn extend(ttl_ms: i64) -> Vec<Document> {
    vec![doc! { "$set": {
        "expires_at": { "$add": ["$$NOW", ttl_ms] },
        "updated_at": "$$NOW",
    } }]
}

/// The touch of a fenced write: the lease document written in the
/// write's transaction, so a take-over conflicts with it.
pub fn touch() -> Vec<Document> {
    vec![doc! { "$set": { "updated_at": "$$NOW" } }]
}

/// The filter of a release: this owner's lease (compare-and-clear).
pub fn owned(key: &str, owner: &str) -> Document {
    doc! { "_id": key, "owner": owner }
}

/// Carries a counter of `lock_fences` over: the key's token becomes at
/// least `token`, on a document created free (no owner, already expired)
/// when there is none, whose token starts from the clock's [`floor`].
pub fn carry_over(token: i64) -> Vec<Document> {
    vec![doc! { "$set": {
        "token": { "$max": [{ "$ifNull": ["$token", floor()] }, token] },
        "expires_at": { "$ifNull": ["$expires_at", "$$NOW"] },
        "created_at": { "$ifNull": ["$created_at", "$$NOW"] },
    } }]
}

/// `$$this`'s lease is live by the server's clock (inside `$filter`/`$map`).
fn this_live() -> Document {
    doc! { "$gt": [{ "$toLong": "$$this.expires_at" }, { "$toLong": "$$NOW" }] }
}

/// `$$this`'s owner is `owner` (inside `$filter`/`$map`). The owner is a
/// `$literal`: in an aggregation expression a string that starts with `$`
/// is a field path (`"$$this.owner"` would match every holder), and an
/// owner reaches here through the public [`Held`](crate::Held) trait.
fn this_owner(owner: &str) -> Document {
    doc! { "$eq": ["$$this.owner", { "$literal": owner }] }
}

/// The acquire update of a semaphore with `permits` permits: drops the
/// expired holders and waiters; if fewer than `permits` holders remain and
/// the live waiters ahead of `owner` (all of them, if it is not queued)
/// leave a permit free, adds `owner` with the next token and takes it out
/// of the queue, in one write. A permit already handed to `owner` by a
/// release is claimed (its expiry moved to `$$NOW + ttl`). Otherwise, with
/// `queue_ttl_ms`, `owner` joins the queue (or renews its place). Run as an
/// upsert on `{ _id: key }`; the caller holds a permit iff the returned
/// holders include `owner`.
pub fn acquire_permit(
    owner: &str,
    ttl_ms: i64,
    permits: u32,
    queue_ttl_ms: Option<i64>,
) -> Vec<Document> {
    let permits = i64::from(permits);
    let me = doc! { "$literal": owner };
    let free = format!("${FREE}");
    let waiting = placed(owner, ttl_ms, queue_ttl_ms, "$__queue");
    let without_me = without(owner, "$__queue");
    vec![
        doc! { "$set": {
            "__live": { "$filter": {
                "input": { "$ifNull": ["$holders", []] }, "cond": this_live(),
            } },
            "__queue": live_queue(),
        } },
        doc! { "$set": {
            "__pos": position(owner, "$__queue"),
            "__claim": { "$anyElementTrue": [{ "$map": {
                "input": "$__live", "in": this_owner(owner),
            } }] },
        } },
        doc! { "$set": { FREE: { "$and": [
            { "$not": ["$__claim"] },
            { "$gt": [
                { "$subtract": [permits, { "$size": "$__live" }] },
                { "$cond": [{ "$gte": ["$__pos", 0] }, "$__pos", { "$size": "$__queue" }] },
            ] },
        ] } } },
        doc! { "$set": {
            "token": { "$cond": [&free, next_token(), { "$ifNull": ["$token", floor()] }] },
        } },
        doc! { "$set": {
            "holders": { "$cond": [
                &free,
                { "$concatArrays": ["$__live", [{
                    "owner": &me,
                    "expires_at": { "$add": ["$$NOW", ttl_ms] },
                    "token": "$token",
                }]] },
                { "$cond": [
                    "$__claim",
                    { "$map": { "input": "$__live", "in": { "$cond": [
                        this_owner(owner),
                        { "$mergeObjects": ["$$this", { "expires_at": { "$add": ["$$NOW", ttl_ms] } }] },
                        "$$this",
                    ] } } },
                    "$__live",
                ] },
            ] },
            "queue": { "$cond": [{ "$or": [&free, "$__claim"] }, without_me, waiting] },
            "created_at": { "$ifNull": ["$created_at", "$$NOW"] },
            "updated_at": { "$cond": [&free, "$$NOW", "$updated_at"] },
        } },
        doc! { "$unset": ["__live", "__queue", "__pos", "__claim", FREE] },
    ]
}

/// The filter of a permit: `owner` among the key's holders.
pub fn held_permit(key: &str, owner: &str) -> Document {
    doc! { "_id": key, "holders.owner": owner }
}

/// The filter of a live permit: `owner` holds one, not expired.
pub fn live_permit(key: &str, owner: &str) -> Document {
    doc! { "_id": key, "$expr": { "$anyElementTrue": [{ "$map": {
        "input": "$holders",
        "in": { "$and": [this_owner(owner), this_live()] },
    } }] } }
}

/// The extension of `owner`'s permit, if it is still live.
pub fn extend_permit(owner: &str, ttl_ms: i64) -> Vec<Document> {
    vec![doc! { "$set": {
        "holders": { "$map": {
            "input": "$holders",
            "in": { "$cond": [
                { "$and": [this_owner(owner), this_live()] },
                { "$mergeObjects": ["$$this", { "expires_at": { "$add": ["$$NOW", ttl_ms] } }] },
                "$$this",
            ] },
        } },
        "updated_at": "$$NOW",
    } }]
}

/// The release of `owner`'s permit (with `filter` [`held_permit`]), or
/// its leaving the queue (with `{ _id }`): out of the holders and the
/// queue, expired holders and waiters dropped, and if fewer than `permits`
/// holders then remain, the freed permit handed to the first live waiter
/// in the same write (token + 1, expiry `$$NOW` + the waiter's ttl).
pub fn release_permit(owner: &str, permits: u32) -> Vec<Document> {
    let permits = i64::from(permits);
    let handed = doc! { "$ne": [{ "$type": "$__next" }, "missing"] };
    let hand = |handed_over: Bson, kept: Bson| doc! { "$cond": [&handed, handed_over, kept] };
    vec![
        doc! { "$set": {
            "__live": without(owner, doc! { "$filter": {
                "input": { "$ifNull": ["$holders", []] }, "cond": this_live(),
            } }),
            "__queue": without(owner, live_queue()),
        } },
        doc! { "$set": { "__next": { "$cond": [
            { "$and": [
                { "$lt": [{ "$size": "$__live" }, permits] },
                { "$gt": [{ "$size": "$__queue" }, 0] },
            ] },
            { "$arrayElemAt": ["$__queue", 0] },
            "$$REMOVE",
        ] } } },
        doc! { "$set": { "token": hand(next_token().into(), "$token".into()) } },
        doc! { "$set": {
            "holders": hand(
                doc! { "$concatArrays": ["$__live", [{
                    "owner": "$__next.owner",
                    "expires_at": { "$add": ["$$NOW", "$__next.ttl_ms"] },
                    "token": "$token",
                }]] }
                .into(),
                "$__live".into(),
            ),
            "queue": hand(
                doc! { "$slice": ["$__queue", 1, { "$max": [1, { "$size": "$__queue" }] }] }.into(),
                "$__queue".into(),
            ),
            "updated_at": "$$NOW",
        } },
        doc! { "$unset": ["__live", "__queue", "__next"] },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every place an owner meets an aggregation expression holds it as
    /// a `$literal`: a `$`-string would be read as a path or a variable.
    #[test]
    fn owners_in_expressions_are_literals() {
        for owner in ["$$ROOT", "$$CURRENT.owner", "$evil.path"] {
            let literal = Bson::Document(doc! { "$literal": owner }).to_string();
            let bare = format!("\"{owner}\"");
            // Holds the literal, and the owner nowhere else.
            let check = |d: &Document| {
                let text = d.to_string();
                text.contains(&literal) && !text.replace(&literal, "").contains(&bare)
            };
            assert!(check(&live_permit("k", owner)), "{owner}");
            assert!(check(&extend_permit(owner, 1)[0]), "{owner}");
            assert!(acquire(owner, 1, None).iter().any(check), "{owner}");
            assert!(acquire(owner, 1, Some(1)).iter().any(check), "{owner}");
            assert!(release(owner).iter().any(check), "{owner}");
            assert!(acquire_permit(owner, 1, 2, None).iter().any(check), "{owner}");
            assert!(acquire_permit(owner, 1, 2, Some(1)).iter().any(check), "{owner}");
            assert!(release_permit(owner, 2).iter().any(check), "{owner}");
        }
    }
}
