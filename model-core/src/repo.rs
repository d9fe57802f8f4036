//! `Repo<M>`: the typed repository of a model, and what every operation
//! on its collection shares: the connection, the typed collection, the
//! default options, the span and timeout of an operation, and the error
//! mapping.
//!
//! The operations themselves are actions, each in `crate::action` beside
//! the `Repo` method that builds it: a `#[must_use]` value with builder
//! setters (`.sort(..)`, `.offset(..)`, `.limit(..)`, `.session(..)`,
//! `.now(..)`), run by `.await`, as in the `mongodb` driver.

use std::marker::PhantomData;

use bson::Document;
use futures::future::BoxFuture;
use mongodb::Collection;
use tokio::sync::OnceCell;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::options::Options;
use crate::returned::Returned;
use crate::stored::Stored;

impl Connection {
    /// The repository of model `M`.
    pub fn repo<M: Model>(&self) -> Repo<M> {
        Repo::new(self.clone())
    }
}

/// The typed repository of model `M`: CRUD, queries, pagination, streaming.
///
/// Get one with [`Connection::repo`]. Cheap to clone.
///
/// # Cancel safety
///
/// Every operation returns an action that does nothing until awaited.
/// Dropping the awaited future (a `select!` branch lost, a task aborted,
/// the caller's own timeout) abandons the operation:
/// - a **read** is simply not finished; nothing changes;
/// - a **write** may or may not have been applied: the command may have
///   reached the server before the drop. Retry it only if it is idempotent
///   (`update` with `set`, `delete`, an `upsert`), or read to find
///   out; an `insert_one` with a generated key retried blindly can insert
///   twice. [`Connection::with_timeout`](crate::Connection::with_timeout)
///   bounds every operation the same way, with [`Error::Timeout`](crate::Error::Timeout);
/// - a **transaction** (`Connection::transaction`) dropped before it
///   commits is aborted when its session is dropped (and otherwise by the
///   server at its transaction lifetime limit), so none of its writes are
///   kept;
/// - a **stream** (`iterate`, `watch`, `Aggregate::stream`) dropped between
///   items closes its cursor; nothing is lost but what was not read, and a
///   change stream resumes from the last [`ChangeEvent::token`](crate::ChangeEvent) read.
pub struct Repo<M: Model> {
    conn: Connection,
    collection: OnceCell<Collection<M>>,
    options: Options,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> Clone for Repo<M> {
    fn clone(&self) -> Self {
        Repo {
            conn: self.conn.clone(),
            collection: self.collection.clone(),
            options: self.options.clone(),
            _model: PhantomData,
        }
    }
}

impl<M: Model> std::fmt::Debug for Repo<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("collection", &M::COLLECTION)
            .field("connection", &self.conn)
            .finish()
    }
}

impl<M: Model> Repo<M> {
    pub(crate) fn new(conn: Connection) -> Self {
        Repo { conn, collection: OnceCell::new(), options: Options::default(), _model: PhantomData }
    }

    /// This repository with `options` as the default of every operation
    /// (an action's own setters win, option by option). In a session (a
    /// transaction) the default read and write concerns and read
    /// preference are not applied: the transaction's own are.
    ///
    /// ```no_run
    /// # fn f<M: model_core::Model>(repo: model_core::Repo<M>) {
    /// use model_core::Options;
    /// use model_core::mongodb::options::{ReadPreference, SelectionCriteria, WriteConcern};
    /// let mut options = Options::default();
    /// options.write_concern = Some(WriteConcern::majority());
    /// options.selection_criteria =
    ///     Some(SelectionCriteria::ReadPreference(ReadPreference::SecondaryPreferred { options: None }));
    /// let repo = repo.with_options(options);
    /// # }
    /// ```
    pub fn with_options(&self, options: Options) -> Repo<M> {
        Repo { options, ..self.clone() }
    }

    /// The options every operation of this repository starts from.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The repository's options with an action's own on top. In a session
    /// the repository's read and write concerns and read preference are
    /// left out: a transaction decides them (the driver refuses them on
    /// its commands), and an action's own are the caller's to answer for.
    pub(crate) fn options_with(&self, action: Options, in_session: bool) -> Options {
        if self.options.is_unset() {
            return action;
        }
        if in_session {
            let mut defaults = self.options.clone();
            defaults.write_concern = None;
            defaults.read_concern = None;
            defaults.selection_criteria = None;
            return defaults.overridden_by(action);
        }
        self.options.overridden_by(action)
    }

    /// The connection this repository uses.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// `run`, the body of an operation `op` on this repository's
    /// collection, as the future `.await` runs (`run::spanned`).
    pub(crate) fn spanned<'a, T: 'a>(
        &self,
        op: &'static str,
        run: impl Future<Output = Result<T>> + Send + 'a,
    ) -> BoxFuture<'a, Result<T>> {
        crate::run::spanned(M::COLLECTION, op, None, self.conn.timeout(), run)
    }

    /// The typed driver collection, for what the repository does not cover.
    ///
    /// # Errors
    /// [`Error::Disconnected`] after the connection was closed.
    pub async fn collection(&self) -> Result<&Collection<M>> {
        if self.conn.is_closed() {
            return Err(Error::Disconnected);
        }
        // Set after the first operation: no initialising future to build.
        if let Some(collection) = self.collection.get() {
            return Ok(collection);
        }
        self.collection
            .get_or_try_init(|| async {
                let db = self.conn.database().await?;
                Ok(db.collection::<M>(M::COLLECTION))
            })
            .await
    }

    /// The collection typed for writing documents as they are stored
    /// (`None` fields left out): a view of the same collection.
    pub(crate) async fn stored_collection(&self) -> Result<Collection<Stored<M>>> {
        Ok(self.collection().await?.clone_with_type())
    }

    /// The collection typed for writes that return the document: the
    /// document comes back raw, and [`Returned::decode`] keeps it in the
    /// error when it does not fit the model.
    ///
    /// [`Returned::decode`]: crate::returned::Returned::decode
    pub(crate) async fn returning_collection(&self) -> Result<Collection<Returned<M>>> {
        Ok(self.collection().await?.clone_with_type())
    }

    /// Whether the document stored under `doc`'s key is exactly `doc`, as
    /// the driver writes it (binary, not human-readable, serialization),
    /// read from the primary. `false` when it cannot tell.
    pub(crate) async fn stored_as(&self, doc: &M) -> bool {
        let Ok(coll) = self.collection().await else { return false };
        let (Ok(filter), Ok(ours)) =
            (M::key_filter(doc.key()), bson::to_raw_document_buf(&Stored(doc)))
        else {
            return false;
        };
        let raw = coll.clone_with_type::<Document>();
        let primary = mongodb::options::SelectionCriteria::ReadPreference(
            mongodb::options::ReadPreference::Primary,
        );
        let read = async move { raw.find_one(filter).selection_criteria(primary).await };
        let stored = match self.conn.bounded(M::COLLECTION, read).await {
            Ok(stored) => stored,
            Err(_) => return false,
        };
        stored.is_some_and(|stored| ours.to_document().is_ok_and(|ours| ours == stored))
    }

    /// Maps a driver error from this collection to [`Error`].
    pub(crate) fn error(error: mongodb::error::Error) -> Error {
        Error::from_driver(M::COLLECTION, error)
    }

    pub(crate) fn not_found() -> Error {
        Error::NotFound { collection: M::COLLECTION.to_string() }
    }

    /// Creates the declared indexes (those of `#[model(index)]`,
    /// `#[model(unique)]` and `#[model(index(...))]`) that do not exist yet.
    /// `Connection::migrate` also replaces changed ones, drops undeclared
    /// ones and sets the validator.
    ///
    /// # Errors
    /// A driver error, for example when an index of the same name exists
    /// with other keys or options.
    pub async fn create_indexes(&self) -> Result<()> {
        let indexes = M::indexes();
        if indexes.is_empty() {
            return Ok(());
        }
        let models: Vec<_> = indexes.iter().map(|i| i.to_index_model()).collect();
        let coll = self.collection().await?.clone();
        let create = async move { coll.create_indexes(models).await };
        let created = self.conn.bounded(M::COLLECTION, create).await;
        // Keyset pages list the indexes again.
        self.conn.forget_indexes(M::COLLECTION);
        created?;
        Ok(())
    }
}

/// `{ _id: key }` for `key`, or the error of a key that cannot be encoded.
pub(crate) fn key_filter<M: Model>(key: &M::Key) -> Result<Document> {
    M::key_filter(key)
}
