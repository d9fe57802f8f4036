//! Typed filters.

use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, Document};

use crate::{Error, Result};

/// A filter on documents of model `M`, built from its fields
/// (`Foo::FOO.eq("a").and(Foo::BAR.gte(2))`) and turned into a BSON filter
/// when the operation runs.
///
/// A value that cannot be stored as BSON is remembered and reported by the
/// operation as [`Error::InvalidValue`], with nothing sent.
pub struct Query<M> {
    filter: Document,
    error: Option<(&'static str, Arc<bson::ser::Error>)>,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        Query {
            filter: self.filter.clone(),
            error: self.error.clone(),
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Query<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("filter", &self.filter)
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
        Query {
            filter,
            error: None,
            _model: PhantomData,
        }
    }

    pub(crate) fn condition(field: &'static str, value: Result<Bson, bson::ser::Error>) -> Self {
        match value {
            Ok(value) => {
                let mut filter = Document::new();
                filter.insert(field, value);
                Self::from_document(filter)
            }
            Err(error) => Query {
                filter: Document::new(),
                error: Some((field, Arc::new(error))),
                _model: PhantomData,
            },
        }
    }

    /// Documents matching both `self` and `other`.
    ///
    /// Conditions on different fields merge into one filter document; where
    /// both sides constrain the same field they are joined with `$and`.
    pub fn and(mut self, other: Query<M>) -> Self {
        self.error = self.error.or(other.error);
        if other.filter.keys().any(|k| self.filter.contains_key(k)) {
            let both = vec![Bson::Document(self.filter), Bson::Document(other.filter)];
            self.filter = bson::doc! { "$and": both };
        } else {
            self.filter.extend(other.filter);
        }
        self
    }

    /// Documents matching `self` or `other` (`$or`).
    pub fn or(mut self, other: Query<M>) -> Self {
        self.error = self.error.or(other.error);
        let either = vec![Bson::Document(self.filter), Bson::Document(other.filter)];
        self.filter = bson::doc! { "$or": either };
        self
    }

    /// The filter document.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON.
    pub fn to_document(&self) -> Result<Document> {
        self.check()?;
        Ok(self.filter.clone())
    }

    /// The filter document, without a copy.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON.
    pub fn into_document(self) -> Result<Document> {
        self.check()?;
        Ok(self.filter)
    }

    fn check(&self) -> Result<()> {
        match &self.error {
            Some((field, source)) => Err(Error::InvalidValue {
                field: (*field).to_string(),
                source: source.clone(),
            }),
            None => Ok(()),
        }
    }
}
