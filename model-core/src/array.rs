//! Queries and updates on array paths (`Field<M, Vec<E>>`): membership,
//! size, `$elemMatch`, and `$push`, `$addToSet`, `$pull`, `$pop`.
//!
//! Every value is sent so that it is compared, never run: a document
//! element is matched with `$eq`, pushed inside `$each` and pulled with
//! `$pullAll`, so an element whose keys start with `$` stays data.

use bson::{Bson, Document, doc};

use crate::field::{Field, ReadAccess, WriteAccess, comparable, list, literal};
use crate::query::Query;
use crate::schema::FieldType;
use crate::sort::Sort;
use crate::update::{Op, Update};

impl<M, E: FieldType, A: ReadAccess> Field<M, Vec<E>, A> {
    /// Documents whose array has an element equal to `element`.
    pub fn contains(self, element: impl Into<E>) -> Query<M> {
        const { comparable::<E>() };
        Query::condition(self.name(), element.into().into_bson().map(literal))
    }

    /// Documents whose array has every one of `elements` (in any order,
    /// among others): `$all`, or one `$eq` per element for document
    /// elements (which `$all` would read as `$elemMatch` operators).
    pub fn contains_all<V: Into<E>>(self, elements: impl IntoIterator<Item = V>) -> Query<M> {
        const { comparable::<E>() };
        self.membership("$all", "$and", list::<E, V>(elements))
    }

    /// Documents whose array has exactly `len` elements (`$size`).
    pub fn len_is(self, len: usize) -> Query<M> {
        let len = i64::try_from(len)
            .map_err(|_| bson::ser::Error::UnsignedIntegerExceededRange(len as u64));
        self.operator("$size", len.map(Bson::Int64))
    }

    /// Documents with an element that matches `query` as a whole, all its
    /// conditions on the same element (`$elemMatch`).
    pub fn elem_match(self, query: Query<E>) -> Query<M> {
        let name = self.name();
        match query.into_filter() {
            Ok(condition) => {
                Query::condition(name, Ok(Bson::Document(doc! { "$elemMatch": condition })))
            }
            Err(invalid) => Query::invalid(invalid),
        }
    }
}

/// `value` as the operand of `$push` / `$addToSet`: a document element
/// goes inside `$each`, where a key like `$each` or `$slice` is data.
fn element(value: Bson) -> Bson {
    match value {
        Bson::Document(_) => Bson::Document(doc! { "$each": [value] }),
        value => value,
    }
}

impl<M, E: FieldType, A: WriteAccess> Field<M, Vec<E>, A> {
    /// Append `element` (`$push`).
    pub fn push(self, element: impl Into<E>) -> Update<M> {
        Update::op(Op::Push, self.name(), element.into().into_bson().map(self::element))
    }

    /// Append `elements` (`$push` with `$each`); the returned [`Push`]
    /// can also insert them at a position, sort the array and cap its
    /// length.
    pub fn push_all<V: Into<E>>(self, elements: impl IntoIterator<Item = V>) -> Push<M, E> {
        Push {
            name: self.name(),
            each: list::<E, V>(elements),
            modifiers: Document::new(),
            _model: std::marker::PhantomData,
        }
    }

    /// Append `element` unless the array already has an equal one
    /// (`$addToSet`).
    pub fn add_to_set(self, element: impl Into<E>) -> Update<M> {
        const { comparable::<E>() };
        Update::op(Op::AddToSet, self.name(), element.into().into_bson().map(self::element))
    }

    /// Append each of `elements` the array does not have yet (`$addToSet`
    /// with `$each`).
    pub fn add_all_to_set<V: Into<E>>(self, elements: impl IntoIterator<Item = V>) -> Update<M> {
        const { comparable::<E>() };
        let each = list::<E, V>(elements).map(|values| Bson::Document(doc! { "$each": values }));
        Update::op(Op::AddToSet, self.name(), each)
    }

    /// Remove every element equal to `element` (`$pullAll`: compared as a
    /// value, never read as a condition).
    pub fn pull(self, element: impl Into<E>) -> Update<M> {
        const { comparable::<E>() };
        let value = element.into().into_bson().map(|v| Bson::Array(vec![v]));
        Update::op(Op::PullAll, self.name(), value)
    }

    /// Remove every element equal to one of `elements` (`$pullAll`).
    pub fn pull_all<V: Into<E>>(self, elements: impl IntoIterator<Item = V>) -> Update<M> {
        const { comparable::<E>() };
        Update::op(Op::PullAll, self.name(), list::<E, V>(elements))
    }

    /// Remove every element that matches `query` (`$pull` with a
    /// condition on the element's fields).
    pub fn pull_where(self, query: Query<E>) -> Update<M> {
        match query.into_filter() {
            Ok(condition) => Update::op(Op::Pull, self.name(), Ok(Bson::Document(condition))),
            Err(invalid) => Update::invalid(invalid),
        }
    }

    /// Remove the first element (`$pop: -1`).
    pub fn pop_first(self) -> Update<M> {
        Update::op(Op::Pop, self.name(), Ok(Bson::Int32(-1)))
    }

    /// Remove the last element (`$pop: 1`).
    pub fn pop_last(self) -> Update<M> {
        Update::op(Op::Pop, self.name(), Ok(Bson::Int32(1)))
    }
}

/// `$push` of several elements, with its modifiers. Use it where an
/// [`Update`] goes (`update_one(&key, Order::ITEMS.push_all(items).slice(-10))`)
/// or join it to one with `.into()` / [`Update::and`].
#[must_use = "a push does nothing until it is part of an update that runs"]
pub struct Push<M, E> {
    name: &'static str,
    each: Result<Bson, bson::ser::Error>,
    modifiers: Document,
    _model: std::marker::PhantomData<fn() -> (M, E)>,
}

impl<M, E> Push<M, E> {
    /// Insert the elements before index `index` (`$position`; negative
    /// counts from the end) instead of appending.
    pub fn position(mut self, index: i32) -> Self {
        self.modifiers.insert("$position", index);
        self
    }

    /// Then keep the first `len` elements, or the last `-len` when
    /// negative (`$slice`).
    pub fn slice(mut self, len: i32) -> Self {
        self.modifiers.insert("$slice", len);
        self
    }

    /// Then sort the array's elements by their fields (`$sort`).
    pub fn sort_by(mut self, sort: Sort<E>) -> Self {
        self.modifiers.insert("$sort", sort.into_document());
        self
    }

    /// Then sort the array's elements by value, ascending or not (`$sort: 1 | -1`).
    pub fn sort_values(mut self, ascending: bool) -> Self {
        self.modifiers.insert("$sort", if ascending { 1 } else { -1 });
        self
    }
}

impl<M, E> From<Push<M, E>> for Update<M> {
    fn from(push: Push<M, E>) -> Self {
        let value = push.each.map(|each| {
            let mut operand = doc! { "$each": each };
            operand.extend(push.modifiers);
            Bson::Document(operand)
        });
        Update::op(Op::Push, push.name, value)
    }
}
