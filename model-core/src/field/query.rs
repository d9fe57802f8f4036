//! Conditions and sorts on a path: equality, membership, ranges,
//! presence.

use std::ops::{Bound, RangeBounds};

use bson::{Bson, Document, doc};

use super::{Field, FieldValue, ReadAccess};
use crate::query::{Query, is_compound};
use crate::schema::{FieldType, Ordered};
use crate::sort::Sort;

impl<M, T, A: ReadAccess> Field<M, T, A> {
    /// Sort ascending on this path.
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
    /// let sort = Order::TOTAL.asc().then_by(Order::STATUS.desc());
    /// assert_eq!(sort.into_document(), doc! { "total": 1, "status": -1 });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn asc(self) -> Sort<M> {
        Sort::by(self.name, 1)
    }

    /// Sort descending on this path.
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
    /// assert_eq!(Order::TOTAL.desc().into_document(), doc! { "total": -1 });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn desc(self) -> Sort<M> {
        Sort::by(self.name, -1)
    }

    /// Documents where the value is stored (even as `null`).
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
    /// let q: Query<Order> = Order::NOTE.present();
    /// assert_eq!(q.into_document()?, doc! { "note": { "$exists": true } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn present(self) -> Query<M> {
        Query::condition(self.name, Ok(doc! { "$exists": true }.into()))
    }

    /// Documents where the value is not stored at all (an `Option` field
    /// that is `None`: `None` is left out of stored documents).
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
    /// let q: Query<Order> = Order::NOTE.absent();
    /// assert_eq!(q.into_document()?, doc! { "note": { "$exists": false } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn absent(self) -> Query<M> {
        Query::condition(self.name, Ok(doc! { "$exists": false }.into()))
    }
}

impl<M, T: FieldType, A: ReadAccess> Field<M, T, A> {
    /// Documents whose value equals `value`. A document value is compared
    /// as a whole (`$eq`), never read as operators; an array value must
    /// equal the stored array, in order (for one element use `contains`).
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
    /// let q: Query<Order> = Order::STATUS.eq("paid");
    /// assert_eq!(q.into_document()?, doc! { "status": "paid" });
    ///
    /// // A document is a value to compare, never operators to run.
    /// let q: Query<Order> = Order::EXTRA.eq(doc! { "$exists": true });
    /// assert_eq!(q.into_document()?, doc! { "extra": { "$eq": { "$exists": true } } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn eq<How>(self, value: impl FieldValue<T, How>) -> Query<M> {
        const { comparable::<T>() };
        Query::equal(self.name, value.into_value().into_bson())
    }

    /// Documents whose value differs from `value` (or is missing).
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
    /// let q: Query<Order> = Order::STATUS.ne("paid");
    /// assert_eq!(q.into_document()?, doc! { "status": { "$ne": "paid" } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn ne<How>(self, value: impl FieldValue<T, How>) -> Query<M> {
        const { comparable::<T>() };
        self.operator("$ne", value.into_value().into_bson())
    }

    /// Documents whose value equals one of `values` (`$in`).
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
    /// let q: Query<Order> = Order::STATUS.one_of(["paid", "shipped"]);
    /// assert_eq!(q.into_document()?, doc! { "status": { "$in": ["paid", "shipped"] } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn one_of<How, V: FieldValue<T, How>>(
        self,
        values: impl IntoIterator<Item = V>,
    ) -> Query<M> {
        const { comparable::<T>() };
        self.membership("$in", "$or", values_list(values))
    }

    /// Documents whose value equals none of `values` (`$nin`).
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
    /// let q: Query<Order> = Order::STATUS.none_of(["paid", "shipped"]);
    /// assert_eq!(q.into_document()?, doc! { "status": { "$nin": ["paid", "shipped"] } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn none_of<How, V: FieldValue<T, How>>(
        self,
        values: impl IntoIterator<Item = V>,
    ) -> Query<M> {
        const { comparable::<T>() };
        self.membership("$nin", "$nor", values_list(values))
    }

    /// `{name: {op: values}}`, or, when a value is a document or a regular
    /// expression (which `$in` refuses with `$` keys, or runs as a
    /// pattern), one `$eq` per value joined with `either`.
    pub(crate) fn membership(
        self,
        op: &str,
        either: &str,
        values: Result<Bson, bson::ser::Error>,
    ) -> Query<M> {
        match values {
            Ok(Bson::Array(values)) if values.iter().any(is_compound) => {
                let name = self.name;
                let each: Vec<Bson> = values
                    .into_iter()
                    .map(|v| Bson::Document(doc! { name: { "$eq": v } }))
                    .collect();
                Query::raw(doc! { either: each })
            }
            values => self.operator(op, values),
        }
    }

    pub(crate) fn operator(self, op: &str, value: Result<Bson, bson::ser::Error>) -> Query<M> {
        Query::condition(self.name, value.map(|v| Bson::Document(doc! { op: v })))
    }
}

/// Refuses, at compile time, equality on a type whose equal values may
/// be stored differently (a `HashMap`, a set): the server would not match it.
pub(crate) const fn comparable<T: FieldType>() {
    assert!(
        T::COMPARABLE,
        "equality on a value holding a HashMap or a set never matches reliably (the server compares in stored order, which they do not fix): use a BTreeMap for a map, and `same_elements` to compare a set"
    );
}

/// `values` as one BSON array, or the first value's encoding error.
pub(crate) fn list<T: FieldType, V: Into<T>>(
    values: impl IntoIterator<Item = V>,
) -> Result<Bson, bson::ser::Error> {
    values.into_iter().map(|v| v.into().into_bson()).collect::<Result<Vec<_>, _>>().map(Bson::Array)
}

/// `values` given for a field of type `T`, as one BSON array.
fn values_list<T: FieldType, How, V: FieldValue<T, How>>(
    values: impl IntoIterator<Item = V>,
) -> Result<Bson, bson::ser::Error> {
    list::<T, T>(values.into_iter().map(FieldValue::into_value))
}

impl<M, T: Ordered, A: ReadAccess> Field<M, T, A> {
    /// Documents whose value is greater than `value`.
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
    /// let q: Query<Order> = Order::TOTAL.gt(100);
    /// assert_eq!(q.into_document()?, doc! { "total": { "$gt": 100_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn gt(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$gt", value.into().into_bson())
    }

    /// Documents whose value is greater than or equal to `value`.
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
    /// let q: Query<Order> = Order::TOTAL.gte(100);
    /// assert_eq!(q.into_document()?, doc! { "total": { "$gte": 100_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn gte(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$gte", value.into().into_bson())
    }

    /// Documents whose value is less than `value`.
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
    /// let q: Query<Order> = Order::TOTAL.lt(100);
    /// assert_eq!(q.into_document()?, doc! { "total": { "$lt": 100_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn lt(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$lt", value.into().into_bson())
    }

    /// Documents whose value is less than or equal to `value`.
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
    /// let q: Query<Order> = Order::TOTAL.lte(100);
    /// assert_eq!(q.into_document()?, doc! { "total": { "$lte": 100_i64 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn lte(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$lte", value.into().into_bson())
    }

    /// Documents whose value lies in `range`: `begin..end` excludes the end,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::literal;

    #[test]
    fn document_values_are_compared_never_run() {
        assert_eq!(literal(Bson::Int32(1)), Bson::Int32(1));
        let injected = Bson::Document(doc! { "$exists": true });
        assert_eq!(literal(injected.clone()), Bson::Document(doc! { "$eq": injected }));
    }
}
