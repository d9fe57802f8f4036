//! Writes by key or by query: inserts, updates, deletes and replaces.

use bson::DateTime;
use mongodb::ClientSession;
use mongodb::options::ReturnDocument;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::options::Options;
use crate::query::Query;
use crate::repo::{Repo, key_filter};
use crate::run::detached;
use crate::stored::Stored;
use crate::update::{Update, update_document};
use crate::version::{below_maximum, next, require};

use super::versioned::{at_maximum_or_missing, missed, replace};

impl<M: Model> Repo<M> {
    /// Inserts one document; a duplicate key is [`Error::Conflict`].
    pub fn insert_one(&self, insert: M::Insert) -> InsertOne<'_, M> {
        InsertOne { repo: self, insert, now: None, options: Options::default(), session: None }
    }

    /// Inserts documents in order; no round trip when `inserts` is empty.
    pub fn insert_many(&self, inserts: impl IntoIterator<Item = M::Insert>) -> InsertMany<'_, M> {
        InsertMany {
            repo: self,
            inserts: inserts.into_iter().collect(),
            now: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Updates the document with `key` and returns it as it is after.
    pub fn update<'a>(&'a self, key: &'a M::Key, update: impl Into<Update<M>>) -> UpdateOne<'a, M> {
        UpdateOne {
            repo: self,
            key,
            update: update.into(),
            expected: None,
            now: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Updates every document matching `query`; returns how many changed.
    pub fn update_many(&self, query: Query<M>, update: impl Into<Update<M>>) -> UpdateMany<'_, M> {
        UpdateMany {
            repo: self,
            query,
            update: update.into(),
            now: None,
            options: Options::default(),
            session: None,
        }
    }

    /// Deletes the document with `key`, or fails with [`Error::NotFound`].
    pub fn delete<'a>(&'a self, key: &'a M::Key) -> DeleteOne<'a, M> {
        DeleteOne { repo: self, key, options: Options::default(), session: None }
    }

    /// Renamed [`update`](Repo::update).
    #[deprecated(
        since = "0.2.0",
        note = "renamed `update`: by key, as `find` and `replace` (the driver's `*_one` take a filter)"
    )]
    #[doc(hidden)]
    pub fn update_one<'a>(
        &'a self,
        key: &'a M::Key,
        update: impl Into<Update<M>>,
    ) -> UpdateOne<'a, M> {
        self.update(key, update)
    }

    /// Renamed [`delete`](Repo::delete).
    #[deprecated(
        since = "0.2.0",
        note = "renamed `delete`: by key, as `find` and `replace` (the driver's `*_one` take a filter)"
    )]
    #[doc(hidden)]
    pub fn delete_one<'a>(&'a self, key: &'a M::Key) -> DeleteOne<'a, M> {
        self.delete(key)
    }

    /// Deletes every document matching `query`; returns how many.
    pub fn delete_many(&self, query: Query<M>) -> DeleteMany<'_, M> {
        DeleteMany { repo: self, query, options: Options::default(), session: None }
    }

    /// Replaces the document with `document`'s key by `document`; for a
    /// versioned model only if it is still at `document`'s version.
    pub fn replace(&self, document: M) -> Replace<'_, M> {
        Replace { repo: self, document, now: None, options: Options::default(), session: None }
    }
}

/// `repo.insert_one(insert)`: the stored document, with `created_at`.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied; retried blindly, an insert with a generated key can
/// insert twice. Read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct InsertOne<'a, M: Model> {
    repo: &'a Repo<M>,
    insert: M::Insert,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> InsertOne<'a, M> {
    session_setter!();
    write_option_setters!(options);
    comment_setter!(options);
    now_setter!();

    async fn run(self) -> Result<M> {
        let generated = M::generates_key(&self.insert);
        let doc = M::from_insert(self.insert, self.now.unwrap_or_else(DateTime::now));
        crate::check::insert(&doc)?;
        let coll = self.repo.stored_collection().await?;
        let doc = Stored(doc);
        let options = self.repo.options_with(self.options, self.session.is_some());
        let options = options.set().map(|options| options.insert_one(Default::default()));
        let in_transaction = self.session.is_some();
        // The document goes to the driver's task and comes back with the
        // outcome.
        let (doc, inserted) = match self.session {
            Some(session) => {
                let inserted = coll.insert_one(&doc).with_options(options).session(session).await;
                (doc, inserted)
            }
            None => {
                let coll = coll.clone();
                let insert = async move {
                    let inserted = coll.insert_one(&doc).with_options(options).await;
                    Ok((doc, inserted))
                };
                detached(self.repo.connection().timeout(), insert)
                    .await
                    .map_err(Repo::<M>::error)?
            }
        };
        match inserted.map_err(Repo::<M>::error) {
            Ok(_) => Ok(doc.0),
            // A key this insert made up cannot be anyone else's: a
            // duplicate of it is this very insert, applied by an attempt
            // whose reply was lost (a retry after the server forgot the
            // first attempt, as SecantusDB does across a restart).
            Err(error @ Error::Conflict { .. }) if generated && !in_transaction => {
                if self.repo.stored_as(&doc.0).await { Ok(doc.0) } else { Err(error) }
            }
            Err(error) => Err(error),
        }
    }
}

into_future!(InsertOne, M, "insert_one");

/// `repo.insert_many(inserts)`: the stored documents, in order.
///
/// Inserts are ordered: on a duplicate key the documents before it are
/// stored and the rest are not (run it in a transaction for all or nothing).
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied; retried blindly, an insert with a generated key can
/// insert twice. Read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct InsertMany<'a, M: Model> {
    repo: &'a Repo<M>,
    inserts: Vec<M::Insert>,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> InsertMany<'a, M> {
    session_setter!();
    write_option_setters!(options);
    comment_setter!(options);
    now_setter!();

    async fn run(self) -> Result<Vec<M>> {
        if self.inserts.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now.unwrap_or_else(DateTime::now);
        let docs: Vec<Stored<M>> =
            self.inserts.into_iter().map(|insert| Stored(M::from_insert(insert, now))).collect();
        for doc in &docs {
            crate::check::insert(&doc.0)?;
        }
        let coll = self.repo.stored_collection().await?;
        let options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .insert_many(Default::default());
        // The documents go to the driver's task and come back.
        let docs = match self.session {
            Some(session) => {
                coll.insert_many(&docs).with_options(options).session(session).await.map(|_| docs)
            }
            None => {
                let coll = coll.clone();
                let insert = async move {
                    coll.insert_many(&docs).with_options(options).await.map(|_| docs)
                };
                detached(self.repo.connection().timeout(), insert).await
            }
        }
        .map_err(Repo::<M>::error)?;
        Ok(docs.into_iter().map(|doc| doc.0).collect())
    }
}

into_future!(InsertMany, Vec<M>, "insert_many");

/// `repo.update(&key, update)`: the document after the update, in one
/// round trip (`findAndModify`), or [`Error::NotFound`].
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct UpdateOne<'a, M: Model> {
    repo: &'a Repo<M>,
    key: &'a M::Key,
    update: Update<M>,
    expected: Option<i64>,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> UpdateOne<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    now_setter!();

    /// Applies the update only while the document is at `version` (the
    /// one read), for a model with `#[model(version)]`; otherwise
    /// [`Error::VersionConflict`], with nothing written. On a model
    /// without a version field the update is [`Error::InvalidArgument`].
    pub fn if_version(mut self, version: i64) -> Self {
        self.expected = Some(version);
        self
    }

    async fn run(mut self) -> Result<M> {
        let mut filter = key_filter::<M>(self.key)?;
        if let Some(expected) = self.expected {
            require::<M>(&mut filter, expected)?;
            next::<M>(expected)?;
        } else {
            filter = below_maximum::<M>(filter);
        }
        let update = update_document(self.update, self.now.unwrap_or_else(DateTime::now))?;
        let coll = self.repo.returning_collection().await?;
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_update(Default::default());
        options.return_document = Some(ReturnDocument::After);
        let updated = in_session!(
            self.repo,
            coll,
            self.session.as_deref_mut(),
            coll.find_one_and_update(filter, update).with_options(options)
        )
        .map_err(Repo::<M>::error)?;
        match (updated, self.expected) {
            (Some(doc), _) => doc.decode(),
            (None, Some(expected)) => {
                Err(missed(self.repo, key_filter::<M>(self.key)?, expected, self.session).await)
            }
            (None, None) if M::VERSION.is_some() => {
                // Not matched: at the version's maximum, or gone.
                Err(at_maximum_or_missing(self.repo, self.key, self.session).await)
            }
            (None, None) => Err(Repo::<M>::not_found()),
        }
    }
}

into_future!(UpdateOne, M, "update", key);

/// `repo.update_many(query, update)`: how many documents were modified.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct UpdateMany<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    update: Update<M>,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> UpdateMany<'a, M> {
    session_setter!();
    write_option_setters!(options);
    select_option_setters!(options);
    comment_setter!(options);
    now_setter!();

    async fn run(self) -> Result<u64> {
        let filter = below_maximum::<M>(self.query.into_document()?);
        let update = update_document(self.update, self.now.unwrap_or_else(DateTime::now))?;
        let coll = self.repo.collection().await?;
        let options =
            self.repo.options_with(self.options, self.session.is_some()).update(Default::default());
        let result = in_session!(
            self.repo,
            coll,
            self.session,
            coll.update_many(filter, update).with_options(options)
        )
        .map_err(Repo::<M>::error)?;
        Ok(result.modified_count)
    }
}

into_future!(UpdateMany, u64, "update_many");

/// `repo.delete(&key)`: `()`, or [`Error::NotFound`].
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct DeleteOne<'a, M: Model> {
    repo: &'a Repo<M>,
    key: &'a M::Key,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> DeleteOne<'a, M> {
    session_setter!();
    write_option_setters!(options);
    select_option_setters!(options);
    comment_setter!(options);

    async fn run(self) -> Result<()> {
        let filter = key_filter::<M>(self.key)?;
        let coll = self.repo.collection().await?;
        let options = self.repo.options_with(self.options, self.session.is_some());
        let options = options.set().map(|options| options.delete(Default::default()));
        let result = in_session!(
            self.repo,
            coll,
            self.session,
            coll.delete_one(filter).with_options(options)
        )
        .map_err(Repo::<M>::error)?;
        if result.deleted_count == 0 {
            return Err(Repo::<M>::not_found());
        }
        Ok(())
    }
}

into_future!(DeleteOne, (), "delete", key);

/// `repo.delete_many(query)`: how many documents were deleted.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct DeleteMany<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> DeleteMany<'a, M> {
    session_setter!();
    write_option_setters!(options);
    select_option_setters!(options);
    comment_setter!(options);

    async fn run(self) -> Result<u64> {
        let filter = self.query.into_document()?;
        let coll = self.repo.collection().await?;
        let options = self.repo.options_with(self.options, self.session.is_some());
        let options = options.set().map(|options| options.delete(Default::default()));
        let result = in_session!(
            self.repo,
            coll,
            self.session,
            coll.delete_many(filter).with_options(options)
        )
        .map_err(Repo::<M>::error)?;
        Ok(result.deleted_count)
    }
}

into_future!(DeleteMany, u64, "delete_many");

/// `repo.replace(document)`: stores `document` in place of the one with
/// its key (its `updated_at` set to now, `None` fields left out) and
/// returns what was stored. For a versioned model only while the stored
/// document is at `document`'s version, and the stored version is one
/// more; otherwise [`Error::VersionConflict`]. [`Error::NotFound`] when
/// no document has the key.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Replace<'a, M: Model> {
    repo: &'a Repo<M>,
    document: M,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> Replace<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    now_setter!();

    async fn run(self) -> Result<M> {
        let filter = key_filter::<M>(self.document.key())?;
        let now = self.now.unwrap_or_else(DateTime::now);
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_replace(Default::default());
        options.return_document = Some(ReturnDocument::After);
        replace(self.repo, filter, self.document, now, options, self.session).await
    }
}

into_future!(Replace, M, "replace");
