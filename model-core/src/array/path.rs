//! Paths into an array's elements: the elements a query reads (`any`,
//! `elements`) and those an update writes (`matched`, `all`).

use crate::field::{Field, Positional, ReadAccess, ReadOnly, Writable, WriteAccess};

use super::Array;

impl<M, T: Array, A: ReadAccess> Field<M, T, A> {
    /// The path to `inner` in the array's elements (`items.sku`), for
    /// queries and sorts. A condition holds when it holds for *some*
    /// element (`eq`, `gt`, `one_of`, ...), except the negations, which
    /// hold when *no* element matches (`ne`, `none_of`; `absent` when no
    /// element has the field). Read-only: to update elements use
    /// [`matched`](Field::matched) or [`all`](Field::all).
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
    /// let q: Query<Order> = Order::LINES.any(Line::SKU).eq("pear");
    /// assert_eq!(q.into_document()?, doc! { "lines.sku": "pear" });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn any<U, B: ReadAccess>(self, inner: Field<T::Element, U, B>) -> Field<M, U, ReadOnly> {
        self.step(inner.name())
    }

    /// Renamed [`any`](Field::any).
    #[deprecated(
        since = "0.2.0",
        note = "renamed `any`: a condition on it holds when it holds for some element"
    )]
    #[doc(hidden)]
    pub fn each<U, B: ReadAccess>(self, inner: Field<T::Element, U, B>) -> Field<M, U, ReadOnly> {
        self.any(inner)
    }

    /// Any element of the array, as a value (the array's own path): a
    /// condition on it holds when it holds for some element
    /// (`Customer::TAGS.elements().eq("vip")`), and
    /// [`distinct`](crate::Repo::distinct) and
    /// [`count_by`](crate::Repo::count_by) read elements through it.
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
    /// let q: Query<Order> = Order::TAGS.elements().one_of(["gift", "vip"]);
    /// assert_eq!(q.into_document()?, doc! { "tags": { "$in": ["gift", "vip"] } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn elements(self) -> Field<M, T::Element, ReadOnly> {
        Field::new(self.name())
    }
}

impl<M, E> Field<M, Vec<E>, Writable> {
    /// The element the update's query matched (`items.$`), in an update
    /// whose query matches an element of this array (with `contains`,
    /// `elem_match` or a path through `any`): `update_many`,
    /// `find_one_and_update`, `upsert`. With `update(&key, ..)` the
    /// query is the key alone, which matches no element, and the server
    /// refuses the update.
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
    /// let u: Update<Order> = Order::LINES.matched().then(Line::QUANTITY).inc(1);
    /// assert_eq!(u.into_document(now)?, doc! { "$inc": { "lines.$.quantity": 1 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn matched(self) -> Field<M, E, Positional> {
        self.step("$")
    }
}

impl<M, E, A: WriteAccess> Field<M, Vec<E>, A> {
    /// Every element of the array (`items.$[]`), in an update.
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
    /// let u: Update<Order> = Order::LINES.all().then(Line::QUANTITY).set(0);
    /// assert_eq!(u.into_document(now)?, doc! { "$set": { "lines.$[].quantity": 0 } });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn all(self) -> Field<M, E, Positional> {
        self.step("$[]")
    }

    /// Renamed [`all`](Field::all).
    #[deprecated(since = "0.2.0", note = "renamed `all`: every element, in an update")]
    #[doc(hidden)]
    pub fn every(self) -> Field<M, E, Positional> {
        self.all()
    }
}
