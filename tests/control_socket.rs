//! The control socket end to end: a real server on a temp run dir with a
//! canned snapshot handler, real clients, and misbehaving clients.

mod control_common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use control_common::snapshot;
use twinbeat::control::cl_status::{EXIT_NORMAL_FAIL, EXIT_OK, EXIT_TIMEOUT, cl_status_command};
use twinbeat::control::{
    Client, ControlError, ControlServer, Request, Response, SOCKET_NAME, Scope, status_command,
};
use twinbeat::engine::status::Snapshot;

/// A server running on its own thread, stopped and joined on drop.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ControlError>>>,
}

impl Running {
    fn start(server: ControlServer) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let canned = snapshot();
        let handler = move |request: Request| match request {
            Request::Status => Response::Status(canned.clone()),
            Request::Standby { .. } | Request::Takeover { .. } | Request::ClearUnclean => {
                Response::Unsupported
            }
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || server.serve(handler, flag));
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Duration {
        let asked = Instant::now();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
        asked.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("run").join("twinbeat")
}

fn status(dir: &Path) -> Snapshot {
    Client::connect(dir).unwrap().status().unwrap()
}

#[test]
fn status_round_trip_and_cleanup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let server = ControlServer::bind(&dir).unwrap();
    let socket = dir.join(SOCKET_NAME);
    assert_eq!(server.socket_path(), socket);

    let dir_mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "run dir mode {dir_mode:o}");
    let meta = fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let running = Running::start(server);
    assert_eq!(status(&dir), snapshot());
    // A client may ask twice: the second request reconnects.
    let mut client = Client::connect(&dir).unwrap();
    assert_eq!(client.status().unwrap(), snapshot());
    assert_eq!(client.status().unwrap(), snapshot());
    assert_eq!(
        client
            .request(&Request::Takeover {
                scope: Scope::Foreign
            })
            .unwrap(),
        Response::Unsupported
    );

    let took = running.stop();
    assert!(took < Duration::from_secs(1), "stop took {took:?}");
    assert!(!socket.exists(), "socket file left behind");
}

#[test]
fn status_command_renders_text_and_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(ControlServer::bind(&dir).unwrap());

    let text = status_command(&dir, false).unwrap();
    assert!(text.starts_with("Node alpha\n"), "{text}");
    assert!(text.contains("ucast eth0 10.0.0.2:694"), "{text}");

    let json = status_command(&dir, true).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snapshot());
    assert!(json.contains("\n  \"node\": {"), "not pretty: {json}");
    drop(running);
}

#[test]
fn second_server_on_the_same_run_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(ControlServer::bind(&dir).unwrap());

    let err = ControlServer::bind(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            ControlError::AlreadyRunning {
                pid: Some(4242),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "a twinbeat daemon is already running with run dir {}, pid 4242",
            dir.display()
        )
    );
    // The refused attempt must not have removed the live daemon's socket.
    assert_eq!(status(&dir), snapshot());
    drop(running);
}

#[test]
fn stale_socket_is_replaced_but_other_files_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    fs::create_dir_all(&dir).unwrap();
    let socket = dir.join(SOCKET_NAME);
    drop(UnixListener::bind(&socket).unwrap()); // a daemon that died
    assert!(socket.exists());

    let running = Running::start(ControlServer::bind(&dir).unwrap());
    assert_eq!(status(&dir), snapshot());
    running.stop();

    fs::write(&socket, b"not a socket").unwrap();
    let err = ControlServer::bind(&dir).unwrap_err();
    assert!(matches!(err, ControlError::NotASocket { .. }), "{err:?}");
    assert_eq!(fs::read(&socket).unwrap(), b"not a socket");
}

#[test]
fn no_daemon_is_a_clear_error_with_or_without_a_stale_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let expected = format!(
        "no twinbeat daemon is running with run dir {} (no socket at {}/twinbeat.sock)",
        dir.display(),
        dir.display()
    );
    let err = Client::connect(&dir).unwrap_err();
    assert!(matches!(err, ControlError::NoDaemon { .. }), "{err:?}");
    assert_eq!(err.to_string(), expected);

    fs::create_dir_all(&dir).unwrap();
    drop(UnixListener::bind(dir.join(SOCKET_NAME)).unwrap());
    let err = Client::connect(&dir).unwrap_err();
    assert_eq!(err.to_string(), expected);

    assert_eq!(
        status_command(&dir, false).unwrap_err().to_string(),
        expected
    );
    let out = cl_status_command(&dir, &["hbstatus".to_owned()]);
    assert_eq!(out.stdout, "Heartbeat is stopped on this machine.\n");
    assert_eq!(out.exit, EXIT_NORMAL_FAIL);
    let out = cl_status_command(&dir, &["listnodes".to_owned()]);
    assert_eq!(out.exit, EXIT_NORMAL_FAIL);
    assert_eq!(
        out.stderr,
        format!(
            "cl_status: ERROR: Cannot signon with heartbeat\ncl_status: ERROR: REASON: {expected}\n"
        )
    );
}

fn read_reply(stream: &mut UnixStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

#[test]
fn garbage_gets_an_error_and_the_next_client_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(ControlServer::bind(&dir).unwrap());

    for garbage in [
        &b"hello\n"[..],
        b"{\"v\":1,\"cmd\":\"reboot\"}\n",
        b"\xff\xfe\n",
    ] {
        let mut stream = UnixStream::connect(dir.join(SOCKET_NAME)).unwrap();
        stream.write_all(garbage).unwrap();
        let reply = read_reply(&mut stream);
        let value: serde_json::Value = serde_json::from_str(reply.trim_end()).unwrap();
        assert_eq!(value["reply"], "error", "{reply}");
        assert_eq!(value["v"], 1);
        assert!(
            value["message"]
                .as_str()
                .unwrap()
                .starts_with("bad request"),
            "{reply}"
        );
        assert_eq!(status(&dir), snapshot());
    }
    drop(running);
}

#[test]
fn a_one_mebibyte_line_is_refused_and_the_next_client_is_served() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(ControlServer::bind(&dir).unwrap());

    let mut stream = UnixStream::connect(dir.join(SOCKET_NAME)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let line = vec![b'x'; 1024 * 1024];
    // The server stops reading after 64 KiB, so this write may fail.
    let _ = stream.write_all(&line);
    let reply = read_reply(&mut stream);
    // Refused with an error line, or dropped: both keep the server healthy.
    if !reply.is_empty() {
        assert!(reply.contains("\"reply\":\"error\""), "{reply}");
        assert!(reply.contains("longer than 65536 bytes"), "{reply}");
    }
    assert_eq!(status(&dir), snapshot());
    drop(running);
}

#[test]
fn a_silent_client_delays_the_next_one_only_until_its_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(
        ControlServer::bind(&dir)
            .unwrap()
            .with_client_timeout(Duration::from_millis(500)),
    );

    let silent = UnixStream::connect(dir.join(SOCKET_NAME)).unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let the server pick it up
    let started = Instant::now();
    let got = Client::connect(&dir)
        .unwrap()
        .with_timeout(Duration::from_secs(5))
        .status()
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(got, snapshot());
    assert!(waited < Duration::from_millis(1_500), "waited {waited:?}");
    drop(silent);
    drop(running);
}

#[test]
fn default_client_timeout_is_two_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(ControlServer::bind(&dir).unwrap());

    let silent = UnixStream::connect(dir.join(SOCKET_NAME)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    assert_eq!(status(&dir), snapshot());
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(1_500) && waited < Duration::from_millis(2_900),
        "waited {waited:?}"
    );
    drop(silent);
    drop(running);
}

#[test]
fn a_daemon_that_never_answers_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    fs::create_dir_all(&dir).unwrap();
    // Listens (connect succeeds through the backlog) but never accepts.
    let _mute = UnixListener::bind(dir.join(SOCKET_NAME)).unwrap();

    let started = Instant::now();
    let err = Client::connect(&dir)
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .status()
        .unwrap_err();
    assert!(matches!(err, ControlError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let out = cl_status_command(&dir, &["nodestatus".to_owned(), "alpha".to_owned()]);
    assert_eq!(out.exit, EXIT_TIMEOUT, "{out:?}");
    let out = cl_status_command(&dir, &["hbstatus".to_owned()]);
    assert_eq!(out.exit, EXIT_TIMEOUT, "{out:?}");
}

#[test]
fn cl_status_against_a_live_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let running = Running::start(ControlServer::bind(&dir).unwrap());
    let out = cl_status_command(&dir, &["hbstatus".to_owned()]);
    assert_eq!(out.stdout, "Heartbeat is running on this machine.\n");
    assert_eq!(out.exit, EXIT_OK);
    drop(running);
}
