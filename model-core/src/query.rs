//! Typed filters.

use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, Document, doc};

use crate::error::{Error, Result};

/// A value that could not be encoded, with the path it was meant for:
/// kept by a query or an update and reported when the operation runs.
pub(crate) type Invalid = (&'static str, Arc<bson::ser::Error>);

impl Error {
    pub(crate) fn from_invalid((field, source): Invalid) -> Self {
        Error::InvalidValue { field: field.to_string(), source }
    }
}

/// A filter on documents of model `M`, built from its fields
/// (`Foo::FOO.eq("a").and(Foo::BAR.gte(2))`) and turned into a BSON filter
/// when the operation runs.
///
/// A value that cannot be stored as BSON is remembered and reported by the
/// operation as [`Error::InvalidValue`], with nothing sent.
pub struct Query<M> {
    filter: Filter,
    error: Option<Invalid>,
    _model: PhantomData<fn() -> M>,
}

/// A filter while it is built.
#[derive(Clone)]
enum Filter {
    /// One condition, not yet in a document: `and` then builds the one
    /// document a `doc!` would, instead of merging a document per condition.
    One(&'static str, Bson),
    /// Anything else.
    Doc(Document),
}

impl Filter {
    fn contains(&self, field: &str) -> bool {
        match self {
            Filter::One(name, _) => *name == field,
            Filter::Doc(doc) => doc.contains_key(field),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Filter::Doc(doc) if doc.is_empty())
    }

    fn to_document(&self) -> Document {
        match self {
            Filter::One(field, value) => {
                let mut doc = Document::new();
                doc.insert(*field, value.clone());
                doc
            }
            Filter::Doc(doc) => doc.clone(),
        }
    }

    /// The filter as a document, made one in place if it was one condition.
    fn as_document(&mut self) -> &mut Document {
        if let Filter::One(field, value) = self {
            let mut doc = Document::new();
            doc.insert(*field, std::mem::replace(value, Bson::Null));
            *self = Filter::Doc(doc);
        }
        match self {
            Filter::Doc(doc) => doc,
            Filter::One(..) => unreachable!("made a document above"),
        }
    }

    fn into_document(self) -> Document {
        match self {
            Filter::One(field, value) => {
                let mut doc = Document::new();
                doc.insert(field, value);
                doc
            }
            Filter::Doc(doc) => doc,
        }
    }
}

/// `{ $and: [this, other] }`.
fn both(this: Document, other: Document) -> Filter {
    Filter::Doc(bson::doc! { "$and": [Bson::Document(this), Bson::Document(other)] })
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        Query { filter: self.filter.clone(), error: self.error.clone(), _model: PhantomData }
    }
}

impl<M> std::fmt::Debug for Query<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("filter", &self.filter.to_document())
            .field("error", &self.error.as_ref().map(|(field, _)| field))
            .finish()
    }
}

impl<M> Default for Query<M> {
    fn default() -> Self {
        Self::all()
    }
}

impl<M> Query<M> {
    /// Every document.
    pub fn all() -> Self {
        Self::from_document(Document::new())
    }

    /// A filter written by hand, for what the typed fields cannot say.
    /// Nothing checks its field names or value types.
    pub fn raw(filter: Document) -> Self {
        Self::from_document(filter)
    }

    fn from_document(filter: Document) -> Self {
        Query { filter: Filter::Doc(filter), error: None, _model: PhantomData }
    }

    pub(crate) fn condition(field: &'static str, value: Result<Bson, bson::ser::Error>) -> Self {
        match value {
            Ok(value) => {
                Query { filter: Filter::One(field, value), error: None, _model: PhantomData }
            }
            Err(error) => Self::invalid((field, Arc::new(error))),
        }
    }

    /// Documents whose `field` equals `value`, compared as a value
    /// ([`literal`]).
    pub(crate) fn equal(field: &'static str, value: Result<Bson, bson::ser::Error>) -> Self {
        let value = match value {
            Ok(value) if is_compound(&value) => literal(value),
            // Moved once, into the query.
            Ok(value) => value,
            Err(error) => return Self::invalid((field, Arc::new(error))),
        };
        Query { filter: Filter::One(field, value), error: None, _model: PhantomData }
    }

    /// A query that fails with `invalid` when it runs.
    pub(crate) fn invalid(invalid: Invalid) -> Self {
        Query { filter: Filter::Doc(Document::new()), error: Some(invalid), _model: PhantomData }
    }

    /// The filter document, or the value that could not be encoded.
    pub(crate) fn into_filter(self) -> Result<Document, Invalid> {
        match self.error {
            Some(invalid) => Err(invalid),
            None => Ok(self.filter.into_document()),
        }
    }

    /// Documents matching both `self` and `other`.
    ///
    /// Conditions on different fields merge into one filter document; where
    /// both sides constrain the same field they are joined with `$and`.
    pub fn and(mut self, other: Query<M>) -> Self {
        // Taken apart and changed in place: a query is moved whole only
        // in and out of this call (the moves of a `match` on both filters
        // cost more than the document they build).
        let Query { filter: other, error, .. } = other;
        if self.error.is_none() {
            self.error = error;
        }
        if self.filter.is_empty() {
            self.filter = other;
            return self;
        }
        match other {
            // One more condition: inserted, and only if the field was
            // there already (`insert` says so) put back and joined with
            // `$and`, so the common case looks the field up once.
            Filter::One(field, value) => {
                let doc = self.filter.as_document();
                if let Some(earlier) = doc.insert(field, value) {
                    let later = doc.insert(field, earlier).expect("inserted above");
                    let this = std::mem::take(doc);
                    self.filter = both(this, Filter::One(field, later).into_document());
                }
            }
            Filter::Doc(other) if other.is_empty() => {}
            Filter::Doc(other) => {
                if other.keys().any(|k| self.filter.contains(k)) {
                    let this = std::mem::take(self.filter.as_document());
                    self.filter = both(this, other);
                } else {
                    self.filter.as_document().extend(other);
                }
            }
        }
        self
    }

    /// Documents matching `self` or `other` (`$or`).
    pub fn or(mut self, other: Query<M>) -> Self {
        self.error = self.error.or(other.error);
        let either = vec![
            Bson::Document(self.filter.into_document()),
            Bson::Document(other.filter.into_document()),
        ];
        self.filter = Filter::Doc(bson::doc! { "$or": either });
        self
    }

    /// The filter document.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON.
    pub fn to_document(&self) -> Result<Document> {
        self.check()?;
        Ok(self.filter.to_document())
    }

    /// The filter document, without a copy.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON.
    pub fn into_document(self) -> Result<Document> {
        self.into_filter().map_err(Error::from_invalid)
    }

    fn check(&self) -> Result<()> {
        match &self.error {
            Some(invalid) => Err(Error::from_invalid(invalid.clone())),
            None => Ok(()),
        }
    }
}

/// `value` as a query compares it: documents (and regular expressions)
/// wrapped in `$eq`, so no value, whatever its content, acts as an
/// operator or a pattern; scalars as they are (`{field: value}` means the
/// same and is what a hand-written filter says).
pub(crate) fn literal(value: Bson) -> Bson {
    if is_compound(&value) { Bson::Document(doc! { "$eq": value }) } else { value }
}

/// Whether a filter would read `value` as more than a value: a document
/// (operators) or a regular expression (a pattern).
#[inline]
pub(crate) fn is_compound(value: &Bson) -> bool {
    matches!(value, Bson::Document(_) | Bson::RegularExpression(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn q(field: &'static str, value: i32) -> Query<()> {
        Query::condition(field, Ok(value.into()))
    }

    #[test]
    fn conditions_merge_into_one_document_unless_a_field_repeats() {
        let merged = Query::all().and(q("a", 1)).and(q("b", 2)).and(Query::raw(doc! { "c": 3 }));
        assert_eq!(merged.to_document().unwrap(), doc! { "a": 1, "b": 2, "c": 3 });
        assert_eq!(q("a", 1).and(Query::all()).into_document().unwrap(), doc! { "a": 1 });
        assert_eq!(
            q("a", 1).and(q("b", 2)).and(q("a", 3)).into_document().unwrap(),
            doc! { "$and": [{ "a": 1, "b": 2 }, { "a": 3 }] }
        );
        assert_eq!(
            q("a", 1).or(Query::all()).into_document().unwrap(),
            doc! { "$or": [{ "a": 1 }, {}] }
        );
    }
}
