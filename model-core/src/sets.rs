//! Sets as field types: a `BTreeSet` or a `HashSet` is stored as an array
//! of distinct elements (the validator says `uniqueItems`), and its paths
//! have the array queries and the updates that keep a set a set
//! (`add_to_set`, `pull`, ...; see [`Array`]).
//!
//! Neither is [`COMPARABLE`](FieldType::COMPARABLE): the server compares
//! arrays in order, a `HashSet` encodes in a random one, and a stored
//! `BTreeSet` is sorted only until `$addToSet` appends to it. Compare a set
//! with [`Field::same_elements`], which holds whatever the stored order.

use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasher;

use bson::{Document, doc};

use crate::array::{Array, Set};
use crate::field::Nullable;
use crate::schema::FieldType;

/// The `$jsonSchema` of a set of `T`: an array of distinct elements.
fn set_schema<T: FieldType>() -> Document {
    doc! { "bsonType": "array", "items": T::json_schema(), "uniqueItems": true }
}

/// Stored as an array, in the set's (sorted) order.
impl<T: FieldType> FieldType for BTreeSet<T> {
    const COMPARABLE: bool = false;
    const ARRAY: bool = true;
    fn json_schema() -> Document {
        set_schema::<T>()
    }
}

/// Stored as an array, in the set's (random) order.
impl<T: FieldType, S: BuildHasher> FieldType for HashSet<T, S> {
    const COMPARABLE: bool = false;
    const ARRAY: bool = true;
    fn json_schema() -> Document {
        set_schema::<T>()
    }
}

impl<T: FieldType> Array for BTreeSet<T> {
    type Element = T;
}

impl<T: FieldType, S: BuildHasher> Array for HashSet<T, S> {
    type Element = T;
}

impl<T: FieldType> Set for BTreeSet<T> {}

impl<T: FieldType, S: BuildHasher> Set for HashSet<T, S> {}

impl<T> Nullable for BTreeSet<T> {
    type Optional = Option<BTreeSet<T>>;
}

impl<T, S> Nullable for HashSet<T, S> {
    type Optional = Option<HashSet<T, S>>;
}
