//! Writes selected by a query that return the document (`findAndModify`),
//! upserts, and the escape hatch to the typed driver collection.

use std::future::IntoFuture;

use bson::{Bson, DateTime, Document};
use futures::future::BoxFuture;
use mongodb::options::ReturnDocument;
use mongodb::{ClientSession, Collection};

use crate::error::{Error, Result};
use crate::model::{Key, Model};
use crate::options::Options;
use crate::query::Query;
use crate::repo::Repo;
use crate::returned::Returned;
use crate::sort::Sort;
use crate::update::{Update, update_document};
use crate::version::below_maximum;

use super::versioned::replace;

macro_rules! sort_setter {
    () => {
        /// Which document is written when several match: the first in
        /// this order.
        pub fn sort(mut self, sort: Sort<M>) -> Self {
            self.sort = Some(sort);
            self
        }
    };
}

macro_rules! return_before_setter {
    () => {
        /// Returns the document as it was before the write, instead of after.
        pub fn return_before(mut self) -> Self {
            self.before = true;
            self
        }
    };
}

fn returned(before: bool) -> ReturnDocument {
    if before { ReturnDocument::Before } else { ReturnDocument::After }
}

/// `repo.find_one_and_update(query, update)`: updates the first document
/// matching `query` and returns it (after the update, or before with
/// [`return_before`](Self::return_before)); `None` when nothing matched,
/// and then nothing was written. A guarded transition in one round trip:
/// `find_one_and_update(Order::STATUS.eq(Pending).and(..), Order::STATUS.set(Paid))`.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct FindOneAndUpdate<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    update: Update<M>,
    sort: Option<Sort<M>>,
    before: bool,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> FindOneAndUpdate<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    now_setter!();
    sort_setter!();
    return_before_setter!();

    async fn run(self) -> Result<Option<M>> {
        let filter = below_maximum::<M>(self.query.into_document()?);
        let update = update_document(self.update, self.now.unwrap_or_else(DateTime::now))?;
        let coll = self.repo.returning_collection().await?;
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_update(Default::default());
        options.return_document = Some(returned(self.before));
        options.sort = self.sort.map(Sort::into_document);
        in_session!(
            self.repo,
            coll,
            self.session,
            coll.find_one_and_update(filter, update).with_options(options)
        )
        .map_err(Repo::<M>::error)?
        .map(Returned::decode)
        .transpose()
    }
}

into_future!(FindOneAndUpdate, Option<M>, "find_one_and_update");

/// `repo.upsert(query, update)`: updates the first document matching
/// `query`, or inserts one made of the query's equalities and the update,
/// with a generated key (UUID and ObjectId keys; other kinds must be in
/// the query as `_id`), `created_at` and `updated_at`. Returns the
/// document after. The insert is checked by the collection's validator
/// like any other: a missing required field is [`Error::Validation`],
/// with nothing written.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Upsert<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    update: Update<M>,
    sort: Option<Sort<M>>,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> Upsert<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    now_setter!();
    sort_setter!();

    async fn run(self) -> Result<M> {
        let now = self.now.unwrap_or_else(DateTime::now);
        let (filter, update) = upsert_parts(self.query, self.update, now)?;
        let coll = self.repo.returning_collection().await?;
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_update(Default::default());
        options.upsert = Some(true);
        options.return_document = Some(ReturnDocument::After);
        options.sort = self.sort.map(Sort::into_document);
        in_session!(
            self.repo,
            coll,
            self.session,
            coll.find_one_and_update(filter, update).with_options(options)
        )
        .map_err(Repo::<M>::error)?
        .ok_or_else(Repo::<M>::not_found)?
        .decode()
    }
}

into_future!(Upsert, M, "upsert");

/// The filter and the update document of an upsert of `query` with
/// `update` at `now` (`Repo::upsert`, and an upsert in a bulk write):
/// what the insert adds (a generated key where the query names none,
/// `created_at`), the timestamps and the version.
pub(crate) fn upsert_parts<M: Model>(
    query: Query<M>,
    mut update: Update<M>,
    now: DateTime,
) -> Result<(Document, Document)> {
    let filter = query.into_document()?;
    match key_in(&filter) {
        KeyIn::Equality => {} // the server takes the key from the query
        KeyIn::Condition => {
            return Err(Error::invalid(format!(
                "an upsert into `{}` names the key (`_id`) in its query with a condition other than `eq`: the document it would insert has no key",
                M::COLLECTION
            )));
        }
        KeyIn::Absent => {
            let key = M::Key::generate().ok_or_else(|| {
                Error::invalid(format!(
                    "an upsert into `{}` must name the key (`_id`) in its query with `eq`: this key kind is not generated",
                    M::COLLECTION
                ))
            })?;
            update.on_insert("_id", key.to_bson()?);
        }
    }
    if let Some(created_at) = M::CREATED_AT {
        update.on_insert(created_at, now.into());
    }
    Ok((filter, update_document(update, now)?))
}

/// How an upsert's query names the key.
#[derive(Debug, PartialEq)]
enum KeyIn {
    /// `_id` equals a value: the inserted document takes it.
    Equality,
    /// `_id` is under another condition: the server would make one up.
    Condition,
    /// Not at all: the upsert generates one.
    Absent,
}

/// Where `filter` names `_id`, at its top level or in a top-level `$and`.
fn key_in(filter: &Document) -> KeyIn {
    let mut found = KeyIn::Absent;
    if let Some(value) = filter.get("_id") {
        let condition = match value {
            Bson::Document(doc) => doc.keys().any(|k| k.starts_with('$') && k != "$eq"),
            _ => false,
        };
        if !condition {
            return KeyIn::Equality;
        }
        found = KeyIn::Condition;
    }
    if let Some(Bson::Array(all)) = filter.get("$and") {
        for part in all.iter().filter_map(Bson::as_document) {
            match key_in(part) {
                KeyIn::Equality => return KeyIn::Equality,
                KeyIn::Condition => found = KeyIn::Condition,
                KeyIn::Absent => {}
            }
        }
    }
    found
}

/// `repo.find_one_and_replace(query, replacement)`: replaces the first
/// document matching `query` with `replacement` (its `updated_at` set to
/// now, `None` fields left out) and returns it (after, or before with
/// [`return_before`](Self::return_before)); `None` when nothing matched.
/// The replacement's key must be the matched document's.
///
/// For a versioned model, as [`replace`](crate::Repo::replace): the
/// write applies only while the matched document is at the replacement's
/// version, and stores the next one. When the query matches the
/// replacement's document (same key) at another version, the answer is
/// [`Error::VersionConflict`] with nothing written, not `None`; `None`
/// means no document with the replacement's key matches the query.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct FindOneAndReplace<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    replacement: M,
    sort: Option<Sort<M>>,
    before: bool,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> FindOneAndReplace<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    now_setter!();
    sort_setter!();
    return_before_setter!();

    async fn run(self) -> Result<Option<M>> {
        let filter = self.query.into_document()?;
        let now = self.now.unwrap_or_else(DateTime::now);
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_replace(Default::default());
        options.return_document = Some(returned(self.before));
        options.sort = self.sort.map(Sort::into_document);
        match replace(self.repo, filter, self.replacement, now, options, self.session).await {
            Ok(returned) => Ok(Some(returned)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

into_future!(FindOneAndReplace, Option<M>, "find_one_and_replace");

/// `repo.find_one_and_delete(query)`: deletes the first document matching
/// `query` and returns it; `None` when nothing matched.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct FindOneAndDelete<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    sort: Option<Sort<M>>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> FindOneAndDelete<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    sort_setter!();

    async fn run(self) -> Result<Option<M>> {
        let filter = self.query.into_document()?;
        let coll = self.repo.returning_collection().await?;
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_delete(Default::default());
        options.sort = self.sort.map(Sort::into_document);
        in_session!(
            self.repo,
            coll,
            self.session,
            coll.find_one_and_delete(filter).with_options(options)
        )
        .map_err(Repo::<M>::error)?
        .map(Returned::decode)
        .transpose()
    }
}

into_future!(FindOneAndDelete, Option<M>, "find_one_and_delete");

type DriverCall<'a, M, T> =
    Box<dyn FnOnce(Collection<M>) -> BoxFuture<'a, mongodb::error::Result<T>> + Send + 'a>;

/// `repo.with_collection(op, call)`: a driver call on the model's typed
/// collection that keeps the repository's guarantees: the connection's
/// timeout, a tracing span (`model`, with the collection and `op`), and
/// the error mapping ([`Error::NotFound`] is yours to return;
/// [`Error::Conflict`], [`Error::Validation`], [`Error::Unacknowledged`]
/// come from the driver's error).
///
/// # Cancel safety
///
/// As the driver call it runs: a read changes nothing; a write dropped once
/// sent may or may not have been applied.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct WithCollection<'a, M: Model, T> {
    repo: &'a Repo<M>,
    op: &'static str,
    call: DriverCall<'a, M, T>,
}

impl<'a, M: Model, T: Send + 'a> IntoFuture for WithCollection<'a, M, T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<'a, Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        let (repo, op) = (self.repo, self.op);
        let run = async move {
            let coll = repo.collection().await?.clone();
            (self.call)(coll).await.map_err(Repo::<M>::error)
        };
        repo.spanned(op, run)
    }
}

impl<M: Model> Repo<M> {
    /// Updates the first document matching `query` and returns it, or
    /// `None` when none matched; see [`FindOneAndUpdate`].
    pub fn find_one_and_update(
        &self,
        query: Query<M>,
        update: impl Into<Update<M>>,
    ) -> FindOneAndUpdate<'_, M> {
        FindOneAndUpdate {
            repo: self,
            query,
            update: update.into(),
            sort: None,
            before: false,
            now: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Updates the first document matching `query`, or inserts one; see
    /// [`Upsert`].
    pub fn upsert(&self, query: Query<M>, update: impl Into<Update<M>>) -> Upsert<'_, M> {
        Upsert {
            repo: self,
            query,
            update: update.into(),
            sort: None,
            now: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Replaces the first document matching `query` and returns it, or
    /// `None` when none matched; see [`FindOneAndReplace`].
    pub fn find_one_and_replace(
        &self,
        query: Query<M>,
        replacement: M,
    ) -> FindOneAndReplace<'_, M> {
        FindOneAndReplace {
            repo: self,
            query,
            replacement,
            sort: None,
            before: false,
            now: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Deletes the first document matching `query` and returns it, or
    /// `None` when none matched.
    pub fn find_one_and_delete(&self, query: Query<M>) -> FindOneAndDelete<'_, M> {
        FindOneAndDelete {
            repo: self,
            query,
            sort: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Runs `call` on the typed driver collection, for what the repository
    /// does not cover, with the repository's timeout, tracing span (named
    /// `op`) and error mapping:
    ///
    /// ```no_run
    /// # async fn f<M: model_core::Model>(repo: model_core::Repo<M>) -> model_core::Result<()> {
    /// let names = repo
    ///     .with_collection("distinct_names", |coll| async move {
    ///         coll.distinct("name", bson::doc! {}).await
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn with_collection<'a, T, F, Fut>(
        &'a self,
        op: &'static str,
        call: F,
    ) -> WithCollection<'a, M, T>
    where
        F: FnOnce(Collection<M>) -> Fut + Send + 'a,
        Fut: Future<Output = mongodb::error::Result<T>> + Send + 'a,
        T: Send + 'a,
    {
        WithCollection { repo: self, op, call: Box::new(move |coll| Box::pin(call(coll))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn an_upsert_finds_the_key_equality_in_its_query() {
        assert_eq!(key_in(&doc! { "_id": 1, "a": 2 }), KeyIn::Equality);
        assert_eq!(key_in(&doc! { "_id": { "$eq": { "k": 1 } } }), KeyIn::Equality);
        assert_eq!(key_in(&doc! { "_id": { "k": 1 } }), KeyIn::Equality);
        assert_eq!(
            key_in(&doc! { "$and": [{ "_id": 1 }, { "_id": { "$gt": 0 } }] }),
            KeyIn::Equality
        );
        assert_eq!(key_in(&doc! { "_id": { "$in": [1, 2] } }), KeyIn::Condition);
        assert_eq!(
            key_in(&doc! { "$and": [{ "_id": { "$ne": 1 } }, { "a": 1 }] }),
            KeyIn::Condition
        );
        assert_eq!(key_in(&doc! { "email": "a" }), KeyIn::Absent);
    }
}
