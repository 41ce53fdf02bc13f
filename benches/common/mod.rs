//! What the benches that run live daemons share.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use twinbeat::demo::NodeDirs;

/// Starts `twinbeat run` for node `n` with `extra` arguments, the log
/// filter `log` and stderr going to `stderr`.
pub fn spawn_daemon(n: &NodeDirs, extra: &[&str], log: &str, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_twinbeat"))
        .args([
            "run",
            "--dir",
            n.config_dir.to_str().unwrap(),
            "--node",
            n.name,
        ])
        .args(extra)
        .env("TWINBEAT_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("starting twinbeat run")
}
