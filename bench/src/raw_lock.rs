//! The lock protocol written by hand on the raw driver: what a user of
//! `mongodb` alone would write for the same guarantees (server-clock
//! expiry, a fencing token counted by the acquisition, compare-and-clear
//! release), with the same commands, pipelines and write concern as the
//! `lock` crate.

use std::time::Duration;

use bson::{Bson, Document, doc};
use mongodb::options::{ReturnDocument, WriteConcern};
use mongodb::{Collection, Database};

use crate::e2e::BoxError;

/// The ttl of the benchmark's leases.
pub const LOCK_TTL: Duration = Duration::from_secs(10);

/// The `i`-th key of a side: eight keys per side, reused, so the lease
/// collection stays small.
pub fn lock_key(side: &str, i: u64) -> String {
    format!("{side}-{}", i % 8)
}

/// Hand-written locks on `locks`.
pub struct RawLocks {
    locks: Collection<Document>,
}

/// `$lte: [expires_at, $$NOW]` in milliseconds, as the lock crate compares.
fn expired() -> Document {
    doc! { "$lte": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] }
}

impl RawLocks {
    /// Locks in `db`.
    pub fn new(db: &Database) -> Self {
        RawLocks { locks: db.collection("locks") }
    }

    /// Takes `key` if free, counting its token in the same upsert.
    /// Returns `(owner, token)`, or `None` when held.
    pub async fn try_lock(
        &self,
        key: &str,
        ttl: Duration,
    ) -> Result<Option<(String, i64)>, BoxError> {
        let owner = uuid::Uuid::new_v4().simple().to_string();
        let ttl_ms = ttl.as_millis() as i64;
        let take = |taken: Bson, kept: &str| doc! { "$cond": ["$__lock_free", taken, kept] };
        let pipeline = vec![
            doc! { "$set": { "__lock_free": {
                "$or": [{ "$in": [{ "$type": "$owner" }, ["missing", "null"]] }, expired()]
            } } },
            doc! { "$set": {
                "owner": take(doc! { "$literal": &owner }.into(), "$owner"),
                "expires_at": take(doc! { "$add": ["$$NOW", ttl_ms] }.into(), "$expires_at"),
                "token": take(
                    doc! { "$ifNull": [
                        { "$add": ["$token", 1_i64] },
                        { "$multiply": [{ "$toLong": "$$NOW" }, 1000_i64] },
                    ] }
                    .into(),
                    "$token",
                ),
                "created_at": take("$$NOW".into(), "$created_at"),
                "updated_at": take(Bson::Null, "$updated_at"),
            } },
            doc! { "$unset": "__lock_free" },
        ];
        let lock = self
            .locks
            .find_one_and_update(doc! { "_id": key }, pipeline)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .write_concern(durable())
            .await?;
        match lock {
            Some(lock) if lock.get_str("owner").ok() == Some(owner.as_str()) => {
                Ok(Some((owner, lock.get_i64("token")?)))
            }
            _ => Ok(None),
        }
    }

    /// Clears `key`'s owner if it is still `owner`.
    pub async fn release(&self, key: &str, owner: &str) -> Result<(), BoxError> {
        let release = vec![doc! { "$unset": "owner" }, doc! { "$set": { "updated_at": "$$NOW" } }];
        let released = self
            .locks
            .update_one(doc! { "_id": key, "owner": owner }, release)
            .write_concern(durable())
            .await?;
        if released.matched_count != 1 {
            return Err("lease lost".into());
        }
        Ok(())
    }
}

/// Majority and journaled, as the lock crate writes by default.
fn durable() -> WriteConcern {
    let mut concern = WriteConcern::majority();
    concern.journal = Some(true);
    concern
}
