//! The client's check of a model's field constraints, before a write is
//! sent: the whole document of an insert or a replace, the values an
//! update sets. As the server's validator: nothing under
//! `validation_action = "warn"`, where the server applies such writes,
//! and inserts only under `validation_level = "moderate"`, where it does
//! not check the updates of documents that fail it already (which only it
//! knows).

use bson::Document;
use mongodb::options::{ValidationAction, ValidationLevel};

use crate::error::{Error, Result};
use crate::model::Model;

/// Whether the server refuses what breaks the validator, in writes of
/// documents already stored (`updates`) or in inserts.
fn enforced<M: Model>(updates: bool) -> bool {
    let warns = matches!(M::VALIDATION_ACTION, ValidationAction::Warn);
    let moderate = matches!(M::VALIDATION_LEVEL, ValidationLevel::Moderate);
    !(warns || updates && moderate)
}

/// The constraints of a document to insert, checked as the server would
/// check them.
///
/// # Errors
/// [`Error::Validation`] naming the first field that breaks one, with
/// nothing sent.
pub(crate) fn insert<M: Model>(document: &M) -> Result<()> {
    checked::<M>(document, false)
}

/// The constraints of a replacement, checked as the server would check
/// them.
///
/// # Errors
/// As [`insert`].
pub(crate) fn replacement<M: Model>(document: &M) -> Result<()> {
    checked::<M>(document, true)
}

fn checked<M: Model>(document: &M, updates: bool) -> Result<()> {
    if !enforced::<M>(updates) {
        return Ok(());
    }
    document.check().map_err(|violation| Error::violation(M::COLLECTION, violation))
}

/// The constraints of the fields an update sets whole (`$set` of a
/// top-level field). A path into a field, the array operators, and
/// `$setOnInsert` (which the server ignores when the upsert matches) are
/// left to the server's validator.
///
/// # Errors
/// [`Error::Validation`] naming the first field that breaks one, with
/// nothing sent.
pub(crate) fn update<M: Model>(update: &Document) -> Result<()> {
    if !enforced::<M>(true) || M::FIELDS.iter().all(|field| field.constraints().is_empty()) {
        return Ok(());
    }
    let Ok(set) = update.get_document("$set") else { return Ok(()) };
    for (path, value) in set {
        let Some(field) = M::FIELDS.iter().find(|field| field.name() == path) else {
            continue;
        };
        field
            .constraints()
            .check(path, Some(value))
            .map_err(|violation| Error::violation(M::COLLECTION, violation))?;
    }
    Ok(())
}
