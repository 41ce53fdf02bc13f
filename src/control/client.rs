//! [`Client`]: how `twinbeat status`, `cl_status` and friends reach the
//! daemon. Every exchange is bounded by a timeout (3 s by default), so a
//! wedged daemon yields [`ControlError::Timeout`] instead of a hung command.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ControlError;
use super::protocol::{
    MAX_RESPONSE_LINE, ProtocolError, Request, Response, decode_response, encode_request,
};
use super::stream::{LineIoError, read_line, write_all};
use crate::engine::status::Snapshot;

/// How long a request may take, from sending it to the last byte of the answer.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to the daemon of one run dir.
#[derive(Debug)]
pub struct Client {
    run_dir: PathBuf,
    socket_path: PathBuf,
    /// The connection made by `connect`, used by the first request; the
    /// daemon closes a connection after one exchange, so later requests
    /// connect afresh.
    fresh: Option<UnixStream>,
    timeout: Duration,
}

impl Client {
    /// Connects to the daemon using `run_dir`; [`ControlError::NoDaemon`]
    /// when there is no socket or nobody listens on it.
    pub fn connect(run_dir: &Path) -> Result<Client, ControlError> {
        let socket_path = super::socket_path(run_dir);
        let stream = open(run_dir, &socket_path)?;
        Ok(Client {
            run_dir: run_dir.to_path_buf(),
            socket_path,
            fresh: Some(stream),
            timeout: DEFAULT_CLIENT_TIMEOUT,
        })
    }

    /// Connects to another socket of the run dir (the daemon uses this to
    /// reach its takeover process at `RUN_DIR/agent.sock`).
    pub fn connect_named(run_dir: &Path, name: &str) -> Result<Client, ControlError> {
        let socket_path = run_dir.join(name);
        let stream = open(run_dir, &socket_path)?;
        Ok(Client {
            run_dir: run_dir.to_path_buf(),
            socket_path,
            fresh: Some(stream),
            timeout: DEFAULT_CLIENT_TIMEOUT,
        })
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `request` and waits for the answer.
    pub fn request(&mut self, request: &Request) -> Result<Response, ControlError> {
        let stream = match self.fresh.take() {
            Some(stream) => stream,
            None => open(&self.run_dir, &self.socket_path)?,
        };
        exchange_at(stream, request, self.timeout, &self.socket_path)
    }

    /// Sends an operator request (standby, takeover, clear-unclean): the
    /// text of what was done, or why not.
    pub fn operator(&mut self, request: &Request) -> Result<String, ControlError> {
        match self.request(request)? {
            Response::Done { message } => Ok(message),
            Response::Error { message } => Err(ControlError::Daemon { message }),
            Response::Unsupported => Err(ControlError::Unsupported),
            Response::Ok => Err(ControlError::UnexpectedResponse {
                asked: request.name(),
                got: "ok",
            }),
            Response::Status(_) => Err(ControlError::UnexpectedResponse {
                asked: request.name(),
                got: "status",
            }),
        }
    }

    /// Asks for the daemon's snapshot.
    pub fn status(&mut self) -> Result<Snapshot, ControlError> {
        match self.request(&Request::Status)? {
            Response::Status(snapshot) => Ok(snapshot),
            Response::Error { message } => Err(ControlError::Daemon { message }),
            Response::Unsupported => Err(ControlError::Unsupported),
            Response::Ok => Err(ControlError::UnexpectedResponse {
                asked: "status",
                got: "ok",
            }),
            Response::Done { .. } => Err(ControlError::UnexpectedResponse {
                asked: "status",
                got: "done",
            }),
        }
    }
}

fn open(run_dir: &Path, socket_path: &Path) -> Result<UnixStream, ControlError> {
    UnixStream::connect(socket_path).map_err(|source| match source.kind() {
        // ECONNREFUSED: a socket file left by a daemon that is gone.
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ControlError::NoDaemon {
            run_dir: run_dir.to_path_buf(),
            socket: socket_path.to_path_buf(),
        },
        _ => ControlError::Io {
            what: "cannot connect to",
            path: socket_path.to_path_buf(),
            source,
        },
    })
}

/// One request and its response on `stream`, all within `timeout`.
pub(crate) fn exchange(
    stream: UnixStream,
    request: &Request,
    timeout: Duration,
    run_dir: &Path,
) -> Result<Response, ControlError> {
    exchange_at(stream, request, timeout, &super::socket_path(run_dir))
}

/// As [`exchange`], naming `socket_path` in errors.
fn exchange_at(
    mut stream: UnixStream,
    request: &Request,
    timeout: Duration,
    socket_path: &Path,
) -> Result<Response, ControlError> {
    let deadline = Instant::now() + timeout;
    let socket_path = socket_path.to_path_buf();
    let fail = |err: LineIoError, doing: &'static str, io_what: &'static str| match err {
        LineIoError::Timeout | LineIoError::Stopped => ControlError::Timeout {
            what: doing,
            after: timeout,
        },
        LineIoError::Protocol(err) => ControlError::Protocol(err),
        LineIoError::Io(source) => ControlError::Io {
            what: io_what,
            path: socket_path.clone(),
            source,
        },
    };
    let line = encode_request(request)?;
    write_all(&mut stream, &line, deadline)
        .map_err(|err| fail(err, "sending the request", "cannot send the request to"))?;
    let answer = read_line(&mut stream, MAX_RESPONSE_LINE, deadline, None).map_err(|err| {
        fail(
            err,
            "waiting for the daemon's answer",
            "cannot read the answer from",
        )
    })?;
    decode_response(&answer).map_err(|err: ProtocolError| err.into())
}
