//! The updates of array paths: `$push`, `$addToSet`, `$pull`, `$pop`.

use bson::{Bson, Document, doc};

use super::{Array, Push, Sequence};
use crate::field::{Field, WriteAccess, comparable, list};
use crate::query::Query;
use crate::schema::FieldType;
use crate::update::{Op, Update};

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
