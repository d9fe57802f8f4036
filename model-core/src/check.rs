//! The client's check of a model's field constraints, before a write is
//! sent: the whole document of an insert or a replace, the values an
//! update sets. Skipped under `validation_action = "warn"`, where the
//! server applies such a write too.

use bson::Document;
use mongodb::options::ValidationAction;

use crate::error::{Error, Result};
use crate::model::Model;

/// Whether the server refuses what breaks the validator.
fn enforced<M: Model>() -> bool {
    !matches!(M::VALIDATION_ACTION, ValidationAction::Warn)
}

/// `document`'s constraints, checked as the server would check them.
///
/// # Errors
/// [`Error::Validation`] naming the first field that breaks one, with
/// nothing sent.
pub(crate) fn document<M: Model>(document: &M) -> Result<()> {
    if !enforced::<M>() {
        return Ok(());
    }
    document.check().map_err(|violation| Error::violation(M::COLLECTION, violation))
}

/// The constraints of the fields an update sets whole (`$set` and
/// `$setOnInsert` of a top-level field). A path into a field, and the
/// array operators, are left to the server's validator.
///
/// # Errors
/// [`Error::Validation`] naming the first field that breaks one, with
/// nothing sent.
pub(crate) fn update<M: Model>(update: &Document) -> Result<()> {
    if !enforced::<M>() || M::FIELDS.iter().all(|field| field.constraints().is_empty()) {
        return Ok(());
    }
    for operator in ["$set", "$setOnInsert"] {
        let Ok(set) = update.get_document(operator) else { continue };
        for (path, value) in set {
            let Some(field) = M::FIELDS.iter().find(|field| field.name() == path) else {
                continue;
            };
            field
                .constraints()
                .check(path, Some(value))
                .map_err(|violation| Error::violation(M::COLLECTION, violation))?;
        }
    }
    Ok(())
}
