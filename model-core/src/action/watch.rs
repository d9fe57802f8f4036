//! Typed change streams: `repo.watch(query)` streams what happens to the
//! collection's documents as [`ChangeEvent`]s, resumable from any event's
//! token.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use bson::{Bson, DateTime, Document, RawDocumentBuf, doc};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use mongodb::options::{ChangeStreamOptions, FullDocumentType};
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::field::Field;
use crate::model::Model;
use crate::query::Query;
use crate::repo::Repo;
use crate::run::detached;

/// What happened to a document.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Change<M: Model> {
    /// A document was inserted.
    Insert(M),
    /// A document was updated: its key, what changed, and the whole
    /// document as it is after the update (looked up when the event is
    /// read, so possibly newer than this update) when asked for with
    /// [`Watch::full_document`] or a query.
    Update {
        /// The updated document's key.
        key: M::Key,
        /// The paths set and removed.
        fields: UpdatedFields<M>,
        /// The document after the update, when asked for and still there.
        document: Option<M>,
    },
    /// A document was replaced by this one.
    Replace(M),
    /// The document with this key was deleted.
    Delete(M::Key),
    /// The collection was dropped or renamed, or its database dropped; the
    /// stream ends after this.
    Invalidate,
}

/// A change and where it sits in the stream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChangeEvent<M: Model> {
    /// What happened.
    pub change: Change<M>,
    /// Where the stream is: [`Watch::resume_after`] it to continue after
    /// this event (it serializes, to be kept across restarts).
    pub token: ResumeToken,
    /// When the server applied the change, if it says.
    pub at: Option<DateTime>,
}

/// The paths an update set (with their new values) and removed.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatedFields<M> {
    set: Document,
    removed: Vec<String>,
    _model: PhantomData<fn() -> M>,
}

impl<M> UpdatedFields<M> {
    /// The new value of `field` if the update set it (or set a document
    /// holding it), decoded as the field's type.
    ///
    /// # Errors
    /// [`Error::Deserialize`] when the stored value does not decode as `T`.
    pub fn get<T: DeserializeOwned, A>(&self, field: Field<M, T, A>) -> Result<Option<T>> {
        let path = field.name();
        let found = match self.set.get(path) {
            Some(value) => Some(value),
            None => self.set.iter().find_map(|(set, value)| {
                let rest = path.strip_prefix(set.as_str())?.strip_prefix('.')?;
                lookup(value, rest)
            }),
        };
        found.map(|value| bson::from_bson(value.clone()).map_err(Error::from)).transpose()
    }

    /// Whether the update removed `field` (`$unset`, or `set(None)`).
    pub fn removed<T, A>(&self, field: Field<M, T, A>) -> bool {
        self.removed.iter().any(|r| r == field.name())
    }

    /// The paths set, as stored (dotted for nested ones).
    pub fn set_paths(&self) -> impl Iterator<Item = &str> {
        self.set.keys().map(String::as_str)
    }

    /// The paths removed.
    pub fn removed_paths(&self) -> impl Iterator<Item = &str> {
        self.removed.iter().map(String::as_str)
    }
}

fn lookup<'v>(value: &'v Bson, path: &str) -> Option<&'v Bson> {
    path.split('.').try_fold(value, |value, part| value.as_document()?.get(part))
}

/// `repo.watch(query)`: a change stream of the collection, opened when
/// awaited.
///
/// # Cancel safety
///
/// Dropping the future, or the stream between items, closes the cursor:
/// nothing changes, and nothing is lost but what was not read.
/// A change stream resumes from the last [`ChangeEvent::token`] read.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Watch<'a, M: Model> {
    repo: &'a Repo<M>,
    query: Query<M>,
    full_document: bool,
    resume_after: Option<ResumeToken>,
    batch_size: Option<u32>,
    max_await_time: Option<Duration>,
}

impl<'a, M: Model> Watch<'a, M> {
    /// Looks up the whole document for each update event
    /// ([`Change::Update::document`]). Always on with a query, which
    /// matches updates by the document after them.
    pub fn full_document(mut self) -> Self {
        self.full_document = true;
        self
    }

    /// Continues after the event with `token` (from [`ChangeEvent::token`]).
    pub fn resume_after(mut self, token: impl Into<Option<ResumeToken>>) -> Self {
        self.resume_after = token.into();
        self
    }

    /// Fetches at most `batch_size` events per round trip.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// The longest the server waits for a change before answering an
    /// empty batch (the stream then asks again).
    pub fn max_await_time(mut self, max_await_time: Duration) -> Self {
        self.max_await_time = Some(max_await_time);
        self
    }

    async fn run(self) -> Result<BoxStream<'static, Result<ChangeEvent<M>>>> {
        let filter = self.query.into_document()?;
        let watched = !filter.is_empty();
        let mut options = ChangeStreamOptions::default();
        if self.full_document || watched {
            options.full_document = Some(FullDocumentType::UpdateLookup);
        }
        options.resume_after = self.resume_after;
        options.batch_size = self.batch_size;
        options.max_await_time = self.max_await_time;
        let mut pipeline = Vec::new();
        if watched {
            let matching = doc! {
                "operationType": { "$in": ["insert", "update", "replace"] },
                "$and": [under("fullDocument", filter)?],
            };
            let kept = doc! { "operationType": { "$nin": ["insert", "update", "replace"] } };
            pipeline.push(doc! { "$match": { "$or": [matching, kept] } });
        }
        // Events come with their documents raw, decoded by `from_driver`,
        // so an event whose document does not decode still has its token.
        let coll = self.repo.collection().await?.clone_with_type::<RawDocumentBuf>();
        let open = async move { coll.watch().pipeline(pipeline).with_options(options).await };
        let stream =
            detached(self.repo.connection().timeout(), open).await.map_err(Repo::<M>::error)?;
        Ok(stream
            .map(|event| event.map_err(Repo::<M>::error).and_then(ChangeEvent::from_driver))
            .boxed())
    }
}

impl<'a, M: Model> IntoFuture for Watch<'a, M> {
    type Output = Result<BoxStream<'static, Result<ChangeEvent<M>>>>;
    type IntoFuture = BoxFuture<'a, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let repo = self.repo;
        repo.spanned("watch", self.run())
    }
}

impl<M: Model> ChangeEvent<M> {
    /// The typed event; [`Error::UndecodableChange`], with the event's
    /// token, when its document or key does not fit the model.
    fn from_driver(event: ChangeStreamEvent<RawDocumentBuf>) -> Result<Self> {
        let token = event.id.clone();
        Self::decode(event)
            .map_err(|source| Error::UndecodableChange { token, source: Box::new(source) })
    }

    fn decode(event: ChangeStreamEvent<RawDocumentBuf>) -> Result<Self> {
        let ChangeStreamEvent {
            id,
            operation_type,
            document_key,
            update_description,
            wall_time,
            full_document,
            ..
        } = event;
        let key = || -> Result<M::Key> {
            let key = document_key
                .as_ref()
                .and_then(|k| k.get("_id"))
                .ok_or_else(|| Error::invalid("a change event without the document's key"))?;
            Ok(bson::from_bson(key.clone())?)
        };
        let missing = || Error::invalid(format!("a {operation_type:?} event without its document"));
        let decode = |raw: RawDocumentBuf| -> Result<M> { Ok(bson::from_slice(raw.as_bytes())?) };
        let full_document = full_document.map(decode).transpose()?;
        let change = match operation_type {
            OperationType::Insert => Change::Insert(full_document.ok_or_else(missing)?),
            OperationType::Replace => Change::Replace(full_document.ok_or_else(missing)?),
            OperationType::Update => {
                let (set, removed) = update_description
                    .map(|d| (d.updated_fields, d.removed_fields))
                    .unwrap_or_default();
                Change::Update {
                    key: key()?,
                    fields: UpdatedFields { set, removed, _model: PhantomData },
                    document: full_document,
                }
            }
            OperationType::Delete => Change::Delete(key()?),
            _ => Change::Invalidate,
        };
        Ok(ChangeEvent { change, token: id, at: wall_time })
    }
}

/// `filter` with each path under `prefix` (`fullDocument.status`), through
/// `$and`, `$or` and `$nor`. Other top-level operators cannot be moved.
fn under(prefix: &str, filter: Document) -> Result<Document> {
    let mut out = Document::new();
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Bson::Array(parts) = value else {
                    return Err(Error::invalid(format!("`{key}` takes an array")));
                };
                let parts = parts
                    .into_iter()
                    .map(|part| match part {
                        Bson::Document(part) => under(prefix, part).map(Bson::Document),
                        _ => Err(Error::invalid(format!("`{key}` takes an array of documents"))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                out.insert(key, parts);
            }
            operator if operator.starts_with('$') => {
                return Err(Error::invalid(format!(
                    "a watched query cannot use the top-level `{operator}`"
                )));
            }
            _ => {
                out.insert(format!("{prefix}.{key}"), value);
            }
        }
    }
    Ok(out)
}

impl<M: Model> Repo<M> {
    /// A change stream of the collection: inserts, replacements and
    /// updates whose document (after the change) matches `query`, and
    /// every delete (a deleted document's fields are gone, so a delete
    /// cannot be matched by them: its event has the key). Needs a
    /// deployment with change streams (a replica set, or a server that
    /// has them).
    pub fn watch(&self, query: Query<M>) -> Watch<'_, M> {
        Watch {
            repo: self,
            query,
            full_document: false,
            resume_after: None,
            batch_size: None,
            max_await_time: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_filters_move_under_the_document() {
        let filter =
            doc! { "a": 1, "$or": [ { "b.c": { "$gt": 2 } }, { "$and": [ { "d": 3 } ] } ] };
        assert_eq!(
            under("fullDocument", filter).unwrap(),
            doc! { "fullDocument.a": 1, "$or": [
                { "fullDocument.b.c": { "$gt": 2 } },
                { "$and": [ { "fullDocument.d": 3 } ] },
            ] }
        );
        assert!(under("fullDocument", doc! { "$expr": { "$eq": [1, 1] } }).is_err());
    }
}
