//! The one error type of the model layer.

use bson::Document;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a repository or a [`Connection`](crate::Connection) operation can fail with.
///
/// Driver and BSON errors are kept as sources, never stringified, so
/// `std::error::Error::source` walks down to the server's reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No document has the key, or matched the query, that the operation needed.
    #[error("no matching document in `{collection}`")]
    NotFound {
        /// The collection searched.
        collection: String,
    },
    /// A write collided with an existing document: duplicate `_id` or a
    /// duplicate value in a unique index (server code 11000).
    // The duplicated value stays out of the message (it is user data, and
    // messages end up in logs); it is in `key`.
    #[error("duplicate key in `{collection}`{}", index.as_ref().map(|i| format!(" (index `{i}`)")).unwrap_or_default())]
    Conflict {
        /// The collection written to (from the server's message for a
        /// driver error converted with `?`).
        collection: String,
        /// The unique index that refused the write (`_id_` for the key,
        /// `email_1`, ...), as the server names it; `None` when its
        /// message does not say.
        index: Option<String>,
        /// The duplicated value as the server prints it (`{ email: "a@b" }`);
        /// `None` when its message does not say. User data: not part of
        /// the error's message.
        key: Option<String>,
        /// The driver's error, with the server's message.
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// A versioned write (a model with `#[model(version)]`) expected the
    /// document at a version it is no longer at: someone else wrote it
    /// since it was read. Nothing was written; read it again and retry.
    #[error("the document in `{collection}` is no longer at version {expected}")]
    VersionConflict {
        /// The collection written to.
        collection: String,
        /// The version the write expected.
        expected: i64,
    },
    /// The document's version field is at its type's maximum
    /// ([`Version::MAX`](crate::Version::MAX)): no further write can be
    /// counted, so none is made (the version never wraps, saturates or
    /// changes its stored type). Nothing was written.
    #[error("the document's version in `{collection}` is at its maximum")]
    VersionAtMaximum {
        /// The collection written to.
        collection: String,
    },
    /// The document breaks the model's schema: a field's constraint
    /// (`#[model(length(..))]`, ...) found by the client before anything
    /// was sent (`violation` set, no `source`), or the collection's
    /// `$jsonSchema` validator (server code 121: `source` and, where the
    /// server sent it, `details`).
    #[error(
        "document failed validation in `{collection}`{}",
        violation.as_ref().map(|v| format!(": `{}` {}", v.path, v.reason)).unwrap_or_default()
    )]
    Validation {
        /// The collection written to (empty for a driver error converted
        /// with `?`: the server's message does not name it).
        collection: String,
        /// The field that broke a constraint and how (its length or size
        /// against the limit, never the value itself), when the client
        /// found it.
        violation: Option<Box<crate::schema::Violation>>,
        /// The server's explanation (`errInfo`), where the server sent one.
        details: Option<Box<Document>>,
        /// The driver's error, when the server refused the write; `None`
        /// when the client did, with nothing sent.
        #[source]
        source: Option<Box<mongodb::error::Error>>,
    },
    /// [`migrate`](crate::Connection::migrate) refused to set a validator
    /// that documents already stored fail: under `validationLevel: strict`
    /// and `validationAction: error`, every later update of one that does
    /// not make it valid would fail. Nothing was changed. Give the new
    /// fields a `#[serde(default)]`, fix the documents, declare
    /// `validation_level = "moderate"`, or allow it with
    /// [`allow_invalid_documents`](crate::Migrate::allow_invalid_documents).
    #[error(
        "{count} stored documents in `{collection}` fail the new validator; nothing was changed"
    )]
    InvalidDocuments {
        /// The collection migrated.
        collection: String,
        /// How many stored documents fail the new validator.
        count: u64,
        /// The `_id`s of the first few, in `_id` order (at most
        /// [`REJECTED_IDS`](crate::REJECTED_IDS)). Not part of the message.
        ids: Vec<bson::Bson>,
    },
    /// [`migrate`](crate::Connection::migrate) refused to build a unique
    /// index whose keys stored documents duplicate (the server would fail
    /// the build). Nothing was changed. The duplicated values are user
    /// data: they are not read, only counted.
    #[error(
        "the unique index `{index}` on `{collection}` cannot be built: {groups} key values are each stored in more than one document; nothing was changed"
    )]
    DuplicateKeys {
        /// The collection migrated.
        collection: String,
        /// The unique index.
        index: String,
        /// How many key values more than one document has.
        groups: u64,
    },
    /// The write concern is unacknowledged (`w: 0`), so the server sent no
    /// result to report.
    #[error("the write to `{collection}` was not acknowledged")]
    Unacknowledged {
        /// The collection written to.
        collection: String,
    },
    /// The [`Connection`](crate::Connection) was closed with `disconnect`.
    #[error("the connection is closed")]
    Disconnected,
    /// The operation did not finish within the timeout set with
    /// [`Connection::with_timeout`](crate::Connection::with_timeout) and
    /// was abandoned. A write may still be applied by the server: its
    /// outcome is unknown.
    #[error("the operation on `{collection}` did not finish within {timeout:?}")]
    Timeout {
        /// The collection the operation was on.
        collection: String,
        /// The timeout that passed.
        timeout: std::time::Duration,
    },
    /// Starting, committing or aborting a transaction failed.
    #[error("the transaction failed")]
    Transaction {
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// An argument is out of range (for example a page limit of zero); nothing was sent.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A value given to a query or an update cannot be stored as BSON
    /// (for example a `u64` above `i64::MAX`); nothing was sent.
    #[error("the value for field `{field}` cannot be stored as BSON")]
    InvalidValue {
        /// The field the value was for.
        field: String,
        /// The serializer's error.
        #[source]
        source: std::sync::Arc<bson::ser::Error>,
    },
    /// Any other error from the driver or the server.
    #[error("MongoDB operation failed")]
    Mongo(#[source] Box<mongodb::error::Error>),
    /// A value could not be turned into BSON.
    #[error("cannot serialize a value to BSON")]
    Serialize(#[from] bson::ser::Error),
    /// A stored document does not fit the model's type.
    #[error("cannot deserialize a document from BSON")]
    Deserialize(#[from] bson::de::Error),
    /// A change-stream event that does not fit the model (its document or
    /// key was written by another program, say). The stream goes on; to
    /// skip the event after a restart, resume after `token`.
    #[error("a change event does not decode into the model")]
    UndecodableChange {
        /// The event's resume token: [`Watch::resume_after`] it to continue
        /// past the event.
        ///
        /// [`Watch::resume_after`]: crate::Watch::resume_after
        token: mongodb::change_stream::event::ResumeToken,
        /// Why it does not decode.
        #[source]
        source: Box<Error>,
    },
    /// A write that returns the document (`update`, `replace`,
    /// `upsert`, `find_one_and_update`, `find_one_and_replace`,
    /// `find_one_and_delete`) was applied, but the document the server
    /// returned does not fit the model's type (one another program wrote,
    /// say). Nothing is lost: `document` is the document as returned
    /// (before or after the write, as asked), for the caller to keep,
    /// repair or restore.
    // The document stays out of the message: it is user data.
    #[error(
        "the write to `{collection}` was applied, but the document it returned does not decode"
    )]
    WrittenUndecodable {
        /// The collection written to.
        collection: String,
        /// The document the server returned, undecoded.
        document: Box<bson::RawDocumentBuf>,
        /// Why it does not decode into the model.
        #[source]
        source: bson::de::Error,
    },
}

/// A driver error met with `?` (inside [`Connection::transaction`],
/// [`Repo::with_collection`], or anywhere else) is classified as the
/// repository classifies its own: [`Error::from_driver`], a duplicate key
/// as [`Error::Conflict`], a validation failure as [`Error::Validation`].
/// The collection is the one the server's message names (a duplicate-key
/// message does), and empty where it names none.
///
/// [`Connection::transaction`]: crate::Connection::transaction
/// [`Repo::with_collection`]: crate::Repo::with_collection
impl From<mongodb::error::Error> for Error {
    fn from(error: mongodb::error::Error) -> Self {
        let collection = named_collection(&error).unwrap_or_default();
        Error::from_driver(&collection, error)
    }
}

/// The collection a server's error message names (`E11000 duplicate key
/// error collection: db.c index: ...`), without its database.
fn named_collection(error: &mongodb::error::Error) -> Option<String> {
    let (_, rest) = server_message(error).split_once("collection: ")?;
    let namespace = rest.split_whitespace().next()?;
    let (_, collection) = namespace.split_once('.')?;
    Some(collection.to_string()).filter(|c| !c.is_empty())
}

/// The server's message in a write or command error, `""` for others.
fn server_message(error: &mongodb::error::Error) -> &str {
    use mongodb::error::{ErrorKind, WriteFailure};
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.message.as_str(),
        ErrorKind::Command(e) => e.message.as_str(),
        ErrorKind::InsertMany(e) => match e.write_errors.as_deref() {
            Some([first, ..]) => first.message.as_str(),
            _ => "",
        },
        _ => "",
    }
}

/// Server code of a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

/// The index and the duplicated value a duplicate-key error names, from
/// the server's message (`E11000 duplicate key error collection: db.c
/// index: email_1 dup key: { email: "a@b" }`), which is where mongod says
/// them for every write command.
fn duplicate_of(error: &mongodb::error::Error) -> (Option<String>, Option<String>) {
    let message = server_message(error);
    let index = message
        .split_once(" index: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    let key = message
        .split_once(" dup key: ")
        .map(|(_, rest)| rest.trim().to_string())
        .filter(|key| !key.is_empty());
    (index, key)
}
/// Server code of a document that fails validation.
const DOCUMENT_VALIDATION_FAILURE: i32 = 121;

impl Error {
    /// Maps a driver error from an operation on `collection` to the typed
    /// kinds: duplicate key to [`Error::Conflict`], validation failure to
    /// [`Error::Validation`], a document the driver could not encode or
    /// decode to [`Error::Serialize`] / [`Error::Deserialize`], anything
    /// else to [`Error::Mongo`].
    pub fn from_driver(collection: &str, error: mongodb::error::Error) -> Self {
        use mongodb::error::{ErrorKind, WriteFailure};
        let error = match *error.kind {
            ErrorKind::BsonSerialization(e) => return Error::Serialize(e),
            ErrorKind::BsonDeserialization(e) => return Error::Deserialize(e),
            _ => error,
        };
        let (code, details) = match error.kind.as_ref() {
            ErrorKind::Write(WriteFailure::WriteError(e)) => (Some(e.code), e.details.clone()),
            ErrorKind::Command(e) => (Some(e.code), None),
            ErrorKind::InsertMany(e) => match e.write_errors.as_deref() {
                Some([first, ..]) => (Some(first.code), first.details.clone()),
                _ => (None, None),
            },
            _ => (None, None),
        };
        if let ErrorKind::InvalidArgument { message, .. } = error.kind.as_ref() {
            // The driver refuses `w: 0` writes up front: it could not report a result.
            if message.contains("nacknowledged write concern") {
                return Error::Unacknowledged { collection: collection.to_string() };
            }
        }
        let collection = collection.to_string();
        let source = Box::new(error);
        match code {
            Some(DUPLICATE_KEY) => {
                let (index, key) = duplicate_of(&source);
                Error::Conflict { collection, index, key, source }
            }
            Some(DOCUMENT_VALIDATION_FAILURE) => {
                let details = details.or_else(|| error_info(&source)).map(Box::new);
                Error::Validation { collection, violation: None, details, source: Some(source) }
            }
            _ => Error::Mongo(source),
        }
    }

    /// The driver error underneath, if there is one.
    pub fn driver_error(&self) -> Option<&mongodb::error::Error> {
        match self {
            Error::Conflict { source, .. }
            | Error::Validation { source: Some(source), .. }
            | Error::Transaction { source }
            | Error::Mongo(source) => Some(source),
            _ => None,
        }
    }

    /// Whether the driver marked the error with `label`
    /// (for example `TransientTransactionError`).
    pub fn has_label(&self, label: &str) -> bool {
        self.driver_error().is_some_and(|e| e.contains_label(label))
    }

    /// A constraint a field broke, found before anything was sent.
    pub(crate) fn violation(collection: &str, violation: crate::schema::Violation) -> Self {
        Error::Validation {
            collection: collection.to_string(),
            violation: Some(Box::new(violation)),
            details: None,
            source: None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument { message: message.into() }
    }
}

/// How much of a caller's text an error message quotes.
const QUOTED_CHARS: usize = 32;

/// `text` as an error message quotes input from outside the process: at
/// most [`QUOTED_CHARS`] characters, escaped (no raw control characters,
/// so no forged log lines), in backticks, with `…` when cut.
pub(crate) fn quoted(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(QUOTED_CHARS).collect();
    let cut = if chars.next().is_some() { "…" } else { "" };
    format!("`{}`{cut}", head.escape_debug())
}

/// The `errInfo` of a command error, read from the raw server reply.
fn error_info(error: &mongodb::error::Error) -> Option<Document> {
    let reply = error.server_response()?;
    let info = reply.get_document("errInfo").ok()?;
    Document::try_from(info).ok()
}

// An `Error` is returned by value from every action: it stays small.
const _: () = assert!(std::mem::size_of::<Error>() <= 120);

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quoted_input_is_short_and_escaped() {
        assert_eq!(quoted("abc"), "`abc`");
        let hostile = format!("x\r\nFORGED LOG LINE{}", "y".repeat(1 << 20));
        let shown = quoted(&hostile);
        assert!(shown.len() < 100, "{shown}");
        assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown}");
        assert!(shown.ends_with('…'), "{shown}");
    }
}
