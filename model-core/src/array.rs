//! Queries and updates on array paths: membership, size, `$elemMatch`,
//! `$addToSet` and `$pull` on every field stored as an array ([`Array`]:
//! a `Vec`, a set, or an `Option` of one), and `$push` and `$pop` on the
//! ones whose order is their own ([`Sequence`]: a `Vec`, or an `Option` of
//! one), since a set pushed to could hold an element twice.
//!
//! Every value is sent so that it is compared, never run: a document
//! element is matched with `$eq`, pushed inside `$each` and pulled with
//! `$pullAll`, so an element whose keys start with `$` stays data.

use bson::{Bson, Document, doc};

use crate::field::{Field, ReadAccess, WriteAccess, comparable, is_compound, list, literal};
use crate::query::Query;
use crate::schema::FieldType;
use crate::sort::Sort;
use crate::update::{Op, Update};

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
        Query::condition(self.name(), element.into().into_bson().map(literal))
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

/// `value` as the operand of `$push` / `$addToSet`: a document element
/// goes inside `$each`, where a key like `$each` or `$slice` is data.
fn element(value: Bson) -> Bson {
    match value {
        Bson::Document(_) => Bson::Document(doc! { "$each": [value] }),
        value => value,
    }
}

impl<M, T, A: WriteAccess> Field<M, T, A> {
    /// Append `element` (`$push`).
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
    /// let u: Update<Order> = Order::TAGS.push("gift");
    /// assert_eq!(u.into_document(now)?, doc! { "$push": { "tags": "gift" } });
    ///
    /// // A document element goes inside `$each`, where its keys stay data.
    /// let u: Update<Order> = Order::LINES.push(Line { sku: "pear".into(), quantity: 2 });
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$push": { "lines": { "$each": [{ "sku": "pear", "quantity": 2 }] } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push(self, element: impl Into<T::Element>) -> Update<M>
    where
        T: Sequence,
    {
        Update::op(Op::Push, self.name(), element.into().into_bson().map(self::element))
    }

    /// Append `elements` (`$push` with `$each`); the returned [`Push`]
    /// can also insert them at a position, sort the array and cap its
    /// length.
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
    /// let u: Update<Order> = Order::TAGS.push_all(["a", "b"]).into();
    /// assert_eq!(u.into_document(now)?, doc! { "$push": { "tags": { "$each": ["a", "b"] } } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push_all<V: Into<T::Element>>(
        self,
        elements: impl IntoIterator<Item = V>,
    ) -> Push<M, T::Element>
    where
        T: Sequence,
    {
        Push {
            name: self.name(),
            each: list::<T::Element, V>(elements),
            modifiers: Document::new(),
            _model: std::marker::PhantomData,
        }
    }

    /// Append `element` unless the array already has an equal one
    /// (`$addToSet`).
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
    /// let u: Update<Order> = Order::TAGS.add_to_set("gift");
    /// assert_eq!(u.into_document(now)?, doc! { "$addToSet": { "tags": "gift" } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn add_to_set(self, element: impl Into<T::Element>) -> Update<M>
    where
        T: Array,
    {
        const { comparable::<T::Element>() };
        Update::op(Op::AddToSet, self.name(), element.into().into_bson().map(self::element))
    }

    /// Append each of `elements` the array does not have yet (`$addToSet`
    /// with `$each`).
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
    /// let u: Update<Order> = Order::TAGS.add_all_to_set(["gift", "vip"]);
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$addToSet": { "tags": { "$each": ["gift", "vip"] } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn add_all_to_set<V: Into<T::Element>>(
        self,
        elements: impl IntoIterator<Item = V>,
    ) -> Update<M>
    where
        T: Array,
    {
        const { comparable::<T::Element>() };
        let each =
            list::<T::Element, V>(elements).map(|values| Bson::Document(doc! { "$each": values }));
        Update::op(Op::AddToSet, self.name(), each)
    }

    /// Remove every element equal to `element` (`$pullAll`: compared as a
    /// value, never read as a condition).
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
    /// let u: Update<Order> = Order::TAGS.pull("gift");
    /// assert_eq!(u.into_document(now)?, doc! { "$pullAll": { "tags": ["gift"] } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pull(self, element: impl Into<T::Element>) -> Update<M>
    where
        T: Array,
    {
        const { comparable::<T::Element>() };
        let value = element.into().into_bson().map(|v| Bson::Array(vec![v]));
        Update::op(Op::PullAll, self.name(), value)
    }

    /// Remove every element equal to one of `elements` (`$pullAll`).
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
    /// let u: Update<Order> = Order::TAGS.pull_all(["gift", "vip"]);
    /// assert_eq!(u.into_document(now)?, doc! { "$pullAll": { "tags": ["gift", "vip"] } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pull_all<V: Into<T::Element>>(self, elements: impl IntoIterator<Item = V>) -> Update<M>
    where
        T: Array,
    {
        const { comparable::<T::Element>() };
        Update::op(Op::PullAll, self.name(), list::<T::Element, V>(elements))
    }

    /// Remove every element that matches `query` (`$pull` with a
    /// condition on the element's fields).
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
    /// let u: Update<Order> = Order::LINES.pull_where(Line::QUANTITY.lt(1));
    /// assert_eq!(u.into_document(now)?, doc! { "$pull": { "lines": { "quantity": { "$lt": 1 } } } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pull_where(self, query: Query<T::Element>) -> Update<M>
    where
        T: Array,
    {
        match query.into_filter() {
            Ok(condition) => Update::op(Op::Pull, self.name(), Ok(Bson::Document(condition))),
            Err(invalid) => Update::invalid(invalid),
        }
    }

    /// Remove the first element (`$pop: -1`).
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
    /// let u: Update<Order> = Order::TAGS.pop_first();
    /// assert_eq!(u.into_document(now)?, doc! { "$pop": { "tags": -1 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pop_first(self) -> Update<M>
    where
        T: Sequence,
    {
        Update::op(Op::Pop, self.name(), Ok(Bson::Int32(-1)))
    }

    /// Remove the last element (`$pop: 1`).
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
    /// let u: Update<Order> = Order::TAGS.pop_last();
    /// assert_eq!(u.into_document(now)?, doc! { "$pop": { "tags": 1 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pop_last(self) -> Update<M>
    where
        T: Sequence,
    {
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
    /// let u: Update<Order> = Order::TAGS.push_all(["a"]).position(0).into();
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$push": { "tags": { "$each": ["a"], "$position": 0 } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn position(mut self, index: i32) -> Self {
        self.modifiers.insert("$position", index);
        self
    }

    /// Then keep the first `len` elements, or the last `-len` when
    /// negative (`$slice`).
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
    /// let u: Update<Order> = Order::TAGS.push_all(["a"]).slice(-10).into();
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$push": { "tags": { "$each": ["a"], "$slice": -10 } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn slice(mut self, len: i32) -> Self {
        self.modifiers.insert("$slice", len);
        self
    }

    /// Then sort the array's elements by their fields (`$sort`).
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
    /// let line = Line { sku: "pear".into(), quantity: 2 };
    /// let u: Update<Order> = Order::LINES.push_all([line]).sort_by(Line::QUANTITY.desc()).into();
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$push": { "lines": {
    ///         "$each": [{ "sku": "pear", "quantity": 2 }],
    ///         "$sort": { "quantity": -1 },
    ///     } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn sort_by(mut self, sort: Sort<E>) -> Self {
        self.modifiers.insert("$sort", sort.into_document());
        self
    }

    /// Then sort the array's elements by value, ascending or not (`$sort: 1 | -1`).
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
    /// let u: Update<Order> = Order::TAGS.push_all(["b"]).sort_values(true).into();
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$push": { "tags": { "$each": ["b"], "$sort": 1 } } },
    /// );
    /// # Ok::<(), Error>(())
    /// ```
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
