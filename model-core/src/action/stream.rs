//! Reads of many documents at a time: a lazy stream, and offset pages
//! with their total count.

use std::marker::PhantomData;

use bson::Document;
use futures::stream::BoxStream;
use mongodb::ClientSession;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::options::Options;
use crate::project::Projection;
use crate::query::Query;
use crate::repo::Repo;
use crate::run::{CursorRead, Window, stream};

use super::find::find_all;

impl<M: Model> Repo<M> {
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

    /// One page of the documents matching `query`, with the total count.
    /// The limit is 1 to [`MAX_PAGE_LIMIT`] (1000, also the default), as
    /// a [`scroll`](Repo::scroll)'s page size is: a limit outside that
    /// range is [`Error::InvalidArgument`] before anything is sent, never
    /// silently changed (clamp one from a query string yourself:
    /// `.limit(n.clamp(1, MAX_PAGE_LIMIT))`).
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
}

/// The most documents one page holds, and the default page size.
pub const MAX_PAGE_LIMIT: u64 = 1000;

/// One page of results: its documents, and where it sits in the results
/// (its sort, offset and limit, and the total number of documents
/// matching the query).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page<P> {
    /// The page's documents, in the sort's order.
    pub items: Vec<P>,
    /// The sort document used, if any.
    pub sort: Option<Document>,
    /// How many matching documents come before the page.
    pub offset: u64,
    /// The page size asked for (1 to [`MAX_PAGE_LIMIT`]).
    pub limit: u64,
    /// How many documents match the query in all.
    pub count: u64,
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
        let read = CursorRead::Find(filter, options);
        stream(M::COLLECTION, self.repo.connection().timeout(), coll, read, self.session).await
    }
}

into_future!(Iterate<P>, BoxStream<'a, Result<P>>, "iterate");

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

    async fn run(mut self) -> Result<Page<P>> {
        let limit = self.window.limit.unwrap_or(MAX_PAGE_LIMIT);
        if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
            return Err(Error::invalid(format!(
                "page limit must be 1..={MAX_PAGE_LIMIT}, got {limit}"
            )));
        }
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
        let sort = options.sort.clone();
        let items = if self.window.offset >= count {
            Vec::new()
        } else {
            find_all(self.repo, filter, options, self.session).await?
        };
        Ok(Page { items, sort, offset: self.window.offset, limit, count })
    }
}

into_future!(Paginate<P>, Page<P>, "paginate");
