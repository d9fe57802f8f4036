//! What a migration changed, or a plan would change, and what the stored
//! documents say about it.

use std::fmt;

use bson::Bson;

/// What [`Connection::migrate`](crate::Connection::migrate) changed in one collection (or, from
/// [`Connection::migration_plan`](crate::Connection::migration_plan), would change), and what the documents
/// already stored say about it. Its `Display` is a one-line summary for a
/// start-up log.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MigrationReport {
    /// The collection migrated.
    pub collection: String,
    /// The collection did not exist and was created (with the validator).
    pub collection_created: bool,
    /// Declared indexes that did not exist.
    pub indexes_created: Vec<String>,
    /// Declared indexes that existed with other keys or options: dropped
    /// and created again.
    pub indexes_replaced: Vec<String>,
    /// Indexes that existed but are not declared.
    pub indexes_dropped: Vec<String>,
    /// Declared indexes that existed as declared, left alone.
    pub indexes_unchanged: Vec<String>,
    /// Whether the validator was set.
    pub validator: ValidatorChange,
    /// The stored documents the validator being set rejects; `None` when
    /// it is not set, the collection is new, or every document passes.
    pub rejected_documents: Option<RejectedDocuments>,
    /// The unique indexes to build whose keys stored documents duplicate:
    /// the server would fail to build them. Only a plan lists them
    /// ([`migrate`](crate::Connection::migrate) refuses with
    /// [`Error::DuplicateKeys`](crate::Error::DuplicateKeys) instead).
    pub duplicate_keys: Vec<DuplicateKeys>,
}

impl MigrationReport {
    /// Whether the migration changed nothing.
    pub fn is_unchanged(&self) -> bool {
        !self.collection_created
            && self.indexes_created.is_empty()
            && self.indexes_replaced.is_empty()
            && self.indexes_dropped.is_empty()
            && self.validator == ValidatorChange::Unchanged
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.collection)?;
        if self.is_unchanged() {
            return f.write_str("unchanged");
        }
        let mut parts = Vec::new();
        if self.collection_created {
            parts.push("collection created".to_string());
        }
        for (what, names) in [
            ("created", &self.indexes_created),
            ("replaced", &self.indexes_replaced),
            ("dropped", &self.indexes_dropped),
        ] {
            if !names.is_empty() {
                parts.push(format!("indexes {what} [{}]", names.join(", ")));
            }
        }
        for duplicates in &self.duplicate_keys {
            parts.push(format!(
                "unique index {} over {} duplicated keys",
                duplicates.index, duplicates.groups
            ));
        }
        if self.validator == ValidatorChange::Set {
            match &self.rejected_documents {
                Some(rejected) => parts
                    .push(format!("validator set ({} stored documents fail it)", rejected.count)),
                None => parts.push("validator set".to_string()),
            }
        }
        f.write_str(&parts.join(", "))
    }
}

/// What happened to a collection's validator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidatorChange {
    /// The validator, level and action were already set as declared.
    #[default]
    Unchanged,
    /// The validator, level and action were set: on a new collection, or
    /// with `collMod` because one of them differed.
    Set,
}

/// Stored documents a new validator rejects, counted before it is set
/// (`countDocuments({ $nor: [{ $jsonSchema: ... }] })`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RejectedDocuments {
    /// How many.
    pub count: u64,
    /// The `_id`s of the first few (at most [`REJECTED_IDS`](crate::REJECTED_IDS), in `_id`
    /// order), to look at.
    pub ids: Vec<Bson>,
}

/// A unique index to build whose keys stored documents duplicate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DuplicateKeys {
    /// The index.
    pub index: String,
    /// How many key values are each stored in more than one document (the
    /// values themselves are user data, and are not read).
    pub groups: u64,
}
