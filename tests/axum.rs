//! `examples/axum.rs` served on a local port and driven over HTTP, against
//! the real server: a transfer's writes are kept together or not at all.

#[path = "../examples/axum.rs"]
#[allow(dead_code)]
mod example;

use std::net::SocketAddr;

use example::{Account, Transfer, TransferInsert};
use model::{DateTime, Query};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The example's service on a free port, over a database of its own.
async fn serve() -> (SocketAddr, model::Connection) {
    let db = testkit::database().await;
    let conn = model::Connection::new(db.uri, db.name);
    example::setup(&conn).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = example::app(conn.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, conn)
}

/// One HTTP/1.1 request on its own connection: the status and the body
/// (chunked bodies decoded).
async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(body) } else { body.to_string() })
}

/// A `transfer-encoding: chunked` body, joined.
fn dechunk(mut body: &str) -> String {
    let mut joined = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return joined;
        }
        joined.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

async fn open(address: SocketAddr, name: &str, balance: i64) {
    let (status, body) =
        request(address, "POST", "/accounts", Some(json!({"name": name, "balance": balance})))
            .await;
    assert_eq!(status, 201, "{body}");
}

async fn send_transfer(
    address: SocketAddr,
    id: &str,
    from: &str,
    to: &str,
    amount: i64,
) -> (u16, String) {
    let transfer = json!({"id": id, "from": from, "to": to, "amount": amount});
    request(address, "POST", "/transfers", Some(transfer)).await
}

/// The stored balances of `names`, read from the database.
async fn balances(conn: &model::Connection, names: &[&str]) -> Vec<i64> {
    let accounts = conn.repo::<Account>();
    let mut found = Vec::new();
    for name in names {
        found.push(accounts.find(&name.to_string()).await.unwrap().balance);
    }
    found
}

async fn transfer_ids(conn: &model::Connection) -> Vec<String> {
    let transfers = conn.repo::<Transfer>().find_many(Query::all()).sort(Transfer::ID.asc()).await;
    transfers.unwrap().into_iter().map(|t| t.id).collect()
}

#[tokio::test]
async fn a_transfer_moves_the_money_and_records_itself() {
    let (address, conn) = serve().await;
    open(address, "alice", 100).await;
    open(address, "bob", 0).await;

    let (status, body) = send_transfer(address, "t-1", "alice", "bob", 30).await;
    assert_eq!(status, 201, "{body}");
    let made: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((&made["_id"], &made["amount"]), (&json!("t-1"), &json!(30)));

    assert_eq!(balances(&conn, &["alice", "bob"]).await, [70, 30]);
    assert_eq!(transfer_ids(&conn).await, ["t-1"]);
}

#[tokio::test]
async fn a_transfer_sent_twice_moves_the_money_once() {
    let (address, conn) = serve().await;
    open(address, "alice", 100).await;
    open(address, "bob", 0).await;
    assert_eq!(send_transfer(address, "t-1", "alice", "bob", 30).await.0, 201);

    // The debit and the credit succeed, then the record's key collides:
    // the whole transaction is undone.
    let (status, body) = send_transfer(address, "t-1", "alice", "bob", 30).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(balances(&conn, &["alice", "bob"]).await, [70, 30]);
    assert_eq!(transfer_ids(&conn).await, ["t-1"]);
}

#[tokio::test]
async fn a_transfer_to_a_missing_account_keeps_nothing() {
    let (address, conn) = serve().await;
    open(address, "alice", 100).await;

    let (status, body) = send_transfer(address, "t-1", "alice", "nobody", 30).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(balances(&conn, &["alice"]).await, [100], "the debit was rolled back");
    assert!(transfer_ids(&conn).await.is_empty());
}

#[tokio::test]
async fn an_overdraft_keeps_nothing() {
    let (address, conn) = serve().await;
    open(address, "alice", 100).await;
    open(address, "bob", 0).await;

    let (status, body) = send_transfer(address, "t-1", "alice", "bob", 101).await;
    assert_eq!((status, body.as_str()), (422, "insufficient funds"));
    assert_eq!(balances(&conn, &["alice", "bob"]).await, [100, 0]);
    assert!(transfer_ids(&conn).await.is_empty());
}

#[tokio::test]
async fn transfers_stream_as_json_lines_oldest_first() {
    let (address, conn) = serve().await;
    // Made at pinned times, in neither key nor time order.
    let transfers = conn.repo::<Transfer>();
    for (id, millis) in [("t-b", 3_000), ("t-a", 1_000), ("t-c", 2_000)] {
        let made =
            TransferInsert { id: id.into(), from: "alice".into(), to: "bob".into(), amount: 1 };
        transfers.insert_one(made).now(DateTime::from_millis(millis)).await.unwrap();
    }

    let (status, body) = request(address, "GET", "/transfers", None).await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<Value> = body.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ids: Vec<_> = lines.iter().map(|t| t["_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["t-a", "t-c", "t-b"]);
}

/// Compiles only if the transfer route, which runs a transaction, meets
/// axum's bound on a handler: a `Send + 'static` future.
#[test]
fn the_transaction_route_is_an_axum_handler() {
    fn assert_handler<H: axum::handler::Handler<T, S>, T, S>(_: H) {}
    assert_handler::<_, _, model::Connection>(example::transfer);
}

/// Compiles only if a transaction whose closure owns what it uses
/// (`async move`) is a `Send + 'static` future, as `tokio::spawn` and web
/// handlers require.
#[test]
fn a_transaction_with_an_owning_closure_is_send() {
    fn is_send<T: Send>(_: &T) {}
    fn is_send_static<T: Send + 'static>(_: &T) {}
    let conn = model::Connection::new("mongodb://127.0.0.1:9", "unused");
    let accounts = conn.repo::<Account>();
    let name = "alice".to_string();
    let transaction = conn.transaction(async move |s| {
        let account = accounts.update(&name, Account::BALANCE.inc(1)).session(s).await?;
        Ok(account.balance)
    });
    is_send(&transaction);
    drop(transaction);
    let task = async move {
        let accounts = conn.repo::<Account>();
        conn.transaction_as(None, async move |s| {
            accounts
                .insert_one(example::AccountInsert { name: "bob".into(), balance: 0 })
                .session(s)
                .await?;
            Ok::<_, example::ApiError>(())
        })
        .await
    };
    is_send_static(&task);
}
