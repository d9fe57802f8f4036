//! Typed updates.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use bson::{Bson, DateTime, Document};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::query::Invalid;

mod document;

pub(crate) use document::update_document;

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

/// An operator's name: typed parts use the fixed names, raw parts any.
type OpName = Cow<'static, str>;

/// Changes to documents of model `M`, built from its writable paths
/// (`Foo::BAR.set(3).and(Foo::TAGS.push("x"))`). `updated_at` is added by
/// the operation that runs it.
pub struct Update<M> {
    // Each operator with its paths, in first-use order. The operator
    // documents are built once and moved, never merged key by key unless
    // two parts share an operator; the outer document is built when the
    // operation runs, so a typed update costs about what its `doc!` does.
    ops: OpList,
    // A part of one operator on one path (what `Field::set` and the like
    // make) until it is joined: `and` then inserts it into the operator's
    // document, as a `doc!` would, instead of building a document for it
    // and moving its entry over. When set, `ops` is empty.
    one: Option<(Op, &'static str, Bson)>,
    // Boxed: rare, and an update is moved at every `and`.
    error: Option<Box<Problem>>,
    // `touch(false)`: the model's `updated_at` is left as it is.
    untouched: bool,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Update<M> {
    fn clone(&self) -> Self {
        Update {
            ops: self.ops.clone(),
            one: self.one.clone(),
            error: self.error.clone(),
            untouched: self.untouched,
            _model: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for Update<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        if let Some((op, field, value)) = &self.one {
            let mut fields = Document::new();
            fields.insert(*field, value.clone());
            map.entry(&op.name(), &fields);
        }
        for (op, fields) in self.ops.iter() {
            map.entry(&op, fields);
        }
        map.finish()
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
            ops: OpList::default(),
            one: None,
            error: None,
            untouched: false,
            _model: PhantomData,
        }
    }

    /// The operators and their paths, the part of one path moved in first.
    fn ops(&mut self) -> &mut OpList {
        if let Some((op, field, value)) = self.one.take() {
            let mut fields = Document::new();
            fields.insert(field, value);
            match op {
                Op::Set => self.ops.set = Some(fields),
                Op::Unset => self.ops.unset = Some(fields),
                Op::Inc => self.ops.inc = Some(fields),
                _ => self.ops.rest.push((Cow::Borrowed(op.name()), fields)),
            }
        }
        &mut self.ops
    }

    pub(crate) fn op(op: Op, field: &'static str, value: Result<Bson, bson::ser::Error>) -> Self {
        match value {
            Ok(value) => {
                let mut update = Self::none();
                update.one = Some((op, field, value));
                update
            }
            Err(error) => Self::invalid((field, Arc::new(error))),
        }
    }

    /// An update that fails with `invalid` when it runs.
    pub(crate) fn invalid(invalid: Invalid) -> Self {
        let mut update = Self::none();
        update.error = Some(Box::new(Problem::Value(invalid)));
        update
    }

    /// An update written by hand (`{ "$rename": { "a": "b" } }`), for what
    /// the typed paths cannot say; it joins typed parts with
    /// [`and`](Update::and). Nothing checks its paths or value types; a
    /// key that is not an operator (`$...`) with a document of paths is
    /// refused with [`Error::InvalidArgument`] when the operation runs.
    pub fn raw(update: Document) -> Self {
        let mut raw = Self::none();
        for (op, fields) in update {
            match fields {
                Bson::Document(fields) if op.starts_with('$') => {
                    raw.ops.push(Cow::Owned(op), fields);
                }
                _ => {
                    raw.error.get_or_insert(Box::new(Problem::Raw(format!(
                        "a raw update holds operators with documents of paths, like {{ \"$set\": {{ .. }} }}; found `{op}`"
                    ))));
                }
            }
        }
        raw
    }

    /// Both changes. Where both touch the same path, `other` wins (its
    /// operator replaces `self`'s, so `x.set(1).and(x.unset())` unsets),
    /// except that pushes, additions to a set and pulls of the same array
    /// add up (`tags.push("a").and(tags.push("b"))` pushes both). Takes an
    /// [`Update`] or anything that becomes one (a [`Push`](crate::Push)).
    pub fn and(mut self, other: impl Into<Update<M>>) -> Self {
        let Update { ops: OpList { set, unset, inc, rest }, one, error, untouched, .. } =
            other.into();
        if let Some((op, field, value)) = one {
            self.merge_one(op, field, value);
        }
        // Slot by slot, not through an array of them: each is moved once.
        if let Some(fields) = set {
            self.merge(Cow::Borrowed("$set"), fields);
        }
        if let Some(fields) = unset {
            self.merge(Cow::Borrowed("$unset"), fields);
        }
        if let Some(fields) = inc {
            self.merge(Cow::Borrowed("$inc"), fields);
        }
        for (op, fields) in rest {
            self.merge(op, fields);
        }
        if self.error.is_none() {
            self.error = error;
        }
        self.untouched |= untouched;
        self
    }

    /// Whether the write sets the model's update timestamp (`updated_at`):
    /// `true` by default; `touch(false)` leaves it as it is, for counters
    /// and bookkeeping fields that are not an edit (a view count, a
    /// favourite). Joined with [`and`](Update::and), one untouched part
    /// leaves the whole update untouched. An update that changes nothing
    /// else then changes nothing, which is refused as for a model without
    /// `updated_at`.
    ///
    /// ```
    /// # use model_core::{DateTime, Model};
    /// # #[derive(Debug, model_derive::Model, serde::Serialize, serde::Deserialize)]
    /// # #[model(crate = ::model_core, key = id)]
    /// # struct Article { #[serde(rename = "_id")] id: String, favorites: i64,
    /// #     created_at: DateTime, updated_at: Option<DateTime> }
    /// let now = DateTime::from_millis(0);
    /// let favorited = Article::FAVORITES.inc(1).touch(false);
    /// assert_eq!(favorited.into_document(now).unwrap(), bson::doc! { "$inc": { "favorites": 1_i64 } });
    /// let edited = Article::FAVORITES.inc(1);
    /// assert_eq!(
    ///     edited.into_document(now).unwrap(),
    ///     bson::doc! { "$set": { "updated_at": now }, "$inc": { "favorites": 1_i64 } },
    /// );
    /// ```
    pub fn touch(mut self, touch: bool) -> Self {
        self.untouched = !touch;
        self
    }

    /// Adds `op` on `field`, as [`and`](Update::and) describes.
    fn merge_one(&mut self, op: Op, field: &'static str, mut value: Bson) {
        let name = op.name();
        let ops = self.ops();
        // Another operator's hold on this path gives way.
        for (mine, held) in ops.iter_mut() {
            if mine != name && gives_way(held, field) {
                held.remove(field);
            }
        }
        let held = match op {
            Op::Set => ops.set.get_or_insert_default(),
            Op::Unset => ops.unset.get_or_insert_default(),
            Op::Inc => ops.inc.get_or_insert_default(),
            _ => match ops.rest.iter().position(|(held, _)| held == name) {
                Some(at) => &mut ops.rest[at].1,
                None => {
                    ops.rest.push((Cow::Borrowed(name), Document::new()));
                    &mut ops.rest.last_mut().expect("pushed").1
                }
            },
        };
        if matches!(op, Op::Push | Op::AddToSet | Op::PullAll | Op::Pull)
            && let Some(previous) = held.remove(field)
        {
            value = accumulate(name, previous, value);
        }
        held.insert(field, value);
    }

    /// Adds `op`'s `fields`, as [`and`](Update::and) describes.
    fn merge(&mut self, op: OpName, fields: Document) {
        // Another operator's hold on these paths gives way.
        for (mine, held) in self.ops().iter_mut() {
            if mine != op && !held.is_empty() {
                for path in fields.keys() {
                    if gives_way(held, path) {
                        held.remove(path);
                    }
                }
            }
        }
        match self.ops.get_mut(&op) {
            Some(held) if matches!(&*op, "$push" | "$addToSet" | "$pullAll" | "$pull") => {
                for (path, value) in fields {
                    let value = match held.remove(&path) {
                        Some(previous) => accumulate(&op, previous, value),
                        None => value,
                    };
                    held.insert(path, value);
                }
            }
            Some(held) => held.extend(fields),
            None => self.ops.push(op, fields),
        }
    }

    /// Whether no path is changed.
    pub fn is_empty(&self) -> bool {
        self.one.is_none() && self.ops.iter().all(|(_, fields)| fields.is_empty())
    }

    /// Sets `field` to `value` only on insert, unless the update already
    /// sets the path: what an upsert adds for the key and `created_at`.
    pub(crate) fn on_insert(&mut self, field: &str, value: Bson) {
        if self.ops().iter().any(|(_, fields)| fields.contains_key(field)) {
            return;
        }
        let name = Op::SetOnInsert.name();
        match self.ops.get_mut(name) {
            Some(fields) => {
                fields.insert(field, value);
            }
            None => self.ops.push(Cow::Borrowed(name), bson::doc! { field: value }),
        }
    }

    /// The update document, with `stamp`'s field set to its time.
    fn document_stamped(mut self, stamp: Option<(&str, DateTime)>) -> Result<Document> {
        self.ops();
        match self.error.map(|problem| *problem) {
            Some(Problem::Value(invalid)) => return Err(Error::from_invalid(invalid)),
            Some(Problem::Raw(message)) => return Err(Error::invalid(message)),
            None => {}
        }
        let OpList { mut set, unset, inc, rest } = self.ops;
        if let Some((field, now)) = stamp {
            set.get_or_insert_default().insert(field, now);
        }
        let mut update = Document::new();
        // Slot by slot, not through an array of them: each is moved once.
        if let Some(fields) = set.filter(|f| !f.is_empty()) {
            update.insert("$set", fields);
        }
        if let Some(fields) = unset.filter(|f| !f.is_empty()) {
            update.insert("$unset", fields);
        }
        if let Some(fields) = inc.filter(|f| !f.is_empty()) {
            update.insert("$inc", fields);
        }
        for (op, fields) in rest {
            if !fields.is_empty() {
                update.insert(op, fields);
            }
        }
        Ok(update)
    }
}

impl<M: Model> Update<M> {
    /// The update document, with the model's update timestamp
    /// ([`Model::UPDATED_AT`]) set to `now` unless [`touch(false)`](Update::touch).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when a value could not be stored as BSON;
    /// [`Error::InvalidArgument`] for a malformed [`raw`](Update::raw) part.
    pub fn into_document(self, now: DateTime) -> Result<Document> {
        let stamp = if self.untouched { None } else { M::UPDATED_AT };
        self.document_stamped(stamp.map(|field| (field, now)))
    }
}

/// Operators and their paths. `$set`, `$unset` and `$inc`, the common
/// ones, have a slot each (no allocation, sent in that order); the rest
/// follow in first-use order.
#[derive(Clone, Default)]
struct OpList {
    set: Option<Document>,
    unset: Option<Document>,
    inc: Option<Document>,
    rest: Vec<(OpName, Document)>,
}

impl OpList {
    fn slot(&mut self, op: &str) -> Option<&mut Option<Document>> {
        match op {
            "$set" => Some(&mut self.set),
            "$unset" => Some(&mut self.unset),
            "$inc" => Some(&mut self.inc),
            _ => None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Document)> {
        let slots = [("$set", &self.set), ("$unset", &self.unset), ("$inc", &self.inc)];
        slots
            .into_iter()
            .filter_map(|(op, fields)| Some((op, fields.as_ref()?)))
            .chain(self.rest.iter().map(|(op, fields)| (op.as_ref(), fields)))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Document)> {
        let slots = [("$set", &mut self.set), ("$unset", &mut self.unset), ("$inc", &mut self.inc)];
        slots
            .into_iter()
            .filter_map(|(op, fields)| Some((op, fields.as_mut()?)))
            .chain(self.rest.iter_mut().map(|(op, fields)| (&**op, fields)))
    }

    fn get_mut(&mut self, op: &str) -> Option<&mut Document> {
        if matches!(op, "$set" | "$unset" | "$inc") {
            return self.slot(op).and_then(Option::as_mut);
        }
        self.rest.iter_mut().find(|(name, _)| name == op).map(|(_, fields)| fields)
    }

    /// Adds `op`, which the list does not hold yet.
    fn push(&mut self, op: OpName, fields: Document) {
        match self.slot(&op) {
            Some(slot) => *slot = Some(fields),
            None => self.rest.push((op, fields)),
        }
    }
}

/// Whether `held` holds `path`, which another operator now changes. A
/// few paths are compared in turn: cheaper than hashing the path to find
/// it missing.
fn gives_way(held: &Document, path: &str) -> bool {
    !held.is_empty() && (held.len() > 8 || held.keys().any(|key| key == path))
}

/// Why an update cannot run, found while it was built.
#[derive(Clone)]
enum Problem {
    /// A value that could not be encoded.
    Value(Invalid),
    /// A malformed raw part.
    Raw(String),
}

/// `previous` and `next` for the same path of `$push` / `$addToSet`
/// (the `$each` lists joined, `next`'s modifiers winning), `$pullAll`
/// (the lists joined) or `$pull` (either condition: `$or`).
fn accumulate(op: &str, previous: Bson, next: Bson) -> Bson {
    fn each(value: Bson) -> (Vec<Bson>, Document) {
        match value {
            Bson::Document(mut doc) if matches!(doc.get("$each"), Some(Bson::Array(_))) => {
                let Some(Bson::Array(values)) = doc.remove("$each") else { unreachable!() };
                (values, doc)
            }
            value => (vec![value], Document::new()),
        }
    }
    match op {
        "$push" | "$addToSet" => {
            let (mut values, mut modifiers) = each(previous);
            let (more, next_modifiers) = each(next);
            values.extend(more);
            modifiers.extend(next_modifiers);
            let mut operand = bson::doc! { "$each": values };
            operand.extend(modifiers);
            Bson::Document(operand)
        }
        "$pull" => match (previous, next) {
            // Either condition removes an element.
            (Bson::Document(mut previous), Bson::Document(next)) => {
                let either = match previous.remove("$or") {
                    Some(Bson::Array(mut either)) if previous.is_empty() => {
                        either.push(Bson::Document(next));
                        either
                    }
                    Some(or) => {
                        previous.insert("$or", or);
                        vec![Bson::Document(previous), Bson::Document(next)]
                    }
                    None => vec![Bson::Document(previous), Bson::Document(next)],
                };
                Bson::Document(bson::doc! { "$or": either })
            }
            (_, next) => next,
        },
        "$pullAll" => match (previous, next) {
            (Bson::Array(mut values), Bson::Array(more)) => {
                values.extend(more);
                Bson::Array(values)
            }
            (_, next) => next,
        },
        _ => next,
    }
}
