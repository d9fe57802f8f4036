//! Typed paths to a model's values, from which queries, updates and sorts
//! are built. `#[derive(Model)]` and `#[derive(Schema)]` emit one constant
//! per field (`Foo::BAR: Field<Foo, Option<i64>>`); paths compose
//! (`Customer::ADDRESS.then(Address::CITY)`), and every operation on them
//! is defined here once, and only where the value's type and the path's
//! access allow it. Array operations are in [`array`](crate::array).

use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::{Mutex, OnceLock, PoisonError};

use bson::{Bson, Document, doc};

use crate::query::Query;
use crate::schema::{FieldType, Numeric, Ordered};
use crate::sort::Sort;
use crate::update::{Op, Update};

/// Marks a path an update may change and a query may read.
#[derive(Debug)]
pub enum Writable {}

/// Marks a path that can be queried and sorted on, not set: the fields
/// the runtime owns (`_id`, `created_at`, `updated_at`) and paths through
/// every element of an array ([`Field::each`]).
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
    note = "query the array with `elem_match` or `each`, and use `matched()` / `every()` only in updates"
)]
pub trait ReadAccess: Access {}
impl ReadAccess for Writable {}
impl ReadAccess for ReadOnly {}

/// Paths an update can change: [`Writable`] and [`Positional`].
#[diagnostic::on_unimplemented(
    message = "this field is read-only: the key, the timestamps and paths through `each` cannot be updated",
    note = "the runtime sets `_id`, `created_at` and `updated_at`; update an array's elements with `matched()` or `every()`"
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
    /// [`then`](Field::then) / [`each`](Field::each) for nested paths.
    pub const fn new(name: &'static str) -> Self {
        Field { name, _marker: PhantomData }
    }

    /// The path the value is stored under (after serde renames, dotted
    /// for nested paths).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn step<U, B>(self, inner: &'static str) -> Field<M, U, B> {
        Field::new(join(self.name, inner))
    }
}

/// `outer.inner`, as a string that lives as long as the program.
///
/// Paths are made from the derives' constants, so there are as many
/// distinct ones as the program names: each is joined once and kept, and
/// a path is as cheap to copy and compare as a field name. Each thread
/// remembers the paths it has seen (no lock on the way), the process the
/// joined strings (one copy each, whichever thread made it first).
fn join(outer: &'static str, inner: &'static str) -> &'static str {
    thread_local! {
        static SEEN: RefCell<HashMap<Parts, &'static str, BuildPartsHasher>> =
            RefCell::new(HashMap::default());
    }
    static JOINED: OnceLock<Mutex<HashMap<Parts, &'static str, BuildPartsHasher>>> =
        OnceLock::new();
    let parts = Parts::of(outer, inner);
    if let Some(path) = SEEN.with(|seen| seen.borrow().get(&parts).copied()) {
        return path;
    }
    let path = *JOINED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(parts)
        .or_insert_with(|| Box::leak(format!("{outer}.{inner}").into_boxed_str()));
    SEEN.with(|seen| seen.borrow_mut().insert(parts, path));
    path
}

/// Two `'static` strings by address and length: equal parts, equal path.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Parts([usize; 4]);

impl std::hash::Hash for Parts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One word: the addresses differ, the lengths only refine.
        let [a, b, c, d] = self.0.map(|w| w as u64);
        state.write_u64(a ^ b.rotate_left(48) ^ c.rotate_left(16) ^ d.rotate_left(56));
    }
}

impl Parts {
    fn of(outer: &'static str, inner: &'static str) -> Self {
        Parts([outer.as_ptr() as usize, outer.len(), inner.as_ptr() as usize, inner.len()])
    }
}

/// A multiply-rotate hasher for [`Parts`] (addresses need no DoS-resistant hash).
#[derive(Default)]
struct PartsHasher(u64);

impl std::hash::Hasher for PartsHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type BuildPartsHasher = std::hash::BuildHasherDefault<PartsHasher>;

impl<M, T: Nested, A: Access> Field<M, T, A> {
    /// The path to `inner`, a field of the struct this path reaches:
    /// `Customer::ADDRESS.then(Address::CITY)` is stored as `address.city`.
    /// Through an `Option` the value becomes optional.
    ///
    /// The compiler checks that `inner` belongs to this path's struct.
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

impl<M, E, A: ReadAccess> Field<M, Vec<E>, A> {
    /// The path to `inner` in the array's elements (`items.sku`), for
    /// queries and sorts. A condition holds when it holds for *some*
    /// element (`eq`, `gt`, `one_of`, ...), except the negations, which
    /// hold when *no* element matches (`ne`, `none_of`; `absent` when no
    /// element has the field). Read-only: to update elements use
    /// [`matched`](Field::matched) or [`every`](Field::every).
    pub fn each<U, B: ReadAccess>(self, inner: Field<E, U, B>) -> Field<M, U, ReadOnly> {
        self.step(inner.name)
    }
}

impl<M, E, A: ReadAccess> Field<M, Vec<E>, A> {
    /// Any element of the array, as a value (the array's own path): a
    /// condition on it holds when it holds for some element
    /// (`Customer::TAGS.elements().eq("vip")`), and
    /// [`distinct`](crate::Repo::distinct) and
    /// [`count_by`](crate::Repo::count_by) read elements through it.
    pub fn elements(self) -> Field<M, E, ReadOnly> {
        Field::new(self.name)
    }
}

impl<M, E> Field<M, Vec<E>, Writable> {
    /// The element the update's query matched (`items.$`), in an update
    /// whose query matches an element of this array (with `contains`,
    /// `elem_match` or a path through `each`): `update_many`,
    /// `find_one_and_update`, `upsert`. With `update_one(&key, ..)` the
    /// query is the key alone, which matches no element, and the server
    /// refuses the update.
    pub fn matched(self) -> Field<M, E, Positional> {
        self.step("$")
    }
}

impl<M, E, A: WriteAccess> Field<M, Vec<E>, A> {
    /// Every element of the array (`items.$[]`), in an update.
    pub fn every(self) -> Field<M, E, Positional> {
        self.step("$[]")
    }
}

impl<M, T, A: ReadAccess> Field<M, T, A> {
    /// Sort ascending on this path.
    pub fn asc(self) -> Sort<M> {
        Sort::by(self.name, 1)
    }

    /// Sort descending on this path.
    pub fn desc(self) -> Sort<M> {
        Sort::by(self.name, -1)
    }

    /// Documents where the value is stored (even as `null`).
    pub fn present(self) -> Query<M> {
        Query::condition(self.name, Ok(doc! { "$exists": true }.into()))
    }

    /// Documents where the value is not stored at all (an `Option` field
    /// that is `None`: `None` is left out of stored documents).
    pub fn absent(self) -> Query<M> {
        Query::condition(self.name, Ok(doc! { "$exists": false }.into()))
    }
}

/// `value` as a query compares it: documents (and regular expressions)
/// wrapped in `$eq`, so no value, whatever its content, acts as an
/// operator or a pattern; scalars as they are (`{field: value}` means the
/// same and is what a hand-written filter says).
pub(crate) fn literal(value: Bson) -> Bson {
    if is_compound(&value) { Bson::Document(doc! { "$eq": value }) } else { value }
}

/// Whether a filter would read `value` as more than a value: a document
/// (operators) or a regular expression (a pattern).
fn is_compound(value: &Bson) -> bool {
    matches!(value, Bson::Document(_) | Bson::RegularExpression(_))
}

impl<M, T: FieldType, A: ReadAccess> Field<M, T, A> {
    /// Documents whose value equals `value`. A document value is compared
    /// as a whole (`$eq`), never read as operators; an array value must
    /// equal the stored array, in order (for one element use `contains`).
    pub fn eq(self, value: impl Into<T>) -> Query<M> {
        const { comparable::<T>() };
        Query::condition(self.name, value.into().into_bson().map(literal))
    }

    /// Documents whose value differs from `value` (or is missing).
    pub fn ne(self, value: impl Into<T>) -> Query<M> {
        const { comparable::<T>() };
        self.operator("$ne", value.into().into_bson())
    }

    /// Documents whose value equals one of `values` (`$in`).
    pub fn one_of<V: Into<T>>(self, values: impl IntoIterator<Item = V>) -> Query<M> {
        const { comparable::<T>() };
        self.membership("$in", "$or", list(values))
    }

    /// Documents whose value equals none of `values` (`$nin`).
    pub fn none_of<V: Into<T>>(self, values: impl IntoIterator<Item = V>) -> Query<M> {
        const { comparable::<T>() };
        self.membership("$nin", "$nor", list(values))
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
/// encode differently (a `HashMap`): the server would never match it.
pub(crate) const fn comparable<T: FieldType>() {
    assert!(
        T::COMPARABLE,
        "equality on a value holding a HashMap never matches reliably (its keys are stored in a random order): use a BTreeMap"
    );
}

/// `values` as one BSON array, or the first value's encoding error.
pub(crate) fn list<T: FieldType, V: Into<T>>(
    values: impl IntoIterator<Item = V>,
) -> Result<Bson, bson::ser::Error> {
    values.into_iter().map(|v| v.into().into_bson()).collect::<Result<Vec<_>, _>>().map(Bson::Array)
}

impl<M, T: Ordered, A: ReadAccess> Field<M, T, A> {
    /// Documents whose value is greater than `value`.
    pub fn gt(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$gt", value.into().into_bson())
    }

    /// Documents whose value is greater than or equal to `value`.
    pub fn gte(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$gte", value.into().into_bson())
    }

    /// Documents whose value is less than `value`.
    pub fn lt(self, value: impl Into<T::Bound>) -> Query<M> {
        self.operator("$lt", value.into().into_bson())
    }

    /// Documents whose value is less than or equal to `value`.
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

impl<M, T: FieldType, A: WriteAccess> Field<M, T, A> {
    /// Set the value. Setting an `Option` field to `None` removes it
    /// (`$unset`), since `None` is not stored.
    pub fn set(self, value: impl Into<T>) -> Update<M> {
        let value = value.into();
        if value.is_none() {
            return Update::op(Op::Unset, self.name, Ok(Bson::String(String::new())));
        }
        Update::op(Op::Set, self.name, value.into_bson())
    }

    /// Set the value only when the update inserts the document (an upsert
    /// that matched nothing): `$setOnInsert`. `None` sets nothing, so the
    /// inserted document goes without the field.
    pub fn set_on_insert(self, value: impl Into<T>) -> Update<M> {
        let value = value.into();
        if value.is_none() {
            return Update::none();
        }
        Update::op(Op::SetOnInsert, self.name, value.into_bson())
    }
}

impl<M, T: FieldType, A: WriteAccess> Field<M, Option<T>, A> {
    /// Remove the value from the document (`$unset`).
    pub fn unset(self) -> Update<M> {
        Update::op(Op::Unset, self.name, Ok(Bson::String(String::new())))
    }
}

impl<M, T: Numeric, A: WriteAccess> Field<M, T, A> {
    /// Add `delta` to the value (`$inc`). A value not stored (an `Option`
    /// field that is `None`) counts as zero.
    pub fn inc(self, delta: impl Into<T::Delta>) -> Update<M> {
        Update::op(Op::Inc, self.name, delta.into().into_bson())
    }

    /// Multiply the value by `factor` (`$mul`); a value not stored becomes 0.
    #[allow(clippy::should_implement_trait, reason = "named after MongoDB's `$mul`")]
    pub fn mul(self, factor: impl Into<T::Delta>) -> Update<M> {
        Update::op(Op::Mul, self.name, factor.into().into_bson())
    }
}

impl<M, T: Ordered, A: WriteAccess> Field<M, T, A> {
    /// Lower the value to `value` if it is greater, or set it if not
    /// stored (`$min`).
    pub fn min(self, value: impl Into<T::Bound>) -> Update<M> {
        Update::op(Op::Min, self.name, value.into().into_bson())
    }

    /// Raise the value to `value` if it is less, or set it if not stored
    /// (`$max`).
    pub fn max(self, value: impl Into<T::Bound>) -> Update<M> {
        Update::op(Op::Max, self.name, value.into().into_bson())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_joined_once_and_compares_by_content() {
        let a: &'static str = join("address", "city");
        let b: &'static str = join("address", "city");
        assert_eq!(a, "address.city");
        assert!(std::ptr::eq(a, b));
        assert_eq!(join(a, "$"), "address.city.$");
    }

    #[test]
    fn document_values_are_compared_never_run() {
        assert_eq!(literal(Bson::Int32(1)), Bson::Int32(1));
        let injected = Bson::Document(doc! { "$exists": true });
        assert_eq!(literal(injected.clone()), Bson::Document(doc! { "$eq": injected }));
    }
}
