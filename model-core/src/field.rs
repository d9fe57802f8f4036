//! Typed handles to a model's fields, from which queries, updates and sorts
//! are built. `#[derive(Model)]` emits one constant per field
//! (`Foo::BAR: Field<Foo, Option<i64>>`); every operation on it is defined
//! here once, and only where the field's type allows it.

use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};

use bson::{Bson, Document, doc};

use crate::query::Query;
use crate::schema::{FieldType, Numeric, Ordered};
use crate::sort::Sort;
use crate::update::Update;

/// Marks a field an update may change.
#[derive(Debug)]
pub enum Writable {}

/// Marks a field the runtime owns (`_id`, `created_at`, `updated_at`):
/// it can be queried and sorted on, not set.
#[derive(Debug)]
pub enum ReadOnly {}

/// Ties a [`Field`] to its model, value type and access without owning any.
type Marker<M, T, A> = PhantomData<fn() -> (M, T, A)>;

/// A field of model `M` whose values have type `T`, stored under
/// [`name`](Field::name).
pub struct Field<M, T, A = Writable> {
    name: &'static str,
    _marker: Marker<M, T, A>,
}

impl<M, T, A> Clone for Field<M, T, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M, T, A> Copy for Field<M, T, A> {}

impl<M, T, A> std::fmt::Debug for Field<M, T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Field").field(&self.name).finish()
    }
}

impl<M, T, A> Field<M, T, A> {
    /// A handle to the field stored as `name` (what the derive emits).
    pub const fn new(name: &'static str) -> Self {
        Field { name, _marker: PhantomData }
    }

    /// The name the field is stored under (after serde renames).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Sort ascending on this field.
    pub fn asc(self) -> Sort<M> {
        Sort::by(self.name, 1)
    }

    /// Sort descending on this field.
    pub fn desc(self) -> Sort<M> {
        Sort::by(self.name, -1)
    }

    /// Documents where the field is stored (even as `null`).
    pub fn present(self) -> Query<M> {
        Query::condition(self.name, Ok(doc! { "$exists": true }.into()))
    }

    /// Documents where the field is not stored at all.
    pub fn absent(self) -> Query<M> {
        Query::condition(self.name, Ok(doc! { "$exists": false }.into()))
    }
}

impl<M, T: FieldType, A> Field<M, T, A> {
    /// Documents whose field equals `value`.
    pub fn eq(self, value: impl Into<T>) -> Query<M> {
        Query::condition(self.name, value.into().into_bson())
    }

    /// Documents whose field differs from `value` (or is missing).
    pub fn ne(self, value: impl Into<T>) -> Query<M> {
        self.operator("$ne", value.into().into_bson())
    }

    /// Documents whose field equals one of `values` (`$in`).
    pub fn one_of<V: Into<T>>(self, values: impl IntoIterator<Item = V>) -> Query<M> {
        self.operator("$in", list(values))
    }

    /// Documents whose field equals none of `values` (`$nin`).
    pub fn none_of<V: Into<T>>(self, values: impl IntoIterator<Item = V>) -> Query<M> {
        self.operator("$nin", list(values))
    }

    fn operator(self, op: &str, value: Result<Bson, bson::ser::Error>) -> Query<M> {
        Query::condition(self.name, value.map(|v| Bson::Document(doc! { op: v })))
    }
}

fn list<T: FieldType, V: Into<T>>(
    values: impl IntoIterator<Item = V>,
) -> Result<Bson, bson::ser::Error> {
    values.into_iter().map(|v| v.into().into_bson()).collect::<Result<Vec<_>, _>>().map(Bson::Array)
}

impl<M, T: Ordered, A> Field<M, T, A> {
    /// Documents whose field is greater than `value`.
    pub fn gt(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$gt", value.into().into_bson())
    }

    /// Documents whose field is greater than or equal to `value`.
    pub fn gte(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$gte", value.into().into_bson())
    }

    /// Documents whose field is less than `value`.
    pub fn lt(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$lt", value.into().into_bson())
    }

    /// Documents whose field is less than or equal to `value`.
    pub fn lte(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$lte", value.into().into_bson())
    }

    /// Documents whose field lies in `range`: `begin..end` excludes the end,
    /// `begin..=end` includes it, and either side may be open.
    ///
    /// ```
    /// # use model_core::{Field, Query};
    /// # struct Foo;
    /// let created_at: Field<Foo, bson::DateTime> = Field::new("created_at");
    /// let (begin, end) = (bson::DateTime::from_millis(0), bson::DateTime::from_millis(10));
    /// let q: Query<Foo> = created_at.range(begin..end);
    /// assert_eq!(
    ///     q.to_document().unwrap(),
    ///     bson::doc! { "created_at": { "$gte": begin, "$lt": end } },
    /// );
    /// ```
    pub fn range(self, range: impl RangeBounds<T::Bound>) -> Query<M>
    where
        T::Bound: Clone,
    {
        let mut condition = Document::new();
        let mut push = |op: &str, value: &T::Bound| -> Result<(), bson::ser::Error> {
            condition.insert(op, value.clone().into_bson()?);
            Ok(())
        };
        let result = (|| {
            match range.start_bound() {
                Bound::Included(v) => push("$gte", v)?,
                Bound::Excluded(v) => push("$gt", v)?,
                Bound::Unbounded => {}
            }
            match range.end_bound() {
                Bound::Included(v) => push("$lte", v)?,
                Bound::Excluded(v) => push("$lt", v)?,
                Bound::Unbounded => {}
            }
            Ok(())
        })();
        // An unencodable bound must not vanish: that would widen the filter.
        if let Err(error) = result {
            return Query::condition(self.name, Err(error));
        }
        if condition.is_empty() {
            return Query::all();
        }
        Query::condition(self.name, Ok(Bson::Document(condition)))
    }
}

impl<M, T: FieldType> Field<M, T, Writable> {
    /// Set the field to `value`.
    pub fn set(self, value: impl Into<T>) -> Update<M> {
        Update::op("$set", self.name, value.into().into_bson())
    }
}

impl<M, T: FieldType> Field<M, Option<T>, Writable> {
    /// Remove the field from the document (`$unset`).
    pub fn unset(self) -> Update<M> {
        Update::op("$unset", self.name, Ok(Bson::String(String::new())))
    }
}

impl<M, T: Numeric> Field<M, T, Writable> {
    /// Add `delta` to the field (`$inc`).
    ///
    /// A field missing from the document counts as zero. An `Option` field
    /// stored as `null` (serde writes `None` that way) is not a number: the
    /// server refuses the increment, so `set` it first, or store `None` as
    /// a missing field with `#[serde(skip_serializing_if = "Option::is_none")]`.
    pub fn inc(self, delta: impl Into<T::Delta>) -> Update<M> {
        Update::op("$inc", self.name, delta.into().into_bson())
    }
}
