//! The connection: a lazily created driver client, a database, transactions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bson::Document;
use futures::TryStreamExt;
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::TransactionOptions;
use mongodb::{Client, ClientSession, Database};
use tokio::sync::OnceCell;

use crate::cursor::CursorKey;
use crate::error::{Error, Result};

/// How long [`Connection::transaction`] keeps retrying transient failures,
/// as the driver's own `with_transaction` does.
const TRANSACTION_RETRY_LIMIT: Duration = Duration::from_secs(120);

/// A handle to one database on one deployment. Cheap to clone; clones share
/// the driver client.
///
/// The driver client is created on first use ([`connect`](Self::connect) is
/// idempotent and optional) and closed by [`disconnect`](Self::disconnect),
/// after which every operation fails with [`Error::Disconnected`].
///
/// ```no_run
/// # async fn demo() -> model_core::Result<()> {
/// let conn = model_core::Connection::new("mongodb://localhost:27017", "app");
/// let db = conn.database().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
    timeout: Option<Duration>,
    cursor_key: Option<CursorKey>,
}

struct Inner {
    uri: Option<String>,
    database: String,
    client: OnceCell<Client>,
    closed: AtomicBool,
    /// Per collection, the key sets of its unique indexes, listed once.
    unique_indexes: Mutex<HashMap<String, Arc<OnceCell<UniqueIndexes>>>>,
}

/// The key sets (field names, sorted) of a collection's unique indexes
/// that hold at most one document per value, `null` included: neither
/// sparse, partial nor collated.
pub(crate) type UniqueIndexes = Arc<Vec<Vec<String>>>;

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URI may carry credentials: never print it.
        f.debug_struct("Connection")
            .field("database", &self.inner.database)
            .field("connected", &self.inner.client.initialized())
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .field("timeout", &self.timeout)
            .field("cursor_key", &self.cursor_key)
            .finish()
    }
}

/// The body of a transaction with retries, shared by
/// [`Connection::transaction`] and [`Connection::transaction_with`]:
/// `$run` is the attempt, run with `$session`.
macro_rules! transaction_loop {
    ($conn:expr, $options:expr, $session:ident, $run:expr) => {{
        let started = Instant::now();
        let failed = |source| Error::Transaction { source: Box::new(source) };
        let client = $conn.connect().await?;
        let mut $session = client.start_session().await.map_err(failed)?;
        'attempt: loop {
            $session.start_transaction().with_options($options.clone()).await.map_err(failed)?;
            let value = match $run {
                Ok(value) => value,
                Err(error) => {
                    // Fails harmlessly when `f` already ended the transaction.
                    let _ = $session.abort_transaction().await;
                    if is_transient(&error) && started.elapsed() < TRANSACTION_RETRY_LIMIT {
                        continue 'attempt;
                    }
                    return Err(error);
                }
            };
            loop {
                match $session.commit_transaction().await {
                    Ok(()) => return Ok(value),
                    Err(error) if started.elapsed() < TRANSACTION_RETRY_LIMIT => {
                        if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) {
                            continue;
                        }
                        if error.contains_label(TRANSIENT_TRANSACTION_ERROR) {
                            continue 'attempt;
                        }
                        return Err(failed(error).into());
                    }
                    Err(error) => {
                        return Err(failed(error).into());
                    }
                }
            }
        }
    }};
}

/// Whether `error`, or an error it wraps (a `model_core::Error` or a
/// driver error anywhere in its `source` chain), carries the
/// `TransientTransactionError` label: the transaction may be retried.
fn is_transient(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(ours) = error.downcast_ref::<Error>() {
            return ours.has_label(TRANSIENT_TRANSACTION_ERROR);
        }
        if let Some(driver) = error.downcast_ref::<mongodb::error::Error>() {
            return driver.contains_label(TRANSIENT_TRANSACTION_ERROR);
        }
        current = error.source();
    }
    false
}

impl Connection {
    /// A connection to `database` on the deployment at `uri`. Nothing is
    /// sent until the first operation.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self::build(Some(uri.into()), database.into(), OnceCell::new())
    }

    /// A connection to `database` through a client you configured yourself.
    pub fn from_client(client: Client, database: impl Into<String>) -> Self {
        Self::build(None, database.into(), OnceCell::new_with(Some(client)))
    }

    fn build(uri: Option<String>, database: String, client: OnceCell<Client>) -> Self {
        Connection {
            inner: Arc::new(Inner {
                uri,
                database,
                client,
                closed: AtomicBool::new(false),
                unique_indexes: Mutex::new(HashMap::new()),
            }),
            timeout: None,
            cursor_key: None,
        }
    }

    /// The same connection, sharing its client, with every repository
    /// operation bounded by `timeout`: one still running after it is
    /// abandoned and fails with [`Error::Timeout`].
    ///
    /// The driver has no client-side socket or operation timeout (it
    /// ignores `socketTimeoutMS` and `timeoutMS`), so without this an
    /// operation waits as long as the server takes to answer, which is
    /// forever for a server that hangs. The timeout covers the whole
    /// operation, server selection and a retry included. It does not cover
    /// [`transaction`](Self::transaction) or reading a stream returned by
    /// [`Repo::iterate`](crate::Repo::iterate) (opening it is covered).
    ///
    /// A timed-out *write* may still be applied by the server: its outcome
    /// is unknown, as after a network error.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use std::time::Duration;
    /// let conn = model_core::Connection::new("mongodb://localhost:27017", "app")
    ///     .with_timeout(Duration::from_secs(5));
    /// assert_eq!(conn.timeout(), Some(Duration::from_secs(5)));
    /// # }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Connection {
        Connection { timeout: Some(timeout), ..self.clone() }
    }

    /// The same connection, sharing its client, with page cursors sealed
    /// by `key`: every [`PageCursor`](crate::PageCursor) a
    /// [`scroll`](crate::Repo::scroll) makes is encrypted and
    /// authenticated (XChaCha20-Poly1305, a random nonce per cursor) and
    /// bound to its collection and sort, and only such cursors are
    /// accepted. Without a key a cursor is readable by anyone (base64url
    /// of the boundary document's sort values) and can be written by hand.
    ///
    /// Give every instance of a service the same key, from its secret
    /// store; a new key refuses the cursors of the old one.
    ///
    /// ```no_run
    /// # fn demo(secret: [u8; 32]) {
    /// use model_core::{Connection, CursorKey};
    /// let conn = Connection::new("mongodb://localhost:27017", "app")
    ///     .with_cursor_key(CursorKey::new(secret));
    /// assert!(conn.cursor_key().is_some());
    /// # }
    /// ```
    pub fn with_cursor_key(&self, key: CursorKey) -> Connection {
        Connection { cursor_key: Some(key), ..self.clone() }
    }

    /// The unique indexes `collection` has, listed on the first call and
    /// remembered (until [`forget_indexes`](Self::forget_indexes)): a
    /// keyset page stops its sort at a unique index only once it knows the
    /// index exists. A collection that does not exist has none; a server
    /// that refuses to list them (a user without the privilege) is taken
    /// to have none, which only costs the key as a tie-breaker.
    pub(crate) async fn unique_indexes(&self, collection: &str) -> Result<UniqueIndexes> {
        let cell = {
            let mut cache =
                self.inner.unique_indexes.lock().unwrap_or_else(PoisonError::into_inner);
            cache.entry(collection.to_string()).or_default().clone()
        };
        let found = cell
            .get_or_try_init(|| async {
                let coll = self.database().await?.collection::<Document>(collection);
                let list = async move {
                    match coll.list_indexes().await {
                        Ok(cursor) => cursor.try_collect::<Vec<_>>().await,
                        // The server answered: no such collection, or not allowed.
                        Err(error)
                            if matches!(*error.kind, mongodb::error::ErrorKind::Command(_)) =>
                        {
                            Ok(Vec::new())
                        }
                        Err(error) => Err(error),
                    }
                };
                let indexes = self.bounded(collection, list).await?;
                let unique = indexes
                    .into_iter()
                    .filter(|index| {
                        index.options.as_ref().is_some_and(|o| {
                            o.unique == Some(true)
                                && o.sparse != Some(true)
                                && o.partial_filter_expression.is_none()
                                && o.collation.is_none()
                        })
                    })
                    .map(|index| {
                        let mut fields: Vec<String> = index.keys.keys().cloned().collect();
                        fields.sort();
                        fields
                    })
                    .collect();
                Ok::<_, Error>(Arc::new(unique))
            })
            .await?;
        Ok(found.clone())
    }

    /// Forgets what [`unique_indexes`](Self::unique_indexes) listed for
    /// `collection`, after this connection changed its indexes.
    pub(crate) fn forget_indexes(&self, collection: &str) {
        self.inner.unique_indexes.lock().unwrap_or_else(PoisonError::into_inner).remove(collection);
    }

    /// The key page cursors are sealed with, set with
    /// [`with_cursor_key`](Self::with_cursor_key), if any.
    pub fn cursor_key(&self) -> Option<&CursorKey> {
        self.cursor_key.as_ref()
    }

    /// Runs `call`, a driver call on this connection's client, as a
    /// repository operation runs: bounded by the connection's timeout
    /// ([`Error::Timeout`]), on its own task when a timeout is set (so an
    /// abandoned call still ends as the driver expects), and with the
    /// driver's errors mapped for `collection` (`Conflict`, `Validation`,
    /// ...). For code beside the repositories, like the lock's commands.
    ///
    /// ```no_run
    /// # async fn demo(conn: model_core::Connection) -> model_core::Result<()> {
    /// let db = conn.database().await?;
    /// let names = conn
    ///     .bounded("things", async move { db.collection::<bson::Document>("things").distinct("name", bson::doc! {}).await })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn bounded<T: Send + 'static>(
        &self,
        collection: &str,
        call: impl Future<Output = mongodb::error::Result<T>> + Send + 'static,
    ) -> Result<T> {
        let run = async {
            crate::run::detached(self.timeout, call)
                .await
                .map_err(|error| Error::from_driver(collection, error))
        };
        crate::run::bounded(self.timeout, collection, run).await
    }

    /// The operation timeout set with [`with_timeout`](Self::with_timeout), if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The driver client, created on the first call.
    ///
    /// # Errors
    /// [`Error::Disconnected`] after [`disconnect`](Self::disconnect); a
    /// driver error when the URI is malformed.
    pub async fn connect(&self) -> Result<&Client> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Disconnected);
        }
        let client = self
            .inner
            .client
            .get_or_try_init(|| async {
                let uri = self.inner.uri.as_deref().ok_or(Error::Disconnected)?;
                Client::with_uri_str(uri).await.map_err(Error::from)
            })
            .await?;
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Disconnected);
        }
        Ok(client)
    }

    /// Closes the client: pending operations finish, later ones fail with
    /// [`Error::Disconnected`]. Idempotent.
    ///
    /// The driver's shutdown waits until every cursor and session it handed
    /// out is dropped: drop `iterate` streams and leave transactions before
    /// calling it, or it waits for them.
    pub async fn disconnect(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(client) = self.inner.client.get() {
            client.clone().shutdown().await;
        }
    }

    /// Whether [`disconnect`](Self::disconnect) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// The database's name.
    pub fn database_name(&self) -> &str {
        &self.inner.database
    }

    /// The driver's database handle, for what the model layer does not cover.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn database(&self) -> Result<Database> {
        Ok(self.connect().await?.database(&self.inner.database))
    }

    /// Runs `f` in a transaction and commits it.
    ///
    /// Pass the session to every operation inside (`.session(s)`). When `f`
    /// or the commit fails with a `TransientTransactionError` the whole
    /// transaction is retried; an unknown commit result retries the commit;
    /// both for up to 120 seconds. Any other error aborts the transaction,
    /// so nothing `f` wrote is kept, and is returned (a duplicate key as
    /// [`Error::Conflict`], also from a driver call of `f`'s own that `?`
    /// converts into [`Error`]).
    ///
    /// Write `async move |s|` and let the closure own what it uses (a
    /// [`Repo`] or a `Connection` is cheap to clone): the transaction's
    /// future is then `Send`, as an axum handler's or a spawned task's
    /// must be. `examples/axum.rs` is a service that does so.
    ///
    /// ```no_run
    /// # async fn demo(conn: model_core::Connection) {
    /// let audit = conn.database_name().to_string();
    /// let task = tokio::spawn(async move {
    ///     conn.transaction(async move |session| {
    ///         let _db = session.client().database(&audit); // owned by the closure
    ///         Ok(1)
    ///     })
    ///     .await
    /// });
    /// # }
    /// ```
    ///
    /// A closure that borrows from its surroundings (`async |s|` using a
    /// local repository, or `async move |s|` capturing a `&str`) runs the
    /// same, but where `Send` is required the compiler cannot yet prove it
    /// for a borrow of any lifetime: it reports "implementation of `Send`
    /// is not general enough" for the borrowed type, at the place that
    /// needs `Send` (in axum, the `.route(..)` line), not here. Moving
    /// owned values into the closure is the fix;
    /// [`transaction_with`](Self::transaction_with) is the form for code
    /// generic over the closure.
    ///
    /// # Errors
    /// What `f` returns, or [`Error::Transaction`] when starting or committing fails.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T>
    where
        F: AsyncFnMut(&mut ClientSession) -> Result<T>,
    {
        self.transaction_as(None, f).await
    }

    /// [`transaction`](Self::transaction) with transaction options (read
    /// and write concern, read preference, `maxCommitTimeMS`; `None` takes
    /// the session's defaults), and an error type of your own: `f` returns
    /// `Result<T, E>` where `E` converts from [`Error`], so a domain error
    /// (`Err(OrderError::OutOfStock)`) aborts the transaction and comes
    /// back as itself. A transient transaction error is retried as in
    /// `transaction` wherever it sits in `E`'s `source` chain (an `E` that
    /// wraps [`Error`] with `#[error(transparent)]` or `#[source]`).
    ///
    /// ```no_run
    /// # async fn demo(conn: model_core::Connection) {
    /// #[derive(Debug, thiserror::Error)]
    /// enum OrderError {
    ///     #[error("out of stock")]
    ///     OutOfStock,
    ///     #[error(transparent)]
    ///     Db(#[from] model_core::Error),
    /// }
    /// use model_core::mongodb::options::{Acknowledgment, TransactionOptions, WriteConcern};
    /// let majority = TransactionOptions::builder()
    ///     .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
    ///     .build();
    /// let outcome: Result<u32, OrderError> = conn
    ///     .transaction_as(majority, async |session| {
    ///         let _db = session.client().database("shop");
    ///         Err(OrderError::OutOfStock) // nothing written is kept
    ///     })
    ///     .await;
    /// assert!(matches!(outcome, Err(OrderError::OutOfStock)));
    /// # }
    /// ```
    ///
    /// # Errors
    /// What `f` returns, or [`Error::Transaction`] (converted into `E`)
    /// when starting or committing fails.
    pub async fn transaction_as<T, E, F>(
        &self,
        options: impl Into<Option<TransactionOptions>>,
        mut f: F,
    ) -> std::result::Result<T, E>
    where
        E: From<Error> + std::error::Error + 'static,
        F: AsyncFnMut(&mut ClientSession) -> std::result::Result<T, E>,
    {
        let options: Option<TransactionOptions> = options.into();
        transaction_loop!(self, options, session, f(&mut session).await)
    }

    /// [`transaction`](Self::transaction) for a closure that returns a
    /// boxed future and borrows what it needs from `context` (as the
    /// driver's `and_run` does): its future is `Send` whatever the closure
    /// borrows, which suits code generic over the closure (the fenced
    /// writes of the lock crate). Where the closure can own its captures,
    /// `transaction` with `async move |s|` is `Send` too, and simpler.
    ///
    /// ```no_run
    /// # async fn demo(conn: model_core::Connection, db_name: String) -> model_core::Result<()> {
    /// let task = tokio::spawn(async move {
    ///     conn.transaction_with(db_name, |session, db_name| {
    ///         Box::pin(async move {
    ///             let _db = session.client().database(db_name);
    ///             Ok(1)
    ///         })
    ///     })
    ///     .await
    /// });
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`transaction`](Self::transaction).
    pub async fn transaction_with<C, T, F>(&self, context: C, f: F) -> Result<T>
    where
        F: for<'s> FnMut(
            &'s mut ClientSession,
            &'s mut C,
        ) -> futures::future::BoxFuture<'s, Result<T>>,
    {
        self.transaction_with_as(None, context, f).await
    }

    /// [`transaction_with`](Self::transaction_with) with transaction
    /// options and an error type of your own, as
    /// [`transaction_as`](Self::transaction_as).
    ///
    /// # Errors
    /// As [`transaction_as`](Self::transaction_as).
    pub async fn transaction_with_as<C, T, E, F>(
        &self,
        options: impl Into<Option<TransactionOptions>>,
        mut context: C,
        mut f: F,
    ) -> std::result::Result<T, E>
    where
        E: From<Error> + std::error::Error + 'static,
        F: for<'s> FnMut(
            &'s mut ClientSession,
            &'s mut C,
        ) -> futures::future::BoxFuture<'s, std::result::Result<T, E>>,
    {
        let options: Option<TransactionOptions> = options.into();
        transaction_loop!(self, options, session, f(&mut session, &mut context).await)
    }
}
