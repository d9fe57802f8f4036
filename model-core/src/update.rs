//! Typed updates.

use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, DateTime, Document};

use crate::{Error, Result};

/// Changes to documents of model `M`, built from its writable fields
/// (`Foo::BAR.set(3).and(Foo::FOO.unset())`). `updated_at` is added by the
/// operation that runs it.
pub struct Update<M> {
    // `None` until an operator is used: an empty `Document` is not free
    // (it seeds a hasher), and the first document of each operator becomes
    // the one sent, so a typed update costs what the `doc!` it becomes costs.
    set: Option<Document>,
    unset: Option<Document>,
    inc: Option<Document>,
    error: Option<(&'static str, Arc<bson::ser::Error>)>,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Update<M> {
    fn clone(&self) -> Self {
        Update {
            set: self.set.clone(),
            unset: self.unset.clone(),
            inc: self.inc.clone(),
            error: self.error.clone(),
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Update<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let empty = Document::new();
        f.debug_struct("Update")
            .field("set", self.set.as_ref().unwrap_or(&empty))
            .field("unset", self.unset.as_ref().unwrap_or(&empty))
            .field("inc", self.inc.as_ref().unwrap_or(&empty))
            .finish()
    }
}

impl<M> Default for Update<M> {
    fn default() -> Self {
        Self::none()
    }
}

/// `into` with `other`'s fields added; `other` wins on a shared field.
fn merge(into: Option<Document>, other: Option<Document>) -> Option<Document> {
    match (into, other) {
        (Some(mut into), Some(other)) => {
            into.extend(other);
            Some(into)
        }
        (into, None) => into,
        (None, other) => other,
    }
}

impl<M> Update<M> {
    /// No change but `updated_at`.
    pub fn none() -> Self {
        Update { set: None, unset: None, inc: None, error: None, _model: PhantomData }
    }

    pub(crate) fn op(
        operator: &'static str,
        field: &'static str,
        value: Result<Bson, bson::ser::Error>,
    ) -> Self {
        let mut update = Self::none();
        match value {
            Ok(value) => {
                let target = match operator {
                    "$set" => &mut update.set,
                    "$unset" => &mut update.unset,
                    _ => &mut update.inc,
                };
                target.get_or_insert_with(Document::new).insert(field, value);
            }
            Err(error) => update.error = Some((field, Arc::new(error))),
        }
        update
    }

    /// Both changes; where both touch the same field with the same operator,
    /// `other` wins.
    pub fn and(mut self, other: Update<M>) -> Self {
        self.set = merge(self.set, other.set);
        self.unset = merge(self.unset, other.unset);
        self.inc = merge(self.inc, other.inc);
        self.error = self.error.or(other.error);
        self
    }

    /// Whether no field is changed.
    pub fn is_empty(&self) -> bool {
        [&self.set, &self.unset, &self.inc]
            .iter()
            .all(|d| d.as_ref().is_none_or(Document::is_empty))
    }

    /// The update document, with `updated_at` set to `now`.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON.
    pub fn into_document(self, now: DateTime) -> Result<Document> {
        if let Some((field, source)) = self.error {
            return Err(Error::InvalidValue { field: field.to_string(), source });
        }
        let mut set = self.set.unwrap_or_default();
        set.insert("updated_at", now);
        let mut update = bson::doc! { "$set": set };
        if let Some(unset) = self.unset.filter(|d| !d.is_empty()) {
            update.insert("$unset", unset);
        }
        if let Some(inc) = self.inc.filter(|d| !d.is_empty()) {
            update.insert("$inc", inc);
        }
        Ok(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn op(operator: &'static str, field: &'static str, value: i64) -> Update<()> {
        Update::op(operator, field, Ok(value.into()))
    }

    #[test]
    fn operators_merge_and_the_later_value_wins() {
        let now = DateTime::from_millis(7);
        let update = op("$inc", "n", 1)
            .and(op("$set", "a", 1))
            .and(Update::none())
            .and(op("$set", "a", 2).and(op("$unset", "b", 0)));
        assert!(!update.is_empty() && Update::<()>::none().is_empty());
        assert_eq!(
            update.into_document(now).unwrap(),
            doc! { "$set": { "a": 2_i64, "updated_at": now }, "$unset": { "b": 0_i64 }, "$inc": { "n": 1_i64 } }
        );
        assert_eq!(
            Update::<()>::none().into_document(now).unwrap(),
            doc! { "$set": { "updated_at": now } }
        );
    }
}
