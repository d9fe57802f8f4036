//! Runtime of the typed MongoDB model layer.
//!
//! `#[derive(Model)]` (from `model-derive`) generates data: the collection
//! name, the key, one typed [`Field`] constant per field, the insert struct,
//! the `$jsonSchema` and the indexes. Everything that *runs* lives here,
//! written once for every model: [`Repo`] (CRUD, queries, pagination,
//! streaming), [`Connection`] (client, transactions, migration) and
//! [`Error`].
#![deny(missing_docs)]

#[macro_use]
mod options;
#[macro_use]
mod actions;
mod aggregate;
mod array;
mod connection;
mod error;
mod field;
mod fields;
mod filtered;
mod keyset;
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
mod watch;

pub use actions::{
    Count, DeleteMany, DeleteOne, Find, FindMany, FindManyToMapBy, FindOne, ITERATE_BATCH_SIZE,
    InsertMany, InsertOne, Iterate, MAX_PAGE_LIMIT, Page, Paginate, UpdateMany, UpdateOne,
};
pub use aggregate::{Aggregate, AggregateStream, CountBy, Distinct};
pub use array::{Array, Push, Sequence, Set};
pub use connection::Connection;
pub use error::{Error, Result};
pub use field::{
    Access, Field, FieldValue, JoinAccess, Nested, Nullable, Positional, ReadAccess, ReadOnly,
    Writable, WriteAccess,
};
pub use filtered::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, Upsert, WithCollection};
pub use keyset::{CursorKey, KeysetPage, MAX_CURSOR_LEN, PageCursor, SCROLL_SIZE, Scroll};
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
    FieldDecl, FieldType, IndexDecl, IndexSpec, Numeric, ObjectSchema, Ordered, string_enum_schema,
};
pub use sort::Sort;
pub use stored::Stored;
pub use update::Update;
pub use version::{Replace, Version};
pub use watch::{Change, ChangeEvent, UpdatedFields, Watch};

pub use bson;
pub use bson::{DateTime, Uuid, oid::ObjectId};
pub use mongodb;
pub use mongodb::change_stream::event::ResumeToken;
pub use mongodb::options::{ValidationAction, ValidationLevel};

/// Items the derive's generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::fields::{CloneFields, DebugFields, debug_struct};
    pub use crate::model::{Key, Model, UpdatedAt};
    pub use crate::project::projection_of;
    pub use crate::schema::{
        FieldDecl, FieldType, IndexDecl, IndexSpec, ObjectSchema, Ordered, put, string_enum_schema,
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
