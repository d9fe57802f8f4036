//! The traits `#[derive(Model)]` implements: what a model *is*. What a model
//! *does* lives in [`Repo`](crate::Repo).

use bson::{Bson, DateTime, Document, oid::ObjectId};
use mongodb::options::{ValidationAction, ValidationLevel};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};
use crate::schema::{FieldDecl, IndexDecl, IndexSpec, ObjectSchema, Violation};

/// A document type stored in one collection, keyed by `_id`.
///
/// Implemented by `#[derive(Model)]`; implementing it by hand is possible
/// but rarely useful.
pub trait Model: Serialize + DeserializeOwned + Send + Sync + Unpin + Sized + 'static {
    /// The type of the `_id` field.
    type Key: Key;
    /// What `insert_one` takes: every field but the timestamps, with the key
    /// optional where it can be generated.
    type Insert: Send + 'static;
    /// The collection's name.
    const COLLECTION: &'static str;

    /// The document's key.
    fn key(&self) -> &Self::Key;

    /// Builds the document to insert, stamping `created_at` with `now` and
    /// generating the key if the insert left it out.
    fn from_insert(insert: Self::Insert, now: DateTime) -> Self;

    /// Whether [`from_insert`](Model::from_insert) will generate the key.
    fn generates_key(insert: &Self::Insert) -> bool;

    /// Sets `updated_at` to `now` (what a replacement stores); nothing for
    /// a model without timestamps.
    fn touch(&mut self, now: DateTime) {
        let _ = now;
    }

    /// The stored name of the creation timestamp (the field `created_at`,
    /// or the one marked `#[model(created_at)]`), which an insert or an
    /// upsert's insert sets; `None` for a model without timestamps. (A
    /// model's field constant `Foo::CREATED_AT` is the field itself; this
    /// one is `<Foo as Model>::CREATED_AT`.)
    const CREATED_AT: Option<&'static str> = Some("created_at");

    /// The stored name of the update timestamp (the field `updated_at`, or
    /// the one marked `#[model(updated_at)]`), which every update through
    /// the repository sets; `None` for a model without timestamps.
    const UPDATED_AT: Option<&'static str> = Some("updated_at");

    /// The stored name of the version field (`#[model(version)]`), if the
    /// model has one: every write through the repository then adds 1 to
    /// it, and [`Repo::replace`](crate::Repo::replace) and
    /// [`if_version`](crate::UpdateOne::if_version) require the version read.
    const VERSION: Option<&'static str> = None;

    /// What a write adds to the version: 1, as the field's BSON type.
    fn version_step() -> Bson {
        Bson::Int64(1)
    }

    /// The largest version the version field's type holds
    /// ([`Version::MAX`](crate::Version::MAX)).
    fn version_max() -> i64 {
        i64::MAX
    }

    /// The document's version (0 without a version field).
    fn version(&self) -> i64 {
        0
    }

    /// Sets the document's version (nothing without a version field).
    fn set_version(&mut self, version: i64) {
        let _ = version;
    }

    /// The stored fields, in declaration order, with their schemas: what
    /// [`json_schema`](Model::json_schema) is made of.
    const FIELDS: &'static [FieldDecl] = &[];

    /// Whether the validator accepts fields the model does not declare
    /// (`#[model(additional_properties = true)]`).
    const ADDITIONAL_PROPERTIES: bool = false;

    /// Which writes the collection's validator checks
    /// (`#[model(validation_level = "moderate")]`): by default
    /// [`Strict`](ValidationLevel::Strict), every insert and update;
    /// [`Moderate`](ValidationLevel::Moderate) leaves out updates of
    /// documents that fail it already. Set by
    /// [`Connection::migrate`](crate::Connection::migrate).
    const VALIDATION_LEVEL: ValidationLevel = ValidationLevel::Strict;

    /// What the server does with a write the validator rejects
    /// (`#[model(validation_action = "warn")]`): by default
    /// [`Error`](ValidationAction::Error), refuse it;
    /// [`Warn`](ValidationAction::Warn) applies it and logs the failure.
    /// Set by [`Connection::migrate`](crate::Connection::migrate).
    const VALIDATION_ACTION: ValidationAction = ValidationAction::Error;

    /// The declared indexes, as data: what [`indexes`](Model::indexes) is
    /// made of.
    const INDEX_DECLS: &'static [IndexDecl] = &[];

    /// Checks the fields' declared constraints (`#[model(length(..))]`,
    /// ...) on the document as it is stored (serde's renames, `with` and
    /// `skip_serializing_if` applied, `None`s left out): what an insert or
    /// a replace does before it sends anything. `Ok`, without encoding
    /// anything, for a model that declares none.
    ///
    /// # Errors
    /// The first field that breaks one of its constraints; a document
    /// that does not encode is left to the write, which fails on it.
    fn check(&self) -> std::result::Result<(), Violation> {
        if Self::FIELDS.iter().all(|field| field.constraints().is_empty()) {
            return Ok(());
        }
        match bson::to_document(&crate::Stored(self)) {
            Ok(document) => crate::schema::check_document(Self::FIELDS, &document),
            Err(_) => Ok(()),
        }
    }

    /// The `$jsonSchema` validator of the collection.
    fn json_schema() -> Document {
        ObjectSchema::of_fields(Self::FIELDS, Self::ADDITIONAL_PROPERTIES)
    }

    /// The declared indexes (the `_id` index is implicit).
    fn indexes() -> Vec<IndexSpec> {
        Self::INDEX_DECLS.iter().map(IndexDecl::spec).collect()
    }

    /// The filter that selects the document with `key`: `{ _id: key }`.
    ///
    /// A composite key serializes its fields in declaration order, which is
    /// the order MongoDB compares embedded documents in.
    fn key_filter(key: &Self::Key) -> Result<Document> {
        Ok(bson::doc! { "_id": key.to_bson()? })
    }
}

/// A type that can be a model's `_id`.
///
/// Implemented for [`Uuid`](bson::Uuid) and [`ObjectId`] (generated when an
/// insert leaves them out), `String`, `i32`, `i64`, and composite keys made
/// with `#[derive(CompositeKey)]`.
pub trait Key:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The type of the key field in the model's insert struct: `Option<Self>`
    /// for keys that can be generated, `Self` otherwise.
    type Insert: Send + 'static;

    /// The key for an insert, generating one where allowed.
    fn from_insert(insert: Self::Insert) -> Self;

    /// Whether [`from_insert`](Key::from_insert) makes this key up (a
    /// UUID or ObjectId insert that leaves it out).
    fn generates(insert: &Self::Insert) -> bool {
        let _ = insert;
        false
    }

    /// A new key, for kinds the database can make up (UUID and ObjectId):
    /// what an upsert inserts when its query does not name the key.
    fn generate() -> Option<Self> {
        None
    }

    /// The key as the BSON value stored in `_id`.
    fn to_bson(&self) -> Result<Bson> {
        bson::to_bson(self).map_err(Error::from)
    }
}

impl Key for bson::Uuid {
    type Insert = Option<bson::Uuid>;
    fn from_insert(insert: Option<bson::Uuid>) -> Self {
        // `Default` for a UUID is a new random (v4) one.
        insert.unwrap_or_default()
    }
    fn generates(insert: &Option<bson::Uuid>) -> bool {
        insert.is_none()
    }
    fn generate() -> Option<Self> {
        Some(bson::Uuid::new())
    }
    fn to_bson(&self) -> Result<Bson> {
        Ok(Bson::Binary(bson::Binary::from_uuid(*self)))
    }
}

impl Key for ObjectId {
    type Insert = Option<ObjectId>;
    fn from_insert(insert: Option<ObjectId>) -> Self {
        // `Default` for an ObjectId is a newly generated one.
        insert.unwrap_or_default()
    }
    fn generates(insert: &Option<ObjectId>) -> bool {
        insert.is_none()
    }
    fn generate() -> Option<Self> {
        Some(ObjectId::new())
    }
    fn to_bson(&self) -> Result<Bson> {
        Ok(Bson::ObjectId(*self))
    }
}

impl Key for String {
    type Insert = String;
    fn from_insert(insert: String) -> Self {
        insert
    }
    fn to_bson(&self) -> Result<Bson> {
        Ok(Bson::String(self.clone()))
    }
}

impl Key for i32 {
    type Insert = i32;
    fn from_insert(insert: i32) -> Self {
        insert
    }
    fn to_bson(&self) -> Result<Bson> {
        Ok(Bson::Int32(*self))
    }
}

impl Key for i64 {
    type Insert = i64;
    fn from_insert(insert: i64) -> Self {
        insert
    }
    fn to_bson(&self) -> Result<Bson> {
        Ok(Bson::Int64(*self))
    }
}

/// The type of a model's `updated_at` field: [`DateTime`] (set to the insert
/// time on insert) or `Option<DateTime>` (`None` until the first update).
pub trait UpdatedAt: Send + Sync {
    /// The value stored on insert.
    fn on_insert(now: DateTime) -> Self;

    /// The value stored by an update or a replacement at `now`.
    fn on_update(now: DateTime) -> Self;
}

impl UpdatedAt for DateTime {
    fn on_insert(now: DateTime) -> Self {
        now
    }
    fn on_update(now: DateTime) -> Self {
        now
    }
}

impl UpdatedAt for Option<DateTime> {
    fn on_insert(_: DateTime) -> Self {
        None
    }
    fn on_update(now: DateTime) -> Self {
        Some(now)
    }
}

/// Parses a key from text: a UUID in its hyphenated form, a 24-digit hex
/// ObjectId, a decimal integer, or the string itself.
///
/// ```
/// use model_core::ParseKey;
/// assert!(bson::Uuid::parse_key("not-a-uuid").is_err());
/// assert_eq!(i64::parse_key("42").unwrap(), 42);
/// ```
pub trait ParseKey: Key {
    /// Parses `text`, or says what was expected.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `text` is not a key of this kind.
    fn parse_key(text: &str) -> Result<Self>;
}

use crate::error::quoted;

impl ParseKey for bson::Uuid {
    fn parse_key(text: &str) -> Result<Self> {
        bson::Uuid::parse_str(text)
            .map_err(|_| Error::invalid(format!("{} is not a UUID", quoted(text))))
    }
}

impl ParseKey for ObjectId {
    fn parse_key(text: &str) -> Result<Self> {
        ObjectId::parse_str(text)
            .map_err(|_| Error::invalid(format!("{} is not a 24-digit hex ObjectId", quoted(text))))
    }
}

impl ParseKey for String {
    fn parse_key(text: &str) -> Result<Self> {
        Ok(text.to_string())
    }
}

impl ParseKey for i32 {
    fn parse_key(text: &str) -> Result<Self> {
        text.parse()
            .map_err(|_| Error::invalid(format!("{} is not a 32-bit integer", quoted(text))))
    }
}

impl ParseKey for i64 {
    fn parse_key(text: &str) -> Result<Self> {
        text.parse()
            .map_err(|_| Error::invalid(format!("{} is not a 64-bit integer", quoted(text))))
    }
}
