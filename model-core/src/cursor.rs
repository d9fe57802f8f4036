//! A page cursor's text: its format, the bounds it is read within, and
//! its seal.
//!
//! The text is base64url (no padding) of a version byte and a payload:
//!
//! - `1`, plain: a BSON document `{c: collection, s: sort, d: ±1, v: [values]}`.
//!   Anyone can read it; it is checked against the collection and the
//!   exact, ordered sort it is used with.
//! - `2`, sealed with the service's [`CursorKey`]: a random 24-byte nonce,
//!   then the XChaCha20-Poly1305 ciphertext and tag of `{d: ±1, v: [values]}`,
//!   with the collection and the ordered sort as associated data. Only the
//!   key's holder can read it, and any change to it, or its use with
//!   another collection, sort or key, fails its tag.
//!
//! Text from outside is bounded before it is decoded: at most
//! [`MAX_CURSOR_LEN`] characters, and a payload nested at most
//! [`MAX_DEPTH`] documents deep, checked on the raw bytes without
//! recursion before anything recursive reads them.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bson::raw::{RawBsonRef, RawDocument};
use bson::{Bson, Document, doc};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};

use crate::error::{Error, Result};

/// The longest page cursor text read (and made): 4 KiB. A longer text is
/// refused before it is decoded. A boundary document whose sort values
/// would make a longer cursor (a sort on a long string) fails the page
/// with [`Error::InvalidArgument`].
pub const MAX_CURSOR_LEN: usize = 4096;

/// How deep documents may nest in a cursor's payload: the payload, its
/// array of values, and a few levels inside a value (a composite key).
pub(crate) const MAX_DEPTH: usize = 8;

/// The version byte of a plain cursor.
pub(crate) const PLAIN: u8 = 1;
/// The version byte of a sealed cursor.
pub(crate) const SEALED: u8 = 2;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// The service's secret for page cursors: 32 bytes, the same on every
/// instance that reads another's cursors. Set it with
/// [`Connection::with_cursor_key`](crate::Connection::with_cursor_key);
/// cursors are then encrypted and authenticated (XChaCha20-Poly1305), so
/// they reveal nothing and cannot be forged or altered.
///
/// Its `Debug` never shows the bytes.
///
/// ```
/// use model_core::CursorKey;
/// // From your secret store, never from source code.
/// let secret: [u8; 32] = [7; 32];
/// let key = CursorKey::new(secret);
/// assert_eq!(format!("{key:?}"), "CursorKey(..)");
/// ```
#[derive(Clone)]
pub struct CursorKey(Box<[u8; 32]>);

impl CursorKey {
    /// A key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        CursorKey(Box::new(bytes))
    }

    /// A key from a slice of exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::invalid(format!("a cursor key is 32 bytes, got {}", bytes.len()))
        })?;
        Ok(Self::new(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }
}

impl fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

/// What a cursor is bound to: the collection and the sort's keys, in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) collection: &'a str,
    pub(crate) keys: &'a [(&'a str, i32)],
}

impl Binding<'_> {
    /// The sealed cursor's associated data: every field is a BSON
    /// C string (no NUL inside), so the encoding is unambiguous.
    fn associated_data(&self) -> Vec<u8> {
        let mut aad = b"model-core page cursor\0".to_vec();
        aad.push(SEALED);
        aad.extend_from_slice(self.collection.as_bytes());
        aad.push(0);
        for (field, direction) in self.keys {
            aad.extend_from_slice(field.as_bytes());
            aad.push(0);
            aad.push(if *direction > 0 { b'+' } else { b'-' });
        }
        aad
    }

    pub(crate) fn sort(&self) -> Document {
        let mut sort = Document::new();
        for (field, direction) in self.keys {
            sort.insert(*field, *direction);
        }
        sort
    }

    /// Whether `sort` names the same keys with the same directions in the
    /// same order (`Document ==` ignores the order).
    fn is_sort(&self, sort: &Document) -> bool {
        sort.len() == self.keys.len()
            && sort.iter().zip(self.keys).all(|((field, direction), (key, want))| {
                field == key && direction == &Bson::Int32(*want)
            })
    }
}

/// Where a keyset page starts: an opaque, URL-safe string made by
/// [`KeysetPage`](crate::KeysetPage) and given back to
/// [`Scroll::at`](crate::Scroll::at). It is only valid with the
/// collection and the sort it was made for.
///
/// **What it reveals.** Without a [`CursorKey`] a cursor is base64url of
/// the sort values of the page's boundary document (every sort field and
/// the key, including fields a projection leaves out), readable by anyone
/// who has it, and it is checked only for its shape, collection and sort:
/// a client can write one that starts anywhere. With a key
/// ([`Connection::with_cursor_key`](crate::Connection::with_cursor_key))
/// it is encrypted and authenticated: it reveals nothing but its length,
/// and a cursor that was altered, forged, or made for another collection,
/// sort or key is refused.
///
/// Parsing ([`FromStr`]) reads text from outside: a text over
/// [`MAX_CURSOR_LEN`] characters, not base64url, of an unknown version,
/// nested too deep or holding values no sort value has (MinKey, MaxKey,
/// JavaScript, DBPointer, undefined, regular expressions, symbols) is
/// refused with [`Error::InvalidArgument`], whose message never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageCursor(String);

impl PageCursor {
    /// The cursor as text, for a URL or a response body.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor continuing `forward` (or backward) from `values`, the
    /// sort values of a boundary document, for `binding`; sealed when a
    /// key is given.
    pub(crate) fn make(
        key: Option<&CursorKey>,
        binding: Binding<'_>,
        forward: bool,
        values: Vec<Bson>,
    ) -> Result<Self> {
        let direction = if forward { 1 } else { -1 };
        let bytes = match key {
            None => {
                let payload = doc! {
                    "c": binding.collection, "s": binding.sort(), "d": direction, "v": values,
                };
                let mut bytes = vec![PLAIN];
                bytes.extend(bson::to_vec(&payload)?);
                bytes
            }
            Some(key) => {
                let payload = bson::to_vec(&doc! { "d": direction, "v": values })?;
                let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
                let aad = binding.associated_data();
                let sealed = key
                    .cipher()
                    .encrypt(&nonce, Payload { msg: &payload, aad: &aad })
                    .map_err(|_| Error::invalid("the page cursor could not be sealed"))?;
                let mut bytes = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
                bytes.push(SEALED);
                bytes.extend_from_slice(&nonce);
                bytes.extend(sealed);
                bytes
            }
        };
        let text = URL_SAFE_NO_PAD.encode(bytes);
        if text.len() > MAX_CURSOR_LEN {
            return Err(Error::invalid(format!(
                "the sort values of this page's boundary document make a page cursor longer \
                 than {MAX_CURSOR_LEN} characters: sort on shorter values"
            )));
        }
        Ok(PageCursor(text))
    }

    /// The direction and values of the cursor, once it is shown to be one
    /// made for `binding` (and with `key`, when the connection has one).
    pub(crate) fn open(
        &self,
        key: Option<&CursorKey>,
        binding: Binding<'_>,
    ) -> Result<(bool, Vec<Bson>)> {
        let bytes = bytes(&self.0)?;
        let payload = match (bytes[0], key) {
            (PLAIN, None) => {
                let payload = payload(&bytes[1..])?;
                let collection = payload.get_str("c").map_err(|_| bad("no collection"))?;
                let sort = payload.get_document("s").map_err(|_| bad("no sort"))?;
                if collection != binding.collection || !binding.is_sort(sort) {
                    return Err(Error::invalid(
                        "the page cursor was made for another collection or sort",
                    ));
                }
                payload
            }
            (SEALED, Some(key)) => {
                let (nonce, sealed) = bytes[1..].split_at(NONCE_LEN);
                let aad = binding.associated_data();
                let opened = key
                    .cipher()
                    .decrypt(nonce.into(), Payload { msg: sealed, aad: &aad })
                    .map_err(|_| {
                        Error::invalid(
                            "the page cursor was altered, or made with another key or for \
                             another collection or sort",
                        )
                    })?;
                payload(&opened)?
            }
            (PLAIN, Some(_)) => {
                return Err(Error::invalid(
                    "the page cursor is not sealed, and this connection has a cursor key",
                ));
            }
            _ => {
                return Err(Error::invalid(
                    "the page cursor is sealed, and this connection has no cursor key",
                ));
            }
        };
        let (forward, values) = direction_and_values(&payload)?;
        if values.len() != binding.keys.len() {
            return Err(Error::invalid("the page cursor does not fit its sort"));
        }
        Ok((forward, values))
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PageCursor {
    type Err = Error;

    /// Reads a cursor back from its text, checking its length, encoding,
    /// version and (for a plain one) its payload; a sealed one is opened
    /// by the page that uses it.
    fn from_str(text: &str) -> Result<Self> {
        let bytes = bytes(text)?;
        if bytes[0] == PLAIN {
            let payload = payload(&bytes[1..])?;
            payload.get_str("c").map_err(|_| bad("no collection"))?;
            payload.get_document("s").map_err(|_| bad("no sort"))?;
            direction_and_values(&payload)?;
        }
        Ok(PageCursor(text.to_string()))
    }
}

/// The refusal of a text that is not a page cursor; `why` never quotes it.
fn bad(why: &str) -> Error {
    Error::invalid(format!("not a page cursor: {why}"))
}

/// The cursor's bytes: bounded in length, base64url, of a known version,
/// long enough for that version.
fn bytes(text: &str) -> Result<Vec<u8>> {
    if text.len() > MAX_CURSOR_LEN {
        return Err(bad(&format!("longer than {MAX_CURSOR_LEN} characters ({})", text.len())));
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad("not base64url"))?;
    match bytes.first() {
        Some(&PLAIN) => Ok(bytes),
        Some(&SEALED) if bytes.len() > 1 + NONCE_LEN + TAG_LEN => Ok(bytes),
        Some(&SEALED) => Err(bad("too short")),
        Some(_) => Err(bad("unknown version")),
        None => Err(bad("empty")),
    }
}

/// The payload document of `bytes`, after its depth and the types of its
/// values are checked on the raw bytes.
fn payload(bytes: &[u8]) -> Result<Document> {
    let raw = RawDocument::from_bytes(bytes).map_err(|_| bad("not a document"))?;
    check_raw(raw)?;
    // Recursive, but over at most `MAX_DEPTH` levels now.
    Document::try_from(raw).map_err(|_| bad("not a document"))
}

/// Walks every element of `raw` with an explicit stack (no recursion):
/// each is well formed, no document or array nests deeper than
/// [`MAX_DEPTH`], and no value is of a type no sort value has.
fn check_raw(raw: &RawDocument) -> Result<()> {
    let mut stack = vec![raw.iter()];
    while let Some(top) = stack.last_mut() {
        let element = match top.next() {
            None => {
                stack.pop();
                continue;
            }
            Some(element) => element.map_err(|_| bad("not a document"))?,
        };
        let inner = match element.1 {
            RawBsonRef::Document(inner) => inner,
            RawBsonRef::Array(array) => {
                RawDocument::from_bytes(array.as_bytes()).map_err(|_| bad("not a document"))?
            }
            RawBsonRef::MinKey
            | RawBsonRef::MaxKey
            | RawBsonRef::Undefined
            | RawBsonRef::JavaScriptCode(_)
            | RawBsonRef::JavaScriptCodeWithScope(_)
            | RawBsonRef::DbPointer(_)
            | RawBsonRef::RegularExpression(_)
            | RawBsonRef::Symbol(_) => return Err(bad("holds a value of a type no sort has")),
            _ => continue,
        };
        if stack.len() >= MAX_DEPTH {
            return Err(bad(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        stack.push(inner.iter());
    }
    Ok(())
}

fn direction_and_values(payload: &Document) -> Result<(bool, Vec<Bson>)> {
    let forward = match payload.get("d") {
        Some(Bson::Int32(1)) => true,
        Some(Bson::Int32(-1)) => false,
        _ => return Err(bad("no direction")),
    };
    let values = payload.get_array("v").map_err(|_| bad("no values"))?.clone();
    Ok((forward, values))
}
