//! The control plane: the unix socket a running daemon serves off its beat
//! thread, the client the other subcommands use to reach it, and what those
//! subcommands print (`twinbeat status`, `twinbeat cl_status`).
//!
//! - [`protocol`]: the newline-delimited JSON messages and their framing.
//! - [`server`]: [`ControlServer`], one client at a time, every client
//!   bounded in size and time.
//! - [`client`]: [`Client`], a request with a timeout.
//! - [`render`]: the human view of a [`Snapshot`](crate::engine::status::Snapshot).
//! - [`cl_status`]: Heartbeat's `cl_status`, output and exit codes.
//! - [`operator_command`]: `twinbeat standby|takeover|clear-unclean`.
//!
//! An operator request travels CLI → daemon control socket → the daemon's
//! control thread → the takeover process's `agent.sock` → its main loop,
//! which asks the cluster and waits for the peer's acknowledgement. Each
//! hop waits a little longer than the one after it, so the innermost one
//! that did not answer is the one named in the error.

pub mod cl_status;
pub mod client;
pub mod protocol;
pub mod render;
pub mod server;
mod stream;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::Client;
pub use protocol::{AGENT_SOCKET_NAME, Request, Response, SOCKET_NAME, Scope};
pub use server::{ControlHandler, ControlServer};

use protocol::ProtocolError;

/// Everything that can go wrong between a command and a daemon.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No socket, or a socket nobody listens on (a daemon that died).
    #[error(
        "no twinbeat daemon is running with run dir {} (no socket at {})",
        run_dir.display(),
        socket.display()
    )]
    NoDaemon { run_dir: PathBuf, socket: PathBuf },
    #[error(
        "a twinbeat daemon is already running with run dir {}{}",
        run_dir.display(),
        pid.map(|pid| format!(", pid {pid}")).unwrap_or_default()
    )]
    AlreadyRunning { run_dir: PathBuf, pid: Option<u32> },
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket { path: PathBuf },
    #[error("timed out after {} ms {what}", after.as_millis())]
    Timeout { what: &'static str, after: Duration },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bad message from the daemon: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("the daemon refused the request: {message}")]
    Daemon { message: String },
    #[error("the daemon does not support this request yet")]
    Unsupported,
    #[error("the daemon answered {got} to a {asked} request")]
    UnexpectedResponse {
        asked: &'static str,
        got: &'static str,
    },
}

/// How long the takeover process waits for the peer to acknowledge an
/// operator's Offer (standby) or Request (takeover).
pub const OPERATOR_PEER_WAIT: Duration = Duration::from_secs(3);
/// How long the daemon waits for its takeover process to answer.
pub const OPERATOR_AGENT_WAIT: Duration = Duration::from_secs(4);
/// How long the CLI waits for the daemon.
pub const OPERATOR_CLIENT_WAIT: Duration = Duration::from_secs(5);

/// `twinbeat standby|takeover|clear-unclean`: sends `request` to the daemon
/// of `run_dir` and returns what was done (an error when it was refused or
/// nobody answered in time).
pub fn operator_command(run_dir: &Path, request: &Request) -> Result<String, ControlError> {
    Client::connect(run_dir)?
        .with_timeout(OPERATOR_CLIENT_WAIT)
        .operator(request)
}

/// Where the control socket of the daemon using `run_dir` lives.
pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join(SOCKET_NAME)
}

/// `twinbeat status [--run-dir D] [--json]`: asks the daemon for its
/// snapshot and returns the text to print (aligned tables, or pretty JSON).
pub fn status_command(run_dir: &Path, json: bool) -> Result<String, ControlError> {
    let snapshot = Client::connect(run_dir)?.status()?;
    if json {
        let mut text = serde_json::to_string_pretty(&snapshot).map_err(ProtocolError::Json)?;
        text.push('\n');
        Ok(text)
    } else {
        Ok(render::render_status(&snapshot))
    }
}
