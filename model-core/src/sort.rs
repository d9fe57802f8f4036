//! Typed sort orders.

use std::marker::PhantomData;

use bson::Document;

/// A sort order on documents of model `M`: fields in priority order, each
/// ascending or descending (`Foo::FOO.asc().then_by(Foo::BAR.desc())`).
pub struct Sort<M> {
    // The keys until the document is built: the first `INLINE` without an
    // allocation, so a typed sort costs what the `doc!` it becomes costs.
    inline: [(&'static str, i32); INLINE],
    len: usize,
    more: Vec<(&'static str, i32)>,
    _model: PhantomData<fn() -> M>,
}

/// Keys a [`Sort`] holds without allocating.
const INLINE: usize = 4;

impl<M> Clone for Sort<M> {
    fn clone(&self) -> Self {
        Sort { inline: self.inline, len: self.len, more: self.more.clone(), _model: PhantomData }
    }
}

impl<M> std::fmt::Debug for Sort<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sort").field(&self.to_document()).finish()
    }
}

impl<M> Sort<M> {
    pub(crate) fn by(field: &'static str, direction: i32) -> Self {
        Sort { inline: [(field, direction); INLINE], len: 1, more: Vec::new(), _model: PhantomData }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = (&'static str, i32)> + '_ {
        self.inline[..self.len].iter().chain(&self.more).copied()
    }

    /// The key order, ascending (`{ _id: 1 }`): the order keyset walks
    /// over every document use.
    pub fn key_order() -> Self {
        Sort::by("_id", 1)
    }

    /// Renamed [`then_by`](Sort::then_by).
    #[deprecated(since = "0.2.0", note = "renamed `then_by` (`Field::then` is a path step)")]
    #[doc(hidden)]
    pub fn then(self, next: Sort<M>) -> Self {
        self.then_by(next)
    }

    /// Sort by `self`, then break ties with `next`.
    pub fn then_by(mut self, next: Sort<M>) -> Self {
        for (field, direction) in next.keys() {
            if self.keys().any(|(f, _)| f == field) {
                continue;
            }
            if self.len < INLINE {
                self.inline[self.len] = (field, direction);
                self.len += 1;
            } else {
                self.more.push((field, direction));
            }
        }
        self
    }

    /// The sort document (`{ field: 1 | -1, ... }`).
    pub fn to_document(&self) -> Document {
        let mut keys = Document::new();
        for (field, direction) in self.keys() {
            keys.insert(field, direction);
        }
        keys
    }

    /// The sort document.
    pub fn into_document(self) -> Document {
        self.to_document()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn keys_keep_their_order_skip_repeats_and_spill_past_the_inline_ones() {
        let sort = Sort::<()>::by("a", 1)
            .then_by(Sort::by("b", -1).then_by(Sort::by("a", -1)))
            .then_by(Sort::by("c", 1).then_by(Sort::by("d", 1)))
            .then_by(Sort::by("e", -1).then_by(Sort::by("b", 1)));
        assert_eq!(sort.to_document(), doc! { "a": 1, "b": -1, "c": 1, "d": 1, "e": -1 });
        assert_eq!(sort.clone().into_document(), sort.to_document());
    }
}
