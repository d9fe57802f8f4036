//! Changes to the value at a path: `$set`, `$setOnInsert`, `$unset`,
//! `$inc`, `$mul`, `$min`, `$max`.

use bson::Bson;

use super::{Field, FieldValue, WriteAccess};
use crate::schema::{FieldType, Numeric, Ordered};
use crate::update::{Op, Update};

impl<M, T: FieldType, A: WriteAccess> Field<M, T, A> {
    /// Set the value. An `Option` field takes what a field of its inner
    /// type takes (`"paid"` for an `Option<String>`) or an `Option`;
    /// setting it to `None` removes it (`$unset`), since `None` is not
    /// stored. See [`FieldValue`].
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
    /// let u: Update<Order> = Order::STATUS.set("paid").and(Order::NOTE.set(None));
    /// assert_eq!(
    ///     u.into_document(now)?,
    ///     doc! { "$set": { "status": "paid" }, "$unset": { "note": "" } },
    /// );
    /// let u: Update<Order> = Order::NOTE.set("fragile");
    /// assert_eq!(u.into_document(now)?, doc! { "$set": { "note": "fragile" } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set<How>(self, value: impl FieldValue<T, How>) -> Update<M> {
        let value = value.into_value();
        if value.is_none() {
            return Update::op(Op::Unset, self.name, Ok(Bson::String(String::new())));
        }
        Update::op(Op::Set, self.name, value.into_bson())
    }

    /// Set the value only when the update inserts the document (an upsert
    /// that matched nothing): `$setOnInsert`. `None` sets nothing, so the
    /// inserted document goes without the field.
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
    /// let u: Update<Order> = Order::STATUS.set_on_insert("new");
    /// assert_eq!(u.into_document(now)?, doc! { "$setOnInsert": { "status": "new" } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_on_insert<How>(self, value: impl FieldValue<T, How>) -> Update<M> {
        let value = value.into_value();
        if value.is_none() {
            return Update::none();
        }
        Update::op(Op::SetOnInsert, self.name, value.into_bson())
    }
}

impl<M, T: FieldType, A: WriteAccess> Field<M, Option<T>, A> {
    /// Remove the value from the document (`$unset`).
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
    /// let u: Update<Order> = Order::NOTE.unset();
    /// assert_eq!(u.into_document(now)?, doc! { "$unset": { "note": "" } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn unset(self) -> Update<M> {
        Update::op(Op::Unset, self.name, Ok(Bson::String(String::new())))
    }
}

impl<M, T: Numeric, A: WriteAccess> Field<M, T, A> {
    /// Add `delta` to the value (`$inc`). A value not stored (an `Option`
    /// field that is `None`) counts as zero.
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
    /// let u: Update<Order> = Order::TOTAL.inc(5);
    /// assert_eq!(u.into_document(now)?, doc! { "$inc": { "total": 5_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn inc(self, delta: impl Into<T::Delta>) -> Update<M> {
        Update::op(Op::Inc, self.name, delta.into().into_bson())
    }

    /// Multiply the value by `factor` (`$mul`); a value not stored becomes 0.
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
    /// let u: Update<Order> = Order::TOTAL.mul(2);
    /// assert_eq!(u.into_document(now)?, doc! { "$mul": { "total": 2_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    #[allow(clippy::should_implement_trait, reason = "named after MongoDB's `$mul`")]
    pub fn mul(self, factor: impl Into<T::Delta>) -> Update<M> {
        Update::op(Op::Mul, self.name, factor.into().into_bson())
    }
}

impl<M, T: Ordered, A: WriteAccess> Field<M, T, A> {
    /// Lower the value to `value` if it is greater, or set it if not
    /// stored (`$min`).
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
    /// let u: Update<Order> = Order::TOTAL.min(10);
    /// assert_eq!(u.into_document(now)?, doc! { "$min": { "total": 10_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn min(self, value: impl Into<T::Bound>) -> Update<M> {
        Update::op(Op::Min, self.name, value.into().into_bson())
    }

    /// Raise the value to `value` if it is less, or set it if not stored
    /// (`$max`).
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
    /// let u: Update<Order> = Order::TOTAL.max(10);
    /// assert_eq!(u.into_document(now)?, doc! { "$max": { "total": 10_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn max(self, value: impl Into<T::Bound>) -> Update<M> {
        Update::op(Op::Max, self.name, value.into().into_bson())
    }
}
