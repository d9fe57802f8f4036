//! Runtime of the typed MongoDB model layer.
//!
//! `#[derive(Model)]` (from `model-derive`) generates data: the collection
//! name, the key, one typed [`Field`] constant per field, the insert struct,
//! the `$jsonSchema` and the indexes. Everything that *runs* lives here,
//! written once for every model: [`Repo`] (CRUD, queries, pagination,
//! streaming), [`Connection`] (client, transactions, migration) and
//! [`Error`].
//!
//! # Layout
//!
//! Modules depend one way, each only on those in the layers below it:
//!
//! 1. `error`, `options`; bson helpers: `stored` (how a document is
//!    written), `cursor` (page cursor text), `fields`.
//! 2. The model and its typed parts: `schema`, `model`, `version`,
//!    `query`, `sort`, `update`, `field`, `array`, `project`, `returned`.
//! 3. `run`: how an operation runs (span, timeout, detachment, cursor
//!    reads, the setters actions share), knowing no repository.
//! 4. `connection` (client, transactions), then `migrate` (indexes,
//!    validators).
//! 5. `repo`: `Repo<M>` and what its operations share.
//! 6. `action`: the operations, one family per file, each beside the
//!    `Repo` method that builds it (`stream` reads through `find`,
//!    `keyset` through `stream`; `write` and `filtered` tell a stale
//!    version through `versioned`).
//!
//! `repo.update(&key, update).await` walks down the layers, never
//! back: `Repo::update` and `UpdateOne` (`action::write`) build the
//! filter (`repo::key_filter`, `version`) and the update document
//! (`update`), take the collection and options from `repo` (which takes
//! the client from `connection`), and run the driver call through `run`.
#![deny(missing_docs)]

#[macro_use]
mod options;
#[macro_use]
mod run;
mod action;
mod array;
mod check;
mod connection;
mod cursor;
mod error;
mod field;
mod fields;
mod migrate;
mod model;
mod project;
mod query;
mod repo;
mod returned;
mod schema;
mod sets;
mod sort;
mod stored;
mod update;
mod version;

pub use action::{
    Aggregate, AggregateStream, BulkOutcome, BulkProgress, BulkWrite, Change, ChangeEvent, Count,
    CountBy, DeleteMany, DeleteOne, Distinct, Find, FindMany, FindManyToMapBy, FindOne,
    FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, ITERATE_BATCH_SIZE, InsertMany,
    InsertOne, Iterate, KeysetPage, MAX_PAGE_LIMIT, MAX_WRITE_BATCH, Page, Paginate, Replace,
    SCROLL_SIZE, Scroll, UpdateMany, UpdateOne, UpdatedFields, Upsert, Watch, WithCollection,
    Write, WriteOutcome,
};
pub use array::{Array, Push, Sequence, Set};
pub use connection::Connection;
pub use cursor::{CursorKey, MAX_CURSOR_LEN, PageCursor};
pub use error::{Error, Result};
pub use field::{
    Access, Field, FieldValue, JoinAccess, Nested, Nullable, Positional, ReadAccess, ReadOnly,
    Writable, WriteAccess,
};
pub use migrate::{
    DuplicateKeys, Migrate, Migration, MigrationReport, REJECTED_IDS, RejectedDocuments,
    ValidatorChange,
};
pub use model::{Key, Model, ParseKey, UpdatedAt};
pub use options::Options;
pub use project::{Projection, ProjectsFrom};
pub use query::Query;
pub use repo::Repo;
pub use schema::{
    Allowed, ArrayField, Constraints, FieldDecl, FieldType, IndexDecl, IndexKey, IndexSpec, Number,
    NumberField, Numeric, ObjectSchema, Ordered, TextField, Violation, string_enum_schema,
};
pub use sort::Sort;
pub use stored::Stored;
pub use update::Update;
pub use version::Version;

pub use bson;
pub use bson::{DateTime, Uuid, oid::ObjectId};
pub use mongodb;
pub use mongodb::change_stream::event::ResumeToken;
pub use mongodb::options::{ValidationAction, ValidationLevel};

/// Items the derive's generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::field::index_path;
    pub use crate::fields::{CloneFields, DebugFields, debug_struct};
    pub use crate::model::{Key, Model, UpdatedAt};
    pub use crate::project::projection_of;
    pub use crate::schema::{
        Allowed, Constraints, FieldDecl, FieldType, IndexDecl, IndexKey, IndexSpec, Number,
        ObjectSchema, Ordered, Violation, array_field, number_field, put, string_enum_schema,
        text_field,
    };
    pub use crate::{
        Error, Field, Nested, Nullable, Projection, ReadOnly, Result, Version, Writable,
    };
    pub use bson;
    pub use core::clone::Clone;
    pub use core::fmt;
    pub use core::option::Option;
    pub use mongodb::options::{ValidationAction, ValidationLevel};
    pub use std;
}
