//! [`ControlServer`]: the daemon's end of the control socket.
//!
//! It runs on its own thread (the integrator spawns it) and never touches
//! the beat loop directly: every request goes to a [`ControlHandler`], which
//! in the daemon asks the beat thread for a snapshot. Clients are served one
//! at a time, one request per connection; each client gets at most
//! [`DEFAULT_CLIENT_TIMEOUT`] to send its line and as long again to take the
//! answer, and a line longer than [`MAX_REQUEST_LINE`] is refused, so a bad
//! client delays the next one by at most that timeout and costs no memory.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ControlError;
use super::client::exchange;
use super::protocol::{
    MAX_REQUEST_LINE, ProtocolError, Request, Response, decode_request, encode_response,
};
use super::stream::{LineIoError, SLICE, read_line, write_all};

/// How long one client may take to send its request (and, separately, to
/// take the response).
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long `bind` waits for a daemon already on the socket to say its pid.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Answers control requests; in the daemon, by asking the beat thread.
pub trait ControlHandler {
    fn handle(&mut self, request: Request) -> Response;
}

impl<F: FnMut(Request) -> Response> ControlHandler for F {
    fn handle(&mut self, request: Request) -> Response {
        self(request)
    }
}

/// A bound control socket, removed again when the server is dropped.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    socket_path: PathBuf,
    /// (device, inode) of the socket file we created: on exit we remove the
    /// file only if it is still ours, never a successor's.
    identity: (u64, u64),
    client_timeout: Duration,
}

impl ControlServer {
    /// Binds `RUN_DIR/twinbeat.sock` with mode 0600, creating the run dir
    /// with mode 0700 if missing. Refuses when a live daemon answers on the
    /// socket; removes a stale socket nobody listens on.
    pub fn bind(run_dir: &Path) -> Result<Self, ControlError> {
        Self::bind_named(run_dir, super::SOCKET_NAME)
    }

    /// As [`ControlServer::bind`], for the socket `name` in the run dir
    /// (the takeover process serves `agent.sock`).
    pub fn bind_named(run_dir: &Path, name: &str) -> Result<Self, ControlError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(run_dir)
            .map_err(|source| io_error("cannot create run dir", run_dir, source))?;
        let socket_path = run_dir.join(name);
        clear_stale_socket(run_dir, &socket_path)?;

        let listener = UnixListener::bind(&socket_path).map_err(|source| {
            if source.kind() == io::ErrorKind::AddrInUse {
                // Another daemon bound it between our check and our bind.
                ControlError::AlreadyRunning {
                    run_dir: run_dir.to_path_buf(),
                    pid: None,
                }
            } else {
                io_error("cannot bind control socket", &socket_path, source)
            }
        })?;
        // bind(2) applies the umask; the run dir (0700 when we made it) covers
        // the instant before this chmod.
        fs::set_permissions(&socket_path, fs::Permissions::from_mode(0o600))
            .map_err(|source| io_error("cannot chmod control socket", &socket_path, source))?;
        let meta = fs::symlink_metadata(&socket_path)
            .map_err(|source| io_error("cannot stat control socket", &socket_path, source))?;
        listener
            .set_nonblocking(true)
            .map_err(|source| io_error("cannot configure control socket", &socket_path, source))?;
        Ok(Self {
            listener,
            socket_path,
            identity: (meta.dev(), meta.ino()),
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
        })
    }

    /// Changes how long a client may take (tests shorten it).
    pub fn with_client_timeout(mut self, timeout: Duration) -> Self {
        self.client_timeout = timeout;
        self
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// Serves clients on the calling thread until `stop` is set (seen within
    /// about 100 ms), then removes the socket file. A bad client is dropped;
    /// only a failing listening socket ends the loop with an error.
    pub fn serve<H: ControlHandler>(
        self,
        mut handler: H,
        stop: Arc<AtomicBool>,
    ) -> Result<(), ControlError> {
        let timeout_ms = libc::c_int::try_from(SLICE.as_millis()).unwrap_or(100);
        while !stop.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd {
                fd: self.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(io_error(
                    "cannot poll control socket",
                    &self.socket_path,
                    err,
                ));
            }
            if ready == 0 {
                continue;
            }
            match self.listener.accept() {
                Ok((stream, _)) => self.serve_client(stream, &mut handler, &stop),
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(err) => {
                    // EMFILE and friends: the next client may do better, and
                    // the loop must not spin while the condition lasts.
                    tracing::warn!(error = %err, "control socket: accept failed");
                    std::thread::sleep(SLICE);
                }
            }
        }
        Ok(())
    }

    fn serve_client<H: ControlHandler>(
        &self,
        mut stream: UnixStream,
        handler: &mut H,
        stop: &AtomicBool,
    ) {
        // The accepted socket inherits O_NONBLOCK from the listener; the
        // timeouts below need blocking reads.
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let deadline = Instant::now() + self.client_timeout;
        let response = match read_line(&mut stream, MAX_REQUEST_LINE, deadline, Some(stop)) {
            Ok(line) => match decode_request(&line) {
                Ok(request) => handler.handle(request),
                Err(err) => Response::Error {
                    message: format!("bad request: {err}"),
                },
            },
            Err(LineIoError::Protocol(err @ ProtocolError::TooLong { .. })) => Response::Error {
                message: format!("request refused: {err}"),
            },
            Err(err) => {
                tracing::debug!(?err, "control client dropped");
                return;
            }
        };
        let Ok(line) = encode_response(&response) else {
            tracing::warn!("control socket: response could not be encoded");
            return;
        };
        let deadline = Instant::now() + self.client_timeout;
        if let Err(err) = write_all(&mut stream, &line, deadline) {
            tracing::debug!(?err, "control client did not take its response");
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.socket_path)
            && (meta.dev(), meta.ino()) == self.identity
        {
            let _ = fs::remove_file(&self.socket_path);
        }
    }
}

/// Leaves the way clear for `bind`, or says why not.
fn clear_stale_socket(run_dir: &Path, socket_path: &Path) -> Result<(), ControlError> {
    let meta = match fs::symlink_metadata(socket_path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io_error("cannot stat", socket_path, source)),
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: socket_path.to_path_buf(),
        });
    }
    match UnixStream::connect(socket_path) {
        Ok(stream) => {
            let pid = match exchange(stream, &Request::Status, PROBE_TIMEOUT, run_dir) {
                Ok(Response::Status(snapshot)) => Some(snapshot.node.pid),
                _ => None,
            };
            Err(ControlError::AlreadyRunning {
                run_dir: run_dir.to_path_buf(),
                pid,
            })
        }
        Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(socket = %socket_path.display(), "removing stale control socket");
            match fs::remove_file(socket_path) {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(io_error("cannot remove stale socket", socket_path, source)),
            }
        }
        Err(source) => Err(io_error("cannot probe control socket", socket_path, source)),
    }
}

fn io_error(what: &'static str, path: &Path, source: io::Error) -> ControlError {
    ControlError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}
