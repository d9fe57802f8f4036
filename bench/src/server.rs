//! The server a run measures against: `MONGODB_URI` when set, otherwise a
//! dedicated, fresh server started for the run (or the round) and killed
//! when dropped.

use testkit::{ServerKind, ServerOptions, ServerProcess};

/// A server to benchmark against.
pub struct BenchServer {
    /// Connection string, with `retryWrites=false`.
    pub uri: String,
    /// What serves it.
    pub kind: ServerKind,
    _process: Option<ServerProcess>,
}

impl BenchServer {
    /// `MONGODB_URI` if set, else a fresh `mongod` (when on `PATH`) or SecantusDB.
    pub fn start() -> Result<BenchServer, String> {
        if let Some(uri) = testkit::external_uri() {
            return Ok(BenchServer {
                uri: without_retryable_writes(&uri),
                kind: ServerKind::External,
                _process: None,
            });
        }
        let kind = testkit::startable_kind();
        let process = ServerProcess::start(ServerOptions::new(kind)).map_err(|e| e.to_string())?;
        Ok(BenchServer {
            uri: without_retryable_writes(process.uri()),
            kind,
            _process: Some(process),
        })
    }

    /// Whether this run started the server (so a new one can be had per round).
    pub fn is_ours(&self) -> bool {
        self._process.is_some()
    }
}

/// `uri` with `retryWrites=false`: SecantusDB's per-write cost grows with
/// every retryable write it serves, which would tilt later rounds.
pub fn without_retryable_writes(uri: &str) -> String {
    if uri.contains("retryWrites=") {
        return uri.to_string();
    }
    let base = uri.trim_end_matches(['?', '&']);
    if base.contains('?') {
        format!("{base}&retryWrites=false")
    } else if base[base.find("://").map_or(0, |i| i + 3)..].contains('/') {
        format!("{base}?retryWrites=false")
    } else {
        format!("{base}/?retryWrites=false")
    }
}

#[cfg(test)]
mod tests {
    use super::without_retryable_writes as f;

    #[test]
    fn retryable_writes_are_turned_off_in_any_uri_shape() {
        assert_eq!(
            f("mongodb://127.0.0.1:1/?directConnection=true"),
            "mongodb://127.0.0.1:1/?directConnection=true&retryWrites=false"
        );
        assert_eq!(f("mongodb://h:1"), "mongodb://h:1/?retryWrites=false");
        assert_eq!(f("mongodb://h:1/"), "mongodb://h:1/?retryWrites=false");
        assert_eq!(f("mongodb://h:1/?retryWrites=true"), "mongodb://h:1/?retryWrites=true");
    }
}
