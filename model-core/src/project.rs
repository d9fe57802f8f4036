//! Reading documents into a smaller type: projections.
//!
//! `#[derive(Projection)]` on a struct naming its model implements
//! [`Projection`] and checks, at compile time, that each of its fields is
//! a field of the model under the same stored name with a compatible type.
//! A read then asks the server for those fields only
//! (`repo.find_many(q).project::<Contact>()`).

use bson::Document;
use serde::de::DeserializeOwned;

use crate::Model;
use crate::field::Field;

/// A type reads of model `M` decode into: `M` itself, or a projection of
/// it (`#[derive(Projection)]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a projection of `{M}`",
    note = "derive it: `#[derive(Projection, Deserialize)] #[projection(model = {M})]`"
)]
pub trait Projection<M>: DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The fields a read asks for (`{ name: 1, .. }`), or `None` for the
    /// whole document.
    fn projection() -> Option<Document>;
}

impl<M: Model> Projection<M> for M {
    fn projection() -> Option<Document> {
        None
    }
}

/// A projection's field of type `Self` can hold the model's value of type
/// `T`: the same type, or an `Option` of it.
#[diagnostic::on_unimplemented(
    message = "a projected field of type `{Self}` cannot hold the model's `{T}`",
    note = "give the projection's field the model field's type `{T}`, or `Option<{T}>`"
)]
pub trait ProjectsFrom<T> {}

impl<T> ProjectsFrom<T> for T {}
impl<T> ProjectsFrom<T> for Option<T> {}

impl<M, T, A> Field<M, T, A> {
    /// The compile-time check `#[derive(Projection)]` emits for each field:
    /// this field is stored as `stored` (the projection's name for it) and
    /// its value can be read into `P`.
    #[doc(hidden)]
    pub const fn __projected_as<P: ProjectsFrom<T>>(self, stored: &str) {
        assert!(
            same(self.name(), stored),
            "a projection's field must be stored under the model's name for it: rename it to match"
        );
    }
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The projection document for the stored names `fields`: each asked for,
/// and `_id` left out unless named.
#[doc(hidden)]
pub fn projection_of(fields: &[&str]) -> Document {
    let mut projection = Document::new();
    for field in fields {
        projection.insert(*field, 1);
    }
    if !fields.contains(&"_id") {
        projection.insert("_id", 0);
    }
    projection
}

/// `projection` widened to hold `paths` too (the sort keys a keyset page
/// reads its cursor from); `None` (the whole document) stays `None`.
pub(crate) fn with_paths(projection: Option<Document>, paths: &[&str]) -> Option<Document> {
    let mut projection = projection?;
    for path in paths {
        if *path == "_id" {
            projection.remove("_id");
        } else if !projection.contains_key(*path) {
            projection.insert(*path, 1);
        }
    }
    Some(projection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn projection_documents_leave_out_the_key_unless_named() {
        assert_eq!(projection_of(&["a", "b.c"]), doc! { "a": 1, "b.c": 1, "_id": 0 });
        assert_eq!(projection_of(&["_id", "a"]), doc! { "_id": 1, "a": 1 });
        assert_eq!(
            with_paths(Some(projection_of(&["a"])), &["b", "_id"]),
            Some(doc! { "a": 1, "b": 1 })
        );
        assert_eq!(with_paths(None, &["b"]), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("ab", "abc"));
    }
}
