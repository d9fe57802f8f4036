//! Typed MongoDB models from `#[derive(Model)]`, and a distributed lease
//! built on them.
//!
//! This facade re-exports the runtime ([`model_core`]), the derives and the
//! [`lock`] crate, so an application needs this one dependency (plus `serde`).
#![deny(missing_docs)]

pub use model_core::*;
pub use model_derive::{CompositeKey, Model, Schema};

/// The distributed lock (lease): see [`lock::Locks`].
pub use lock;

#[doc(hidden)]
pub use model_core::__private;
