//! Optimistic concurrency: a model's version field (`#[model(version)]`).
//!
//! Every write through the repository adds 1 to the version. A write that
//! requires the version it read ([`Repo::replace`](crate::Repo::replace),
//! [`Repo::find_one_and_replace`](crate::Repo::find_one_and_replace),
//! [`UpdateOne::if_version`](crate::UpdateOne::if_version)) applies only
//! while the document is still at that version, and is otherwise
//! [`Error::VersionConflict`] with nothing written: of several editors of
//! one version exactly one wins, and no edit is lost unseen. A document
//! stored before the field existed reads as version 0 (the field needs
//! `#[serde(default)]`) and matches an expected 0.
//!
//! A version never wraps, saturates or changes its stored type: a
//! document at its type's maximum ([`Version::MAX`]) takes no further
//! counted write. `replace`, `find_one_and_replace`, `update` and
//! `if_version` answer [`Error::VersionAtMaximum`] with nothing written;
//! writes selected by a query (`find_one_and_update`, `update_many`) do
//! not match it. `upsert` is the exception: it is not guarded (a guard in
//! its filter would make it insert a second document), so at the maximum
//! its `$inc` overflows as the server does it.

use bson::{Bson, Document, doc};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::FieldType;

/// An integer type a version field can have.
#[diagnostic::on_unimplemented(
    message = "a version field counts writes: it must be an integer (`i32`, `i64`, `u32` or `u64`), not `{Self}`",
    note = "declare it as `#[model(version)] #[serde(default)] version: i64`"
)]
pub trait Version: FieldType + Copy {
    /// The version as an `i64`.
    fn get(self) -> i64;
    /// The version `value` (saturating at the type's bounds).
    fn from_i64(value: i64) -> Self;
    /// 1, as the type is stored (an `int` for `i32`, a `long` otherwise),
    /// so an `$inc` keeps the stored type.
    fn step() -> Bson;
    /// The largest version the type holds as it is stored: a document at
    /// it takes no further counted write ([`Error::VersionAtMaximum`]), so
    /// the version never wraps, saturates or changes its stored type.
    const MAX: i64;
}

macro_rules! version {
    ($($ty:ty => $step:expr, $max:expr);*) => {$(
        impl Version for $ty {
            const MAX: i64 = $max;

            fn get(self) -> i64 {
                i64::try_from(self).unwrap_or(i64::MAX)
            }
            fn from_i64(value: i64) -> Self {
                <$ty>::try_from(value).unwrap_or(if value < 0 { <$ty>::MIN } else { <$ty>::MAX })
            }
            fn step() -> Bson {
                $step
            }
        }
    )*};
}

version!(
    i32 => Bson::Int32(1), i32::MAX as i64;
    i64 => Bson::Int64(1), i64::MAX;
    u32 => Bson::Int64(1), u32::MAX as i64;
    // Stored as a `long`: at most `i64::MAX`.
    u64 => Bson::Int64(1), i64::MAX
);

/// Adds "the version is below its maximum" to the filter of a write that
/// bumps the version without requiring one, so a document at the maximum
/// is never written ([`Error::VersionAtMaximum`] where the write names a
/// key). A document without the field (version 0) matches.
pub(crate) fn below_maximum<M: Model>(filter: Document) -> Document {
    let Some(path) = M::VERSION else { return filter };
    let guard = doc! { "$not": { "$gte": M::version_max() } };
    if filter.contains_key(path) {
        doc! { "$and": [filter, { path: guard }] }
    } else {
        let mut filter = filter;
        filter.insert(path, guard);
        filter
    }
}

/// The version a write that requires `expected` stores: one more, or
/// [`Error::VersionAtMaximum`] (with nothing sent) when `expected` is
/// already the type's maximum.
pub(crate) fn next<M: Model>(expected: i64) -> Result<i64> {
    if expected >= M::version_max() {
        return Err(at_maximum::<M>());
    }
    Ok(expected + 1)
}

/// [`Error::VersionAtMaximum`] for `M`.
pub(crate) fn at_maximum<M: Model>() -> Error {
    Error::VersionAtMaximum { collection: M::COLLECTION.to_string() }
}

/// Adds "at version `expected`" to `filter`: the stored version, or (for
/// 0) no version at all.
pub(crate) fn require<M: Model>(filter: &mut Document, expected: i64) -> Result<()> {
    let path = M::VERSION.ok_or_else(|| {
        Error::invalid(format!(
            "`{}` has no version field: mark an integer field `#[model(version)]`",
            M::COLLECTION
        ))
    })?;
    let condition = if expected == 0 {
        doc! { "$in": [0_i64, Bson::Null] }
    } else {
        doc! { "$eq": expected }
    };
    filter.insert(path, condition);
    Ok(())
}

/// Readies `document` to replace the stored document `filter` selects
/// (`replace`, `find_one_and_replace`): its `updated_at` set to `now`,
/// and for a versioned model `filter` requiring `document`'s version and
/// `document` carrying the next one. The version required, for a
/// versioned model; [`Error::VersionAtMaximum`] (with nothing sent) when
/// it is already the type's maximum.
pub(crate) fn replacement<M: Model>(
    filter: &mut Document,
    document: &mut M,
    now: bson::DateTime,
) -> Result<Option<i64>> {
    let mut expected = None;
    if M::VERSION.is_some() {
        let version = document.version();
        require::<M>(filter, version)?;
        document.set_version(next::<M>(version)?);
        expected = Some(version);
    }
    document.touch(now);
    Ok(expected)
}
