//! Optimistic concurrency: a model's version field (`#[model(version)]`).
//!
//! Every write through the repository adds 1 to the version. A write that
//! requires the version it read ([`Repo::replace`],
//! [`UpdateOne::if_version`](crate::UpdateOne::if_version)) applies only
//! while the document is still at that version, and is otherwise
//! [`Error::VersionConflict`] with nothing written: of several editors of
//! one version exactly one wins, and no edit is lost unseen. A document
//! stored before the field existed reads as version 0 (the field needs
//! `#[serde(default)]`) and matches an expected 0.
//!
//! A version never wraps, saturates or changes its stored type: a
//! document at its type's maximum ([`Version::MAX`]) takes no further
//! counted write. `replace`, `update_one` and `if_version` answer
//! [`Error::VersionAtMaximum`] with nothing written; writes selected by a
//! query (`find_one_and_update`, `update_many`) do not match it. `upsert`
//! is the exception: it is not guarded (a guard in its filter would make
//! it insert a second document), so at the maximum its `$inc` overflows
//! as the server does it.

use bson::{Bson, DateTime, Document, doc};
use mongodb::ClientSession;
use mongodb::options::ReturnDocument;

use crate::actions::encodable;
use crate::repo::key_filter;
use crate::returned::Returned;
use crate::schema::FieldType;
use crate::{Error, Model, Options, Repo, Result, Stored, Update};

/// An integer type a version field can have.
#[diagnostic::on_unimplemented(
    message = "a version field counts writes: it must be an integer (`i32`, `i64`, `u32` or `u64`), not `{Self}`",
    note = "declare it as `#[model(version)] #[serde(default)] version: i64`"
)]
pub trait Version: FieldType + Copy {
    /// The version as an `i64`.
    fn get(self) -> i64;
    /// The version `value` (saturating at the type's bounds).
    fn from_i64(value: i64) -> Self;
    /// 1, as the type is stored (an `int` for `i32`, a `long` otherwise),
    /// so an `$inc` keeps the stored type.
    fn step() -> Bson;
    /// The largest version the type holds as it is stored: a document at
    /// it takes no further counted write ([`Error::VersionAtMaximum`]), so
    /// the version never wraps, saturates or changes its stored type.
    const MAX: i64;
}

macro_rules! version {
    ($($ty:ty => $step:expr, $max:expr);*) => {$(
        impl Version for $ty {
            const MAX: i64 = $max;

            fn get(self) -> i64 {
                i64::try_from(self).unwrap_or(i64::MAX)
            }
            fn from_i64(value: i64) -> Self {
                <$ty>::try_from(value).unwrap_or(if value < 0 { <$ty>::MIN } else { <$ty>::MAX })
            }
            fn step() -> Bson {
                $step
            }
        }
    )*};
}

version!(
    i32 => Bson::Int32(1), i32::MAX as i64;
    i64 => Bson::Int64(1), i64::MAX;
    u32 => Bson::Int64(1), u32::MAX as i64;
    // Stored as a `long`: at most `i64::MAX`.
    u64 => Bson::Int64(1), i64::MAX
);

/// Adds "the version is below its maximum" to the filter of a write that
/// bumps the version without requiring one, so a document at the maximum
/// is never written ([`Error::VersionAtMaximum`] where the write names a
/// key). A document without the field (version 0) matches.
pub(crate) fn below_maximum<M: Model>(filter: Document) -> Document {
    let Some(path) = M::VERSION else { return filter };
    let guard = doc! { "$not": { "$gte": M::version_max() } };
    if filter.contains_key(path) {
        doc! { "$and": [filter, { path: guard }] }
    } else {
        let mut filter = filter;
        filter.insert(path, guard);
        filter
    }
}

/// The version a write that requires `expected` stores: one more, or
/// [`Error::VersionAtMaximum`] (with nothing sent) when `expected` is
/// already the type's maximum.
pub(crate) fn next<M: Model>(expected: i64) -> Result<i64> {
    if expected >= M::version_max() {
        return Err(at_maximum::<M>());
    }
    Ok(expected + 1)
}

/// Why a write by `key` that required the version below its maximum
/// matched nothing: [`Error::VersionAtMaximum`] when the document is there
/// at the maximum, [`Error::NotFound`] otherwise.
pub(crate) async fn at_maximum_or_missing<M: Model>(
    repo: &Repo<M>,
    key: &M::Key,
    session: Option<&mut ClientSession>,
) -> Error {
    let at_maximum = |filter: &mut Document| {
        if let Some(path) = M::VERSION {
            filter.insert(path, doc! { "$gte": M::version_max() });
        }
    };
    match count_by_key(repo, key, at_maximum, session).await {
        Ok(0) => Repo::<M>::not_found(),
        Ok(_) => self::at_maximum::<M>(),
        Err(error) => error,
    }
}

/// How many documents have `key` (and match what `narrow` adds to the
/// key's filter), read from the primary.
async fn count_by_key<M: Model>(
    repo: &Repo<M>,
    key: &M::Key,
    narrow: impl FnOnce(&mut Document),
    session: Option<&mut ClientSession>,
) -> Result<u64> {
    let mut filter = key_filter::<M>(key)?;
    narrow(&mut filter);
    let coll = repo.collection().await?;
    let primary = mongodb::options::SelectionCriteria::ReadPreference(
        mongodb::options::ReadPreference::Primary,
    );
    in_session!(repo, coll, session, coll.count_documents(filter).selection_criteria(primary))
        .map_err(Repo::<M>::error)
}

pub(crate) fn at_maximum<M: Model>() -> Error {
    Error::VersionAtMaximum { collection: M::COLLECTION.to_string() }
}

/// Adds 1 to the version in `update`, for a versioned model.
pub(crate) fn bump<M: Model>(update: &mut Document) {
    let Some(path) = M::VERSION else { return };
    match update.get_mut("$inc") {
        Some(Bson::Document(inc)) => {
            inc.insert(path, M::version_step());
        }
        _ => {
            update.insert("$inc", doc! { path: M::version_step() });
        }
    }
}

/// The update document of `update` for `M`: timestamps, the version
/// bump, and encodable keys.
pub(crate) fn update_document<M: Model>(update: Update<M>, now: DateTime) -> Result<Document> {
    let mut update = update.into_document(now)?;
    bump::<M>(&mut update);
    if update.is_empty() {
        // Only a model without an update timestamp or version gets here.
        return Err(Error::invalid(format!(
            "the update of `{}` changes nothing (the model has no `updated_at` to set)",
            M::COLLECTION
        )));
    }
    encodable(update)
}

/// Adds "at version `expected`" to `filter`: the stored version, or (for
/// 0) no version at all.
pub(crate) fn require<M: Model>(filter: &mut Document, expected: i64) -> Result<()> {
    let path = M::VERSION.ok_or_else(|| {
        Error::invalid(format!(
            "`{}` has no version field: mark an integer field `#[model(version)]`",
            M::COLLECTION
        ))
    })?;
    let condition = if expected == 0 {
        doc! { "$in": [0_i64, Bson::Null] }
    } else {
        doc! { "$eq": expected }
    };
    filter.insert(path, condition);
    Ok(())
}

/// What a versioned write that matched nothing means: the document is
/// there at another version ([`Error::VersionConflict`]) or gone
/// ([`Error::NotFound`]).
pub(crate) async fn missed<M: Model>(
    repo: &Repo<M>,
    key: &M::Key,
    expected: i64,
    session: Option<&mut ClientSession>,
) -> Error {
    match count_by_key(repo, key, |_| {}, session).await {
        Ok(0) => Repo::<M>::not_found(),
        Ok(_) => Error::VersionConflict { collection: M::COLLECTION.to_string(), expected },
        Err(error) => error,
    }
}

/// `repo.replace(document)`: stores `document` in place of the one with
/// its key (its `updated_at` set to now, `None` fields left out) and
/// returns what was stored. For a versioned model only while the stored
/// document is at `document`'s version, and the stored version is one
/// more; otherwise [`Error::VersionConflict`]. [`Error::NotFound`] when
/// no document has the key.
///
/// # Cancel safety
///
/// A write: dropped once the command may have been sent, it may or may not
/// have been applied. Retry it only if it is idempotent, or read to find out.
/// See [`Repo`](crate::Repo#cancel-safety).
#[must_use = "an action does nothing until awaited"]
pub struct Replace<'a, M: Model> {
    repo: &'a Repo<M>,
    document: M,
    now: Option<DateTime>,
    options: Options,
    session: Option<&'a mut ClientSession>,
}

impl<'a, M: Model> Replace<'a, M> {
    session_setter!();
    modify_command_setters!(options);
    now_setter!();

    async fn run(mut self) -> Result<M> {
        let mut filter = key_filter::<M>(self.document.key())?;
        let expected = self.document.version();
        if M::VERSION.is_some() {
            require::<M>(&mut filter, expected)?;
            self.document.set_version(next::<M>(expected)?);
        }
        self.document.touch(self.now.unwrap_or_else(DateTime::now));
        let key = self.document.key().clone();
        let coll = self.repo.returning_collection().await?;
        let mut options = self
            .repo
            .options_with(self.options, self.session.is_some())
            .find_one_and_replace(Default::default());
        options.return_document = Some(ReturnDocument::After);
        let replacement = Returned::Out(Stored(self.document));
        let replaced = in_session!(
            self.repo,
            coll,
            self.session.as_deref_mut(),
            coll.find_one_and_replace(filter, replacement).with_options(options)
        )
        .map_err(Repo::<M>::error)?;
        match replaced {
            Some(returned) => returned.decode(),
            None if M::VERSION.is_some() => {
                Err(missed(self.repo, &key, expected, self.session).await)
            }
            None => Err(Repo::<M>::not_found()),
        }
    }
}

into_future!(Replace, M, "replace");

impl<M: Model> Repo<M> {
    /// Replaces the document with `document`'s key by `document`; for a
    /// versioned model only if it is still at `document`'s version.
    pub fn replace(&self, document: M) -> Replace<'_, M> {
        Replace { repo: self, document, now: None, options: Options::default(), session: None }
    }
}
