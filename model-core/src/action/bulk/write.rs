//! The writes of a bulk write.

use crate::model::Model;
use crate::query::Query;
use crate::update::Update;

/// One write of a [`bulk_write`](Repo::bulk_write), with the meaning the
/// single action of the same name has: timestamps set, the version
/// counted, `None` fields left out, the collection's validator applied.
pub struct Write<M: Model>(pub(super) Kind<M>);

pub(super) enum Kind<M: Model> {
    Insert(M::Insert),
    Update(M::Key, Update<M>),
    UpdateMany(Query<M>, Update<M>),
    Upsert(Query<M>, Update<M>),
    Replace(M),
    Delete(M::Key),
    DeleteMany(Query<M>),
}

impl<M: Model> Write<M> {
    /// Inserts a document, as [`Repo::insert_one`]: `created_at` set, the
    /// key generated where the insert leaves it out. A duplicate key is
    /// [`Error::Conflict`] at its position.
    pub fn insert(insert: M::Insert) -> Self {
        Write(Kind::Insert(insert))
    }

    /// Updates the document with `key`, as [`Repo::update`]:
    /// `updated_at` set, the version counted (a document at its version's
    /// maximum is not matched). Matching nothing is not an error here: the
    /// server reports matches per command, see [`WriteOutcome::Updated`].
    pub fn update(key: &M::Key, update: impl Into<Update<M>>) -> Self {
        Write(Kind::Update(key.clone(), update.into()))
    }

    /// Updates every document matching `query`, as [`Repo::update_many`].
    pub fn update_many(query: Query<M>, update: impl Into<Update<M>>) -> Self {
        Write(Kind::UpdateMany(query, update.into()))
    }

    /// Updates the first document matching `query`, or inserts one, as
    /// [`Repo::upsert`]: the key generated where the query does not name
    /// it with `eq`, `created_at` set on insert.
    pub fn upsert(query: Query<M>, update: impl Into<Update<M>>) -> Self {
        Write(Kind::Upsert(query, update.into()))
    }

    /// Replaces the document with `document`'s key, as [`Repo::replace`]:
    /// `updated_at` set, and for a versioned model only while the stored
    /// document is at `document`'s version (otherwise
    /// [`Error::VersionConflict`] at its position), storing the next one.
    pub fn replace(document: M) -> Self {
        Write(Kind::Replace(document))
    }

    /// Deletes the document with `key`. Matching nothing is not an error
    /// here; see [`WriteOutcome::Deleted`].
    pub fn delete(key: &M::Key) -> Self {
        Write(Kind::Delete(key.clone()))
    }

    /// Deletes every document matching `query`, as [`Repo::delete_many`].
    pub fn delete_many(query: Query<M>) -> Self {
        Write(Kind::DeleteMany(query))
    }
}
