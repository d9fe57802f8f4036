//! A blocking OP_MSG client just large enough to see that a server answers,
//! used before any async runtime is involved.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bson::{Document, doc};

use crate::Error;

const OP_MSG: i32 = 2013;

fn command(address: &str, body: Document) -> std::io::Result<Document> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut payload = Vec::new();
    body.to_writer(&mut payload).map_err(std::io::Error::other)?;
    let length = 16 + 4 + 1 + payload.len();
    let mut message = Vec::with_capacity(length);
    message.extend_from_slice(&(length as i32).to_le_bytes());
    message.extend_from_slice(&1i32.to_le_bytes()); // requestID
    message.extend_from_slice(&0i32.to_le_bytes()); // responseTo
    message.extend_from_slice(&OP_MSG.to_le_bytes());
    message.extend_from_slice(&0u32.to_le_bytes()); // flagBits
    message.push(0); // section kind 0: body
    message.extend_from_slice(&payload);
    stream.write_all(&message)?;
    let mut header = [0u8; 16];
    stream.read_exact(&mut header)?;
    let total = i32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let mut rest = vec![0u8; total.saturating_sub(16)];
    stream.read_exact(&mut rest)?;
    // flagBits (4) + section kind (1), then the reply document.
    Document::from_reader(&rest[5..]).map_err(std::io::Error::other)
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
