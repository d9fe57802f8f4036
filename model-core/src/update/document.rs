//! The update document a write sends: the model's timestamps, the
//! version bump, the constraints of what it sets, keys BSON can encode.

use std::sync::Arc;

use bson::{Bson, DateTime, Document};

use crate::error::{Error, Result};
use crate::model::Model;

use super::Update;

/// Adds 1 to the version in `update`, for a versioned model.
fn bump<M: Model>(update: &mut Document) {
    let Some(path) = M::VERSION else { return };
    match update.get_mut("$inc") {
        Some(Bson::Document(inc)) => {
            inc.insert(path, M::version_step());
        }
        _ => {
            update.insert("$inc", bson::doc! { path: M::version_step() });
        }
    }
}

/// The update document of `update` for `M`: timestamps, the version
/// bump, and encodable keys.
pub(crate) fn update_document<M: Model>(update: Update<M>, now: DateTime) -> Result<Document> {
    let mut update = update.into_document(now)?;
    bump::<M>(&mut update);
    if update.is_empty() {
        // Only an update without an update timestamp (none on the model,
        // or `touch(false)`) or a version gets here.
        return Err(Error::invalid(format!(
            "the update of `{}` changes nothing (no field, and no `updated_at` to set)",
            M::COLLECTION
        )));
    }
    crate::check::update::<M>(&update)?;
    encodable(update)
}

/// `update`, or [`Error::InvalidValue`] when a value holds a field name
/// BSON cannot encode (one with a NUL byte). The driver would refuse it
/// too, but report it as an invalid server response.
fn encodable(update: Document) -> Result<Document> {
    fn bad_key(value: &Bson) -> Option<&str> {
        match value {
            Bson::Document(doc) => doc.iter().find_map(|(key, value)| {
                if key.contains('\0') { Some(key.as_str()) } else { bad_key(value) }
            }),
            Bson::Array(values) => values.iter().find_map(bad_key),
            _ => None,
        }
    }
    for fields in update.values().filter_map(Bson::as_document) {
        for (field, value) in fields {
            if let Some(key) = bad_key(value) {
                return Err(Error::InvalidValue {
                    field: field.clone(),
                    source: Arc::new(bson::ser::Error::InvalidCString(key.to_string())),
                });
            }
        }
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::Op;
    use bson::doc;

    fn op(op: Op, field: &'static str, value: i64) -> Update<()> {
        Update::op(op, field, Ok(value.into()))
    }

    #[test]
    fn operators_merge_and_the_later_value_wins() {
        let now = DateTime::from_millis(7);
        let update = op(Op::Inc, "n", 1)
            .and(op(Op::Set, "a", 1))
            .and(Update::none())
            .and(op(Op::Set, "a", 2).and(op(Op::Unset, "b", 0)));
        assert!(!update.is_empty() && Update::<()>::none().is_empty());
        assert_eq!(
            update.document_stamped(Some(("updated_at", now))).unwrap(),
            doc! { "$inc": { "n": 1_i64 }, "$set": { "a": 2_i64, "updated_at": now }, "$unset": { "b": 0_i64 } }
        );
        assert_eq!(
            Update::<()>::none().document_stamped(Some(("updated_at", now))).unwrap(),
            doc! { "$set": { "updated_at": now } }
        );
    }

    #[test]
    fn the_later_operator_on_a_path_wins_and_array_additions_add_up() {
        let now = DateTime::from_millis(7);
        let set_then_unset = op(Op::Set, "a", 1).and(op(Op::Unset, "a", 0));
        assert_eq!(
            set_then_unset.document_stamped(Some(("updated_at", now))).unwrap(),
            doc! { "$set": { "updated_at": now }, "$unset": { "a": 0_i64 } }
        );
        let pushes = op(Op::Push, "t", 1).and(op(Op::Push, "t", 2)).and(op(Op::Push, "t", 3));
        assert_eq!(
            pushes.document_stamped(Some(("updated_at", now))).unwrap(),
            doc! { "$push": { "t": { "$each": [1_i64, 2_i64, 3_i64] } }, "$set": { "updated_at": now } }
        );
        let pulls = Update::<()>::op(Op::PullAll, "t", Ok(bson::bson!([1]))).and(Update::op(
            Op::PullAll,
            "t",
            Ok(bson::bson!([2])),
        ));
        assert_eq!(
            pulls.document_stamped(Some(("updated_at", now))).unwrap(),
            doc! { "$pullAll": { "t": [1, 2] }, "$set": { "updated_at": now } }
        );
    }

    #[test]
    fn raw_parts_merge_with_typed_ones_and_must_be_operators() {
        let now = DateTime::from_millis(7);
        let update = op(Op::Set, "a", 1)
            .and(Update::raw(doc! { "$set": { "b": 2 }, "$rename": { "c": "d" } }));
        assert_eq!(
            update.document_stamped(Some(("updated_at", now))).unwrap(),
            doc! { "$set": { "a": 1_i64, "b": 2, "updated_at": now }, "$rename": { "c": "d" } }
        );
        let bad = Update::<()>::raw(doc! { "a": 1 });
        assert!(matches!(
            bad.document_stamped(Some(("updated_at", now))),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
