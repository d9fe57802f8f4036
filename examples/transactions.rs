//! Transactions: move money between two accounts all-or-nothing. The closure
//! is retried on transient errors; any error aborts and nothing is written.
//!
//! Run: `cargo run --example transactions`

use model::{DateTime, Error, Model, Query};
use serde::{Deserialize, Serialize};

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(key = name)]
struct Account {
    #[serde(rename = "_id")]
    name: String,
    balance: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

/// Moves `amount` from `from` to `to` in one transaction.
async fn transfer(
    conn: &model::Connection,
    from: &str,
    to: &str,
    amount: i64,
) -> model::Result<()> {
    let accounts = conn.repo::<Account>();
    let (from, to) = (from.to_string(), to.to_string());
    // `async move`: the closure owns what it uses, so this future is `Send`
    // and may run in a spawned task or a web handler (see examples/axum.rs).
    conn.transaction(async move |s| {
        let payer = accounts.update(&from, Account::BALANCE.inc(-amount)).session(s).await?;
        if payer.balance < 0 {
            // Returning an error aborts: the debit above is rolled back.
            return Err(Error::InvalidArgument { message: format!("{from} cannot pay {amount}") });
        }
        accounts.update(&to, Account::BALANCE.inc(amount)).session(s).await?;
        Ok(())
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?;
    let conn = model::Connection::new(&server.uri, testkit::unique_name("transactions"));
    let accounts = conn.repo::<Account>();
    accounts
        .insert_many([
            AccountInsert { name: "alice".into(), balance: 100 },
            AccountInsert { name: "bob".into(), balance: 0 },
        ])
        .await?;

    // On a task of its own, as a request handler would run it.
    let task = tokio::spawn({
        let conn = conn.clone();
        async move { transfer(&conn, "alice", "bob", 30).await }
    });
    task.await??;
    println!("alice -> bob 30: committed");

    let refused = transfer(&conn, "bob", "alice", 500).await;
    println!("bob -> alice 500: {}", refused.unwrap_err());

    for account in accounts.find_many(Query::all()).sort(Account::NAME.asc()).await? {
        println!("{}: {}", account.name, account.balance);
    }
    conn.database().await?.drop().await?;
    Ok(())
}
