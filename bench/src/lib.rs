//! Benchmarks of the model layer's cost over the raw `mongodb` driver.
#![deny(missing_docs)]
// `Foo` and `Bar` are the reference models of the test suite.
#![allow(clippy::disallowed_names)]

pub mod codec;
pub mod models;
