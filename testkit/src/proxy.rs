//! A fault-injecting TCP proxy that understands just enough of the MongoDB
//! wire protocol to relay whole messages and recognise commands by name.
//!
//! It runs on plain threads with blocking sockets, so it works under any
//! tokio runtime flavor and outside any runtime. Every blocking call has a
//! timeout and every loop checks a stop flag, so dropping the proxy ends all
//! of its threads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const OP_MSG: i32 = 2013;
/// OP_MSG flag: no reply follows (requests) or more replies follow (replies).
const MORE_TO_COME: u32 = 1 << 1;
const HEADER_LEN: usize = 16;
/// Above MongoDB's `maxMessageSizeBytes` (48,000,000): anything larger is
/// not the wire protocol.
const MAX_MESSAGE_LEN: usize = 64 * 1024 * 1024;
/// How often a blocked read, write, accept or delay looks at the stop flags.
const TICK: Duration = Duration::from_millis(50);
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP proxy between a MongoDB client and server that injects network
/// faults the server's `failCommand` fail point cannot produce, above all a
/// reply lost *after* the server executed the command.
///
/// It listens on `127.0.0.1` only, opens one upstream connection per client
/// connection, and relays whole wire-protocol messages both ways. Faults are
/// set at any time from any thread. Dropping the proxy closes every
/// connection and ends all its threads.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let db = testkit::database().await;
/// let proxy = testkit::FaultProxy::for_uri(&db.uri)?;
/// let client = mongodb::Client::with_uri_str(proxy.uri(&db.uri)?).await.unwrap();
/// proxy.drop_reply("insert", 1);
/// let coll = client.database(&db.name).collection::<bson::Document>("c");
/// let _ = coll.insert_one(bson::doc! { "x": 1 }).await; // applied, reply lost
/// assert_eq!(proxy.replies_dropped(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: Vec<SocketAddr>,
    stop: AtomicBool,
    black_hole: AtomicBool,
    partition_after_drop: AtomicBool,
    faults: Mutex<Faults>,
    replies_dropped: AtomicU64,
    commands: Mutex<HashMap<String, u64>>,
    connections: Mutex<Vec<Arc<Conn>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Faults {
    /// Command name -> how many more of its replies to drop.
    drop_reply: HashMap<String, u32>,
    delay: Duration,
}

/// One client connection and its upstream connection.
#[derive(Debug)]
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    closed: AtomicBool,
    /// Some traffic of this connection was swallowed by the black hole, so
    /// the client waits for a reply that never comes: closed on healing.
    tainted: AtomicBool,
    /// Request ids whose replies are to be dropped.
    drop_ids: Mutex<HashSet<i32>>,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) in front of the server at
    /// `upstream` (a [`SocketAddr`] or `"host:port"`), relaying faithfully
    /// until a fault is set.
    ///
    /// # Errors
    /// When `upstream` does not resolve, or no loopback port can be bound.
    pub fn start(upstream: impl ToSocketAddrs) -> io::Result<FaultProxy> {
        let upstream: Vec<SocketAddr> = upstream.to_socket_addrs()?.collect();
        if upstream.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no upstream address"));
        }
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            stop: AtomicBool::new(false),
            black_hole: AtomicBool::new(false),
            partition_after_drop: AtomicBool::new(false),
            faults: Mutex::new(Faults::default()),
            replies_dropped: AtomicU64::new(0),
            commands: Mutex::new(HashMap::new()),
            connections: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let listener = std::thread::Builder::new()
            .name("testkit-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &accept_shared))?;
        Ok(FaultProxy { addr, shared, listener: Some(listener) })
    }

    /// Starts a proxy in front of the first host of a `mongodb://`
    /// connection string, such as [`TestDb::uri`](crate::TestDb::uri).
    ///
    /// # Errors
    /// When `uri` is not a `mongodb://` string with a host, or as
    /// [`FaultProxy::start`].
    pub fn for_uri(uri: &str) -> io::Result<FaultProxy> {
        let parts = UriParts::parse(uri)?;
        let host = parts.hosts.split(',').next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid_uri(uri, "no host"));
        }
        if host.contains(':') && !host.ends_with(']') {
            FaultProxy::start(host)
        } else {
            // No port given: MongoDB's default.
            FaultProxy::start(format!("{host}:27017"))
        }
    }

    /// The address the proxy listens on (always on `127.0.0.1`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `uri` (a `mongodb://` connection string) rewritten to connect through
    /// the proxy: its hosts replaced by [`FaultProxy::addr`], its path and
    /// query options kept, and `directConnection=true` set, so the driver
    /// does not learn the real server address from `hello` and bypass the
    /// proxy.
    ///
    /// # Errors
    /// When `uri` is not a `mongodb://` connection string
    /// (`mongodb+srv://` cannot be used with a direct connection).
    pub fn uri(&self, uri: &str) -> io::Result<String> {
        let parts = UriParts::parse(uri)?;
        let mut options: Vec<&str> = parts
            .query
            .split('&')
            .filter(|option| !option.is_empty())
            .filter(|option| {
                let key = option.split('=').next().unwrap_or_default();
                !key.eq_ignore_ascii_case("directConnection")
            })
            .collect();
        options.push("directConnection=true");
        Ok(format!(
            "mongodb://{}{}/{}?{}",
            parts.userinfo,
            self.addr,
            parts.path,
            options.join("&")
        ))
    }

    /// Loses the server's reply to the next `times` requests whose command
    /// name (the first key of the OP_MSG body, e.g. `"insert"`,
    /// `"findAndModify"`) is `command`: the request is forwarded and the
    /// server executes it, then its reply is swallowed and the client
    /// connection closed (with its upstream connection), so the driver sees
    /// a network error for a command that was applied.
    ///
    /// Replaces an earlier count for the same command; `times == 0` disarms.
    pub fn drop_reply(&self, command: &str, times: u32) {
        let mut faults = lock(&self.shared.faults);
        if times == 0 {
            faults.drop_reply.remove(command);
        } else {
            faults.drop_reply.insert(command.to_string(), times);
        }
    }

    /// Holds every reply from the server for `delay` before forwarding it
    /// (`Duration::ZERO`, the initial setting, forwards at once). Replies to
    /// the driver's monitoring `hello` are delayed too: keep `delay` below
    /// the client's `connectTimeoutMS` unless that is the point.
    pub fn delay_replies(&self, delay: Duration) {
        lock(&self.shared.faults).delay = delay;
    }

    /// A network partition while `on`: connections are still accepted and
    /// bytes read, but nothing is forwarded either way and nothing replied.
    /// Turning it off heals: new connections and untouched ones relay again,
    /// and connections whose traffic was swallowed are closed (their client
    /// would wait forever for the lost reply).
    pub fn black_hole(&self, on: bool) {
        self.shared.black_hole.store(on, Ordering::SeqCst);
        if !on {
            for conn in lock(&self.shared.connections).iter() {
                if conn.tainted.load(Ordering::SeqCst) {
                    conn.close();
                }
            }
        }
    }

    /// With `on`, the next reply [`FaultProxy::drop_reply`] swallows also
    /// starts a partition ([`FaultProxy::black_hole`]`(true)`) before the
    /// connection closes, so the driver's retry cannot reach the server
    /// until the test heals it: time to restart the server in between.
    pub fn partition_after_drop(&self, on: bool) {
        self.shared.partition_after_drop.store(on, Ordering::SeqCst);
    }

    /// How many replies [`FaultProxy::drop_reply`] has swallowed so far.
    pub fn replies_dropped(&self) -> u64 {
        self.shared.replies_dropped.load(Ordering::SeqCst)
    }

    /// How many requests named `command` the proxy has read from clients
    /// (including those the black hole swallowed).
    pub fn commands_seen(&self, command: &str) -> u64 {
        lock(&self.shared.commands).get(command).copied().unwrap_or(0)
    }

    /// Every command name the proxy has read from clients, with its count.
    pub fn commands(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.commands).iter().map(|(name, n)| (name.clone(), *n)).collect()
    }

    /// How many client connections are open through the proxy now.
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.connections).iter().filter(|c| !c.closed.load(Ordering::SeqCst)).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
        for conn in lock(&self.shared.connections).iter() {
            conn.close();
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn invalid_uri(uri: &str, why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("not a mongodb:// URI ({why}): {uri}"))
}

/// `mongodb://[userinfo@]hosts[/path][?query]`, split.
struct UriParts<'a> {
    /// Including the trailing `@`, or empty.
    userinfo: &'a str,
    hosts: &'a str,
    path: &'a str,
    query: &'a str,
}

impl<'a> UriParts<'a> {
    fn parse(uri: &'a str) -> io::Result<UriParts<'a>> {
        let rest = uri.strip_prefix("mongodb://").ok_or_else(|| invalid_uri(uri, "scheme"))?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        let tail = tail.strip_prefix('/').unwrap_or(tail);
        let (path, query) = match tail.find('?') {
            Some(q) => (&tail[..q], &tail[q + 1..]),
            None => (tail, ""),
        };
        Ok(UriParts { userinfo, hosts, path, query })
    }
}

fn stopping(shared: &Shared) -> bool {
    shared.stop.load(Ordering::SeqCst)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !stopping(shared) {
        match listener.accept() {
            Ok((client, _)) => {
                let conn_shared = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("testkit-proxy-conn".into())
                    .spawn(move || serve(client, &conn_shared));
                let mut threads = lock(&shared.threads);
                threads.retain(|thread| !thread.is_finished());
                if let Ok(thread) = spawned {
                    threads.push(thread);
                }
                lock(&shared.connections).retain(|conn| !conn.closed.load(Ordering::SeqCst));
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            // ECONNABORTED and the like: the next accept may succeed.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn connect_upstream(shared: &Shared) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no upstream address");
    for addr in &shared.upstream {
        match TcpStream::connect_timeout(addr, UPSTREAM_CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

fn prepare(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.set_write_timeout(Some(TICK))
}

/// Relays one client connection: requests on this thread, replies on a
/// second one, until either side closes, a fault closes it, or the proxy stops.
fn serve(client: TcpStream, shared: &Arc<Shared>) {
    let Ok(upstream) = connect_upstream(shared) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let streams = (|| {
        prepare(&client)?;
        prepare(&upstream)?;
        Ok::<_, io::Error>((
            client.try_clone()?,
            upstream.try_clone()?,
            client.try_clone()?,
            upstream.try_clone()?,
        ))
    })();
    let Ok((client_for_conn, upstream_for_conn, client_out, upstream_in)) = streams else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    let conn = Arc::new(Conn {
        client: client_for_conn,
        upstream: upstream_for_conn,
        closed: AtomicBool::new(false),
        tainted: AtomicBool::new(false),
        drop_ids: Mutex::new(HashSet::new()),
    });
    lock(&shared.connections).push(Arc::clone(&conn));
    if stopping(shared) {
        conn.close();
        return;
    }
    let reply_conn = Arc::clone(&conn);
    let reply_shared = Arc::clone(shared);
    let replies = std::thread::Builder::new()
        .name("testkit-proxy-reply".into())
        .spawn(move || relay_replies(upstream_in, client_out, &reply_conn, &reply_shared));
    match replies {
        Ok(replies) => {
            relay_requests(client, upstream, &conn, shared);
            conn.close();
            let _ = replies.join();
        }
        Err(_) => conn.close(),
    }
}

fn relay_requests(mut client: TcpStream, mut upstream: TcpStream, conn: &Conn, shared: &Shared) {
    loop {
        let Ok(message) = read_message(&mut client, conn, shared) else { return };
        let header = Header::of(&message);
        let name = command_name(&message);
        if let Some(name) = name {
            *lock(&shared.commands).entry(name.to_string()).or_insert(0) += 1;
        }
        if shared.black_hole.load(Ordering::SeqCst) {
            conn.tainted.store(true, Ordering::SeqCst);
            continue;
        }
        if let Some(name) = name
            && header.op_code == OP_MSG
            && flag_bits(&message) & MORE_TO_COME == 0
        {
            let mut faults = lock(&shared.faults);
            if let Some(left) = faults.drop_reply.get_mut(name) {
                *left -= 1;
                if *left == 0 {
                    faults.drop_reply.remove(name);
                }
                lock(&conn.drop_ids).insert(header.request_id);
            }
        }
        if write_message(&mut upstream, &message, conn, shared).is_err() {
            return;
        }
    }
}

fn relay_replies(mut upstream: TcpStream, mut client: TcpStream, conn: &Conn, shared: &Shared) {
    loop {
        let Ok(message) = read_message(&mut upstream, conn, shared) else { return };
        let header = Header::of(&message);
        if lock(&conn.drop_ids).remove(&header.response_to) {
            if shared.partition_after_drop.swap(false, Ordering::SeqCst) {
                shared.black_hole.store(true, Ordering::SeqCst);
            }
            shared.replies_dropped.fetch_add(1, Ordering::SeqCst);
            conn.close();
            return;
        }
        if shared.black_hole.load(Ordering::SeqCst) {
            conn.tainted.store(true, Ordering::SeqCst);
            continue;
        }
        let delay = lock(&shared.faults).delay;
        if !delay.is_zero() {
            let until = Instant::now() + delay;
            loop {
                if done(conn, shared) {
                    return;
                }
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(TICK));
            }
        }
        if write_message(&mut client, &message, conn, shared).is_err() {
            return;
        }
    }
}

fn done(conn: &Conn, shared: &Shared) -> bool {
    conn.closed.load(Ordering::SeqCst) || stopping(shared)
}

/// Fills `buf`, waiting in [`TICK`]s; fails on end of stream or once the
/// connection or proxy is closed.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    conn: &Conn,
    shared: &Shared,
) -> io::Result<()> {
    let eof = io::ErrorKind::UnexpectedEof;
    transfer(buf.len(), conn, shared, eof, |at| stream.read(&mut buf[at..]))
}

/// Moves `len` bytes by repeated `step(done_so_far)` calls (each a
/// `read` or a `write` of what is left), riding out timeouts and
/// interruptions; a step that moves nothing is `stalled`. Gives up when
/// the connection or the proxy is shutting down.
fn transfer(
    len: usize,
    conn: &Conn,
    shared: &Shared,
    stalled: io::ErrorKind,
    mut step: impl FnMut(usize) -> io::Result<usize>,
) -> io::Result<()> {
    let mut done_so_far = 0;
    while done_so_far < len {
        if done(conn, shared) {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        match step(done_so_far) {
            Ok(0) => return Err(stalled.into()),
            Ok(n) => done_so_far += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_message(stream: &mut TcpStream, conn: &Conn, shared: &Shared) -> io::Result<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    read_full(stream, &mut header, conn, shared)?;
    let length = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let length = usize::try_from(length).unwrap_or(0);
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&length) {
        conn.close();
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad messageLength"));
    }
    let mut message = vec![0u8; length];
    message[..HEADER_LEN].copy_from_slice(&header);
    read_full(stream, &mut message[HEADER_LEN..], conn, shared)?;
    Ok(message)
}

fn write_message(
    stream: &mut TcpStream,
    message: &[u8],
    conn: &Conn,
    shared: &Shared,
) -> io::Result<()> {
    let zero = io::ErrorKind::WriteZero;
    let written = transfer(message.len(), conn, shared, zero, |at| stream.write(&message[at..]));
    if let Err(e) = &written
        && !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::WriteZero)
    {
        conn.close();
    }
    written
}

/// The 16-byte message header (`messageLength` is implied by the buffer).
struct Header {
    request_id: i32,
    response_to: i32,
    op_code: i32,
}

impl Header {
    /// `message` holds at least [`HEADER_LEN`] bytes (checked on reading).
    fn of(message: &[u8]) -> Header {
        let field = |at: usize| {
            i32::from_le_bytes([message[at], message[at + 1], message[at + 2], message[at + 3]])
        };
        Header { request_id: field(4), response_to: field(8), op_code: field(12) }
    }
}

fn flag_bits(message: &[u8]) -> u32 {
    match message.get(HEADER_LEN..HEADER_LEN + 4) {
        Some(bits) => u32::from_le_bytes([bits[0], bits[1], bits[2], bits[3]]),
        None => 0,
    }
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The command name of an OP_MSG request: the first key of its kind-0
/// (body) section. `None` for other opcodes or anything malformed.
fn command_name(message: &[u8]) -> Option<&str> {
    if Header::of(message).op_code != OP_MSG {
        return None;
    }
    let mut at = HEADER_LEN + 4; // after flagBits
    // A checksum, when present, is the last 4 bytes and not a section.
    let end =
        if flag_bits(message) & 1 != 0 { message.len().checked_sub(4)? } else { message.len() };
    while at < end {
        let kind = *message.get(at)?;
        at += 1;
        let size = usize::try_from(read_i32(message, at)?).ok()?;
        match kind {
            0 => {
                // BSON document: int32 size, then elements (type byte, cstring key, ...).
                let document = message.get(at..at.checked_add(size)?)?;
                let key = document.get(5..)?;
                if document.get(4).copied().unwrap_or(0) == 0 {
                    return None; // empty document
                }
                let len = key.iter().position(|&b| b == 0)?;
                return std::str::from_utf8(&key[..len]).ok();
            }
            // Document sequence: int32 size (covering itself), identifier, documents.
            1 => at = at.checked_add(size)?,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_msg(sections: &[u8]) -> Vec<u8> {
        let mut message = Vec::new();
        let length = (HEADER_LEN + 4 + sections.len()) as i32;
        message.extend_from_slice(&length.to_le_bytes());
        message.extend_from_slice(&7i32.to_le_bytes());
        message.extend_from_slice(&0i32.to_le_bytes());
        message.extend_from_slice(&OP_MSG.to_le_bytes());
        message.extend_from_slice(&0u32.to_le_bytes());
        message.extend_from_slice(sections);
        message
    }

    fn body(document: &bson::Document) -> Vec<u8> {
        let mut section = vec![0u8];
        document.to_writer(&mut section).unwrap();
        section
    }

    #[test]
    fn the_command_name_is_the_first_key_of_the_body() {
        let message = op_msg(&body(&bson::doc! { "insert": "c", "$db": "d" }));
        assert_eq!(command_name(&message), Some("insert"));
        assert_eq!(Header::of(&message).request_id, 7);
    }

    #[test]
    fn a_document_sequence_before_the_body_is_skipped() {
        let mut sections = vec![1u8];
        let mut docs = Vec::new();
        bson::doc! { "x": 1 }.to_writer(&mut docs).unwrap();
        let identifier = b"documents\0";
        let size = (4 + identifier.len() + docs.len()) as i32;
        sections.extend_from_slice(&size.to_le_bytes());
        sections.extend_from_slice(identifier);
        sections.extend_from_slice(&docs);
        sections.extend_from_slice(&body(&bson::doc! { "update": "c" }));
        assert_eq!(command_name(&op_msg(&sections)), Some("update"));
    }

    #[test]
    fn malformed_messages_have_no_name() {
        assert_eq!(command_name(&op_msg(&[0, 5, 0, 0, 0, 0])), None); // empty document
        assert_eq!(command_name(&op_msg(&[0, 200, 0, 0, 0])), None); // truncated
        assert_eq!(command_name(&op_msg(&[9])), None); // unknown section kind
    }

    #[test]
    fn drop_closes_connections_and_ends_every_thread() {
        // An upstream that answers once; the reply is then held in the delay.
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = FaultProxy::start(upstream.local_addr().unwrap()).unwrap();
        proxy.delay_replies(Duration::from_secs(60));
        let mut client = TcpStream::connect(proxy.addr()).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client.write_all(&op_msg(&body(&bson::doc! { "ping": 1 }))).unwrap();
        let (mut held, _) = upstream.accept().unwrap();
        // A reply, which the proxy holds for a minute.
        held.write_all(&op_msg(&body(&bson::doc! { "ok": 1 }))).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.commands_seen("ping") == 0 {
            assert!(Instant::now() < deadline, "the request never reached the proxy");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(proxy.open_connections(), 1);

        let shared = Arc::clone(&proxy.shared);
        let started = Instant::now();
        drop(proxy);
        assert!(started.elapsed() < Duration::from_secs(5), "drop took {:?}", started.elapsed());
        // Every thread held a reference; all were joined.
        assert_eq!(Arc::strong_count(&shared), 1);
        let mut byte = [0u8; 1];
        assert_eq!(client.read(&mut byte).unwrap(), 0, "the client connection is closed");
    }

    #[test]
    fn uris_are_rewritten_to_the_proxy_keeping_options() {
        let proxy = FaultProxy::start("127.0.0.1:9").unwrap();
        let at = proxy.addr();
        assert_eq!(
            proxy.uri("mongodb://127.0.0.1:1234/?directConnection=true").unwrap(),
            format!("mongodb://{at}/?directConnection=true")
        );
        assert_eq!(
            proxy.uri("mongodb://u:p@a:1,b:2/db?replicaSet=rs0&w=majority").unwrap(),
            format!("mongodb://u:p@{at}/db?replicaSet=rs0&w=majority&directConnection=true")
        );
        assert_eq!(
            proxy.uri("mongodb://h").unwrap(),
            format!("mongodb://{at}/?directConnection=true")
        );
        assert!(proxy.uri("mongodb+srv://cluster.example.com/").is_err());
    }
}
