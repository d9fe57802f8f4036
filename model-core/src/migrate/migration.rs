//! What a migration applies to one collection: a validator with its
//! level and action, and the indexes.

use std::collections::HashSet;

use bson::{Document, doc};
use mongodb::options::{ValidationAction, ValidationLevel};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::schema::IndexSpec;

/// How many `_id`s of the stored documents a new validator rejects a
/// report names.
pub const REJECTED_IDS: usize = 5;
/// The name of the index MongoDB keeps on `_id`; never dropped.
pub(super) const ID_INDEX: &str = "_id_";
/// Server code of `create` on a collection that exists.
pub(super) const NAMESPACE_EXISTS: i32 = 48;
/// Server code of `dropIndexes` on an index that does not exist.
pub(super) const INDEX_NOT_FOUND: i32 = 27;
/// Fields of a `listIndexes` entry that [`same_index`] compares, or that
/// carry no option (`v`, `ns`, `background`) or are set by the server itself.
pub(super) const KNOWN_INDEX_FIELDS: &[&str] = &[
    "v",
    "key",
    "name",
    "ns",
    "background",
    "unique",
    "sparse",
    "expireAfterSeconds",
    "partialFilterExpression",
    "collation",
    "textIndexVersion",
    "2dsphereIndexVersion",
];

/// What [`Connection::migrate_all`](crate::Connection::migrate_all) applies to one collection: a
/// `$jsonSchema` validator with its level and action, and the indexes.
///
/// ```
/// # use model_core::{IndexSpec, Migration, ValidationLevel};
/// let audit = Migration::new(
///     "audit",
///     bson::doc! { "bsonType": "object" },
///     vec![IndexSpec::new(bson::doc! { "at": -1 })],
/// )
/// .validation_level(ValidationLevel::Moderate);
/// assert_eq!(audit.indexes()[0].name, "at_-1");
/// assert_eq!(audit.level(), &ValidationLevel::Moderate);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    collection: String,
    json_schema: Document,
    indexes: Vec<IndexSpec>,
    keep: Vec<String>,
    level: ValidationLevel,
    action: ValidationAction,
    allow_invalid_documents: bool,
}

impl Migration {
    /// The migration of model `M`: its collection, [`Model::json_schema`],
    /// [`Model::VALIDATION_LEVEL`], [`Model::VALIDATION_ACTION`] and
    /// [`Model::indexes`].
    pub fn of<M: Model>() -> Self {
        Self::new(M::COLLECTION, M::json_schema(), M::indexes())
            .validation_level(M::VALIDATION_LEVEL)
            .validation_action(M::VALIDATION_ACTION)
    }

    /// A migration written by hand, for a collection without a model;
    /// level `strict` and action `error` unless set.
    pub fn new(
        collection: impl Into<String>,
        json_schema: Document,
        indexes: Vec<IndexSpec>,
    ) -> Self {
        Migration {
            collection: collection.into(),
            json_schema,
            indexes,
            keep: Vec::new(),
            level: ValidationLevel::Strict,
            action: ValidationAction::Error,
            allow_invalid_documents: false,
        }
    }

    /// Keeps the index named `name` though it is not declared (one a DBA
    /// added, say): migrate neither drops nor changes it. A declared index
    /// of that name is migrated as usual.
    pub fn keep_index(mut self, name: impl Into<String>) -> Self {
        self.keep.push(name.into());
        self
    }

    /// Sets the `validationLevel`: which writes the validator checks.
    pub fn validation_level(mut self, level: ValidationLevel) -> Self {
        self.level = level;
        self
    }

    /// Sets the `validationAction`: what the server does with a write the
    /// validator rejects.
    pub fn validation_action(mut self, action: ValidationAction) -> Self {
        self.action = action;
        self
    }

    /// Sets the validator even when documents already stored fail it
    /// (which migrate otherwise refuses with [`Error::InvalidDocuments`](crate::Error::InvalidDocuments)):
    /// with level `strict` and action `error`, an update of such a document
    /// then fails unless it makes the document valid.
    pub fn allow_invalid_documents(mut self) -> Self {
        self.allow_invalid_documents = true;
        self
    }

    /// The undeclared indexes kept ([`keep_index`](Self::keep_index)).
    pub fn kept_indexes(&self) -> &[String] {
        &self.keep
    }

    /// The collection migrated.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The `$jsonSchema` the validator is set to.
    pub fn json_schema(&self) -> &Document {
        &self.json_schema
    }

    /// The `validationLevel` set with the validator.
    pub fn level(&self) -> &ValidationLevel {
        &self.level
    }

    /// The `validationAction` set with the validator.
    pub fn action(&self) -> &ValidationAction {
        &self.action
    }

    /// Whether the validator is set though stored documents fail it
    /// ([`allow_invalid_documents`](Self::allow_invalid_documents)).
    pub fn allows_invalid_documents(&self) -> bool {
        self.allow_invalid_documents
    }

    /// The declared indexes; every other index but `_id_` and the
    /// [kept](Self::keep_index) ones is dropped.
    pub fn indexes(&self) -> &[IndexSpec] {
        &self.indexes
    }

    pub(super) fn validator(&self) -> Document {
        doc! { "$jsonSchema": self.json_schema.clone() }
    }

    /// Whether stored documents that fail the validator stop the
    /// migration: unless allowed, when the server would refuse every
    /// update of one that leaves it invalid (level `strict`, action
    /// `error`). Under `moderate` such updates are not checked, under
    /// `warn` they are applied, and under `off` nothing is checked.
    pub(super) fn refuses_invalid_documents(&self) -> bool {
        !self.allow_invalid_documents
            && self.level == ValidationLevel::Strict
            && self.action == ValidationAction::Error
    }

    /// Rejects declarations the server would refuse half-way through.
    pub(super) fn check(&self) -> Result<()> {
        let mut names = HashSet::new();
        for index in &self.indexes {
            if index.name == ID_INDEX {
                return Err(Error::invalid(format!(
                    "`{}` declares an index named `{ID_INDEX}`, the name of the `_id` index",
                    self.collection
                )));
            }
            if !names.insert(index.name.as_str()) {
                return Err(Error::invalid(format!(
                    "`{}` declares two indexes named `{}`",
                    self.collection, index.name
                )));
            }
        }
        Ok(())
    }
}
