//! Reading documents into a smaller type: projections.
//!
//! `#[derive(Projection)]` on a struct naming its model implements
//! [`Projection`] and checks, at compile time, that each of its fields is
//! a field of the model under the same stored name with a compatible type.
//! A read then asks the server for those fields only
//! (`repo.find_many(q).project::<Contact>()`).

use bson::raw::{RawBsonRef, RawDocument, RawDocumentBuf};
use bson::{Bson, Document};
use serde::de::DeserializeOwned;

use crate::field::Field;
use crate::model::Model;

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
/// reads its cursor from), with the paths it added, which
/// [`without_paths`] takes out of each document again before it is read
/// into the projection (one with `#[serde(deny_unknown_fields)]` would
/// refuse them). `None` (the whole document) stays `None`.
pub(crate) fn with_paths<'p>(
    projection: Option<Document>,
    paths: &[&'p str],
) -> (Option<Document>, Vec<&'p str>) {
    let Some(mut projection) = projection else {
        return (None, Vec::new());
    };
    let mut added = Vec::new();
    for path in paths {
        if *path == "_id" {
            // Returned unless excluded.
            if projection.remove("_id").is_some_and(|v| !is_included(&v)) {
                added.push(*path);
            }
        } else if !covers(&projection, path) {
            projection.insert(*path, 1);
            added.push(*path);
        }
    }
    (Some(projection), added)
}

fn is_included(value: &Bson) -> bool {
    !matches!(value, Bson::Int32(0) | Bson::Int64(0) | Bson::Boolean(false))
        && !matches!(value, Bson::Double(x) if *x == 0.0)
}

/// Whether `projection` asks for `path` (or a field that holds it).
fn covers(projection: &Document, path: &str) -> bool {
    let mut prefix = path;
    loop {
        if projection.get(prefix).is_some_and(is_included) {
            return true;
        }
        match prefix.rfind('.') {
            Some(dot) => prefix = &prefix[..dot],
            None => return false,
        }
    }
}

/// `doc` without the dotted `paths` (each a field, or a field of an
/// embedded document).
pub(crate) fn without_paths(
    doc: &RawDocument,
    paths: &[&str],
) -> Result<RawDocumentBuf, bson::raw::Error> {
    let mut kept = RawDocumentBuf::new();
    for element in doc {
        let (key, value) = element?;
        let inner: Vec<&str> = paths
            .iter()
            .filter_map(|path| match path.strip_prefix(key) {
                Some("") => Some(""),
                Some(rest) => rest.strip_prefix('.'),
                None => None,
            })
            .collect();
        if inner.contains(&"") {
            continue;
        }
        match value {
            RawBsonRef::Document(embedded) if !inner.is_empty() => {
                kept.append(key, without_paths(embedded, &inner)?);
            }
            value => kept.append_ref(key, value),
        }
    }
    Ok(kept)
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
            with_paths(Some(projection_of(&["a"])), &["b", "_id", "a", "a.c"]),
            (Some(doc! { "a": 1, "b": 1 }), vec!["b", "_id"])
        );
        assert_eq!(
            with_paths(Some(projection_of(&["_id", "a.b"])), &["_id", "a.c", "a.b.d"]),
            (Some(doc! { "a.b": 1, "a.c": 1 }), vec!["a.c"])
        );
        assert_eq!(with_paths(None, &["b"]), (None, vec![]));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("ab", "abc"));
    }

    #[test]
    fn the_paths_a_read_added_are_taken_out_again() {
        let doc = bson::rawdoc! { "_id": 1, "a": { "b": 1, "c": 2 }, "ab": 3, "d": 4 };
        let kept = without_paths(&doc, &["_id", "a.c", "d"]).unwrap();
        assert_eq!(kept, bson::rawdoc! { "a": { "b": 1 }, "ab": 3 });
        assert_eq!(without_paths(&doc, &[]).unwrap(), doc);
    }
}
