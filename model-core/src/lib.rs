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
mod array;
mod connection;
mod error;
mod field;
mod filtered;
mod migrate;
mod model;
mod query;
mod repo;
mod schema;
mod sort;
mod stored;
mod update;

pub use actions::{
    Count, DeleteMany, DeleteOne, Find, FindMany, FindManyToMapBy, FindOne, InsertMany, InsertOne,
    Iterate, MAX_PAGE_LIMIT, Page, Paginate, UpdateMany, UpdateOne,
};
pub use array::Push;
pub use connection::Connection;
pub use error::{Error, Result};
pub use field::{
    Access, Field, JoinAccess, Nested, Nullable, Positional, ReadAccess, ReadOnly, Writable,
    WriteAccess,
};
pub use filtered::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, Upsert, WithCollection};
pub use migrate::{Migration, MigrationReport, ValidatorChange};
pub use model::{Key, Model, ParseKey, UpdatedAt};
pub use options::Options;
pub use query::Query;
pub use repo::Repo;
pub use schema::{FieldType, IndexSpec, Numeric, ObjectSchema, Ordered, string_enum_schema};
pub use sort::Sort;
pub use stored::Stored;
pub use update::Update;

pub use bson;
pub use bson::{DateTime, Uuid, oid::ObjectId};
pub use mongodb;

/// Items the derive's generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::model::{Key, Model, UpdatedAt};
    pub use crate::schema::{FieldType, IndexSpec, ObjectSchema, put, string_enum_schema};
    pub use crate::{Error, Field, Nested, Nullable, ReadOnly, Result, Writable};
    pub use bson;
    pub use std;
}
