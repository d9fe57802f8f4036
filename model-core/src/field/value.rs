//! What an operator accepts as a field's value: for a field of type `T`,
//! anything `Into<T>`; for an `Option<T>` field, also anything `Into<T>`
//! (`Note::TEXT.set("hi")` as `Post::TITLE.set("hi")`), and the `Option`
//! itself (`None` unsets).

use super::Nullable;

/// A value for a field of type `T`: what `set`, `set_on_insert`, `eq`,
/// `ne`, `one_of` and `none_of` accept.
///
/// - A field of type `T` takes anything `Into<T>` (`"hi"` for a `String`).
/// - An `Option<T>` field takes the same, stored as `Some`, and an
///   `Option<T>` (`None` unsets, in `set`).
///
/// `How` tells the two apart (it is inferred, never written). A field type
/// other than an `Option` says it is one with [`Nullable`], which
/// `#[derive(Schema)]` implements.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value for a field of type `{T}`",
    label = "expected a value that converts into `{T}`",
    note = "a field of type `T` accepts what converts `Into<T>`; an `Option<T>` field also accepts `Some(T)` and `None`",
    note = "a hand-written `FieldType` also needs `impl Nullable for MyType {{ type Optional = Option<MyType>; }}`"
)]
pub trait FieldValue<T, How> {
    /// The value as the field's type.
    fn into_value(self) -> T;
}

/// Forms of [`FieldValue`]; inferred, never written.
pub mod how {
    /// A value `Into<T>` for a field of type `T` (not an `Option`).
    #[derive(Debug)]
    pub enum Plain {}
    /// A value `Into<T>` for an `Option<T>` field, stored as `Some`.
    #[derive(Debug)]
    pub enum Some {}
    /// An `Option<T>` for an `Option<T>` field.
    #[derive(Debug)]
    pub enum Whole {}
}

// Three forms, and for each value and field type at most one applies, so
// the form is inferred: a field type that is not an `Option` is told
// apart by its `Nullable::Optional` (`Option<Self>`; an `Option`'s is itself).
impl<T: Nullable<Optional = Option<T>>, V: Into<T>> FieldValue<T, how::Plain> for V {
    fn into_value(self) -> T {
        self.into()
    }
}

impl<T, V: Into<T>> FieldValue<Option<T>, how::Some> for V {
    fn into_value(self) -> Option<T> {
        Some(self.into())
    }
}

impl<T> FieldValue<Option<T>, how::Whole> for Option<T> {
    fn into_value(self) -> Option<T> {
        self
    }
}
