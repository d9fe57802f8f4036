//! The actions `Repo` methods return. Each is `#[must_use]`, configured with
//! builder setters and run by `.await`.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, DateTime, Document};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use mongodb::ClientSession;
use mongodb::options::{FindOneOptions, FindOptions, ReturnDocument};
use tracing::Instrument;

use crate::repo::key_filter;
use crate::version::update_document;
use crate::{Error, Model, Options, Projection, Query, Repo, Result, Sort, Stored, Update};

/// The most documents one page holds, and the default page size.
pub const MAX_PAGE_LIMIT: u64 = 1000;

/// Where a page sits in the results: its sort, offset, limit, and the total
/// number of documents matching the query.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The sort document used, if any.
    pub sort: Option<Document>,
    /// How many matching documents come before the page.
    pub offset: u64,
    /// The page size asked for (at most [`MAX_PAGE_LIMIT`]).
    pub limit: u64,
    /// How many documents match the query in all.
    pub count: u64,
}

macro_rules! into_future {
    ($action:ident, $output:ty, $op:literal $(, $key:ident)?) => {
        impl<'a, M: $crate::Model> ::std::future::IntoFuture for $action<'a, M> {
            into_future!(@body $output, $op $(, $key)?);
        }
    };
    // An action generic over what it reads into (`P`: a projection).
    ($action:ident<$p:ident>, $output:ty, $op:literal $(, $key:ident)?) => {
        impl<'a, M: $crate::Model, $p: $crate::Projection<M>> ::std::future::IntoFuture
            for $action<'a, M, $p>
        {
            into_future!(@body $output, $op $(, $key)?);
        }
    };
    (@body $output:ty, $op:literal $(, $key:ident)?) => {
        type Output = $crate::Result<$output>;
        type IntoFuture = ::futures::future::BoxFuture<'a, $crate::Result<$output>>;

        fn into_future(self) -> Self::IntoFuture {
            use ::tracing::Instrument as _;
            let span = ::tracing::debug_span!(
                "model",
                db.system.name = "mongodb",
                db.collection.name = M::COLLECTION,
                db.operation.name = $op,
                $($key = ?self.$key,)?
            );
            let timeout = self.repo.connection().timeout();
            Box::pin($crate::actions::bounded(timeout, M::COLLECTION, self.run()).instrument(span))
        }
    };
}

/// `run`, the body of an action on `M`, as the boxed future `.await`
/// runs: in a `model` span naming the operation, bounded by the
/// connection's timeout. (`into_future!` does the same for the actions it
/// covers.)
pub(crate) fn spanned<'a, M: Model, T: 'a>(
    repo: &Repo<M>,
    op: &'static str,
    run: impl Future<Output = Result<T>> + Send + 'a,
) -> BoxFuture<'a, Result<T>> {
    let span = tracing::debug_span!(
        "model",
        db.system.name = "mongodb",
        db.collection.name = M::COLLECTION,
        db.operation.name = op
    );
    let timeout = repo.connection().timeout();
    // Boxed on its own first: the wrappers then move a pointer, not the
    // action's whole future (several KiB for some actions), into the box.
    let run = Box::pin(run);
    Box::pin(bounded(timeout, M::COLLECTION, run).instrument(span))
}

/// Runs `operation`, abandoning it with [`Error::Timeout`] once `timeout`
/// (the connection's, if set) has passed.
pub(crate) async fn bounded<T>(
    timeout: Option<Duration>,
    collection: &str,
    operation: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(timeout) = timeout else {
        return operation.await;
    };
    tokio::time::timeout(timeout, operation)
        .await
        .unwrap_or_else(|_| Err(Error::Timeout { collection: collection.to_string(), timeout }))
}

/// Runs the driver action `$action` on the collection `$coll`: in
/// `$session` when there is one; otherwise through [`detached`], on an
/// owned clone of the collection.
macro_rules! in_session {
    ($repo:expr, $coll:ident, $session:expr, $action:expr) => {
        match $session {
            Some(session) => $action.session(session).await,
            None => {
                let $coll = $coll.clone();
                $crate::actions::detached($repo.connection(), async move { $action.await }).await
            }
        }
    };
}

/// Runs `call`, the driver's part of an operation. With a timeout set, on
/// its own task: when the timeout abandons the operation, the driver's
/// part still runs to its end, so the driver's pool is left as it expects
/// (a future dropped mid-checkout leaves its request queued in the pool,
/// ahead of every live one, and after a server pause with many callers
/// the pool served abandoned requests for tens of seconds). Without a
/// timeout nothing abandons it, and it runs in place.
pub(crate) async fn detached<T: Send + 'static>(
    conn: &crate::Connection,
    call: impl Future<Output = mongodb::error::Result<T>> + Send + 'static,
) -> mongodb::error::Result<T> {
    if conn.timeout().is_none() {
        return call.await;
    }
    match tokio::spawn(call.in_current_span()).await {
        Ok(result) => result,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: the runtime is shutting down.
            Err(_) => Err(mongodb::error::Error::custom(
                "the operation was cancelled: the runtime is shutting down",
            )),
        },
    }
}

macro_rules! session_setter {
    () => {
        /// Runs the operation in `session` (for example inside
        /// [`Connection::transaction`](crate::Connection::transaction)).
        pub fn session(mut self, session: &'a mut ::mongodb::ClientSession) -> Self {
            self.session = Some(session);
            self
        }
    };
}

macro_rules! now_setter {
    () => {
        /// Uses `now` for the timestamps instead of the current time.
        pub fn now(mut self, now: ::bson::DateTime) -> Self {
            self.now = Some(now);
            self
        }
    };
}

macro_rules! window_setters {
    () => {
        /// Orders the results.
        pub fn sort(mut self, sort: Sort<M>) -> Self {
            self.window.sort = Some(sort);
            self
        }

        /// Skips the first `offset` results.
        pub fn offset(mut self, offset: u64) -> Self {
            self.window.offset = offset;
            self
        }

        /// Returns at most `limit` results.
        pub fn limit(mut self, limit: u64) -> Self {
            self.window.limit = Some(limit);
            self
        }
    };
}

/// Sort, offset and limit of a multi-document read.
struct Window<M> {
    sort: Option<Sort<M>>,
    offset: u64,
    limit: Option<u64>,
    batch_size: Option<u32>,
}

impl<M> Default for Window<M> {
    fn default() -> Self {
        Window { sort: None, offset: 0, limit: None, batch_size: None }
    }
}

impl<M> Window<M> {
    fn options(&self) -> Result<FindOptions> {
        let mut options = FindOptions::default();
        options.sort = self.sort.as_ref().map(Sort::to_document);
        if self.offset > 0 {
            i64::try_from(self.offset)
                .map_err(|_| Error::invalid(format!("offset {} is over i64::MAX", self.offset)))?;
            options.skip = Some(self.offset);
        }
        if let Some(limit) = self.limit {
            let limit = i64::try_from(limit)
                .map_err(|_| Error::invalid(format!("limit {limit} is over i64::MAX")))?;
            if limit == 0 {
                return Err(Error::invalid("limit must be at least 1"));
            }
            options.limit = Some(limit);
        }
        if let Some(batch_size) = self.batch_size {
            if batch_size == 0 {
                return Err(Error::invalid("batch size must be at least 1"));
            }
            options.batch_size = Some(batch_size);
        }
        Ok(options)
    }
}

/// `update`, or [`Error::InvalidValue`] when a value holds a field name
/// BSON cannot encode (one with a NUL byte). The driver would refuse it
/// too, but report it as an invalid server response.
pub(crate) fn encodable(update: Document) -> Result<Document> {
    fn bad_key(value: &Bson) -> Option<&str> {
        match value {
            Bson::Document(doc) => doc.iter().find_map(|(key, value)| {
                if key.contains('\0') { Some(key.as_str()) } else { bad_key(value) }
            }),
            Bson::Array(values) => values.iter().find_map(bad_key),
            _ => None,
        }
    }
    for fields in update.values().filter_map(Bson::as_document) {
        for (field, value) in fields {
            if let Some(key) = bad_key(value) {
                return Err(Error::InvalidValue {
                    field: field.clone(),
                    source: Arc::new(bson::ser::Error::InvalidCString(key.to_string())),
                });
            }
        }
    }
    Ok(update)
}

/// Reads documents into a `Vec` of `P` (the model or a projection of it),
/// in `session` or not.
async fn collect<M: Model, P: Projection<M>>(
    repo: &Repo<M>,
    filter: Document,
    mut options: FindOptions,
    session: Option<&mut ClientSession>,
) -> Result<Vec<P>> {
    options.projection = P::projection();
    let coll = repo.collection().await?.clone_with_type::<P>();
    match session {
        Some(session) => {
            let found = coll.find(filter).with_options(options);
            let mut cursor = found.session(&mut *session).await.map_err(Repo::<M>::error)?;
            cursor.stream(session).try_collect().await.map_err(Repo::<M>::error)
        }
        None => {
            let read =
                async move { coll.find(filter).with_options(options).await?.try_collect().await };
            detached(repo.connection(), read).await.map_err(Repo::<M>::error)
        }
    }
}

/// `repo.find(&key)`: the document with the key, or [`Error::NotFound`].
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Find<'a, M: Model> {
    repo: &'a Repo<M>,
    key: &'a M::Key,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> Find<'a, M> {
    session_setter!();
    read_command_setters!(options);

    async fn run(self) -> Result<M> {
        let filter = key_filter::<M>(self.key)?;
        let coll = self.repo.collection().await?;
        let options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one(FindOneOptions::default());
        let found =
            in_session!(self.repo, coll, self.session, coll.find_one(filter).with_options(options));
        found.map_err(Repo::<M>::error)?.ok_or_else(Repo::<M>::not_found)
    }
}

into_future!(Find, M, "find", key);

/// `repo.find_one(query)`: the first matching document, if any; with
/// [`project`](FindOne::project), only the fields of a projection.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct FindOne<'a, M: Model, P = M> {
    repo: &'a Repo<M>,
    query: Query<M>,
    sort: Option<Sort<M>>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _read: PhantomData<fn() -> P>,
}

impl<'a, M: Model, P: Projection<M>> FindOne<'a, M, P> {
    session_setter!();
    read_command_setters!(options);

    /// Which document is first when several match.
    pub fn sort(mut self, sort: Sort<M>) -> Self {
        self.sort = Some(sort);
        self
    }

    /// Reads only the fields of `Q`, a projection of the model
    /// (`#[derive(Projection)]`), and returns a `Q`.
    pub fn project<Q: Projection<M>>(self) -> FindOne<'a, M, Q> {
        let FindOne { repo, query, sort, options, session, .. } = self;
        FindOne { repo, query, sort, options, session, _read: PhantomData }
    }

    async fn run(self) -> Result<Option<P>> {
        let filter = self.query.into_document()?;
        let coll = self.repo.collection().await?.clone_with_type::<P>();
        let mut options = FindOneOptions::default();
        options.sort = self.sort.map(Sort::into_document);
        options.projection = P::projection();
        let options =
            self.repo.options_with(self.options, self.session.is_some()).find_one(options);
        let found =
            in_session!(self.repo, coll, self.session, coll.find_one(filter).with_options(options));
        found.map_err(Repo::<M>::error)
    }
}

into_future!(FindOne<P>, Option<P>, "find_one");

/// `repo.find_many(query)`: the matching documents, in a `Vec`; with
/// [`project`](FindMany::project), only the fields of a projection.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct FindMany<'a, M: Model, P = M> {
    repo: &'a Repo<M>,
    query: Query<M>,
    window: Window<M>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _read: PhantomData<fn() -> P>,
}

impl<'a, M: Model, P: Projection<M>> FindMany<'a, M, P> {
    session_setter!();
    read_command_setters!(options);
    window_setters!();

    /// Reads only the fields of `Q`, a projection of the model
    /// (`#[derive(Projection)]`), and returns `Q`s.
    pub fn project<Q: Projection<M>>(self) -> FindMany<'a, M, Q> {
        let FindMany { repo, query, window, options, session, .. } = self;
        FindMany { repo, query, window, options, session, _read: PhantomData }
    }

    async fn run(self) -> Result<Vec<P>> {
        let options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find(self.window.options()?);
        let filter = self.query.into_document()?;
        collect(self.repo, filter, options, self.session).await
    }
}

into_future!(FindMany<P>, Vec<P>, "find_many");

/// `repo.find_many_to_map_by(f, query)`: the matching documents in a map
/// keyed by `f(&doc)`; a later document replaces an earlier one with the
/// same map key.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct FindManyToMapBy<'a, M: Model, K, F> {
    find: FindMany<'a, M>,
    by: F,
    _key: std::marker::PhantomData<fn() -> K>,
}

impl<'a, M, K, F> FindManyToMapBy<'a, M, K, F>
where
    M: Model,
    K: Eq + Hash + Send + 'a,
    F: Fn(&M) -> K + Send + 'a,
{
    /// Runs the read in `session`.
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.find = self.find.session(session);
        self
    }

    /// Orders the reads (later documents win on equal map keys).
    pub fn sort(mut self, sort: Sort<M>) -> Self {
        self.find = self.find.sort(sort);
        self
    }

    /// Skips the first `offset` matching documents, in the sort's order.
    pub fn offset(mut self, offset: u64) -> Self {
        self.find = self.find.offset(offset);
        self
    }

    /// Reads at most `limit` documents (checked as for `find_many`).
    pub fn limit(mut self, limit: u64) -> Self {
        self.find = self.find.limit(limit);
        self
    }

    read_command_setters!(find.options);
}

impl<'a, M, K, F> IntoFuture for FindManyToMapBy<'a, M, K, F>
where
    M: Model,
    K: Eq + Hash + Send + 'a,
    F: Fn(&M) -> K + Send + 'a,
{
    type Output = Result<HashMap<K, M>>;
    type IntoFuture = BoxFuture<'a, Result<HashMap<K, M>>>;

    fn into_future(self) -> Self::IntoFuture {
        let span = tracing::debug_span!(
            "model",
            db.system.name = "mongodb",
            db.collection.name = M::COLLECTION,
            db.operation.name = "find_many_to_map_by"
        );
        let timeout = self.find.repo.connection().timeout();
        Box::pin(
            bounded(timeout, M::COLLECTION, async move {
                let docs = self.find.run().await?;
                Ok(docs.into_iter().map(|doc| ((self.by)(&doc), doc)).collect())
            })
            .instrument(span),
        )
    }
}

/// How many documents [`Iterate`] fetches per round trip unless told: a
/// batch of 1.5 KiB documents holds about 0.7 MiB.
pub const ITERATE_BATCH_SIZE: u32 = 500;

/// `repo.iterate(query)`: the matching documents as a lazy stream, fetched
/// in batches of [`ITERATE_BATCH_SIZE`] (or [`batch_size`](Iterate::batch_size)),
/// so what the stream holds is about one batch however many match.
///
/// # Cancel safety
///
/// Dropping the future, or the stream between items, closes the cursor:
/// nothing changes, and nothing is lost but what was not read.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Iterate<'a, M: Model, P = M> {
    repo: &'a Repo<M>,
    query: Query<M>,
    window: Window<M>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _read: PhantomData<fn() -> P>,
}

impl<'a, M: Model, P: Projection<M>> Iterate<'a, M, P> {
    session_setter!();
    read_command_setters!(options);
    window_setters!();

    /// Fetches at most `batch_size` documents per round trip (default
    /// [`ITERATE_BATCH_SIZE`]), which bounds the memory the stream holds:
    /// about one batch of documents, as BSON, plus the one being decoded.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.window.batch_size = Some(batch_size);
        self
    }

    /// Reads only the fields of `Q`, a projection of the model
    /// (`#[derive(Projection)]`), and streams `Q`s.
    pub fn project<Q: Projection<M>>(self) -> Iterate<'a, M, Q> {
        let Iterate { repo, query, window, options, session, .. } = self;
        Iterate { repo, query, window, options, session, _read: PhantomData }
    }

    async fn run(mut self) -> Result<BoxStream<'a, Result<P>>> {
        self.window.batch_size.get_or_insert(ITERATE_BATCH_SIZE);
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find(self.window.options()?);
        options.projection = P::projection();
        let filter = self.query.into_document()?;
        let coll = self.repo.collection().await?.clone_with_type::<P>();
        match self.session {
            Some(session) => {
                let found = coll.find(filter).with_options(options);
                let cursor = found.session(&mut *session).await.map_err(Repo::<M>::error)?;
                Ok(session_stream::<M, P>(cursor, session))
            }
            None => {
                let open = async move { coll.find(filter).with_options(options).await };
                let cursor =
                    detached(self.repo.connection(), open).await.map_err(Repo::<M>::error)?;
                Ok(cursor.map_err(Repo::<M>::error).boxed())
            }
        }
    }
}

into_future!(Iterate<P>, BoxStream<'a, Result<P>>, "iterate");

/// A cursor in `session` as a stream that borrows the session.
pub(crate) fn session_stream<'a, M: Model, T>(
    cursor: mongodb::SessionCursor<T>,
    session: &'a mut ClientSession,
) -> BoxStream<'a, Result<T>>
where
    T: serde::de::DeserializeOwned + Send + Sync + Unpin + 'a,
{
    futures::stream::unfold((cursor, session), |(mut cursor, session)| async move {
        let next = cursor.next(session).await?;
        Some((next.map_err(Repo::<M>::error), (cursor, session)))
    })
    .boxed()
}

/// `repo.paginate(query)`: one page of matching documents and where it
/// sits; with [`project`](Paginate::project), only the fields of a projection.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Paginate<'a, M: Model, P = M> {
    repo: &'a Repo<M>,
    query: Query<M>,
    window: Window<M>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _read: PhantomData<fn() -> P>,
}

impl<'a, M: Model, P: Projection<M>> Paginate<'a, M, P> {
    session_setter!();
    read_command_setters!(options);
    window_setters!();

    /// Reads only the fields of `Q`, a projection of the model
    /// (`#[derive(Projection)]`), into the page.
    pub fn project<Q: Projection<M>>(self) -> Paginate<'a, M, Q> {
        let Paginate { repo, query, window, options, session, .. } = self;
        Paginate { repo, query, window, options, session, _read: PhantomData }
    }

    async fn run(mut self) -> Result<(Page, Vec<P>)> {
        let limit = self.window.limit.unwrap_or(MAX_PAGE_LIMIT);
        if limit == 0 {
            return Err(Error::invalid(format!("page limit must be 1..={MAX_PAGE_LIMIT}, got 0")));
        }
        let limit = limit.min(MAX_PAGE_LIMIT);
        self.window.limit = Some(limit);
        let shared = self.repo.options_with(self.options, self.session.is_some());
        let options = shared.clone().find(self.window.options()?);
        let filter = self.query.into_document()?;
        let coll = self.repo.collection().await?;
        let (counted, count_options) = (filter.clone(), shared.count(Default::default()));
        let count = in_session!(
            self.repo,
            coll,
            self.session.as_deref_mut(),
            coll.count_documents(counted).with_options(count_options)
        )
        .map_err(Repo::<M>::error)?;
        let page = Page { sort: options.sort.clone(), offset: self.window.offset, limit, count };
        let docs = if self.window.offset >= count {
            Vec::new()
        } else {
            collect(self.repo, filter, options, self.session).await?
        };
        Ok((page, docs))
    }
}

into_future!(Paginate<P>, (Page, Vec<P>), "paginate");

/// `repo.count(query)`: how many documents match.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Count<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> Count<'a, M> {
    session_setter!();
    read_command_setters!(options);

    async fn run(self) -> Result<u64> {
        let filter = self.query.into_document()?;
        let coll = self.repo.collection().await?;
        let options =
            self.repo.options_with(self.options, self.session.is_some()).count(Default::default());
        in_session!(
            self.repo,
            coll,
            self.session,
            coll.count_documents(filter).with_options(options)
        )
        .map_err(Repo::<M>::error)
    }
}

into_future!(Count, u64, "count");

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
        let coll = self.repo.stored_collection().await?;
        let doc = Stored(doc);
        let options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .insert_one(Default::default());
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
                detached(self.repo.connection(), insert).await.map_err(Repo::<M>::error)?
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
                detached(self.repo.connection(), insert).await
            }
        }
        .map_err(Repo::<M>::error)?;
        Ok(docs.into_iter().map(|doc| doc.0).collect())
    }
}

into_future!(InsertMany, Vec<M>, "insert_many");

/// `repo.update_one(&key, update)`: the document after the update, in one
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
            crate::version::require::<M>(&mut filter, expected)?;
            crate::version::next::<M>(expected)?;
        } else {
            filter = crate::version::below_maximum::<M>(filter);
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
                Err(crate::version::missed(self.repo, self.key, expected, self.session).await)
            }
            (None, None) if M::VERSION.is_some() => {
                // Not matched: at the version's maximum, or gone.
                Err(crate::version::at_maximum_or_missing(self.repo, self.key, self.session).await)
            }
            (None, None) => Err(Repo::<M>::not_found()),
        }
    }
}

into_future!(UpdateOne, M, "update_one", key);

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
        let filter = crate::version::below_maximum::<M>(self.query.into_document()?);
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

/// `repo.delete_one(&key)`: `()`, or [`Error::NotFound`].
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
        let options =
            self.repo.options_with(self.options, self.session.is_some()).delete(Default::default());
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

into_future!(DeleteOne, (), "delete_one", key);

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
        let options =
            self.repo.options_with(self.options, self.session.is_some()).delete(Default::default());
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

impl<M: Model> Repo<M> {
    /// The document with `key`, or [`Error::NotFound`].
    pub fn find<'a>(&'a self, key: &'a M::Key) -> Find<'a, M> {
        Find { repo: self, key, options: Options::default(), session: None }
    }

    /// The first document matching `query`, if any.
    pub fn find_one(&self, query: Query<M>) -> FindOne<'_, M> {
        FindOne {
            repo: self,
            query,
            sort: None,
            options: Options::default(),
            session: None,
            _read: PhantomData,
        }
    }

    /// The documents matching `query`; set `.sort`, `.offset`, `.limit`.
    pub fn find_many(&self, query: Query<M>) -> FindMany<'_, M> {
        FindMany {
            repo: self,
            query,
            window: Window::default(),
            options: Options::default(),
            session: None,
            _read: PhantomData,
        }
    }

    /// The documents matching `query`, in a map keyed by `by(&doc)`.
    pub fn find_many_to_map_by<'a, K, F>(
        &'a self,
        by: F,
        query: Query<M>,
    ) -> FindManyToMapBy<'a, M, K, F>
    where
        K: Eq + Hash + Send + 'a,
        F: Fn(&M) -> K + Send + 'a,
    {
        FindManyToMapBy { find: self.find_many(query), by, _key: std::marker::PhantomData }
    }

    /// The documents matching `query` as a lazy [`Stream`](futures::Stream).
    pub fn iterate(&self, query: Query<M>) -> Iterate<'_, M> {
        Iterate {
            repo: self,
            query,
            window: Window::default(),
            options: Options::default(),
            session: None,
            _read: PhantomData,
        }
    }

    /// One page of the documents matching `query` (limit 1000 by default
    /// and at most), with the total count.
    pub fn paginate(&self, query: Query<M>) -> Paginate<'_, M> {
        Paginate {
            repo: self,
            query,
            window: Window::default(),
            options: Options::default(),
            session: None,
            _read: PhantomData,
        }
    }

    /// How many documents match `query`.
    pub fn count(&self, query: Query<M>) -> Count<'_, M> {
        Count { repo: self, query, options: Options::default(), session: None }
    }

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
    pub fn update_one<'a>(
        &'a self,
        key: &'a M::Key,
        update: impl Into<Update<M>>,
    ) -> UpdateOne<'a, M> {
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
    pub fn delete_one<'a>(&'a self, key: &'a M::Key) -> DeleteOne<'a, M> {
        DeleteOne { repo: self, key, options: Options::default(), session: None }
    }

    /// Deletes every document matching `query`; returns how many.
    pub fn delete_many(&self, query: Query<M>) -> DeleteMany<'_, M> {
        DeleteMany { repo: self, query, options: Options::default(), session: None }
    }
}
