//! Typed updates.

use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, DateTime, Document};

use crate::query::Invalid;
use crate::{Error, Result};

/// An update operator the typed paths produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Set,
    Unset,
    Inc,
    Mul,
    Min,
    Max,
    SetOnInsert,
    Push,
    AddToSet,
    Pull,
    PullAll,
    Pop,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Set => "$set",
            Op::Unset => "$unset",
            Op::Inc => "$inc",
            Op::Mul => "$mul",
            Op::Min => "$min",
            Op::Max => "$max",
            Op::SetOnInsert => "$setOnInsert",
            Op::Push => "$push",
            Op::AddToSet => "$addToSet",
            Op::Pull => "$pull",
            Op::PullAll => "$pullAll",
            Op::Pop => "$pop",
        }
    }
}

/// Changes to documents of model `M`, built from its writable paths
/// (`Foo::BAR.set(3).and(Foo::TAGS.push("x"))`). `updated_at` is added by
/// the operation that runs it.
pub struct Update<M> {
    // The update document as it is built, `{ "$op": { path: value } }`:
    // a typed update costs what the `doc!` it becomes costs.
    ops: Document,
    error: Option<Invalid>,
    raw_error: Option<String>,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Update<M> {
    fn clone(&self) -> Self {
        Update {
            ops: self.ops.clone(),
            error: self.error.clone(),
            raw_error: self.raw_error.clone(),
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Update<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Update").field(&self.ops).finish()
    }
}

impl<M> Default for Update<M> {
    fn default() -> Self {
        Self::none()
    }
}

impl<M> Update<M> {
    /// No change but `updated_at`.
    pub fn none() -> Self {
        Update { ops: Document::new(), error: None, raw_error: None, _model: PhantomData }
    }

    pub(crate) fn op(op: Op, field: &'static str, value: Result<Bson, bson::ser::Error>) -> Self {
        match value {
            Ok(value) => {
                let mut fields = Document::new();
                fields.insert(field, value);
                let mut ops = Document::new();
                ops.insert(op.name(), fields);
                Update { ops, error: None, raw_error: None, _model: PhantomData }
            }
            Err(error) => Self::invalid((field, Arc::new(error))),
        }
    }

    /// An update that fails with `invalid` when it runs.
    pub(crate) fn invalid(invalid: Invalid) -> Self {
        let mut update = Self::none();
        update.error = Some(invalid);
        update
    }

    /// An update written by hand (`{ "$rename": { "a": "b" } }`), for what
    /// the typed paths cannot say; it joins typed parts with
    /// [`and`](Update::and). Nothing checks its paths or value types; a
    /// key that is not an operator (`$...`) with a document of paths is
    /// refused with [`Error::InvalidArgument`] when the operation runs.
    pub fn raw(update: Document) -> Self {
        let shape = update.iter().find_map(|(op, fields)| match fields {
            Bson::Document(_) if op.starts_with('$') => None,
            _ => Some(format!(
                "a raw update holds operators with documents of paths, like {{ \"$set\": {{ .. }} }}; found `{op}`"
            )),
        });
        Update { ops: update, error: None, raw_error: shape, _model: PhantomData }
    }

    /// Both changes; where both touch the same path with the same
    /// operator, `other` wins. Takes an [`Update`] or anything that
    /// becomes one (a [`Push`](crate::Push)).
    pub fn and(mut self, other: impl Into<Update<M>>) -> Self {
        let other = other.into();
        for (op, fields) in other.ops {
            match (self.ops.get_mut(&op), fields) {
                (Some(Bson::Document(mine)), Bson::Document(theirs)) => mine.extend(theirs),
                (_, fields) => {
                    self.ops.insert(op, fields);
                }
            }
        }
        self.error = self.error.or(other.error);
        self.raw_error = self.raw_error.or(other.raw_error);
        self
    }

    /// Whether no path is changed.
    pub fn is_empty(&self) -> bool {
        self.ops.values().all(|fields| fields.as_document().is_some_and(Document::is_empty))
    }

    /// Sets `field` to `value` only on insert, unless the update already
    /// does: what an upsert adds for the key and `created_at`.
    pub(crate) fn on_insert(&mut self, field: &str, value: Bson) {
        let touched = self
            .ops
            .values()
            .any(|fields| fields.as_document().is_some_and(|fields| fields.contains_key(field)));
        if touched {
            return;
        }
        match self.ops.get_mut(Op::SetOnInsert.name()) {
            Some(Bson::Document(fields)) => {
                fields.insert(field, value);
            }
            _ => {
                self.ops.insert(Op::SetOnInsert.name(), bson::doc! { field: value });
            }
        }
    }

    /// The update document, with `updated_at` set to `now`.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON;
    /// [`Error::InvalidArgument`] for a malformed [`raw`](Update::raw) part.
    pub fn into_document(mut self, now: DateTime) -> Result<Document> {
        if let Some(invalid) = self.error {
            return Err(Error::from_invalid(invalid));
        }
        if let Some(message) = self.raw_error {
            return Err(Error::invalid(message));
        }
        match self.ops.get_mut(Op::Set.name()) {
            Some(Bson::Document(set)) => {
                set.insert("updated_at", now);
            }
            _ => {
                self.ops.insert(Op::Set.name(), bson::doc! { "updated_at": now });
            }
        }
        Ok(self.ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn op(op: Op, field: &'static str, value: i64) -> Update<()> {
        Update::op(op, field, Ok(value.into()))
    }

    #[test]
    fn operators_merge_and_the_later_value_wins() {
        let now = DateTime::from_millis(7);
        let update = op(Op::Inc, "n", 1)
            .and(op(Op::Set, "a", 1))
            .and(Update::none())
            .and(op(Op::Set, "a", 2).and(op(Op::Unset, "b", 0)));
        assert!(!update.is_empty() && Update::<()>::none().is_empty());
        assert_eq!(
            update.into_document(now).unwrap(),
            doc! { "$inc": { "n": 1_i64 }, "$set": { "a": 2_i64, "updated_at": now }, "$unset": { "b": 0_i64 } }
        );
        assert_eq!(
            Update::<()>::none().into_document(now).unwrap(),
            doc! { "$set": { "updated_at": now } }
        );
    }

    #[test]
    fn raw_parts_merge_with_typed_ones_and_must_be_operators() {
        let now = DateTime::from_millis(7);
        let update = op(Op::Set, "a", 1)
            .and(Update::raw(doc! { "$set": { "b": 2 }, "$rename": { "c": "d" } }));
        assert_eq!(
            update.into_document(now).unwrap(),
            doc! { "$set": { "a": 1_i64, "b": 2, "updated_at": now }, "$rename": { "c": "d" } }
        );
        let bad = Update::<()>::raw(doc! { "a": 1 });
        assert!(matches!(bad.into_document(now), Err(Error::InvalidArgument { .. })));
    }
}
