//! What a write that returns the document (`findAndModify`) sends and
//! gets back, so that a returned document that does not decode is kept.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::stored::Stored;

/// What a returning write (`findAndModify`) hands the driver and gets back:
/// the document to write going out (as [`Stored`] writes it), the raw
/// document coming back. [`Returned::decode`] decodes it into the model
/// and, when it does not fit, keeps it in the error: the write was
/// applied, and the caller still gets what the server returned.
pub(crate) enum Returned<M> {
    /// The replacement, on its way to the server.
    Out(Stored<M>),
    /// The document the server returned, not yet decoded.
    Back(bson::RawDocumentBuf),
}

impl<M: Serialize> Serialize for Returned<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Returned::Out(stored) => stored.serialize(serializer),
            Returned::Back(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de, M> Deserialize<'de> for Returned<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bson::RawDocumentBuf::deserialize(deserializer).map(Returned::Back)
    }
}

impl<M: crate::Model> Returned<M> {
    /// The model the server returned; [`Error::WrittenUndecodable`] with
    /// the raw document when it does not decode.
    ///
    /// [`Error::WrittenUndecodable`]: crate::Error::WrittenUndecodable
    pub(crate) fn decode(self) -> crate::Result<M> {
        match self {
            Returned::Out(stored) => Ok(stored.0),
            Returned::Back(raw) => bson::from_slice(raw.as_bytes()).map_err(|source| {
                crate::Error::WrittenUndecodable {
                    collection: M::COLLECTION.to_string(),
                    document: Box::new(raw),
                    source,
                }
            }),
        }
    }
}
