//! A blocking OP_MSG client just large enough to see that a server answers,
//! used before any async runtime is involved.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bson::{Document, doc};

use crate::Error;

const OP_MSG: i32 = 2013;
/// The request id this client sends (one request per connection).
const REQUEST_ID: i32 = 1;
/// `flagBits` bit 0: a CRC-32C checksum follows the sections.
const CHECKSUM_PRESENT: u32 = 1;
/// The largest reply accepted (the server's `maxMessageSizeBytes`).
const MAX_MESSAGE: usize = 48_000_000;

fn command(address: &str, body: Document) -> std::io::Result<Document> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut payload = Vec::new();
    body.to_writer(&mut payload).map_err(std::io::Error::other)?;
    let length = 16 + 4 + 1 + payload.len();
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as i32).to_le_bytes());
    message.extend_from_slice(&REQUEST_ID.to_le_bytes());
    message.extend_from_slice(&0i32.to_le_bytes()); // responseTo
    message.extend_from_slice(&OP_MSG.to_le_bytes());
    message.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    message.push(0); // section kind 0: body
    message.extend_from_slice(&payload);
    stream.write_all(&message)?;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header)?;
    let total = i32::from_le_bytes(header) as usize;
    if !(16..=MAX_MESSAGE).contains(&total) {
        return Err(bad(format!("a reply of {total} bytes")));
    }
    let mut reply = vec![0u8; total];
    reply[..4].copy_from_slice(&header);
    stream.read_exact(&mut reply[4..])?;
    reply_body(&reply)
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not an OP_MSG reply: {what}"))
}

fn i32_at(bytes: &[u8], at: usize) -> std::io::Result<i32> {
    bytes
        .get(at..at + 4)
        .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| bad(format!("cut short at byte {at}")))
}

/// The body (section kind 0) of a whole OP_MSG reply `message`, read as
/// the wire protocol lays it out: the header (length, requestID,
/// responseTo, opCode), `flagBits`, then sections, each a kind byte and
/// either one document (kind 0) or a document sequence (kind 1: its size,
/// an identifier, documents), then a checksum if `flagBits` says so.
fn reply_body(message: &[u8]) -> std::io::Result<Document> {
    let length = i32_at(message, 0)? as usize;
    if length != message.len() {
        return Err(bad(format!("length {length} for {} bytes", message.len())));
    }
    if i32_at(message, 8)? != REQUEST_ID {
        return Err(bad("responseTo is not our request".to_string()));
    }
    let op_code = i32_at(message, 12)?;
    if op_code != OP_MSG {
        return Err(bad(format!("opCode {op_code}")));
    }
    let flags = i32_at(message, 16)? as u32;
    let end = if flags & CHECKSUM_PRESENT != 0 { length.saturating_sub(4) } else { length };
    let mut at = 20;
    let mut body = None;
    while at < end {
        let kind = message[at];
        at += 1;
        let size = i32_at(message, at)? as usize;
        if size < 4 || at + size > end {
            return Err(bad(format!("a section of {size} bytes at byte {at}")));
        }
        match kind {
            0 if body.is_none() => {
                body = Some(
                    Document::from_reader(&message[at..at + size])
                        .map_err(std::io::Error::other)?,
                );
            }
            0 => return Err(bad("two body sections".to_string())),
            1 => {} // a document sequence: not part of a command reply's body
            other => return Err(bad(format!("section kind {other}"))),
        }
        at += size;
    }
    body.ok_or_else(|| bad("no body section".to_string()))
}

/// Waits until `hello` answers at `address`.
pub(crate) fn wait_for_hello(address: &str, deadline: Instant) -> Result<Document, Error> {
    loop {
        match command(address, doc! { "hello": 1, "$db": "admin" }) {
            Ok(reply) => return Ok(reply),
            Err(error) if Instant::now() >= deadline => {
                return Err(Error::new(format!(
                    "the server at {address} did not answer hello: {error}"
                )));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Makes a fresh `mongod --replSet rs0` a single-node replica set and waits
/// until it is primary.
pub(crate) fn initiate_replica_set(address: &str, deadline: Instant) -> Result<(), Error> {
    let config = doc! {
        "replSetInitiate": { "_id": "rs0", "members": [ { "_id": 0, "host": address } ] },
        "$db": "admin",
    };
    let reply =
        command(address, config).map_err(|e| Error::new(format!("replSetInitiate failed: {e}")))?;
    let ok = reply.get_f64("ok").unwrap_or(0.0) == 1.0 || reply.get_i32("code") == Ok(23); // AlreadyInitialized
    if !ok {
        return Err(Error::new(format!("replSetInitiate failed: {reply}")));
    }
    loop {
        let hello = wait_for_hello(address, deadline)?;
        if hello.get_bool("isWritablePrimary").unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::new("the replica set did not elect a primary in time"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OP_MSG reply to our request made of `sections` (kind, bytes),
    /// with a checksum when `checksum` is set.
    fn reply(sections: &[(u8, Vec<u8>)], checksum: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(if checksum { CHECKSUM_PRESENT } else { 0 }).to_le_bytes());
        for (kind, bytes) in sections {
            body.push(*kind);
            body.extend_from_slice(bytes);
        }
        if checksum {
            body.extend_from_slice(&[0xAA; 4]);
        }
        let mut message = Vec::new();
        message.extend_from_slice(&((16 + body.len()) as i32).to_le_bytes());
        message.extend_from_slice(&7i32.to_le_bytes());
        message.extend_from_slice(&REQUEST_ID.to_le_bytes());
        message.extend_from_slice(&OP_MSG.to_le_bytes());
        message.extend_from_slice(&body);
        message
    }

    fn document(doc: Document) -> Vec<u8> {
        let mut bytes = Vec::new();
        doc.to_writer(&mut bytes).unwrap();
        bytes
    }

    fn sequence(identifier: &str, docs: &[Document]) -> Vec<u8> {
        let mut rest = identifier.as_bytes().to_vec();
        rest.push(0);
        for d in docs {
            rest.extend(document(d.clone()));
        }
        let mut bytes = ((rest.len() + 4) as i32).to_le_bytes().to_vec();
        bytes.extend(rest);
        bytes
    }

    #[test]
    fn the_body_is_found_after_a_sequence_and_before_a_checksum() {
        let hello = doc! { "ok": 1.0, "isWritablePrimary": true };
        let plain = reply(&[(0, document(hello.clone()))], false);
        assert_eq!(reply_body(&plain).unwrap(), hello);
        let mixed = reply(
            &[(1, sequence("documents", &[doc! { "a": 1 }])), (0, document(hello.clone()))],
            true,
        );
        assert_eq!(reply_body(&mixed).unwrap(), hello);
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        let hello = document(doc! { "ok": 1.0 });
        let mut cut = reply(&[(0, hello.clone())], false);
        cut.truncate(cut.len() - 3);
        assert!(reply_body(&cut).is_err(), "length does not match");
        let mut wrong_op = reply(&[(0, hello.clone())], false);
        wrong_op[12..16].copy_from_slice(&1i32.to_le_bytes());
        assert!(reply_body(&wrong_op).is_err(), "not OP_MSG");
        assert!(reply_body(&reply(&[(1, sequence("d", &[]))], false)).is_err(), "no body");
        assert!(reply_body(&reply(&[(2, hello.clone())], false)).is_err(), "unknown kind");
        let mut huge = reply(&[(0, hello)], false);
        huge[21..25].copy_from_slice(&1000i32.to_le_bytes());
        assert!(reply_body(&huge).is_err(), "a section past the end");
        assert!(reply_body(&[1, 2, 3]).is_err());
    }
}
