//! How an operation runs, written once for every action and for the
//! layers below them (the connection, migrations): its span and timeout
//! ([`spanned`], [`bounded`]), the driver's part on its own task
//! ([`detached`], `in_session!`), a cursor read in a session or detached
//! ([`collect`], [`stream`]), and the setters and window every
//! multi-document read shares.
//!
//! Nothing here knows a repository or an action: what it needs (the
//! collection's name, the connection's timeout) it is given.

use std::fmt::Debug;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use mongodb::options::{AggregateOptions, FindOptions};
use mongodb::{ClientSession, Collection, Cursor, SessionCursor};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::sort::Sort;

/// `IntoFuture` for an action: its `run` through [`spanned`], with the
/// action's `key` field (when named) in the span. The one way from an
/// action to its future.
macro_rules! into_future {
    ($action:ident, $output:ty, $op:literal $(, $key:ident)?) => {
        impl<'a, M: $crate::model::Model> ::std::future::IntoFuture for $action<'a, M> {
            into_future!(@body $output, $op $(, $key)?);
        }
    };
    // An action generic over what it reads into (`P`: a projection).
    ($action:ident<$p:ident>, $output:ty, $op:literal $(, $key:ident)?) => {
        impl<'a, M: $crate::model::Model, $p: $crate::project::Projection<M>>
            ::std::future::IntoFuture for $action<'a, M, $p>
        {
            into_future!(@body $output, $op $(, $key)?);
        }
    };
    (@body $output:ty, $op:literal $(, $key:ident)?) => {
        type Output = $crate::error::Result<$output>;
        type IntoFuture = ::futures::future::BoxFuture<'a, $crate::error::Result<$output>>;

        fn into_future(self) -> Self::IntoFuture {
            #[allow(unused_mut, unused_assignments)]
            let mut key: Option<&dyn ::std::fmt::Debug> = None;
            $(key = Some(self.$key);)?
            let timeout = self.repo.connection().timeout();
            $crate::run::spanned(M::COLLECTION, $op, key, timeout, self.run())
        }
    };
}

/// `run`, the body of an operation on `collection`, as the boxed future
/// `.await` runs: in a `model` span naming the operation (and `key`,
/// when there is one), bounded by `timeout` ([`bounded`]). Every action's
/// future is made here.
pub(crate) fn spanned<'a, T: 'a>(
    collection: &'static str,
    op: &'static str,
    key: Option<&dyn Debug>,
    timeout: Option<Duration>,
    run: impl Future<Output = Result<T>> + Send + 'a,
) -> BoxFuture<'a, Result<T>> {
    let span = match key {
        Some(key) => tracing::debug_span!(
            "model",
            db.system.name = "mongodb",
            db.collection.name = collection,
            db.operation.name = op,
            key = ?key
        ),
        None => tracing::debug_span!(
            "model",
            db.system.name = "mongodb",
            db.collection.name = collection,
            db.operation.name = op
        ),
    };
    // Boxed on its own first, so the timeout and the span wrap a pointer:
    // `run` holds the driver's action and is kilobytes, and wrapped whole
    // it was moved twice (into the timeout's future, then into the box),
    // 8,900 instructions of `memcpy` in a `find_one` of ~145,000 (callgrind,
    // `--op-loop find_one`), against one move and an allocation now.
    let run: BoxFuture<'a, Result<T>> = Box::pin(run);
    Box::pin(bounded(timeout, collection, run).instrument(span))
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
/// `$session` when there is one; otherwise, with `$repo`'s connection's
/// timeout, through [`detached`] on an owned clone of the collection, and
/// without a timeout in place, as [`detached`] would (the action is then
/// not moved into a task's future first: 400–1,000 instructions a read,
/// callgrind, `--op-loop find_one`, `find`, `find_nested`).
macro_rules! in_session {
    ($repo:expr, $coll:ident, $session:expr, $action:expr) => {
        match ($session, $repo.connection().timeout()) {
            (Some(session), _) => $action.session(session).await,
            (None, None) => $action.await,
            (None, timeout) => {
                let $coll = $coll.clone();
                $crate::run::detached(timeout, async move { $action.await }).await
            }
        }
    };
}

/// Runs `call`, the driver's part of an operation. With a `timeout` set,
/// on its own task: when the timeout abandons the operation, the driver's
/// part still runs to its end, so the driver's pool is left as it expects
/// (a future dropped mid-checkout leaves its request queued in the pool,
/// ahead of every live one, and after a server pause with many callers
/// the pool served abandoned requests for tens of seconds). Without a
/// timeout nothing abandons it, and it runs in place.
pub(crate) async fn detached<T: Send + 'static>(
    timeout: Option<Duration>,
    call: impl Future<Output = mongodb::error::Result<T>> + Send + 'static,
) -> mongodb::error::Result<T> {
    if timeout.is_none() {
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

/// A read the server answers with a cursor.
// Made once per read and consumed at once: boxing the options would only
// add an allocation to every read.
#[allow(clippy::large_enum_variant)]
pub(crate) enum CursorRead {
    /// `find` with a filter.
    Find(bson::Document, FindOptions),
    /// `aggregate` with a pipeline.
    Aggregate(Vec<bson::Document>, AggregateOptions),
}

impl CursorRead {
    async fn open<T>(self, coll: &Collection<T>) -> mongodb::error::Result<Cursor<T>>
    where
        T: Send + Sync,
    {
        match self {
            CursorRead::Find(filter, options) => coll.find(filter).with_options(options).await,
            CursorRead::Aggregate(pipeline, options) => {
                coll.aggregate(pipeline).with_options(options).with_type::<T>().await
            }
        }
    }

    async fn open_in<T>(
        self,
        coll: &Collection<T>,
        session: &mut ClientSession,
    ) -> mongodb::error::Result<SessionCursor<T>>
    where
        T: Send + Sync,
    {
        match self {
            CursorRead::Find(filter, options) => {
                coll.find(filter).with_options(options).session(session).await
            }
            CursorRead::Aggregate(pipeline, options) => {
                let aggregate = coll.aggregate(pipeline).with_options(options);
                aggregate.with_type::<T>().session(session).await
            }
        }
    }
}

/// What a read's documents decode into.
pub(crate) trait Row: DeserializeOwned + Send + Sync + Unpin + 'static {}
impl<T: DeserializeOwned + Send + Sync + Unpin + 'static> Row for T {}

/// A cursor opened in the caller's session, or what was made of one
/// opened on the driver's own task.
// Made once per read and matched at once: boxing the cursor would only
// add an allocation to every read in a session.
#[allow(clippy::large_enum_variant)]
enum Opened<'a, T, D> {
    /// The cursor, and the session it reads in.
    InSession(SessionCursor<T>, &'a mut ClientSession),
    /// What `detached_then` made of the cursor, on the driver's task.
    Detached(D),
}

/// Runs `read` on `coll`: in `session` when there is one, returning the
/// cursor; otherwise on the driver's own task ([`detached`], with
/// `timeout`), where `detached_then` consumes the cursor. Driver errors
/// are mapped for `collection`. The one way a cursor read runs:
/// [`collect`] and [`stream`] are its two uses.
async fn open<'a, T, D, F, Then>(
    collection: &str,
    timeout: Option<Duration>,
    coll: Collection<T>,
    read: CursorRead,
    session: Option<&'a mut ClientSession>,
    detached_then: F,
) -> Result<Opened<'a, T, D>>
where
    T: Row,
    D: Send + 'static,
    F: FnOnce(Cursor<T>) -> Then + Send + 'static,
    Then: Future<Output = mongodb::error::Result<D>> + Send + 'static,
{
    let error = |error| Error::from_driver(collection, error);
    match session {
        Some(session) => {
            let cursor = read.open_in(&coll, &mut *session).await.map_err(error)?;
            Ok(Opened::InSession(cursor, session))
        }
        None => {
            let call = async move { detached_then(read.open(&coll).await?).await };
            // In place without a timeout, as `detached` would: not moved into its future.
            let opened = match timeout {
                None => call.await,
                Some(_) => detached(timeout, call).await,
            };
            Ok(Opened::Detached(opened.map_err(error)?))
        }
    }
}

/// Every document `read` answers, in a `Vec`: read in `session`, or all on
/// the driver's own task (see [`detached`]).
pub(crate) async fn collect<T: Row>(
    collection: &'static str,
    timeout: Option<Duration>,
    coll: Collection<T>,
    read: CursorRead,
    session: Option<&mut ClientSession>,
) -> Result<Vec<T>> {
    let all = |cursor: Cursor<T>| cursor.try_collect();
    match open(collection, timeout, coll, read, session, all).await? {
        Opened::InSession(mut cursor, session) => {
            let all = cursor.stream(session).try_collect().await;
            all.map_err(|error| Error::from_driver(collection, error))
        }
        Opened::Detached(all) => Ok(all),
    }
}

/// The documents `read` answers, as a lazy stream (that borrows
/// `session`, when there is one); only opening the cursor runs on the
/// driver's own task.
pub(crate) async fn stream<'a, T: Row>(
    collection: &'static str,
    timeout: Option<Duration>,
    coll: Collection<T>,
    read: CursorRead,
    session: Option<&'a mut ClientSession>,
) -> Result<BoxStream<'a, Result<T>>> {
    let error = move |error| Error::from_driver(collection, error);
    let keep = |cursor| async move { Ok(cursor) };
    Ok(match open(collection, timeout, coll, read, session, keep).await? {
        Opened::InSession(cursor, session) => {
            futures::stream::unfold((cursor, session), move |(mut cursor, session)| async move {
                let next = cursor.next(session).await?;
                Some((next.map_err(error), (cursor, session)))
            })
            .boxed()
        }
        Opened::Detached(cursor) => cursor.map_err(error).boxed(),
    })
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
        pub fn sort(mut self, sort: $crate::sort::Sort<M>) -> Self {
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
pub(crate) struct Window<M> {
    pub(crate) sort: Option<Sort<M>>,
    pub(crate) offset: u64,
    pub(crate) limit: Option<u64>,
    pub(crate) batch_size: Option<u32>,
}

impl<M> Default for Window<M> {
    fn default() -> Self {
        Window { sort: None, offset: 0, limit: None, batch_size: None }
    }
}

impl<M> Window<M> {
    /// The window as the driver's find options, or
    /// [`Error::InvalidArgument`] for a bound the server would refuse.
    pub(crate) fn options(&self) -> Result<FindOptions> {
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
