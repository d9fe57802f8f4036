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

// The nouns: a connection, a repository of a model, its paths, queries,
// updates and sorts, the errors, the migration of its collection.
pub use model_core::{
    Connection, Error, Field, FieldType, Key, Migration, Model, Options, Ordered, PageCursor,
    ParseKey, Projection, Query, Repo, Result, Sort, Update, Version, Write,
};

// BSON and the driver.
pub use model_core::{DateTime, ObjectId, Uuid, bson, mongodb};

/// The actions `Repo` methods return, run by `.await`, and what they
/// return: pages, change events.
pub mod action {
    pub use model_core::{
        Aggregate, AggregateStream, BulkOutcome, BulkProgress, BulkWrite, Change, ChangeEvent,
        Count, CountBy, DeleteMany, DeleteOne, Distinct, Find, FindMany, FindManyToMapBy, FindOne,
        FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, ITERATE_BATCH_SIZE, InsertMany,
        InsertOne, Iterate, KeysetPage, MAX_PAGE_LIMIT, MAX_WRITE_BATCH, Page, Paginate, Replace,
        SCROLL_SIZE, Scroll, UpdateMany, UpdateOne, UpdatedFields, Upsert, Watch, WithCollection,
        Write, WriteOutcome,
    };
}

/// What a typed path allows, and the traits that decide which operators
/// a field's type has: the machinery behind [`Field`]'s methods.
pub mod path {
    pub use model_core::{
        Access, Array, FieldValue, JoinAccess, Nested, Nullable, Positional, Push, ReadAccess,
        ReadOnly, Sequence, Set, Writable, WriteAccess,
    };
}

/// A model's `$jsonSchema`, field constraints and indexes, as the derive
/// declares them; how a document is stored.
pub mod schema {
    pub use model_core::{
        Allowed, ArrayField, Constraints, FieldDecl, IndexDecl, IndexKey, IndexSpec, Number,
        NumberField, Numeric, ObjectSchema, ProjectsFrom, Stored, TextField, UpdatedAt,
        ValidationAction, ValidationLevel, Violation, string_enum_schema,
    };
}

/// What [`Connection::migrate`] and [`Connection::migration_plan`] report.
pub mod migrate {
    pub use model_core::{
        DuplicateKeys, Migrate, MigrationReport, REJECTED_IDS, RejectedDocuments, ValidatorChange,
    };
}

/// Page cursors and change-stream resume tokens: what a client holds
/// between requests.
pub mod cursor {
    pub use model_core::{CursorKey, MAX_CURSOR_LEN, ResumeToken};
}

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
