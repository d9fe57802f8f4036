//! Queries and updates on array paths: membership, size, `$elemMatch`,
//! `$addToSet` and `$pull` on every field stored as an array ([`Array`]:
//! a `Vec`, a set, or an `Option` of one), and `$push` and `$pop` on the
//! ones whose order is their own ([`Sequence`]: a `Vec`, or an `Option` of
//! one), since a set pushed to could hold an element twice.
//!
//! Every value is sent so that it is compared, never run: a document
//! element is matched with `$eq`, pushed inside `$each` and pulled with
//! `$pullAll`, so an element whose keys start with `$` stays data.

mod path;
mod push;
mod update;

pub use push::Push;

use bson::{Bson, doc};

use crate::field::{Field, ReadAccess, comparable, list};
use crate::query::{Query, is_compound};
use crate::schema::FieldType;

/// A field type stored as an array: `Vec<E>`, `BTreeSet<E>`,
/// `HashSet<E>`, and an `Option` of one. Its paths have the array
/// queries (`contains`, `contains_all`, `len_is`, `elem_match`) and the
/// set-keeping updates (`add_to_set`, `add_all_to_set`, `pull`,
/// `pull_all`, `pull_where`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not stored as an array, so it has no array operations",
    label = "not a `Vec`, a set, or an `Option` of one",
    note = "array queries and updates (`contains`, `len_is`, `add_to_set`, `pull`, ...) apply to `Vec<T>`, `BTreeSet<T>`, `HashSet<T>` and an `Option` of one"
)]
pub trait Array: FieldType {
    /// The type of one element.
    type Element: FieldType;
}

/// An [`Array`] whose order is its own: `Vec<E>`, and an `Option` of one.
/// Its paths also have `push`, `push_all` (with `$position`, `$slice` and
/// `$sort`), `pop_first` and `pop_last`, which a set does not: a push
/// could store an element twice, and a set keeps no order to pop from.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `Vec`, so it cannot be pushed to or popped from",
    label = "not a `Vec` or an `Option` of one",
    note = "on a set (`BTreeSet`, `HashSet`) use `add_to_set` / `add_all_to_set` and `pull` / `pull_all`, which keep its elements distinct"
)]
pub trait Sequence: Array {}

impl<E: FieldType> Array for Vec<E> {
    type Element = E;
}

impl<E: FieldType> Sequence for Vec<E> {}

impl<T: Array> Array for Option<T> {
    type Element = T::Element;
}

impl<T: Sequence> Sequence for Option<T> {}

/// A set stored as an array (`BTreeSet<E>`, `HashSet<E>`): its elements
/// are distinct, so [`Field::same_elements`] can compare it whole in any
/// stored order.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a set",
    label = "not a `BTreeSet` or a `HashSet`",
    note = "`same_elements` compares a `BTreeSet` or a `HashSet` field; compare a `Vec` in order with `eq`"
)]
pub trait Set: Array {}

impl<M, T, A: ReadAccess> Field<M, T, A> {
    /// Documents whose array has an element equal to `element`.
    ///
    /// ```
    /// # use bson::{DateTime, doc}; use model_core::{Error, Query, Update};
    /// # #[derive(model_derive::Schema, serde::Serialize, serde::Deserialize)] #[model(crate = model_core)]
    /// # struct Line { sku: String, quantity: i32 }
    /// # #[derive(model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = model_core, key = id, timestamps = false)]
    /// # struct Order { #[serde(rename = "_id")] id: i64, status: String, total: i64, note: Option<String>,
    /// #     extra: Option<bson::Document>, lines: Vec<Line>, tags: Vec<String> }
    /// # let now = DateTime::now();
    /// let q: Query<Order> = Order::TAGS.contains("gift");
    /// assert_eq!(q.into_document()?, doc! { "tags": "gift" });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn contains(self, element: impl Into<T::Element>) -> Query<M>
    where
        T: Array,
    {
        const { comparable::<T::Element>() };
        Query::equal(self.name(), element.into().into_bson())
    }

    /// Documents whose array has every one of `elements` (in any order,
    /// among others): `$all`, or one `$eq` per element for document
    /// elements (which `$all` would read as `$elemMatch` operators).
    ///
    /// ```
    /// # use bson::{DateTime, doc}; use model_core::{Error, Query, Update};
    /// # #[derive(model_derive::Schema, serde::Serialize, serde::Deserialize)] #[model(crate = model_core)]
    /// # struct Line { sku: String, quantity: i32 }
    /// # #[derive(model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = model_core, key = id, timestamps = false)]
    /// # struct Order { #[serde(rename = "_id")] id: i64, status: String, total: i64, note: Option<String>,
    /// #     extra: Option<bson::Document>, lines: Vec<Line>, tags: Vec<String> }
    /// # let now = DateTime::now();
    /// let q: Query<Order> = Order::TAGS.contains_all(["gift", "vip"]);
    /// assert_eq!(q.into_document()?, doc! { "tags": { "$all": ["gift", "vip"] } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn contains_all<V: Into<T::Element>>(
        self,
        elements: impl IntoIterator<Item = V>,
    ) -> Query<M>
    where
        T: Array,
    {
        const { comparable::<T::Element>() };
        self.membership("$all", "$and", list::<T::Element, V>(elements))
    }

    /// Documents whose array has exactly `len` elements (`$size`).
    ///
    /// ```
    /// # use bson::{DateTime, doc}; use model_core::{Error, Query, Update};
    /// # #[derive(model_derive::Schema, serde::Serialize, serde::Deserialize)] #[model(crate = model_core)]
    /// # struct Line { sku: String, quantity: i32 }
    /// # #[derive(model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = model_core, key = id, timestamps = false)]
    /// # struct Order { #[serde(rename = "_id")] id: i64, status: String, total: i64, note: Option<String>,
    /// #     extra: Option<bson::Document>, lines: Vec<Line>, tags: Vec<String> }
    /// # let now = DateTime::now();
    /// let q: Query<Order> = Order::TAGS.len_is(2);
    /// assert_eq!(q.into_document()?, doc! { "tags": { "$size": 2_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn len_is(self, len: usize) -> Query<M>
    where
        T: Array,
    {
        let len = i64::try_from(len)
            .map_err(|_| bson::ser::Error::UnsignedIntegerExceededRange(len as u64));
        self.operator("$size", len.map(Bson::Int64))
    }

    /// Documents whose set has exactly the elements of `set`, in any
    /// stored order: `$all` with `$size` (or `$size: 0` for an empty
    /// set). The server compares a whole array in order, and a stored set
    /// keeps none (a `HashSet` encodes in a random order; `add_to_set`
    /// appends), so `eq` on a set does not compile; this is its equality.
    ///
    /// ```
    /// # use std::collections::BTreeSet;
    /// # use bson::doc; use model_core::{Error, Query};
    /// # #[derive(model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = model_core, key = id, timestamps = false)]
    /// # struct Post { #[serde(rename = "_id")] id: i64, tags: BTreeSet<String> }
    /// let q: Query<Post> = Post::TAGS.same_elements(BTreeSet::from(["a".to_string(), "b".into()]));
    /// assert_eq!(q.into_document()?, doc! { "tags": { "$all": ["a", "b"], "$size": 2_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn same_elements(self, set: impl Into<T>) -> Query<M>
    where
        T: Set + IntoIterator<Item = <T as Array>::Element>,
    {
        const { comparable::<T::Element>() };
        let elements = list::<T::Element, T::Element>(set.into());
        match elements {
            Ok(Bson::Array(values)) if values.is_empty() => self.len_is(0),
            // `$all` would read a document element as `$elemMatch`: one
            // `$eq` per element instead (`contains_all`), beside `$size`.
            Ok(Bson::Array(values)) if values.iter().any(is_compound) => {
                let len = values.len();
                self.membership("$all", "$and", Ok(Bson::Array(values))).and(self.len_is(len))
            }
            Ok(Bson::Array(values)) => {
                let len = Bson::Int64(values.len() as i64);
                let condition = doc! { "$all": values, "$size": len };
                Query::condition(self.name(), Ok(Bson::Document(condition)))
            }
            other => self.operator("$all", other),
        }
    }

    /// Documents with an element that matches `query` as a whole, all its
    /// conditions on the same element (`$elemMatch`).
    ///
    /// ```
    /// # use bson::{DateTime, doc}; use model_core::{Error, Query, Update};
    /// # #[derive(model_derive::Schema, serde::Serialize, serde::Deserialize)] #[model(crate = model_core)]
    /// # struct Line { sku: String, quantity: i32 }
    /// # #[derive(model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = model_core, key = id, timestamps = false)]
    /// # struct Order { #[serde(rename = "_id")] id: i64, status: String, total: i64, note: Option<String>,
    /// #     extra: Option<bson::Document>, lines: Vec<Line>, tags: Vec<String> }
    /// # let now = DateTime::now();
    /// let line = Line::SKU.eq("pear").and(Line::QUANTITY.gte(2));
    /// let q: Query<Order> = Order::LINES.elem_match(line);
    /// assert_eq!(
    ///     q.into_document()?,
    ///     doc! { "lines": { "$elemMatch": { "sku": "pear", "quantity": { "$gte": 2 } } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn elem_match(self, query: Query<T::Element>) -> Query<M>
    where
        T: Array,
    {
        let name = self.name();
        match query.into_filter() {
            Ok(condition) => {
                Query::condition(name, Ok(Bson::Document(doc! { "$elemMatch": condition })))
            }
            Err(invalid) => Query::invalid(invalid),
        }
    }
}
