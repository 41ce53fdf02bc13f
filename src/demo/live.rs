//! `twinbeat demo`: the embedded pair run for real. Starts alpha and bravo
//! (`twinbeat run`, as separate processes) on loopback UDP and a pty cable,
//! shows their links and RTT, kills alpha with SIGKILL and times how long
//! bravo takes to declare it dead, then brings alpha back.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DEMO_TIMINGS, NodeDirs, PairParams, write_configs};
use crate::control::client::Client;
use crate::engine::status::Snapshot;
use crate::pty::PtyCable;
use crate::time::monotonic_ns;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{what} did not happen within {secs} s; the nodes' logs are in {}", logs.display())]
    Timeout {
        what: String,
        secs: u64,
        logs: PathBuf,
    },
}

struct Node {
    dirs: NodeDirs,
    child: Option<Child>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(exe: &Path, node: &NodeDirs, root: &Path) -> io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join(format!("{}.log", node.name)))?;
    Command::new(exe)
        .args(["run", "--dir"])
        .arg(&node.config_dir)
        .args(["--node", node.name])
        .env("TWINBEAT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
}

fn status(node: &NodeDirs) -> Option<Snapshot> {
    Client::connect(&node.run_dir)
        .and_then(|mut c| c.status())
        .ok()
}

/// Polls `node` every millisecond until `ok`, for at most `secs`.
fn wait_for(
    node: &NodeDirs,
    root: &Path,
    what: &str,
    secs: u64,
    ok: impl Fn(&Snapshot) -> bool,
) -> Result<Snapshot, DemoError> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if let Some(s) = status(node).filter(|s| ok(s)) {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(DemoError::Timeout {
        what: what.into(),
        secs,
        logs: root.to_path_buf(),
    })
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1_000.0)
}

/// Runs the live demo with the `twinbeat` binary `exe`, files under `root`,
/// narrating to `out`.
pub fn run(exe: &Path, root: &Path, out: &mut impl Write) -> Result<(), DemoError> {
    let cable = PtyCable::open()?;
    let ends = cable.ends();
    let params = PairParams {
        timings: DEMO_TIMINGS,
        ports: super::free_ports()?,
        extra: "",
    };
    let [a, b] = write_configs(root, [Some(ends[0]), Some(ends[1])], &params)?;
    writeln!(
        out,
        "twinbeat demo: alpha and bravo on loopback UDP (ports {} and {}) and a pty cable ({} <-> {})",
        params.ports[0],
        params.ports[1],
        ends[0].display(),
        ends[1].display()
    )?;
    writeln!(
        out,
        "timings: {}; configuration and logs in {}",
        DEMO_TIMINGS.trim().replace('\n', ", "),
        root.display()
    )?;
    let mut alpha = Node {
        child: Some(spawn(exe, &a, root)?),
        dirs: a,
    };
    let bravo = Node {
        child: Some(spawn(exe, &b, root)?),
        dirs: b,
    };

    let up = |s: &Snapshot| {
        s.peers.first().is_some_and(|p| p.liveness == "alive")
            && s.links.iter().all(|l| l.state == "up")
    };
    wait_for(
        &alpha.dirs,
        root,
        "alpha seeing bravo on every link",
        10,
        up,
    )?;
    wait_for(
        &bravo.dirs,
        root,
        "bravo seeing alpha on every link",
        10,
        up,
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let s = wait_for(&alpha.dirs, root, "alpha's status", 5, up)?;
    writeln!(
        out,
        "\nboth nodes up; alpha's links to bravo after {:.1} s:",
        s.node.uptime_us as f64 / 1e6
    )?;
    for l in &s.links {
        writeln!(
            out,
            "  {:<32} {:<4} rx {:>6}  RTT p50 {}  p99 {}  jitter p99 {}",
            l.label,
            l.state,
            l.frames_rx,
            ms(l.rtt.p50_us),
            ms(l.rtt.p99_us),
            ms(l.jitter.p99_us)
        )?;
    }
    writeln!(out, "  io backend: {}", s.io.backend)?;

    // alpha, home of demo-service, runs it; bravo does not.
    let marker = |n: &NodeDirs| n.state_dir.join("demo-service.running");
    let start = Instant::now();
    while !marker(&alpha.dirs).exists() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(DemoError::Timeout {
                what: "alpha starting demo-service".into(),
                secs: 10,
                logs: root.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    writeln!(out, "  demo-service runs on alpha (its home node)")?;

    // The failover: SIGKILL alpha and time bravo's verdict and takeover.
    let killed_wall = std::time::SystemTime::now();
    let killed_at = monotonic_ns();
    if let Some(mut c) = alpha.child.take() {
        c.kill()?;
        c.wait()?;
    }
    let dead = wait_for(&bravo.dirs, root, "bravo declaring alpha dead", 10, |s| {
        s.peers.first().is_some_and(|p| p.liveness == "dead")
    })?;
    let peer = &dead.peers[0];
    let declared_at = dead
        .node
        .clock_ns
        .saturating_sub(peer.declared_dead_us_ago.unwrap_or(0) * 1_000);
    let mut report = String::new();
    let _ = writeln!(
        report,
        "\nkill -9 alpha: bravo declared it dead {} after the kill (deadtime {}).",
        ms(declared_at.saturating_sub(killed_at) as f64 / 1_000.0),
        ms(dead.node.deadtime_us as f64)
    );
    out.write_all(report.as_bytes())?;
    // The resource script writes its start time (date +%s%N) on bravo.
    let start = Instant::now();
    let started_ns = loop {
        if let Some(ns) = std::fs::read_to_string(marker(&bravo.dirs))
            .ok()
            .and_then(|t| t.trim().parse::<u128>().ok())
        {
            break ns;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(DemoError::Timeout {
                what: "bravo starting demo-service".into(),
                secs: 10,
                logs: root.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let killed_ns = killed_wall
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    writeln!(
        out,
        "bravo's takeover process started demo-service {} after the kill (the script's own clock).",
        ms(started_ns.saturating_sub(killed_ns) as f64 / 1_000.0)
    )?;

    alpha.child = Some(spawn(exe, &alpha.dirs, root)?);
    let back = wait_for(&bravo.dirs, root, "alpha returning", 10, |s| {
        s.peers.first().is_some_and(|p| p.liveness == "alive")
    })?;
    writeln!(
        out,
        "alpha restarted: bravo sees it alive again with generation {}.",
        back.peers[0].generation.unwrap_or(0)
    )?;
    for node in [&mut alpha, &mut { bravo }] {
        if let Some(c) = node.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let mut c = c;
            let _ = c.wait();
        }
    }
    writeln!(out, "both nodes stopped.")?;
    Ok(())
}
