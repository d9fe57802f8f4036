//! The cached SecantusDB virtualenv: created once, shared by every process.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;

use crate::Error;

/// The pinned SecantusDB release.
pub(crate) const SECANTUS_VERSION: &str = "0.7.0b3";

/// The cache directory: `MODEL_TESTKIT_CACHE`, else `$XDG_CACHE_HOME/model-testkit`,
/// else `~/.cache/model-testkit`.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MODEL_TESTKIT_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("model-testkit")
}

/// The `secantusd-py` executable, installed first if needed.
///
/// Installation runs under an exclusive file lock in the cache directory, so
/// concurrent test binaries wait for one install instead of racing.
pub(crate) fn secantus_binary() -> Result<PathBuf, Error> {
    let root = cache_dir().join(format!("secantusdb-{SECANTUS_VERSION}"));
    let venv = root.join("venv");
    let bin = venv.join("bin").join("secantusd-py");
    let marker = root.join("installed");
    if marker.is_file() && bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&root)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", root.display())))?;
    let lock = File::create(root.join("install.lock"))
        .map_err(|e| Error::new(format!("cannot create the install lock: {e}")))?;
    // Released when `lock` is dropped (or the process dies).
    if !matches!(lock.try_lock(), Ok(())) {
        say("testkit: waiting for another process to finish installing SecantusDB");
        lock.lock().map_err(|e| Error::new(format!("cannot lock {}: {e}", root.display())))?;
    }
    if marker.is_file() && bin.is_file() {
        return Ok(bin);
    }
    let python = std::env::var("MODEL_TESTKIT_PYTHON").unwrap_or_else(|_| "python3".into());
    say(&format!(
        "testkit: installing SecantusDB {SECANTUS_VERSION} into {} (first run only; this takes about half a minute)",
        venv.display()
    ));
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new(&python).arg("-m").arg("venv").arg(&venv))?;
    run(Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("SecantusDB=={SECANTUS_VERSION}")))?;
    if !bin.is_file() {
        return Err(Error::new(format!(
            "pip installed SecantusDB but {} is missing",
            bin.display()
        )));
    }
    std::fs::write(&marker, SECANTUS_VERSION)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", marker.display())))?;
    say(&format!("testkit: SecantusDB {SECANTUS_VERSION} installed"));
    Ok(bin)
}

/// Writes a progress line straight to the process's stderr: the test
/// harness captures `eprintln!` inside tests, and a first install should
/// never look like a hang.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

fn run(command: &mut Command) -> Result<(), Error> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| Error::new(format!("cannot run {shown}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}
