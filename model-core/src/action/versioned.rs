//! The one replace (`replace`, `find_one_and_replace`), and what a write
//! that requires a version, or a version below its maximum, means when it
//! matches nothing: one count, read from the primary, tells a stale
//! version or a version at its maximum from a missing document.

use bson::{DateTime, Document, doc};
use mongodb::ClientSession;
use mongodb::options::{FindOneAndReplaceOptions, ReadPreference, SelectionCriteria};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::repo::{Repo, key_filter};
use crate::returned::Returned;
use crate::stored::Stored;
use crate::version::{at_maximum, replacement};

/// Stores `document` in place of the document `filter` selects, its
/// `updated_at` set to `now`, and returns the document as `options` asks
/// (before or after). For a versioned model only while the stored
/// document is at `document`'s version, storing the next one; when the
/// write matches nothing, [`Error::VersionConflict`] if a document
/// `filter` selects has `document`'s key at another version. Otherwise,
/// nothing matched: [`Error::NotFound`].
pub(crate) async fn replace<M: Model>(
    repo: &Repo<M>,
    filter: Document,
    mut document: M,
    now: DateTime,
    options: FindOneAndReplaceOptions,
    mut session: Option<&mut ClientSession>,
) -> Result<M> {
    crate::check::replacement(&document)?;
    // For a versioned model, what tells a stale version from no match.
    let unversioned = M::VERSION.map(|_| (filter.clone(), document.key().clone()));
    let mut filter = filter;
    let expected = replacement::<M>(&mut filter, &mut document, now)?;
    let coll = repo.returning_collection().await?;
    let document = Returned::Out(Stored(document));
    let replaced = in_session!(
        repo,
        coll,
        session.as_deref_mut(),
        coll.find_one_and_replace(filter, document).with_options(options)
    )
    .map_err(Repo::<M>::error)?;
    match (replaced, expected.zip(unversioned)) {
        (Some(returned), _) => returned.decode(),
        (None, Some((expected, (filter, key)))) => {
            let key = key_filter::<M>(&key)?;
            let filter = if filter == key {
                key
            } else {
                doc! { "$and": [filter, key] }
            };
            Err(missed(repo, filter, expected, session).await)
        }
        (None, None) => Err(Repo::<M>::not_found()),
    }
}

/// Why a write by `key` that required the version below its maximum
/// matched nothing: [`Error::VersionAtMaximum`] when the document is there
/// at the maximum, [`Error::NotFound`] otherwise.
pub(crate) async fn at_maximum_or_missing<M: Model>(
    repo: &Repo<M>,
    key: &M::Key,
    session: Option<&mut ClientSession>,
) -> Error {
    let mut filter = match key_filter::<M>(key) {
        Ok(filter) => filter,
        Err(error) => return error,
    };
    if let Some(path) = M::VERSION {
        filter.insert(path, doc! { "$gte": M::version_max() });
    }
    match count(repo, filter, session).await {
        Ok(0) => Repo::<M>::not_found(),
        Ok(_) => at_maximum::<M>(),
        Err(error) => error,
    }
}

/// What a versioned write that matched nothing means, `filter` being its
/// filter without the version: a document matching it is there at
/// another version ([`Error::VersionConflict`]), or none is
/// ([`Error::NotFound`]).
pub(crate) async fn missed<M: Model>(
    repo: &Repo<M>,
    filter: Document,
    expected: i64,
    session: Option<&mut ClientSession>,
) -> Error {
    match count(repo, filter, session).await {
        Ok(0) => Repo::<M>::not_found(),
        Ok(_) => Error::VersionConflict { collection: M::COLLECTION.to_string(), expected },
        Err(error) => error,
    }
}

/// How many documents match `filter`, read from the primary.
async fn count<M: Model>(
    repo: &Repo<M>,
    filter: Document,
    session: Option<&mut ClientSession>,
) -> Result<u64> {
    let coll = repo.collection().await?;
    let primary = SelectionCriteria::ReadPreference(ReadPreference::Primary);
    in_session!(repo, coll, session, coll.count_documents(filter).selection_criteria(primary))
        .map_err(Repo::<M>::error)
}
