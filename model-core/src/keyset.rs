//! Keyset pagination: pages that continue from a cursor (the sort values
//! of the last document seen) instead of skipping an offset, so the last
//! page costs what the first does and documents inserted or deleted
//! between pages never make one skip or repeat.
//!
//! The sort is the typed one, with the key added as the final tie-breaker
//! (unless a prefix of the sort is already unique: a declared unique
//! index): the order is then total, and "after this document" is a filter
//! the server answers from an index. Sort values may be `null` or absent,
//! which MongoDB orders before every other value; the filters follow that
//! order (a plain `$gt`/`$lt` would skip them).

use std::future::IntoFuture;
use std::marker::PhantomData;

use bson::{Bson, Document, RawDocumentBuf, doc};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::options::FindOptions;

use crate::actions::{MAX_PAGE_LIMIT, detached, spanned};
use crate::schema::Ordered;
use crate::{Error, Model, Options, Projection, Query, Repo, Result, Sort};

mod cursor;

use cursor::Binding;
pub use cursor::{CursorKey, MAX_CURSOR_LEN, PageCursor};

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
        let keys = sort_keys::<M>(self.sort.as_ref());
        let key = self.repo.connection().cursor_key();
        let binding = Binding { collection: M::COLLECTION, keys: &keys };
        let (forward, after) = match &self.at {
            None => (true, None),
            Some(cursor) => {
                let (forward, values) = cursor.open(key, binding)?;
                (forward, Some(values))
            }
        };
        // Backward reads run the sort reversed from the cursor, then
        // restore the order.
        let read_keys: Vec<(&str, i32)> =
            keys.iter().map(|&(f, d)| (f, if forward { d } else { -d })).collect();
        let mut filter = self.query.into_document()?;
        if let Some(values) = &after {
            let past = past(&read_keys, values);
            filter = if filter.is_empty() {
                past
            } else {
                doc! { "$and": [filter, past] }
            };
        }
        let mut options = FindOptions::default();
        options.sort = Some(sort_document(&read_keys));
        options.limit = Some(self.size as i64 + 1);
        let paths: Vec<&str> = keys.iter().map(|(f, _)| *f).collect();
        options.projection = crate::project::with_paths(P::projection(), &paths);
        let options = self.repo.options_with(self.options, self.session.is_some()).find(options);

        let coll = self.repo.collection().await?.clone_with_type::<RawDocumentBuf>();
        let mut raw: Vec<RawDocumentBuf> = match self.session {
            Some(session) => {
                let found = coll.find(filter).with_options(options);
                let mut cursor = found.session(&mut *session).await.map_err(Repo::<M>::error)?;
                cursor.stream(session).try_collect().await.map_err(Repo::<M>::error)?
            }
            None => {
                let read = async move {
                    coll.find(filter).with_options(options).await?.try_collect().await
                };
                detached(self.repo.connection(), read).await.map_err(Repo::<M>::error)?
            }
        };
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
            .map(|doc| bson::from_slice::<P>(doc.as_bytes()).map_err(Error::from))
            .collect::<Result<_>>()?;
        Ok(KeysetPage { items, next, previous })
    }
}

impl<'a, M: Model, P: Projection<M>> IntoFuture for Scroll<'a, M, P> {
    type Output = Result<KeysetPage<P>>;
    type IntoFuture = BoxFuture<'a, Result<KeysetPage<P>>>;

    fn into_future(self) -> Self::IntoFuture {
        spanned(self.repo, "scroll", self.run())
    }
}

/// The sort's keys up to the first prefix that is unique (`_id`, or the
/// keys of a declared unique index, neither sparse, partial nor collated,
/// which holds at most one document per value, `null` included), with
/// `_id` (ascending) added when no prefix is: the order is then total.
/// Stopping at a unique index keeps the sort one that index serves.
fn sort_keys<M: Model>(sort: Option<&Sort<M>>) -> Vec<(&'static str, i32)> {
    let mut keys: Vec<(&'static str, i32)> = sort.map(|s| s.keys().collect()).unwrap_or_default();
    let unique: Vec<Vec<String>> = M::indexes()
        .into_iter()
        .filter(|i| i.unique && !i.sparse && i.partial_filter.is_none() && i.collation.is_none())
        .map(|i| {
            let mut fields: Vec<String> = i.keys.keys().cloned().collect();
            fields.sort();
            fields
        })
        .collect();
    for at in 0..keys.len() {
        let mut prefix: Vec<String> = keys[..=at].iter().map(|(f, _)| f.to_string()).collect();
        prefix.sort();
        if keys[at].0 == "_id" || unique.contains(&prefix) {
            keys.truncate(at + 1);
            return keys;
        }
    }
    keys.push(("_id", 1));
    keys
}

fn sort_document(keys: &[(&str, i32)]) -> Document {
    let mut sort = Document::new();
    for (field, direction) in keys {
        sort.insert(*field, *direction);
    }
    sort
}

/// The filter for "after `values` in the order `keys`": for each key,
/// the documents equal on the keys before it and past it on this one.
///
/// `null` (or absent) sorts before every value, so ascending past `null`
/// is "not null", descending past a value includes `null`, and nothing is
/// descending past `null`.
fn past(keys: &[(&str, i32)], values: &[Bson]) -> Document {
    let mut branches = Vec::with_capacity(keys.len());
    for (i, ((field, direction), value)) in keys.iter().zip(values).enumerate() {
        let mut branch = Document::new();
        for ((before, _), equal) in keys[..i].iter().zip(values) {
            branch.insert(*before, doc! { "$eq": equal.clone() });
        }
        let is_null = matches!(value, Bson::Null);
        match (*direction > 0, is_null) {
            (true, true) => {
                branch.insert(*field, doc! { "$ne": Bson::Null });
            }
            (true, false) => {
                branch.insert(*field, doc! { "$gt": value.clone() });
            }
            (false, true) => continue,
            (false, false) => {
                branch.insert(
                    "$or",
                    vec![
                        Bson::Document(doc! { *field: { "$lt": value.clone() } }),
                        Bson::Document(doc! { *field: { "$eq": Bson::Null } }),
                    ],
                );
            }
        }
        branches.push(Bson::Document(branch));
    }
    if branches.is_empty() {
        // Nothing is past: descending from `null` on every key.
        return doc! { "_id": { "$in": [] } };
    }
    // A bound on the first key alone, implied by the branches, so that a
    // planner can scan an index on it from the cursor on instead of
    // testing every document against the `$or`.
    let bound = match (keys.first(), values.first()) {
        (Some((field, direction)), Some(value)) if !matches!(value, Bson::Null) => {
            if *direction > 0 {
                Some(doc! { *field: { "$gte": value.clone() } })
            } else {
                // Not above the value: the lower values and `null`.
                Some(doc! { *field: { "$not": { "$gt": value.clone() } } })
            }
        }
        _ => None,
    };
    match bound {
        Some(bound) => doc! { "$and": [bound, { "$or": branches }] },
        None => doc! { "$or": branches },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_orders_null_first() {
        let keys = [("a", 1), ("_id", 1)];
        assert_eq!(
            past(&keys, &[Bson::Null, 1.into()]),
            doc! { "$or": [ { "a": { "$ne": null } }, { "a": { "$eq": null }, "_id": { "$gt": 1 } } ] }
        );
        let keys = [("a", -1), ("_id", 1)];
        assert_eq!(
            past(&keys, &[3.into(), 1.into()]),
            doc! { "$and": [{ "a": { "$not": { "$gt": 3 } } }, { "$or": [
                { "$or": [ { "a": { "$lt": 3 } }, { "a": { "$eq": null } } ] },
                { "a": { "$eq": 3 }, "_id": { "$gt": 1 } },
            ] }] }
        );
        let ascending = [("a", 1), ("_id", 1)];
        assert_eq!(
            past(&ascending, &[3.into(), 1.into()]),
            doc! { "$and": [{ "a": { "$gte": 3 } }, { "$or": [
                { "a": { "$gt": 3 } },
                { "a": { "$eq": 3 }, "_id": { "$gt": 1 } },
            ] }] }
        );
        assert_eq!(
            past(&keys, &[Bson::Null, 1.into()]),
            doc! { "$or": [ { "a": { "$eq": null }, "_id": { "$gt": 1 } } ] }
        );
    }
}
