//! A small bank service on axum: accounts, transfers made in one
//! transaction each, and the transfer log streamed as JSON lines.
//!
//! Routes:
//! - `POST /accounts` `{"name": "alice", "balance": 100}`: opens an account;
//! - `GET /accounts/{name}`: reads one;
//! - `POST /transfers` `{"id": "t-1", "from": "alice", "to": "bob", "amount": 30}`:
//!   debits, credits and records the transfer in one transaction; the `id`
//!   is the client's, so a retried request is a `409` and moves no money;
//! - `GET /transfers`: every transfer, one JSON document per line, streamed
//!   from the database as the client reads.
//!
//! Uses `MONGODB_URI` when set; otherwise starts a local test server.
//! Run: `cargo run --example axum`, then for example
//! `curl -d '{"name":"alice","balance":100}' -H 'content-type: application/json' localhost:3000/accounts`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use model::{DateTime, Migration, Model, Query};
use serde::{Deserialize, Serialize};

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(key = name)]
pub struct Account {
    #[serde(rename = "_id")]
    pub name: String,
    pub balance: i64,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// A transfer made, recorded in the same transaction as the two balances.
#[derive(Debug, Model, Serialize, Deserialize)]
#[model(key = id)]
pub struct Transfer {
    /// Chosen by the client: a request sent twice is refused the second time.
    #[serde(rename = "_id")]
    pub id: String,
    pub from: String,
    pub to: String,
    pub amount: i64,
    pub created_at: DateTime,
    pub updated_at: Option<DateTime>,
}

/// The service: every route over one connection.
pub fn app(conn: model::Connection) -> axum::Router {
    axum::Router::new()
        .route("/accounts", post(open_account))
        .route("/accounts/{name}", get(account))
        .route("/transfers", post(transfer).get(transfers))
        .with_state(conn)
}

/// Creates the collections, their validators and indexes.
pub async fn setup(conn: &model::Connection) -> model::Result<()> {
    conn.migrate_all(&[Migration::of::<Account>(), Migration::of::<Transfer>()]).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct NewAccount {
    pub name: String,
    pub balance: i64,
}

async fn open_account(
    State(conn): State<model::Connection>,
    Json(new): Json<NewAccount>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    let insert = AccountInsert { name: new.name, balance: new.balance };
    let account = conn.repo::<Account>().insert_one(insert).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

async fn account(
    State(conn): State<model::Connection>,
    Path(name): Path<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(conn.repo::<Account>().find(&name).await?))
}

#[derive(Deserialize)]
pub struct NewTransfer {
    pub id: String,
    pub from: String,
    pub to: String,
    pub amount: i64,
}

/// Moves the money and records the transfer, all or nothing.
pub async fn transfer(
    State(conn): State<model::Connection>,
    Json(new): Json<NewTransfer>,
) -> Result<(StatusCode, Json<Transfer>), ApiError> {
    if new.amount <= 0 {
        return Err(ApiError::NotPositive);
    }
    let (accounts, transfers) = (conn.repo::<Account>(), conn.repo::<Transfer>());
    // `async move`: the closure owns what it uses (repositories are cheap
    // to clone), so its future is `Send`, as a handler's must be.
    let made = conn
        .transaction_as(None, async move |s| {
            let payer =
                accounts.update(&new.from, Account::BALANCE.inc(-new.amount)).session(s).await?;
            if payer.balance < 0 {
                return Err(ApiError::InsufficientFunds); // the debit is not kept
            }
            accounts.update(&new.to, Account::BALANCE.inc(new.amount)).session(s).await?;
            let record = TransferInsert {
                id: new.id.clone(),
                from: new.from.clone(),
                to: new.to.clone(),
                amount: new.amount,
            };
            // A transfer id seen before is a `Conflict`: neither balance moves.
            Ok(transfers.insert_one(record).session(s).await?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Every transfer, oldest first, as JSON lines. The stream borrows its
/// repository, so a task reads it and hands the lines to the response
/// body through a small channel: at most a few lines wait in memory, and
/// a client that hangs up stops the task at its next line.
async fn transfers(State(conn): State<model::Connection>) -> Response {
    let (mut lines, body) = futures::channel::mpsc::channel::<model::Result<Bytes>>(16);
    tokio::spawn(async move {
        let transfers = conn.repo::<Transfer>();
        let sorted = transfers
            .iterate(Query::all())
            .sort(Transfer::CREATED_AT.asc().then_by(Transfer::ID.asc()));
        let mut stream = match sorted.await {
            Ok(stream) => stream,
            Err(error) => {
                let _ = lines.send(Err(error)).await;
                return;
            }
        };
        while let Some(next) = stream.next().await {
            let line = next.map(|transfer| {
                let mut line = serde_json::to_vec(&transfer).expect("a transfer is JSON");
                line.push(b'\n');
                Bytes::from(line)
            });
            if lines.send(line).await.is_err() {
                return; // the client is gone
            }
        }
    });
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(body)).into_response()
}

/// What a route can fail with, as an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the amount must be positive")]
    NotPositive,
    #[error("insufficient funds")]
    InsufficientFunds,
    /// The database's error, kept as the source, so that a transient
    /// transaction error inside is still retried.
    #[error("the database refused")]
    Model(#[from] model::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::NotPositive | ApiError::InsufficientFunds => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Model(model::Error::NotFound { .. }) => StatusCode::NOT_FOUND,
            ApiError::Model(model::Error::Conflict { .. }) => StatusCode::CONFLICT,
            ApiError::Model(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // The model's messages carry no user data: fit for a client.
        let message = match self {
            ApiError::Model(error) => error.to_string(),
            other => other.to_string(),
        };
        (status, message).into_response()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?; // MONGODB_URI, or a local server
    let conn = model::Connection::new(&server.uri, testkit::unique_name("axum"));
    setup(&conn).await?;
    let address = std::env::var("ADDRESS").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{} (Ctrl-C stops)", listener.local_addr()?);
    axum::serve(listener, app(conn.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    conn.database().await?.drop().await?;
    conn.disconnect().await;
    Ok(())
}
