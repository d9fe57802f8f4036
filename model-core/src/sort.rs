//! Typed sort orders.

use std::marker::PhantomData;

use bson::Document;

/// A sort order on documents of model `M`: fields in priority order, each
/// ascending or descending (`Foo::FOO.asc().then(Foo::BAR.desc())`).
pub struct Sort<M> {
    keys: Document,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Sort<M> {
    fn clone(&self) -> Self {
        Sort {
            keys: self.keys.clone(),
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Sort<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sort").field(&self.keys).finish()
    }
}

impl<M> Sort<M> {
    pub(crate) fn by(field: &'static str, direction: i32) -> Self {
        let mut keys = Document::new();
        keys.insert(field, direction);
        Sort {
            keys,
            _model: PhantomData,
        }
    }

    /// Sort by `self`, then break ties with `next`.
    pub fn then(mut self, next: Sort<M>) -> Self {
        for (field, direction) in next.keys {
            if !self.keys.contains_key(&field) {
                self.keys.insert(field, direction);
            }
        }
        self
    }

    /// The sort document (`{ field: 1 | -1, ... }`).
    pub fn to_document(&self) -> Document {
        self.keys.clone()
    }

    /// The sort document, without a copy.
    pub fn into_document(self) -> Document {
        self.keys
    }
}
