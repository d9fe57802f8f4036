//! Typed updates.

use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, DateTime, Document};

use crate::{Error, Result};

/// Changes to documents of model `M`, built from its writable fields
/// (`Foo::BAR.set(3).and(Foo::FOO.unset())`). `updated_at` is added by the
/// operation that runs it.
pub struct Update<M> {
    set: Document,
    unset: Document,
    inc: Document,
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
        f.debug_struct("Update")
            .field("set", &self.set)
            .field("unset", &self.unset)
            .field("inc", &self.inc)
            .finish()
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
        Update {
            set: Document::new(),
            unset: Document::new(),
            inc: Document::new(),
            error: None,
            _model: PhantomData,
        }
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
                target.insert(field, value);
            }
            Err(error) => update.error = Some((field, Arc::new(error))),
        }
        update
    }

    /// Both changes; where both touch the same field with the same operator,
    /// `other` wins.
    pub fn and(mut self, other: Update<M>) -> Self {
        self.set.extend(other.set);
        self.unset.extend(other.unset);
        self.inc.extend(other.inc);
        self.error = self.error.or(other.error);
        self
    }

    /// Whether no field is changed.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty() && self.inc.is_empty()
    }

    /// The update document, with `updated_at` set to `now`.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON.
    pub fn into_document(self, now: DateTime) -> Result<Document> {
        if let Some((field, source)) = self.error {
            return Err(Error::InvalidValue {
                field: field.to_string(),
                source,
            });
        }
        let mut set = self.set;
        set.insert("updated_at", now);
        let mut update = bson::doc! { "$set": set };
        if !self.unset.is_empty() {
            update.insert("$unset", self.unset);
        }
        if !self.inc.is_empty() {
            update.insert("$inc", self.inc);
        }
        Ok(update)
    }
}
