//! `$push` of several elements, with its modifiers.

use bson::{Bson, Document, doc};

use crate::sort::Sort;
use crate::update::{Op, Update};

/// `$push` of several elements, with its modifiers. Use it where an
/// [`Update`] goes (`update(&key, Order::ITEMS.push_all(items).slice(-10))`)
/// or join it to one with `.into()` / [`Update::and`].
#[must_use = "a push does nothing until it is part of an update that runs"]
pub struct Push<M, E> {
    pub(super) name: &'static str,
    pub(super) each: Result<Bson, bson::ser::Error>,
    pub(super) modifiers: Document,
    pub(super) _model: std::marker::PhantomData<fn() -> (M, E)>,
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
