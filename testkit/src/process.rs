//! Starting and stopping a server process that never outlives this process.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{Error, install, wire};

/// Where a server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Given by `MONGODB_URI`; nothing was started.
    External,
    /// `mongod` from `PATH`, run as a single-node replica set.
    Mongod,
    /// SecantusDB from its cached virtualenv.
    Secantus,
}

/// How to start a [`ServerProcess`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Which server to start ([`ServerKind::External`] is not startable).
    pub kind: ServerKind,
    /// The port to listen on; a free one when `None`.
    pub port: Option<u16>,
    /// A data directory that survives the process (for restart tests);
    /// a temporary one, removed on drop, when `None`.
    pub storage: Option<PathBuf>,
}

impl ServerOptions {
    /// Options for a server of `kind` on a free port with temporary storage.
    pub fn new(kind: ServerKind) -> Self {
        ServerOptions { kind, port: None, storage: None }
    }

    /// Listen on `port`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Keep data in `dir`, which outlives the server.
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Some(dir.into());
        self
    }
}

/// A server process started by this process: killed on drop, and by the
/// kernel (`PR_SET_PDEATHSIG`) if this process dies first.
#[derive(Debug)]
pub struct ServerProcess {
    child: Mutex<Option<Child>>,
    uri: String,
    port: u16,
    kind: ServerKind,
    temp_dir: Option<PathBuf>,
}

impl ServerProcess {
    /// Starts a server and waits until it answers `hello`.
    ///
    /// # Errors
    /// When the server cannot be installed, started, or does not answer
    /// within a minute.
    pub fn start(options: ServerOptions) -> Result<ServerProcess, Error> {
        sweep_stale_dirs();
        // SecantusDB picks a free port itself and logs it; mongod needs one.
        let port = match (options.port, options.kind) {
            (Some(port), _) => port,
            (None, ServerKind::Secantus) => 0,
            (None, _) => free_port()?,
        };
        let (storage, temp_dir) = match &options.storage {
            Some(dir) => (dir.clone(), None),
            None => {
                let dir =
                    temp_root().join(format!("{}-{}", std::process::id(), crate::unique_name("d")));
                (dir.clone(), Some(dir))
            }
        };
        std::fs::create_dir_all(&storage)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", storage.display())))?;
        let command = match options.kind {
            ServerKind::Mongod => mongod_command(port, &storage),
            ServerKind::Secantus => secantus_command(port, &storage)?,
            ServerKind::External => return Err(Error::new("an external server is not started")),
        };
        let mut child = spawn_on_keeper_thread(command)?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut process = ServerProcess {
            child: Mutex::new(Some(child)),
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            port,
            kind: options.kind,
            temp_dir,
        };
        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        drain(stdout, ready_tx.clone());
        drain(stderr, ready_tx);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last_lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ready_rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(address) = listening_address(&line) {
                        if let Some(p) = address.rsplit(':').next().and_then(|p| p.parse().ok()) {
                            process.port = p;
                            process.uri = format!("mongodb://{address}/?directConnection=true");
                        }
                        break;
                    }
                    if options.kind == ServerKind::Mongod
                        && line.contains("Waiting for connections")
                    {
                        break;
                    }
                    last_lines.push(line);
                    if last_lines.len() > 20 {
                        last_lines.remove(0);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = process.exit_status() {
                        return Err(Error::new(format!(
                            "the server exited with {status}: {}",
                            last_lines.join(" | ")
                        )));
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::new(format!(
                            "the server did not start within 60 s: {}",
                            last_lines.join(" | ")
                        )));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Error::new(format!(
                        "the server exited: {}",
                        last_lines.join(" | ")
                    )));
                }
            }
        }
        let address = format!("127.0.0.1:{}", process.port);
        wire::wait_for_hello(&address, deadline)?;
        if options.kind == ServerKind::Mongod {
            wire::initiate_replica_set(&address, deadline)?;
        }
        Ok(process)
    }

    /// The connection string (`directConnection=true`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The operating-system process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().ok()?.as_ref().map(Child::id)
    }

    /// Kills the server at once (`SIGKILL`) and reaps it; storage is kept.
    pub fn kill(&self) {
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let mut guard = self.child.lock().ok()?;
        guard.as_mut()?.try_wait().ok()?
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn listening_address(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let address = rest.split_whitespace().next()?;
    Some(address.trim_end_matches(['.', ',']).to_string())
}

fn drain(stream: impl std::io::Read + Send + 'static, lines: mpsc::Sender<String>) {
    std::thread::Builder::new()
        .name("testkit-log".into())
        .spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("TESTKIT_VERBOSE").is_some() {
                    crate::install::say(&format!("[server] {line}"));
                }
                // The receiver is gone once the server is up; keep reading so
                // the child never blocks on a full pipe.
                let _ = lines.send(line);
            }
        })
        .expect("spawn log thread");
}

/// Children are spawned from one thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
/// and test threads come and go.
fn spawn_on_keeper_thread(command: Command) -> Result<Child, Error> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("testkit-keeper".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_with_death_signal(&mut command));
                }
                // Park forever once every sender is gone: leaving would kill the children.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn keeper thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    keeper
        .lock()
        .map_err(|_| Error::new("keeper thread poisoned"))?
        .send((command, reply_tx))
        .map_err(|_| Error::new("keeper thread gone"))?;
    reply_rx
        .recv()
        .map_err(|_| Error::new("keeper thread gone"))?
        .map_err(|e| Error::new(format!("cannot start the server: {e}")))
}

/// Spawns `command` so that it dies with this process: on Linux by
/// `PR_SET_PDEATHSIG`, which holds even when this process is killed.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // `pre_exec` with libc calls; see the SAFETY note.
fn spawn_with_death_signal(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, kill) run between
    // fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
}

/// Spawns `command`. Elsewhere (macOS, the BSDs) there is no parent-death
/// signal: the server is stopped when its handle drops, and one left by a
/// killed test process runs until it is stopped by hand.
#[cfg(not(target_os = "linux"))]
fn spawn_with_death_signal(command: &mut Command) -> std::io::Result<Child> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
}

fn secantus_command(port: u16, storage: &Path) -> Result<Command, Error> {
    let bin = install::secantus_binary()?;
    let mut command = Command::new(bin);
    command
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg("--storage-path")
        .arg(storage)
        .arg("--enable-test-commands")
        .current_dir(storage);
    Ok(command)
}

fn mongod_command(port: u16, storage: &Path) -> Command {
    let mut command = Command::new("mongod");
    command
        .arg("--port")
        .arg(port.to_string())
        .arg("--bind_ip")
        .arg("127.0.0.1")
        .arg("--dbpath")
        .arg(storage)
        .arg("--replSet")
        .arg("rs0")
        .arg("--setParameter")
        .arg("enableTestCommands=1");
    command
}

/// Whether a `mongod` executable is on `PATH`.
pub(crate) fn mongod_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("mongod").is_file()))
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::new(format!("no free port on 127.0.0.1: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::new(format!("no free port: {e}")))
}

fn temp_root() -> PathBuf {
    std::env::temp_dir().join("model-testkit")
}

/// Removes temporary data directories left by processes that no longer exist
/// (a `SIGKILL`ed test binary cannot clean up after itself).
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(temp_root()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) =
            name.to_str().and_then(|n| n.split('-').next()).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        #[allow(unsafe_code)]
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
