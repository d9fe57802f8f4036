//! Reads that compute: the distinct values of a field, counts per value,
//! and aggregation pipelines that start from a typed query and sort.

use std::future::IntoFuture;
use std::marker::PhantomData;

use bson::{Bson, Document, doc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use mongodb::ClientSession;
use mongodb::options::AggregateOptions;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::field::{Field, ReadAccess};
use crate::model::Model;
use crate::options::Options;
use crate::query::Query;
use crate::repo::Repo;
use crate::run::{CursorRead, collect, stream};
use crate::schema::FieldType;
use crate::sort::Sort;

/// Refuses, at compile time, a per-value read on an array field: the
/// server would answer with its elements, not arrays.
const fn scalar<T: FieldType>() {
    assert!(
        !T::ARRAY,
        "this reads values, and the server answers for an array field with its elements: use `field.elements()` for the element type"
    );
}

/// `repo.distinct(field, query)`: the distinct values of `field` among the
/// documents matching `query`, in the server's order.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Distinct<'a, M: Model, T> {
    repo: &'a Repo<M>,
    field: &'static str,
    query: Query<M>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _value: PhantomData<fn() -> T>,
}

impl<'a, M: Model, T: DeserializeOwned + Send + 'static> Distinct<'a, M, T> {
    session_setter!();
    read_command_setters!(options);

    async fn run(self) -> Result<Vec<T>> {
        let filter = self.query.into_document()?;
        let coll = self.repo.collection().await?;
        let options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .distinct(Default::default());
        let field = self.field;
        let values = in_session!(
            self.repo,
            coll,
            self.session,
            coll.distinct(field, filter).with_options(options)
        )
        .map_err(Repo::<M>::error)?;
        values.into_iter().map(|value| bson::from_bson(value).map_err(Error::from)).collect()
    }
}

impl<'a, M: Model, T: DeserializeOwned + Send + 'static> IntoFuture for Distinct<'a, M, T> {
    type Output = Result<Vec<T>>;
    type IntoFuture = BoxFuture<'a, Result<Vec<T>>>;

    fn into_future(self) -> Self::IntoFuture {
        let repo = self.repo;
        repo.spanned("distinct", self.run())
    }
}

/// `repo.count_by(field, query)`: how many of the documents matching
/// `query` hold each value of `field`, by value ascending. A document
/// without the field counts under `None` (for an `Option` field); for
/// [`elements`](Field::elements) of an array, each element counts once
/// per document holding it.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct CountBy<'a, M: Model, T> {
    aggregate: Aggregate<'a, M, Counted<T>>,
}

/// One group of a [`CountBy`].
#[derive(serde::Deserialize)]
struct Counted<T> {
    #[serde(rename = "_id")]
    value: T,
    n: i64,
}

impl<'a, M: Model, T: FieldType + DeserializeOwned + Send + Sync + Unpin + 'static>
    CountBy<'a, M, T>
{
    /// Runs the count in `session`.
    pub fn session(mut self, session: &'a mut ClientSession) -> Self {
        self.aggregate = self.aggregate.session(session);
        self
    }

    read_command_setters!(aggregate.options);
}

impl<'a, M: Model, T: FieldType + DeserializeOwned + Send + Sync + Unpin + 'static> IntoFuture
    for CountBy<'a, M, T>
{
    type Output = Result<Vec<(T, u64)>>;
    type IntoFuture = BoxFuture<'a, Result<Vec<(T, u64)>>>;

    fn into_future(self) -> Self::IntoFuture {
        let repo = self.aggregate.repo;
        repo.spanned("count_by", async move {
            let groups = self.aggregate.run().await?;
            Ok(groups.into_iter().map(|g| (g.value, u64::try_from(g.n).unwrap_or(0))).collect())
        })
    }
}

/// The stages that write: refused at any depth of a repository's pipeline.
const WRITING_STAGES: [&str; 2] = ["$out", "$merge"];

/// How deep a stage may nest documents and arrays: far past any real
/// pipeline, and a bound on the walk below for one built from input.
const MAX_STAGE_DEPTH: usize = 100;

/// Refuses `stage` if a writing stage (`$out`, `$merge`) appears anywhere
/// in it: at its top, or nested in a `$facet` branch, a `$lookup` or
/// `$unionWith` pipeline, or any other sub-pipeline the server runs. A key
/// of that name is refused wherever it stands (inside a `$literal` too):
/// the walk does not need to know which operators run a pipeline, so a
/// stage added to a future server cannot carry a write past it. The walk
/// uses a stack of its own, so a stage nested without bound (built from
/// input) is refused, never a stack overflow.
fn refuse_writing_stages(stage: &Document) -> Result<()> {
    let mut stack: Vec<(&Bson, usize)> = stage.values().map(|v| (v, 1)).collect();
    if let Some(key) = stage.keys().find(|k| WRITING_STAGES.contains(&k.as_str())) {
        return Err(writing_stage(key));
    }
    while let Some((value, depth)) = stack.pop() {
        if depth > MAX_STAGE_DEPTH {
            return Err(Error::invalid(format!(
                "an aggregation stage nests deeper than {MAX_STAGE_DEPTH} levels"
            )));
        }
        match value {
            Bson::Document(inner) => {
                if let Some(key) = inner.keys().find(|k| WRITING_STAGES.contains(&k.as_str())) {
                    return Err(writing_stage(key));
                }
                stack.extend(inner.values().map(|v| (v, depth + 1)));
            }
            Bson::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

fn writing_stage(key: &str) -> Error {
    Error::invalid(format!(
        "an aggregation through the repository reads: `{key}` is refused at any depth of the pipeline"
    ))
}

/// `repo.aggregate(query)`: an aggregation pipeline that starts with the
/// typed `query` (`$match`), then the typed [`sort`](Aggregate::sort) and
/// [`limit`](Aggregate::limit), then the [`stage`](Aggregate::stage)s
/// given, and decodes each result into `O` ([`with_type`](Aggregate::with_type); a
/// `Document` unless told). Awaited, a `Vec`; [`stream`](Aggregate::stream)
/// for a lazy stream.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing. A
/// stage that would write (`$out`, `$merge`, at any depth) is refused
/// before anything is sent. See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Aggregate<'a, M: Model, O = Document> {
    repo: &'a Repo<M>,
    query: Query<M>,
    sort: Option<Sort<M>>,
    limit: Option<u64>,
    stages: Vec<Document>,
    batch_size: Option<u32>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _out: PhantomData<fn() -> O>,
}

impl<'a, M: Model, O: DeserializeOwned + Send + Sync + Unpin + 'static> Aggregate<'a, M, O> {
    session_setter!();
    read_command_setters!(options);

    /// Orders the matching documents before the further stages.
    pub fn sort(mut self, sort: Sort<M>) -> Self {
        self.sort = Some(sort);
        self
    }

    /// Keeps the first `limit` documents (after the sort) for the further stages.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Adds a stage (`doc! { "$group": .. }`) after the query, sort, limit
    /// and the stages added before. A stage that writes (`$out`, `$merge`),
    /// at its top or nested in a sub-pipeline (`$facet`, `$lookup`,
    /// `$unionWith`, ...), is refused when the aggregation runs: this is
    /// a read.
    pub fn stage(mut self, stage: Document) -> Self {
        self.stages.push(stage);
        self
    }

    /// Adds several stages, in order.
    pub fn stages(mut self, stages: impl IntoIterator<Item = Document>) -> Self {
        self.stages.extend(stages);
        self
    }

    /// Fetches at most `batch_size` results per round trip.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// Decodes each result into `P` instead (the driver's `with_type`).
    pub fn with_type<P: DeserializeOwned + Send + Sync + Unpin + 'static>(
        self,
    ) -> Aggregate<'a, M, P> {
        let Aggregate { repo, query, sort, limit, stages, batch_size, options, session, .. } = self;
        Aggregate {
            repo,
            query,
            sort,
            limit,
            stages,
            batch_size,
            options,
            session,
            _out: PhantomData,
        }
    }

    /// The results as a lazy stream instead of a `Vec`.
    pub fn stream(self) -> AggregateStream<'a, M, O> {
        AggregateStream { aggregate: self }
    }

    /// The pipeline this sends.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a query that cannot be encoded, a
    /// zero or too large limit, or a writing stage.
    pub fn pipeline(&self) -> Result<Vec<Document>> {
        self.pipeline_with(self.stages.iter().cloned())
    }

    /// [`pipeline`](Self::pipeline), moving the added stages out instead
    /// of copying them.
    fn take_pipeline(&mut self) -> Result<Vec<Document>> {
        let stages = std::mem::take(&mut self.stages);
        self.pipeline_with(stages)
    }

    /// The query, sort and limit stages, then `stages`.
    fn pipeline_with(&self, stages: impl IntoIterator<Item = Document>) -> Result<Vec<Document>> {
        let mut pipeline = vec![doc! { "$match": self.query.to_document()? }];
        if let Some(sort) = &self.sort {
            pipeline.push(doc! { "$sort": sort.to_document() });
        }
        if let Some(limit) = self.limit {
            let limit = i64::try_from(limit).ok().filter(|l| *l > 0).ok_or_else(|| {
                Error::invalid(format!("limit must be 1..=i64::MAX, got {limit}"))
            })?;
            pipeline.push(doc! { "$limit": limit });
        }
        for stage in stages {
            refuse_writing_stages(&stage)?;
            pipeline.push(stage);
        }
        Ok(pipeline)
    }

    fn driver_options(&mut self) -> Result<AggregateOptions> {
        let mut options = AggregateOptions::default();
        if let Some(batch_size) = self.batch_size {
            if batch_size == 0 {
                return Err(Error::invalid("batch size must be at least 1"));
            }
            options.batch_size = Some(batch_size);
        }
        Ok(self
            .repo
            .options_with(std::mem::take(&mut self.options), self.session.is_some())
            .aggregate(options))
    }

    /// The pipeline as a cursor read, with the collection typed for `O`.
    async fn cursor_read(&mut self) -> Result<(mongodb::Collection<O>, CursorRead)> {
        let pipeline = self.take_pipeline()?;
        let options = self.driver_options()?;
        let coll = self.repo.collection().await?.clone_with_type::<O>();
        Ok((coll, CursorRead::Aggregate(pipeline, options)))
    }

    async fn run(mut self) -> Result<Vec<O>> {
        let (coll, read) = self.cursor_read().await?;
        let timeout = self.repo.connection().timeout();
        collect(M::COLLECTION, timeout, coll, read, self.session).await
    }
}

impl<'a, M: Model, O: DeserializeOwned + Send + Sync + Unpin + 'static> IntoFuture
    for Aggregate<'a, M, O>
{
    type Output = Result<Vec<O>>;
    type IntoFuture = BoxFuture<'a, Result<Vec<O>>>;

    fn into_future(self) -> Self::IntoFuture {
        let repo = self.repo;
        repo.spanned("aggregate", self.run())
    }
}

/// [`Aggregate::stream`]: the results of a pipeline as a lazy stream.
///
/// # Cancel safety
///
/// Dropping the future, or the stream between items, closes the cursor:
/// nothing changes, and nothing is lost but what was not read.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct AggregateStream<'a, M: Model, O> {
    aggregate: Aggregate<'a, M, O>,
}

impl<'a, M: Model, O: DeserializeOwned + Send + Sync + Unpin + 'static> IntoFuture
    for AggregateStream<'a, M, O>
{
    type Output = Result<BoxStream<'a, Result<O>>>;
    type IntoFuture = BoxFuture<'a, Result<BoxStream<'a, Result<O>>>>;

    fn into_future(self) -> Self::IntoFuture {
        let mut aggregate = self.aggregate;
        let repo = aggregate.repo;
        let timeout = repo.connection().timeout();
        let run = async move {
            let (coll, read) = aggregate.cursor_read().await?;
            stream(M::COLLECTION, timeout, coll, read, aggregate.session).await
        };
        repo.spanned("aggregate", run)
    }
}

impl<M: Model> Repo<M> {
    /// The distinct values of `field` among the documents matching
    /// `query`. For an array field name its [`elements`](Field::elements).
    pub fn distinct<T: FieldType, A: ReadAccess>(
        &self,
        field: Field<M, T, A>,
        query: Query<M>,
    ) -> Distinct<'_, M, T> {
        const { scalar::<T>() };
        Distinct {
            repo: self,
            field: field.name(),
            query,
            options: Options::default(),
            session: None,
            _value: PhantomData,
        }
    }

    /// How many documents matching `query` hold each value of `field`, as
    /// `(value, count)` by value ascending (`$group` on the server).
    pub fn count_by<T, A: ReadAccess>(
        &self,
        field: Field<M, T, A>,
        query: Query<M>,
    ) -> CountBy<'_, M, T>
    where
        T: FieldType + DeserializeOwned + Send + Sync + Unpin + 'static,
    {
        const { scalar::<T>() };
        let path = format!("${}", field.name());
        // A scalar unwinds to itself; an array path (`elements`) to its
        // elements. Documents without the field count under `null` only
        // when `T` can hold it.
        let stages = [
            doc! { "$unwind": { "path": path.as_str(), "preserveNullAndEmptyArrays": !T::REQUIRED } },
            doc! { "$group": { "_id": path.as_str(), "n": { "$sum": 1 } } },
            doc! { "$sort": { "_id": 1 } },
        ];
        CountBy { aggregate: self.aggregate(query).stages(stages).with_type() }
    }

    /// An aggregation pipeline starting with `$match: query`; add a typed
    /// sort and limit, further stages, and the type results decode into.
    pub fn aggregate(&self, query: Query<M>) -> Aggregate<'_, M> {
        Aggregate {
            repo: self,
            query,
            sort: None,
            limit: None,
            stages: Vec::new(),
            batch_size: None,
            options: Options::default(),
            session: None,
            _out: PhantomData,
        }
    }
}
