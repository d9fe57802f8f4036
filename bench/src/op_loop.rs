//! `--op-loop OP odm|raw N URI`: one end-to-end operation run N times on
//! one side, on a current-thread runtime, after the same fixture and
//! warm-up as in a round, so callgrind can count the client's
//! instructions per operation (the server is another process and is not
//! counted): `(Ir(N) − Ir(0)) / N`.

use crate::e2e::{BoxError, Fixture, Op, Side};

/// Warm-up ops before the loop (the same for every N, so they cancel out).
const WARM: u64 = 3;

/// Runs the loop; `args` are `OP SIDE N URI`.
pub fn run(args: &[String]) -> Result<(), BoxError> {
    let usage = || {
        let ops: Vec<_> = Op::ALL.iter().map(|op| op.key()).collect();
        format!("usage: --op-loop {} odm|raw N URI", ops.join("|"))
    };
    let [op, side, n, uri] = args else {
        return Err(usage().into());
    };
    let op = Op::ALL.into_iter().find(|o| o.key() == op).ok_or_else(usage)?;
    let side = match side.as_str() {
        "odm" => Side::Odm,
        "raw" => Side::Raw,
        _ => return Err(usage().into()),
    };
    let n: u64 = n.parse()?;
    let runtime = crate::Flavor::CurrentThread.runtime();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await?;
        let db = testkit::unique_name("oploop");
        // Seeded for the largest N asked, so every N sees the same collection.
        let mut fixture = Fixture::new(&client, &db, op, n.max(1000), WARM).await?;
        fixture.run(op, side, WARM).await?;
        fixture.run(op, side, n).await?;
        client.database(&db).drop().await?;
        client.shutdown().await;
        Ok(())
    })
}
