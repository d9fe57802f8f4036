//! Typed paths to a model's values, from which queries, updates and sorts
//! are built. `#[derive(Model)]` and `#[derive(Schema)]` emit one constant
//! per field (`Foo::BAR: Field<Foo, Option<i64>>`); paths compose
//! (`Customer::ADDRESS.then(Address::CITY)`), and every operation on them
//! is defined here once, and only where the value's type and the path's
//! access allow it. Array operations are in [`array`](crate::array).

mod intern;
mod query;
mod update;
mod value;

use std::collections::HashMap;
use std::marker::PhantomData;

use bson::{Bson, Document};

pub(crate) use query::{comparable, list};
pub use value::FieldValue;

/// Marks a path an update may change and a query may read.
#[derive(Debug)]
pub enum Writable {}

/// Marks a path that can be queried and sorted on, not set: the fields
/// the runtime owns (`_id`, `created_at`, `updated_at`) and paths through
/// every element of an array ([`Field::any`]).
#[derive(Debug)]
pub enum ReadOnly {}

/// Marks a path into the array element an update's query matched (`$`) or
/// into every element (`$[]`): it can be set, not queried.
#[derive(Debug)]
pub enum Positional {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Writable {}
    impl Sealed for super::ReadOnly {}
    impl Sealed for super::Positional {}
}

/// What a path allows: [`Writable`], [`ReadOnly`] or [`Positional`].
pub trait Access: sealed::Sealed {}
impl Access for Writable {}
impl Access for ReadOnly {}
impl Access for Positional {}

/// Paths a query or a sort can name: [`Writable`] and [`ReadOnly`].
#[diagnostic::on_unimplemented(
    message = "a positional path (`$` or `$[]`) cannot be queried or sorted on",
    note = "query the array with `elem_match` or `any`, and use `matched()` / `all()` only in updates"
)]
pub trait ReadAccess: Access {}
impl ReadAccess for Writable {}
impl ReadAccess for ReadOnly {}

/// Paths an update can change: [`Writable`] and [`Positional`].
#[diagnostic::on_unimplemented(
    message = "this field is read-only: the key, the timestamps and paths through `any` cannot be updated",
    note = "the runtime sets `_id`, `created_at` and `updated_at`; update an array's elements with `matched()` or `all()`"
)]
pub trait WriteAccess: Access {}
impl WriteAccess for Writable {}
impl WriteAccess for Positional {}

/// The access of a path `outer.inner`: the narrower of the two.
pub trait JoinAccess<B: Access>: Access {
    /// The access of the joined path.
    type Joined: Access;
}

macro_rules! join_access {
    ($($a:ident + $b:ident => $out:ident;)*) => {$(
        impl JoinAccess<$b> for $a {
            type Joined = $out;
        }
    )*};
}

// A read-only and a positional step together allow nothing (neither a
// query nor an update can name such a path): no join, so no such path.
join_access! {
    Writable + Writable => Writable;
    Writable + ReadOnly => ReadOnly;
    Writable + Positional => Positional;
    ReadOnly + Writable => ReadOnly;
    ReadOnly + ReadOnly => ReadOnly;
    Positional + Writable => Positional;
    Positional + Positional => Positional;
}

/// A struct with field constants (`#[derive(Schema)]`), or an `Option` of
/// one: what [`Field::then`] can step into.
pub trait Nested {
    /// The struct whose fields the next step names.
    type Struct;
    /// The type a path through this one reaches when the struct's field
    /// has type `U`: `U` itself, or `Option<U>` through an `Option`.
    type Value<U: Nullable>;
}

impl<S: Nested<Struct = S>> Nested for Option<S> {
    type Struct = S;
    type Value<U: Nullable> = U::Optional;
}

/// A value type with an optional form: `Option<T>` for `T`, and
/// `Option<T>` itself for `Option<T>` (a path through an `Option` is
/// optional once, however many `Option`s it passes).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be reached through an `Option` yet",
    note = "`#[derive(Schema)]` implements `model::Nullable`; for a hand-written `FieldType` add `impl Nullable for {Self} {{ type Optional = Option<{Self}>; }}`"
)]
pub trait Nullable {
    /// `Option<Self>`, or `Self` when it is already an `Option`.
    type Optional;
}

impl<T> Nullable for Option<T> {
    type Optional = Option<T>;
}

macro_rules! nullable {
    ($($ty:ty),* $(,)?) => {$(
        impl Nullable for $ty {
            type Optional = Option<$ty>;
        }
    )*};
}

nullable!(
    String,
    bool,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    f32,
    f64,
    char,
    bson::DateTime,
    bson::oid::ObjectId,
    bson::Decimal128,
    bson::Uuid,
    bson::Binary,
    Document,
    Bson,
);

impl<T> Nullable for Vec<T> {
    type Optional = Option<Vec<T>>;
}

impl<T> Nullable for Box<T> {
    type Optional = Option<Box<T>>;
}

impl<K, V, S> Nullable for HashMap<K, V, S> {
    type Optional = Option<HashMap<K, V, S>>;
}

impl<K, V> Nullable for std::collections::BTreeMap<K, V> {
    type Optional = Option<std::collections::BTreeMap<K, V>>;
}

/// Ties a [`Field`] to its model, value type and access without owning any.
type Marker<M, T, A> = PhantomData<fn() -> (M, T, A)>;

/// A path in documents of model `M` to values of type `T`, stored under
/// [`name`](Field::name) (dotted for nested paths: `address.city`).
///
/// `A` says what the path allows: [`Writable`] (query, sort and update),
/// [`ReadOnly`] (query and sort) or [`Positional`] (update only).
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
    /// A handle to the field stored as `name` (what the derives emit).
    ///
    /// Nothing checks `name`: prefer the generated constants, and
    /// [`then`](Field::then) / [`any`](Field::any) for nested paths.
    pub const fn new(name: &'static str) -> Self {
        Field { name, _marker: PhantomData }
    }

    /// The path the value is stored under (after serde renames, dotted
    /// for nested paths).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn step<U, B>(self, inner: &'static str) -> Field<M, U, B> {
        Field::new(intern::join(self.name, inner))
    }
}

/// The path of a typed field, as an index key: a path of model `M` that
/// a query reads (`Customer::ADDRESS.then(Address::CITY)`,
/// `Order::ITEMS.any(LineItem::SKU)`), not a positional update path.
pub fn index_path<M, T, A: ReadAccess>(field: Field<M, T, A>) -> &'static str {
    field.name()
}

impl<M, T: Nested, A: Access> Field<M, T, A> {
    /// The path to `inner`, a field of the struct this path reaches:
    /// `Customer::ADDRESS.then(Address::CITY)` is stored as `address.city`.
    /// Through an `Option` the value becomes optional.
    ///
    /// The compiler checks that `inner` belongs to this path's struct.
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
    /// let sku = Order::LINES.matched().then(Line::SKU);
    /// assert_eq!(sku.name(), "lines.$.sku");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn then<U: Nullable, B: Access>(
        self,
        inner: Field<T::Struct, U, B>,
    ) -> Field<M, T::Value<U>, A::Joined>
    where
        A: JoinAccess<B>,
    {
        self.step(inner.name)
    }
}
