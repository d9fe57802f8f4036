//! Reads of documents: by key, the first match, every match (in a `Vec`
//! or a map), and how many match.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::hash::Hash;
use std::marker::PhantomData;

use futures::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::options::FindOneOptions;

use crate::error::Result;
use crate::model::Model;
use crate::options::Options;
use crate::project::Projection;
use crate::query::Query;
use crate::repo::{Repo, key_filter};
use crate::run::{CursorRead, Window, collect};
use crate::sort::Sort;

impl<M: Model> Repo<M> {
    /// The document with `key`, or [`Error::NotFound`](crate::Error::NotFound).
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
        FindManyToMapBy { find: self.find_many(query), by, _key: PhantomData }
    }

    /// How many documents match `query`.
    pub fn count(&self, query: Query<M>) -> Count<'_, M> {
        Count { repo: self, query, options: Options::default(), session: None }
    }
}

/// `repo.find(&key)`: the document with the key, or [`Error::NotFound`](crate::Error::NotFound).
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
        let options = self.repo.options_with(self.options, self.session.is_some());
        let options = options.set().map(|options| options.find_one(FindOneOptions::default()));
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
        let options = self.repo.options_with(self.options, self.session.is_some());
        let mut options = options.set().map(|options| options.find_one(FindOneOptions::default()));
        let (sort, projection) = (self.sort.map(Sort::into_document), P::projection());
        if sort.is_some() || projection.is_some() {
            let options = options.get_or_insert_default();
            options.sort = sort;
            options.projection = projection;
        }
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
        find_all(self.repo, filter, options, self.session).await
    }
}

/// Every document matching `filter` as `P` (the model or a projection of
/// it), in `session` or not.
pub(crate) async fn find_all<M: Model, P: Projection<M>>(
    repo: &Repo<M>,
    filter: bson::Document,
    mut options: mongodb::options::FindOptions,
    session: Option<&mut ClientSession>,
) -> Result<Vec<P>> {
    options.projection = P::projection();
    let coll = repo.collection().await?.clone_with_type::<P>();
    let read = CursorRead::Find(filter, options);
    collect(M::COLLECTION, repo.connection().timeout(), coll, read, session).await
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
    _key: PhantomData<fn() -> K>,
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
        let repo = self.find.repo;
        let run = async move {
            let docs = self.find.run().await?;
            Ok(docs.into_iter().map(|doc| ((self.by)(&doc), doc)).collect())
        };
        repo.spanned("find_many_to_map_by", run)
    }
}

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
