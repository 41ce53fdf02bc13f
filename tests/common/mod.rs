//! A pair of live `twinbeat run` daemons for integration tests: alpha and
//! bravo on loopback UDP and a pty serial cable, each with its own config,
//! state and run directory, logs captured to files the tests read.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use twinbeat::demo::{NodeDirs, PairParams, write_configs};
use twinbeat::pty::PtyCable;

/// Timings loose enough for a loaded 2-core CI machine: a test asserts
/// behaviour, never this machine's scheduling latency.
pub const TEST_TIMINGS: &str = "keepalive 20ms\nwarntime 250ms\ndeadtime 500ms\ninitdead 3\n";
pub const DEADTIME_US: u64 = 500_000;

/// How long a test waits for something that should happen in milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub struct Node {
    pub dirs: NodeDirs,
    pub log: PathBuf,
    pub child: Option<Child>,
}

pub struct Pair {
    pub root: tempfile::TempDir,
    pub cable: Option<PtyCable>,
    pub nodes: [Node; 2],
    pub io: &'static str,
    /// Command prefix (e.g. `ip netns exec NS`) the daemons run under.
    pub prefix: Vec<String>,
    /// Extra environment for the daemons.
    pub env: Vec<(String, String)>,
    /// Extra arguments to `twinbeat run`.
    pub args: Vec<String>,
}

impl Pair {
    /// Writes both configs (with a serial cable when `serial`), starts nothing.
    pub fn new(serial: bool, io: &'static str) -> Pair {
        Self::with_extra(serial, io, "")
    }

    pub fn with_extra(serial: bool, io: &'static str, extra: &str) -> Pair {
        let root = tempfile::tempdir().unwrap();
        let cable = serial.then(|| PtyCable::open().unwrap());
        let ends = cable.as_ref().map(|c| c.ends());
        let serial_paths = match &ends {
            Some([a, b]) => [Some(*a), Some(*b)],
            None => [None, None],
        };
        let params = PairParams {
            timings: TEST_TIMINGS,
            ports: twinbeat::demo::free_ports().unwrap(),
            extra,
        };
        let [a, b] = write_configs(root.path(), serial_paths, &params).unwrap();
        let node = |dirs: NodeDirs| Node {
            log: root.path().join(format!("{}.log", dirs.name)),
            dirs,
            child: None,
        };
        let nodes = [node(a), node(b)];
        Pair {
            root,
            cable,
            nodes,
            io,
            prefix: Vec::new(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn name(&self, i: usize) -> &'static str {
        self.nodes[i].dirs.name
    }

    pub fn start(&mut self, i: usize) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.nodes[i].log)
            .unwrap();
        let stdout = log.try_clone().unwrap();
        self.start_with(i, stdout.into(), log.into(), "info");
    }

    /// Starts node `i` with the given stdout and stderr and `TWINBEAT_LOG`
    /// (what [`Pair::log`] reads is then wherever those go).
    pub fn start_with(&mut self, i: usize, stdout: Stdio, stderr: Stdio, log_filter: &str) {
        let n = &mut self.nodes[i];
        let mut argv: Vec<String> = self.prefix.clone();
        argv.push(env!("CARGO_BIN_EXE_twinbeat").to_string());
        argv.extend(
            [
                "run",
                "--dir",
                n.dirs.config_dir.to_str().unwrap(),
                "--node",
                n.dirs.name,
                "--io",
                self.io,
            ]
            .map(String::from),
        );
        argv.extend(self.args.iter().cloned());
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("TWINBEAT_LOG", log_filter)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        n.child = Some(child);
    }

    pub fn start_both(&mut self) {
        self.start(0);
        self.start(1);
    }

    pub fn signal(&mut self, i: usize, sig: i32) {
        if let Some(c) = &self.nodes[i].child {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns its exit status success.
    pub fn stop(&mut self, i: usize) -> bool {
        let Some(mut c) = self.nodes[i].child.take() else {
            return false;
        };
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Lines of node `i`'s log containing `needle`.
    pub fn lines(&self, i: usize, needle: &str) -> Vec<String> {
        self.log(i)
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// Waits until node `i`'s log has at least `count` lines with `needle`.
    pub fn wait_for(&self, i: usize, needle: &str, count: usize) -> bool {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if self.lines(i, needle).len() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Asserts `wait_for`, printing both logs when it fails.
    pub fn expect(&self, i: usize, needle: &str, count: usize) {
        assert!(
            self.wait_for(i, needle, count),
            "node {} never logged {count}× {needle:?}\n--- alpha ---\n{}\n--- bravo ---\n{}",
            self.name(i),
            self.log(0),
            self.log(1)
        );
    }

    pub fn serial_label(&self, i: usize) -> String {
        let cable = self.cable.as_ref().expect("pair has a serial cable");
        format!("serial {}", cable.ends()[i].display())
    }

    pub fn run_dir(&self, i: usize) -> &Path {
        &self.nodes[i].dirs.run_dir
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for i in 0..2 {
            self.kill9(i);
        }
    }
}

impl Pair {
    /// The daemon's status over its control socket.
    pub fn status(&self, i: usize) -> twinbeat::engine::status::Snapshot {
        twinbeat::control::client::Client::connect(self.run_dir(i))
            .and_then(|mut c| c.status())
            .unwrap_or_else(|e| panic!("status of {}: {e}\n{}", self.name(i), self.log(i)))
    }

    /// Polls node `i`'s status until `ok` holds.
    pub fn wait_status(
        &self,
        i: usize,
        what: &str,
        ok: impl Fn(&twinbeat::engine::status::Snapshot) -> bool,
    ) -> twinbeat::engine::status::Snapshot {
        let start = Instant::now();
        loop {
            // The socket appears a moment after the process starts.
            let s = twinbeat::control::client::Client::connect(self.run_dir(i))
                .and_then(|mut c| c.status());
            if let Ok(s) = &s
                && ok(s)
            {
                return s.clone();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "node {}: never {what}; last status {s:#?}\n{}",
                self.name(i),
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `twinbeat ARGS...` to completion: (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_twinbeat"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The pid of node `i`'s takeover process, from its latest start line.
    pub fn agent_pid(&self, i: usize) -> i32 {
        self.expect(i, "takeover process started pid=", 1);
        let line = self
            .lines(i, "takeover process started pid=")
            .pop()
            .unwrap();
        line.split("pid=").nth(1).unwrap().trim().parse().unwrap()
    }

    pub fn write_authkeys(&self, i: usize, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.nodes[i].dirs.config_dir.join("authkeys");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A network namespace made for a test, deleted when dropped.
pub struct NetNs(pub String);

impl NetNs {
    /// `tb<pid><tag>`, fresh (a leftover of that name is removed), lo up.
    pub fn new(tag: &str) -> NetNs {
        let name = format!("tb{}{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        NetNs(name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Runs ip(8), asserting success.
pub fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip(8) runs");
    assert!(st.success(), "ip {args:?} failed");
}

/// Polls `ok` until it holds, for at most PATIENCE; on failure prints both
/// nodes' logs.
pub fn wait_until(what: &str, pair: &Pair, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < PATIENCE,
            "never {what}\n--- alpha ---\n{}\n--- bravo ---\n{}",
            pair.log(0),
            pair.log(1)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One node's files for the namespace tests, under `root/name` (returned):
/// `ha.d/ha.cf` is `hacf` plus this node's `state_dir` and `run_dir`,
/// `ha.d/authkeys` (mode 0600), `ha.d/haresources`, and each `(name, body)`
/// of `scripts` as an executable in `ha.d/resource.d`.
pub fn write_node_files(
    root: &Path,
    name: &str,
    hacf: &str,
    authkeys: &str,
    haresources: &str,
    scripts: &[(&str, &str)],
) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let base = root.join(name);
    let conf = base.join("ha.d");
    fs::create_dir_all(conf.join("resource.d")).unwrap();
    fs::write(
        conf.join("ha.cf"),
        format!(
            "{hacf}state_dir {0}/state\nrun_dir {0}/run\n",
            base.display()
        ),
    )
    .unwrap();
    let keys = conf.join("authkeys");
    fs::write(&keys, authkeys).unwrap();
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(conf.join("haresources"), haresources).unwrap();
    for (script, body) in scripts {
        let path = conf.join("resource.d").join(script);
        fs::write(&path, body).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    base
}
