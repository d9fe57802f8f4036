//! `--lock-loop odm|raw N URI`: N uncontended lock cycles (try_lock +
//! release) on one side, on a current-thread runtime, so callgrind can
//! count the client's instructions per cycle (the server is another
//! process and is not counted).

use std::time::Duration;

use crate::e2e::BoxError;
use crate::raw_lock::RawLocks;

/// Runs the loop; `args` are `SIDE N URI`.
pub fn run(args: &[String]) -> Result<(), BoxError> {
    let [side, n, uri] = args else {
        return Err("usage: --lock-loop odm|raw N URI".into());
    };
    let n: u64 = n.parse()?;
    let runtime = crate::Flavor::CurrentThread.runtime();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await?;
        let db_name = testkit::unique_name("lockloop");
        let db = client.database(&db_name);
        let ttl = Duration::from_secs(30);
        match side.as_str() {
            "odm" => {
                let locks = model::lock::Locks::new(&model::Connection::from_client(
                    client.clone(),
                    &db_name,
                ));
                for _ in 0..n {
                    let lease = locks.try_lock("k", ttl).await?.ok_or("held")?;
                    locks.release(&lease).await?;
                }
            }
            "raw" => {
                let locks = RawLocks::new(&db);
                for _ in 0..n {
                    let (owner, _token) = locks.try_lock("k", ttl).await?.ok_or("held")?;
                    locks.release("k", &owner).await?;
                }
            }
            other => return Err(format!("unknown side {other}").into()),
        }
        db.drop().await?;
        client.shutdown().await;
        Ok(())
    })
}
