#![doc = include_str!("../README.md")]
//!
//! ## What this crate exports
//!
//! This facade re-exports the runtime (`model-core`: the items below), the
//! derives, the [`lock`] crate and the [`migrations`] crate, so an
//! application needs this one dependency plus `serde`. The README above is
//! its tutorial, and its examples are compiled with the crate's doctests.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Connection, repository, errors.
pub use model_core::{Connection, Error, Options, Repo, Result};

// The model and its keys.
pub use model_core::{Key, Model, ParseKey, UpdatedAt, Version};

// Typed paths, queries, updates and sorts.
pub use model_core::{
    Access, Array, Field, FieldValue, JoinAccess, Nested, Nullable, Positional, Push, Query,
    ReadAccess, ReadOnly, Sequence, Set, Sort, Update, Writable, WriteAccess,
};

// Actions: what an operation returns, run by `.await`.
pub use model_core::{
    Aggregate, AggregateStream, BulkWrite, Count, CountBy, DeleteMany, DeleteOne, Distinct, Find,
    FindMany, FindManyToMapBy, FindOne, FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate,
    InsertMany, InsertOne, Iterate, Paginate, Replace, Scroll, UpdateMany, UpdateOne, Upsert,
    Watch, WithCollection,
};

// Bulk writes: the writes, and what happened to each.
pub use model_core::{BulkOutcome, BulkProgress, MAX_WRITE_BATCH, Write, WriteOutcome};

// Pages, cursors and change streams.
pub use model_core::{
    Change, ChangeEvent, CursorKey, ITERATE_BATCH_SIZE, KeysetPage, MAX_CURSOR_LEN, MAX_PAGE_LIMIT,
    Page, PageCursor, ResumeToken, SCROLL_SIZE, UpdatedFields,
};

// Projections and stored documents.
pub use model_core::{Projection, ProjectsFrom, Stored};

// Schema, indexes and migration of a collection.
pub use model_core::{
    DuplicateKeys, FieldDecl, FieldType, IndexDecl, IndexKey, IndexSpec, Migrate, Migration,
    MigrationReport, Numeric, ObjectSchema, Ordered, REJECTED_IDS, RejectedDocuments,
    ValidationAction, ValidationLevel, ValidatorChange, string_enum_schema,
};

// BSON and the driver.
pub use model_core::{DateTime, ObjectId, Uuid, bson, mongodb};

// The derives (macros; the traits of the same names are above).
pub use model_derive::{CompositeKey, Model, Ordered, Projection, Schema};

/// The distributed lock (lease): see [`lock::Locks`]. Behind the `lock`
/// feature, on by default.
#[cfg(feature = "lock")]
#[doc(inline)]
pub use lock;

/// Versioned data migrations run once per fleet: see
/// [`migrations::Migrations`]. Behind the `migrations` feature, on by default.
#[cfg(feature = "migrations")]
#[doc(inline)]
pub use migrations;

#[doc(hidden)]
pub use model_core::__private;
