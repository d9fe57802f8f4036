//! Keyset pagination: pages that continue from a cursor (the sort values
//! of the last document seen) instead of skipping an offset, so the last
//! page costs what the first does and documents inserted or deleted
//! between pages never make one skip or repeat.
//!
//! The sort is the typed one, with the key added as the final tie-breaker
//! (the read stops sooner at a prefix of the sort that a declared unique
//! index makes unique, once that index is known to exist): the order is
//! then total, and "after this document" is a filter the server answers
//! from an index. The filters follow MongoDB's sort order across types
//! (see `past`): `null` and absent values first, NaN before the other
//! numbers, values of several types in a field each in their type's place.
//! Cursors are text from outside: see `cursor` for how they are read.

use std::future::IntoFuture;
use std::marker::PhantomData;

use bson::{Bson, Document, RawDocumentBuf, doc};
use futures::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::options::FindOptions;

use crate::connection::Connection;
use crate::cursor::{Binding, CursorKey, PageCursor};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::options::Options;
use crate::project::Projection;
use crate::query::Query;
use crate::repo::Repo;
use crate::run::{CursorRead, collect};
use crate::schema::{FieldDecl, Ordered};
use crate::sort::Sort;

use super::stream::MAX_PAGE_LIMIT;

mod past;
#[cfg(test)]
mod tests;

use past::{Class, past};

/// One keyset page: the documents, and the cursors of the pages after and
/// before it (`None` where the read found no more).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeysetPage<P> {
    /// The page's documents, in the sort's order.
    pub items: Vec<P>,
    /// Continues after the last document; `None` when none follows.
    pub next: Option<PageCursor>,
    /// Continues before the first document (back towards the start);
    /// `None` on the first page.
    pub previous: Option<PageCursor>,
}

/// The default size of a keyset page.
pub const SCROLL_SIZE: u64 = 100;

/// `repo.scroll(query)`: one keyset page of the documents matching
/// `query`, in the typed [`sort`](Scroll::sort) order with the key as the
/// tie-breaker, starting [`at`](Scroll::at) a cursor from an earlier page.
///
/// # Cancel safety
///
/// A read: dropping the future before it resolves changes nothing.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Scroll<'a, M: Model, P = M> {
    repo: &'a Repo<M>,
    query: Query<M>,
    sort: Option<Sort<M>>,
    size: u64,
    at: Option<PageCursor>,
    options: Options,
    session: Option<&'a mut ClientSession>,
    _read: PhantomData<fn() -> P>,
}

impl<'a, M: Model, P: Projection<M>> Scroll<'a, M, P> {
    session_setter!();
    read_command_setters!(options);

    /// The order of the pages (the key is added as the last tie-breaker).
    /// Without it, key order.
    pub fn sort(mut self, sort: Sort<M>) -> Self {
        self.sort = Some(sort);
        self
    }

    /// Documents per page: 1 to [`MAX_PAGE_LIMIT`], [`SCROLL_SIZE`] unless set.
    pub fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// Starts at `cursor`: a [`KeysetPage::next`] continues forward, a
    /// [`KeysetPage::previous`] backward. `None` starts at the beginning.
    pub fn at(mut self, cursor: impl Into<Option<PageCursor>>) -> Self {
        self.at = cursor.into();
        self
    }

    /// Reads only the fields of `Q`, a projection of the model (the sort
    /// fields are read too, for the cursors).
    pub fn project<Q: Projection<M>>(self) -> Scroll<'a, M, Q> {
        let Scroll { repo, query, sort, size, at, options, session, .. } = self;
        Scroll { repo, query, sort, size, at, options, session, _read: PhantomData }
    }

    async fn run(self) -> Result<KeysetPage<P>> {
        if !(1..=MAX_PAGE_LIMIT).contains(&self.size) {
            return Err(Error::invalid(format!(
                "page size must be 1..={MAX_PAGE_LIMIT}, got {}",
                self.size
            )));
        }
        let conn = self.repo.connection();
        let options = self.repo.options_with(self.options, self.session.is_some());
        // A cursor holds the values of the whole order, the key included,
        // even where a unique index lets the read stop sooner: it stays
        // valid when that index comes or goes.
        let keys = cursor_keys::<M>(self.sort.as_ref());
        let key = conn.cursor_key();
        let binding = Binding { collection: M::COLLECTION, keys: &keys };
        let (forward, after) = match &self.at {
            None => (true, None),
            Some(cursor) => {
                let (forward, values) = resume(cursor, key, binding, M::FIELDS)?;
                (forward, Some(values))
            }
        };
        let used = unique_prefix::<M>(conn, &keys, options.collation.is_some()).await?;
        // Backward reads run the sort reversed from the cursor, then
        // restore the order.
        let read_keys: Vec<(&str, i32)> =
            keys[..used].iter().map(|&(f, d)| (f, if forward { d } else { -d })).collect();
        let mut filter = self.query.into_document()?;
        if let Some(values) = &after {
            let past = past(&read_keys, &values[..used]);
            filter = if filter.is_empty() {
                past
            } else {
                doc! { "$and": [filter, past] }
            };
        }
        let mut find = FindOptions::default();
        find.sort = Some(sort_document(&read_keys));
        find.limit = Some(self.size as i64 + 1);
        let paths: Vec<&str> = keys.iter().map(|(f, _)| *f).collect();
        let (projection, added) = crate::project::with_paths(P::projection(), &paths);
        find.projection = projection;
        let options = options.find(find);

        let coll = self.repo.collection().await?.clone_with_type::<RawDocumentBuf>();
        let read = CursorRead::Find(filter, options);
        let timeout = conn.timeout();
        let mut raw = collect(M::COLLECTION, timeout, coll, read, self.session).await?;
        let more = raw.len() as u64 > self.size;
        raw.truncate(self.size as usize);
        if !forward {
            raw.reverse();
        }
        let cursor_at = |doc: &RawDocumentBuf, forward: bool| {
            let values = paths.iter().map(|path| value_at(doc, path)).collect::<Result<_>>()?;
            PageCursor::make(key, binding, forward, values)
        };
        let (first, last) = (raw.first(), raw.last());
        let (has_next, has_previous) =
            if forward { (more, after.is_some()) } else { (after.is_some(), more) };
        let next = match last {
            Some(doc) if has_next => Some(cursor_at(doc, true)?),
            _ => None,
        };
        let previous = match first {
            Some(doc) if has_previous => Some(cursor_at(doc, false)?),
            _ => None,
        };
        let items = raw
            .iter()
            .map(|doc| {
                if added.is_empty() {
                    return bson::from_slice::<P>(doc.as_bytes()).map_err(Error::from);
                }
                let doc = crate::project::without_paths(doc, &added)
                    .map_err(|e| Error::invalid(e.to_string()))?;
                bson::from_slice::<P>(doc.as_bytes()).map_err(Error::from)
            })
            .collect::<Result<_>>()?;
        Ok(KeysetPage { items, next, previous })
    }
}

impl<'a, M: Model, P: Projection<M>> IntoFuture for Scroll<'a, M, P> {
    type Output = Result<KeysetPage<P>>;
    type IntoFuture = BoxFuture<'a, Result<KeysetPage<P>>>;

    fn into_future(self) -> Self::IntoFuture {
        let repo = self.repo;
        repo.spanned("scroll", self.run())
    }
}

/// The sort's keys up to the key (`_id`), which ends every order: the
/// key is added (ascending) when the sort does not name it, so the order
/// is total.
fn cursor_keys<M: Model>(sort: Option<&Sort<M>>) -> Vec<(&'static str, i32)> {
    let mut keys: Vec<(&'static str, i32)> = sort.map(|s| s.keys().collect()).unwrap_or_default();
    match keys.iter().position(|(field, _)| *field == "_id") {
        Some(at) => keys.truncate(at + 1),
        None => keys.push(("_id", 1)),
    }
    keys
}

/// How many of `keys` the read sorts and filters on: up to the first
/// prefix that a declared unique index makes unique (neither sparse,
/// partial nor collated, so it holds at most one document per value,
/// `null` included), when that index exists in the collection (listed
/// once per connection: an index declared but never created would leave
/// ties unordered, and pages would skip them); all of them otherwise.
/// Stopping at a unique index keeps the sort one that index serves. A
/// read with a collation compares by it, which a unique index does not
/// order: it keeps every key.
async fn unique_prefix<M: Model>(
    conn: &Connection,
    keys: &[(&str, i32)],
    collated: bool,
) -> Result<usize> {
    let declared: Vec<Vec<String>> = M::indexes()
        .into_iter()
        .filter(|i| i.unique && !i.sparse && i.partial_filter.is_none() && i.collation.is_none())
        .map(|i| {
            let mut fields: Vec<String> = i.keys.keys().cloned().collect();
            fields.sort();
            fields
        })
        .collect();
    let prefix = |at: usize| {
        let mut fields: Vec<String> = keys[..=at].iter().map(|(f, _)| f.to_string()).collect();
        fields.sort();
        fields
    };
    // The last key is `_id`: a shorter prefix is worth a look only when
    // one is declared unique.
    let candidates: Vec<usize> =
        (0..keys.len() - 1).filter(|&at| declared.contains(&prefix(at))).collect();
    if candidates.is_empty() || collated {
        return Ok(keys.len());
    }
    let existing = conn.unique_indexes(M::COLLECTION).await?;
    Ok(candidates
        .into_iter()
        .find(|&at| existing.contains(&prefix(at)))
        .map_or(keys.len(), |at| at + 1))
}

fn sort_document(keys: &[(&str, i32)]) -> Document {
    let mut sort = Document::new();
    for (field, direction) in keys {
        sort.insert(*field, *direction);
    }
    sort
}

/// The direction and values of `cursor`, opened for `binding` (with
/// `key`, when the connection has one), each value of a type its field
/// can hold.
///
/// A `null` fits every field (a document may lack any field). Where the
/// model's schema (`fields`, its [`FIELDS`](Model::FIELDS)) gives the
/// field's `bsonType`, a value of another type class is refused (an `i64`
/// field takes any number, a `String` field a string); a field of no
/// known type (`bson::Bson`, a map) takes any type a cursor may hold.
fn resume(
    cursor: &PageCursor,
    key: Option<&CursorKey>,
    binding: Binding<'_>,
    fields: &[FieldDecl],
) -> Result<(bool, Vec<Bson>)> {
    let (forward, values) = cursor.open(key, binding)?;
    for ((path, _), value) in binding.keys.iter().zip(&values) {
        let class = Class::of(value);
        if class == Class::Null {
            continue;
        }
        let fits = match classes_of(fields, path) {
            _ if class == Class::Array => false,
            Some(classes) => classes.contains(&class),
            None => true,
        };
        if !fits {
            return Err(Error::invalid(format!(
                "the page cursor holds a value of type {} for `{path}`, which cannot hold one",
                class.name()
            )));
        }
    }
    Ok((forward, values))
}

/// The type classes the schema in `fields` gives the dotted `path`;
/// `None` where it gives none (or one this does not know).
fn classes_of(fields: &[FieldDecl], path: &str) -> Option<Vec<Class>> {
    let mut parts = path.split('.');
    let first = parts.next()?;
    let mut schema = fields.iter().find(|f| f.name() == first)?.schema();
    for part in parts {
        schema = schema.get_document("properties").ok()?.get_document(part).ok()?.clone();
    }
    match schema.get("bsonType")? {
        Bson::String(name) => Some(vec![Class::of_schema_type(name)?]),
        Bson::Array(names) => names
            .iter()
            .map(|name| Class::of_schema_type(name.as_str()?))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    }
}

/// The value at the dotted `path` of `doc`, `null` where it is absent.
fn value_at(doc: &RawDocumentBuf, path: &str) -> Result<Bson> {
    let mut current: &bson::RawDocument = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let value = current.get(part).map_err(|e| Error::invalid(e.to_string()))?;
        match value {
            None => return Ok(Bson::Null),
            Some(value) if parts.peek().is_none() => {
                if let bson::RawBsonRef::Array(_) = value {
                    return Err(Error::invalid(format!(
                        "keyset pages cannot sort on `{path}`: it holds an array"
                    )));
                }
                return Bson::try_from(value.to_raw_bson())
                    .map_err(|e| Error::invalid(e.to_string()));
            }
            Some(bson::RawBsonRef::Document(inner)) => current = inner,
            Some(bson::RawBsonRef::Array(_)) => {
                return Err(Error::invalid(format!(
                    "keyset pages cannot sort on `{path}`: it passes through an array"
                )));
            }
            Some(_) => return Ok(Bson::Null),
        }
    }
    Ok(Bson::Null)
}

impl<M: Model> Repo<M>
where
    M::Key: Ordered,
{
    /// One keyset page of the documents matching `query`: set `.sort`
    /// and `.size`, and continue `.at` a cursor of the page before. The
    /// key must be ordered (a `#[derive(CompositeKey)]` key derives
    /// `Ordered` for this).
    ///
    /// Every document is paged once, whatever its sort values: `null` or
    /// absent (first ascending), NaN (first among numbers), or values of
    /// different BSON types in one field (in MongoDB's order of types). A
    /// field holding an array cannot be a sort key: the page whose
    /// boundary document holds one fails with [`Error::InvalidArgument`].
    ///
    /// A cursor is checked before it is used: it must be one made for
    /// this collection and this exact sort (same keys, same directions,
    /// same order), and its values must be of types their fields hold.
    /// Without a key it reveals the sort values of its boundary document;
    /// see [`PageCursor`] and
    /// [`Connection::with_cursor_key`](crate::Connection::with_cursor_key).
    pub fn scroll(&self, query: Query<M>) -> Scroll<'_, M> {
        Scroll {
            repo: self,
            query,
            sort: None,
            size: SCROLL_SIZE,
            at: None,
            options: Options::default(),
            session: None,
            _read: PhantomData,
        }
    }
}
