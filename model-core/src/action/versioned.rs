//! What a write that requires a version, or a version below its maximum,
//! means when it matches nothing: one count, read from the primary, tells
//! a stale version or a version at its maximum from a missing document.

use bson::{Document, doc};
use mongodb::ClientSession;
use mongodb::options::{ReadPreference, SelectionCriteria};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::repo::{Repo, key_filter};
use crate::version::at_maximum;

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
