//! Resource scripts run by two live daemons (loopback UDP and a pty cable,
//! no root needed): each node's `resource.d` holds recording scripts that
//! append every call (time, node, script, arguments, action) to one log
//! shared by both nodes, so the tests read the order of calls across the
//! pair. Files in a per-test control directory make a script fail, hang,
//! lie or flood on one node.
//!
//! The seed's haresources line is used as written except for its
//! `IPaddr::...` resource: the built-in IPaddr would need a real interface
//! (root and a namespace; tests/netns_failover.rs covers it), so here the
//! same arguments go to a recording script called `RecordedIPaddr`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{PATIENCE, Pair, wait_until};

/// The seed's line (/work/shared/seed), homed on alpha, its IPaddr recorded.
const SEED_GROUP: &str = "alpha RecordedIPaddr::192.168.60.200/24/eth0/ \
                          Filesystem::/dev/sdb5::/webdata::ext3 httpd tomcat";

/// The seed's four resources as `SCRIPT ARGS...`, left to right.
const SEED_RESOURCES: [&str; 4] = [
    "RecordedIPaddr 192.168.60.200/24/eth0/",
    "Filesystem /dev/sdb5 /webdata ext3",
    "httpd",
    "tomcat",
];

/// Every resource script of these tests. `@NODE@`, `@RECORD@`, `@CTL@` and
/// `@STATE@` are filled in per node. A script records the call first, then
/// behaves as the control files `@CTL@/NODE.SCRIPT.<what>` say:
/// `failstart`, `failstop` (exit 1), `hangstart`, `hangstop` (a child that
/// lingers plus a wait for it: only a kill of the process group ends it;
/// each call appends its child's pid to `<what>.pid`), `liestatus-running`,
/// `liestatus-stopped`, `flood` (start writes 10 MB to stdout),
/// `daemonize` (start leaves a child running with stdout open and exits).
/// `@STATE@/SCRIPT.on` is the resource "running" on this node.
const RECORDING_SCRIPT: &str = r#"#!/bin/sh
name=$(basename "$0")
for a in "$@"; do action=$a; done
echo "$(date +%s%N) @NODE@ $name $*" >> '@RECORD@'
ctl='@CTL@/@NODE@'.$name
on='@STATE@'/$name.on
linger() {
    sleep 600 &
    echo $! >> "$ctl.$1.pid"
    wait
}
case $action in
  start)
    [ -e "$ctl.failstart" ] && { echo "$name: cannot start on @NODE@" >&2; exit 1; }
    [ -e "$ctl.hangstart" ] && linger hangstart
    if [ -e "$ctl.flood" ]; then
        line=$(printf '%01000d' 0)
        yes "$line" | head -c 10485760
    fi
    if [ -e "$ctl.daemonize" ]; then
        sleep 600 &
        echo $! > "$ctl.daemonize.pid"
    fi
    touch "$on";;
  stop)
    [ -e "$ctl.hangstop" ] && linger hangstop
    [ -e "$ctl.failstop" ] && { echo "$name: cannot stop on @NODE@" >&2; exit 1; }
    rm -f "$on";;
  status)
    if [ -e "$ctl.liestatus-running" ]; then echo "$name is running"
    elif [ -e "$ctl.liestatus-stopped" ]; then echo "$name is not running"
    elif [ -e "$on" ]; then echo "$name is running"
    else echo "$name is not running"; fi;;
esac
exit 0
"#;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    node: String,
    /// `SCRIPT ARGS... ACTION`.
    call: String,
}

/// A pair of daemons whose haresources is `haresources` and whose scripts
/// record to one shared file.
const NO_PROBES: &str = "resource_probe_interval 0\n";

struct Rig {
    pair: Pair,
    record: PathBuf,
    ctl: PathBuf,
}

impl Rig {
    fn new(haresources: &str, scripts: &[&str]) -> Rig {
        Self::with_hacf(haresources, scripts, "")
    }

    /// `hacf` is appended to both nodes' ha.cf (after the pair's
    /// `auto_failback off`, which a line here may override by rewriting).
    fn with_hacf(haresources: &str, scripts: &[&str], hacf: &str) -> Rig {
        let pair = Pair::new(true, "uring");
        let record = pair.root.path().join("calls.log");
        let ctl = pair.root.path().join("ctl");
        fs::create_dir_all(&ctl).unwrap();
        fs::write(&record, "").unwrap();
        for node in &pair.nodes {
            let dirs = &node.dirs;
            fs::write(
                dirs.config_dir.join("haresources"),
                format!("{haresources}\n"),
            )
            .unwrap();
            let hacf_path = dirs.config_dir.join("ha.cf");
            let mut text = fs::read_to_string(&hacf_path).unwrap();
            if let Some(mode) = hacf.strip_prefix("auto_failback ") {
                text = text.replace("auto_failback off", &format!("auto_failback {mode}"));
            } else {
                text.push_str(hacf);
            }
            // These tests check Heartbeat's call sequence (status right
            // before each start); the probes that spare a takeover that
            // fork have their own test.
            text.push_str(NO_PROBES);
            fs::write(&hacf_path, text).unwrap();
            let body = RECORDING_SCRIPT
                .replace("@NODE@", dirs.name)
                .replace("@RECORD@", &record.display().to_string())
                .replace("@CTL@", &ctl.display().to_string())
                .replace("@STATE@", &dirs.state_dir.display().to_string());
            let rsc = dirs.config_dir.join("resource.d");
            for script in scripts {
                let path = rsc.join(script);
                fs::write(&path, &body).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        Rig { pair, record, ctl }
    }

    /// Appends `lines` to node `i`'s ha.cf only (before it starts).
    fn hacf_of(&self, i: usize, lines: &str) {
        let path = self.pair.nodes[i].dirs.config_dir.join("ha.cf");
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(lines);
        fs::write(&path, text).unwrap();
    }

    /// Makes `script` on node `i` behave as `what` (see [`RECORDING_SCRIPT`]).
    fn control(&self, i: usize, script: &str, what: &str) {
        fs::write(self.ctl_file(i, script, what), "").unwrap();
    }

    fn ctl_file(&self, i: usize, script: &str, what: &str) -> PathBuf {
        self.ctl
            .join(format!("{}.{script}.{what}", self.pair.name(i)))
    }

    /// The pid a lingering child of `script` on node `i` wrote.
    fn child_pid(&self, i: usize, script: &str, what: &str) -> Option<i32> {
        self.child_pids(i, script, what).pop()
    }

    /// Every pid the lingering children of `script` on node `i` wrote, one
    /// per call.
    fn child_pids(&self, i: usize, script: &str, what: &str) -> Vec<i32> {
        let path = self.ctl_file(i, script, &format!("{what}.pid"));
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether this build's ha.cf knows the action timeout knobs; the
    /// tests that need a timeout shorter than the 60 s default skip
    /// (saying so) where it does not.
    fn knows_timeout_knobs(&self) -> bool {
        let dir = self.pair.nodes[0].dirs.config_dir.to_str().unwrap();
        let (code, _, err) = self
            .pair
            .cli(&["check-config", "--dir", dir, "--node", "alpha"]);
        if code != 0 && err.contains("resource_timeout") {
            eprintln!("skipped: this build's ha.cf has no `resource_timeout`:\n{err}");
            return false;
        }
        assert_eq!(code, 0, "check-config: {err}");
        true
    }

    fn running(&self, i: usize, script: &str) -> bool {
        self.pair.nodes[i]
            .dirs
            .state_dir
            .join(format!("{script}.on"))
            .exists()
    }

    /// Every call, in the order they happened across both nodes.
    fn calls(&self) -> Vec<Call> {
        fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut words = l.splitn(3, ' ');
                let _time = words.next()?;
                Some(Call {
                    node: words.next()?.to_string(),
                    call: words.next()?.to_string(),
                })
            })
            .collect()
    }

    /// Node `i`'s calls, `SCRIPT ARGS... ACTION` each.
    fn calls_of(&self, i: usize) -> Vec<String> {
        let name = self.pair.name(i);
        self.calls()
            .into_iter()
            .filter(|c| c.node == name)
            .map(|c| c.call)
            .collect()
    }

    /// Waits until node `i` has made at least `n` calls; returns them.
    fn wait_calls(&self, i: usize, n: usize) -> Vec<String> {
        wait_until(
            &format!("{} made {n} script calls", self.pair.name(i)),
            &self.pair,
            || self.calls_of(i).len() >= n,
        );
        self.calls_of(i)
    }

    fn dump(&self) -> String {
        format!(
            "calls:\n{}\n--- alpha ---\n{}\n--- bravo ---\n{}",
            fs::read_to_string(&self.record).unwrap_or_default(),
            self.pair.log(0),
            self.pair.log(1)
        )
    }
}

/// `[status, start]` for each resource, left to right: how Heartbeat's
/// ResourceManager acquires a group (a resource whose status says it runs
/// is not started again).
fn acquired(resources: &[&str]) -> Vec<String> {
    resources
        .iter()
        .flat_map(|r| [format!("{r} status"), format!("{r} start")])
        .collect()
}

/// `stop` for each resource, right to left, and nothing else.
fn released(resources: &[&str]) -> Vec<String> {
    resources
        .iter()
        .rev()
        .map(|r| format!("{r} stop"))
        .collect()
}

fn process_gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let gone = unsafe { libc::kill(pid, 0) } != 0;
    gone || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn seed_line_starts_left_to_right_moves_on_kill_9_and_stops_right_to_left_on_sigterm() {
    let mut rig = Rig::new(
        SEED_GROUP,
        &["RecordedIPaddr", "Filesystem", "httpd", "tomcat"],
    );
    rig.pair.start_both();
    let want_start = acquired(&SEED_RESOURCES);
    let alpha = rig.wait_calls(0, want_start.len());
    assert_eq!(alpha, want_start, "{}", rig.dump());
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    assert!(
        rig.calls_of(1).is_empty(),
        "bravo runs nothing of alpha's group while alpha holds it\n{}",
        rig.dump()
    );

    // kill -9 of the holder: bravo runs the same calls in the same order;
    // alpha's orphaned takeover process releases its copy right to left.
    rig.pair.kill9(0);
    let bravo = rig.wait_calls(1, want_start.len());
    assert_eq!(bravo, want_start, "{}", rig.dump());
    let want_release = released(&SEED_RESOURCES);
    let alpha = rig.wait_calls(0, want_start.len() + want_release.len());
    assert_eq!(
        alpha[want_start.len()..],
        want_release[..],
        "{}",
        rig.dump()
    );

    // Planned shutdown of the holder: stop right to left, nothing else.
    assert!(rig.pair.stop(1), "bravo stops cleanly on SIGTERM");
    let bravo = rig.calls_of(1);
    assert_eq!(
        bravo[want_start.len()..],
        want_release[..],
        "{}",
        rig.dump()
    );
    for script in ["RecordedIPaddr", "Filesystem", "httpd", "tomcat"] {
        assert!(!rig.running(0, script) && !rig.running(1, script));
    }
}

/// With probes on (the default), the standby asks `status` of the groups it
/// does not run ahead of time, so a takeover runs each `start` with no
/// `status` fork before it: the first start script runs right after the
/// verdict.
#[test]
fn a_probed_group_starts_on_takeover_without_a_status_call_first() {
    let mut rig = Rig::new(
        SEED_GROUP,
        &["RecordedIPaddr", "Filesystem", "httpd", "tomcat"],
    );
    for node in &rig.pair.nodes {
        let path = node.dirs.config_dir.join("ha.cf");
        let text = fs::read_to_string(&path).unwrap().replace(NO_PROBES, "");
        fs::write(&path, text).unwrap();
    }
    rig.pair.start_both();
    let probe: Vec<String> = SEED_RESOURCES
        .iter()
        .map(|r| format!("{r} status"))
        .collect();
    // bravo probes alpha's group, and only asks.
    let before = rig.wait_calls(1, probe.len());
    assert_eq!(before[..probe.len()], probe[..], "{}", rig.dump());
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    let before = rig.calls_of(1);
    assert!(
        before.iter().all(|c| c.ends_with(" status")),
        "bravo only probes while alpha holds the group\n{}",
        rig.dump()
    );
    rig.pair.kill9(0);
    let starts: Vec<String> = SEED_RESOURCES
        .iter()
        .map(|r| format!("{r} start"))
        .collect();
    let after = rig.wait_calls(1, before.len() + starts.len());
    assert_eq!(
        after[before.len()..before.len() + starts.len()],
        starts[..],
        "the takeover starts left to right with no status before each start\n{}",
        rig.dump()
    );
}

#[test]
fn sigterm_hands_the_seed_group_over_stop_right_to_left_then_start_left_to_right() {
    let mut rig = Rig::new(
        SEED_GROUP,
        &["RecordedIPaddr", "Filesystem", "httpd", "tomcat"],
    );
    rig.pair.start_both();
    let want_start = acquired(&SEED_RESOURCES);
    rig.wait_calls(0, want_start.len());
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    assert!(rig.pair.stop(0), "alpha stops cleanly on SIGTERM");
    let bravo = rig.wait_calls(1, want_start.len());
    assert_eq!(bravo, want_start, "{}", rig.dump());
    // alpha's last stop came before bravo's first start: never both.
    let calls = rig.calls();
    let last_alpha_stop = calls
        .iter()
        .rposition(|c| c.node == "alpha" && c.call.ends_with(" stop"))
        .expect("alpha stopped its resources");
    let first_bravo_call = calls
        .iter()
        .position(|c| c.node == "bravo")
        .expect("bravo ran scripts");
    assert!(last_alpha_stop < first_bravo_call, "{}", rig.dump());
    assert_eq!(
        rig.calls_of(0)[want_start.len()..],
        released(&SEED_RESOURCES)[..],
        "{}",
        rig.dump()
    );
}

const TWO: &str = "alpha first::a second::b";
const TWO_RESOURCES: [&str; 2] = ["first a", "second b"];

/// What a node runs when the second resource's start fails: status and
/// start of the first, status and the failed start of the second, then the
/// whole group released right to left (Heartbeat's giveup also stops the
/// resource that failed: its start may have half-happened).
fn failed_second_start() -> Vec<String> {
    let mut calls = acquired(&TWO_RESOURCES);
    calls.extend(released(&TWO_RESOURCES));
    calls
}

#[test]
fn a_failed_start_is_rolled_back_and_the_group_given_to_the_peer() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.control(0, "second", "failstart");
    rig.pair.start_both();
    let want = failed_second_start();
    let alpha = rig.wait_calls(0, want.len());
    assert_eq!(alpha, want, "{}", rig.dump());
    let bravo = rig.wait_calls(1, 4);
    assert_eq!(bravo, acquired(&TWO_RESOURCES), "{}", rig.dump());
    wait_until("bravo runs both resources", &rig.pair, || {
        rig.running(1, "first") && rig.running(1, "second")
    });
    assert!(!rig.running(0, "first") && !rig.running(0, "second"));
    rig.pair
        .expect(0, "group 0: start failed; giving it to the peer", 1);
    // Settled: alpha does not try again while bravo holds the group.
    wait_until("alpha sees bravo active", &rig.pair, || {
        rig.pair.status(0).peers[0].status == "active"
    });
    assert_eq!(rig.calls_of(0), want, "{}", rig.dump());
}

#[test]
fn when_neither_node_can_start_the_group_it_is_left_stopped_on_both() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.control(0, "second", "failstart");
    rig.control(1, "second", "failstart");
    rig.pair.start_both();
    let want = failed_second_start();
    assert_eq!(rig.wait_calls(0, want.len()), want, "{}", rig.dump());
    assert_eq!(rig.wait_calls(1, want.len()), want, "{}", rig.dump());
    rig.pair.expect(
        1,
        "group 0: start failed; the peer cannot take it: left stopped",
        1,
    );
    // Both nodes up, neither holding anything, and no further attempt: the
    // call log stays as it is while both keep announcing their state.
    for i in 0..2 {
        rig.pair.wait_status(i, "up, holding nothing", |s| {
            s.node.state == "up" && s.node.rscstatus == "none"
        });
    }
    let settled = rig.calls().len();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(rig.calls().len(), settled, "{}", rig.dump());
    for i in 0..2 {
        assert!(!rig.running(i, "first") && !rig.running(i, "second"));
    }
}

// Lying status scripts. twinbeat believes `status`, as Heartbeat's
// ResourceManager does, and reads it only where Heartbeat does: before
// each start (a resource said to run is not started) and after a stop
// that failed (a resource said to be stopped is taken as stopped). It
// never asks status before a stop: stop runs whatever status says. So:
// - "running" when it is not: the start is skipped, the group reported
//   started, and the resource does not run (the service is down until an
//   operator notices; the log names the resource "already running").
// - "stopped" when it runs: the start runs again (an LSB start must be
//   idempotent), and a failed stop is believed: the group moves to the
//   peer although the resource may still run here (logged as a script
//   that is not LSB-compliant). A lying status defeats the unclean check;
//   no status-based design can do better.

#[test]
fn a_status_that_says_running_when_it_is_not_skips_the_start() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.control(0, "first", "liestatus-running");
    rig.pair.start_both();
    let want = vec![
        "first a status".to_string(),
        "second b status".to_string(),
        "second b start".to_string(),
    ];
    assert_eq!(rig.wait_calls(0, want.len()), want, "{}", rig.dump());
    rig.pair.expect(0, "already running: not started", 1);
    rig.pair.expect(0, "group 0: started", 1);
    assert!(!rig.running(0, "first") && rig.running(0, "second"));
    // The peer believes alpha holds the whole group: it starts nothing.
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    assert!(rig.calls_of(1).is_empty(), "{}", rig.dump());
}

#[test]
fn a_status_that_says_stopped_when_it_runs_gets_a_second_start() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    // Left running on alpha from before, yet its status denies it.
    fs::write(rig.pair.nodes[0].dirs.state_dir.join("first.on"), "").unwrap();
    rig.control(0, "first", "liestatus-stopped");
    rig.pair.start_both();
    let want = acquired(&TWO_RESOURCES);
    assert_eq!(rig.wait_calls(0, want.len()), want, "{}", rig.dump());
    rig.pair.expect(0, "group 0: started", 1);
}

#[test]
fn a_failed_stop_whose_status_says_stopped_is_believed_and_the_group_moves() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.pair.start_both();
    rig.wait_calls(0, 4);
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    rig.control(0, "first", "failstop");
    rig.control(0, "first", "liestatus-stopped");
    // SIGTERM: the planned shutdown's stop of `first` fails on every try,
    // then status (lying) says stopped: believed, the group goes to bravo.
    rig.pair.signal(0, libc::SIGTERM);
    // Eleven stop attempts a second apart come first.
    let start = Instant::now();
    while !(rig.running(1, "first") && rig.running(1, "second")) {
        assert!(
            start.elapsed() < 3 * PATIENCE,
            "bravo never ran the group\n{}",
            rig.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.pair
        .expect(0, "the script is probably not LSB-compliant", 1);
    // `first` still runs on alpha (its stop failed): the lie made two
    // owners, which is why twinbeat says so loudly.
    assert!(rig.running(0, "first"), "{}", rig.dump());
    let alpha = rig.calls_of(0);
    let stops = alpha.iter().filter(|c| *c == "first a stop").count();
    assert!(stops >= 2, "the failed stop was retried\n{}", rig.dump());
    assert_eq!(alpha.last().map(String::as_str), Some("first a status"));
}

/// auto_failback through daemons: alpha (home) holds the group, is killed,
/// bravo takes it; alpha comes back.
fn failback_rig(mode: &str) -> Rig {
    let mut rig = Rig::with_hacf(TWO, &["first", "second"], &format!("auto_failback {mode}"));
    rig.pair.start_both();
    wait_until("alpha runs the group", &rig.pair, || {
        rig.running(0, "first") && rig.running(0, "second")
    });
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    rig.pair.kill9(0);
    wait_until("bravo took the group", &rig.pair, || {
        rig.running(1, "first") && rig.running(1, "second")
    });
    wait_until("alpha's orphan released its copy", &rig.pair, || {
        !rig.running(0, "first") && !rig.running(0, "second")
    });
    rig.pair.expect(0, "release complete", 1);
    rig.pair.start(0);
    rig
}

#[test]
fn auto_failback_on_returns_the_group_home_once_the_home_node_is_back() {
    let rig = failback_rig("on");
    wait_until("the group is back on alpha", &rig.pair, || {
        rig.running(0, "first") && rig.running(0, "second")
    });
    assert!(!rig.running(1, "first") && !rig.running(1, "second"));
    rig.pair.expect(
        1,
        "group 0: auto_failback, returning it to its home node",
        1,
    );
    // bravo released right to left before alpha started left to right.
    let calls = rig.calls();
    let bravo_last_stop = calls
        .iter()
        .rposition(|c| c.node == "bravo" && c.call.ends_with(" stop"))
        .expect("bravo stopped the group");
    let alpha_restart = calls
        .iter()
        .rposition(|c| c.node == "alpha" && c.call == "first a status")
        .expect("alpha acquired again");
    assert!(bravo_last_stop < alpha_restart, "{}", rig.dump());
    let bravo = rig.calls_of(1);
    assert_eq!(
        bravo[bravo.len() - 2..],
        released(&TWO_RESOURCES)[..],
        "{}",
        rig.dump()
    );
}

#[test]
fn auto_failback_off_leaves_the_group_where_it_is() {
    let rig = failback_rig("off");
    // alpha is back and has heard what bravo holds...
    rig.pair.wait_status(0, "alpha sees bravo active", |s| {
        s.peers[0].status == "active"
    });
    rig.pair.expect(0, "peer's holdings received", 2);
    rig.pair
        .wait_status(0, "alpha up and holding nothing", |s| {
            s.node.state == "up" && s.node.rscstatus == "none"
        });
    // ...and several deadtimes later nothing has moved.
    let settled = rig.calls().len();
    std::thread::sleep(Duration::from_millis(4 * common::DEADTIME_US / 1000));
    assert_eq!(rig.calls().len(), settled, "{}", rig.dump());
    assert!(rig.running(1, "first") && rig.running(1, "second"));
    assert!(!rig.running(0, "first") && !rig.running(0, "second"));
}

/// Polls for `how_long`, failing the moment `bad` holds.
fn never(rig: &Rig, what: &str, how_long: Duration, bad: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < how_long {
        assert!(!bad(), "{what}\n{}", rig.dump());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_stop_that_keeps_failing_leaves_the_node_unclean_and_the_peer_never_runs_the_group() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.pair.start_both();
    wait_until("alpha runs the group", &rig.pair, || {
        rig.running(0, "first") && rig.running(0, "second")
    });
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    rig.control(0, "second", "failstop");
    rig.pair.signal(0, libc::SIGTERM);
    // Eleven stop attempts a second apart come first.
    let start = Instant::now();
    while rig.pair.lines(0, "this node is unclean").is_empty() {
        assert!(
            start.elapsed() < 3 * PATIENCE,
            "never unclean\n{}",
            rig.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.pair.expect(0, "node unclean, claiming nothing", 1);
    let alpha = rig.calls_of(0);
    let tries = alpha.iter().filter(|c| *c == "second b stop").count();
    assert_eq!(tries, 11, "one stop and ten retries\n{}", rig.dump());
    assert_eq!(alpha.last().map(String::as_str), Some("second b status"));
    // `first` was never stopped: a group stops right to left and halts at
    // the resource that would not stop.
    assert!(rig.running(0, "second") && rig.running(0, "first"));
    // alpha's daemon ends (or not); whatever it does, bravo must not start
    // a group that may still run on alpha.
    never(
        &rig,
        "bravo started the group while it still runs on alpha",
        Duration::from_millis(20 * common::DEADTIME_US / 1000),
        || !rig.calls_of(1).is_empty(),
    );
    rig.pair
        .expect(1, "group 0: NOT taking it: a stop failed on the peer", 1);
}

#[test]
fn a_flooding_script_and_a_lingering_child_never_stop_the_keepalives() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.control(0, "first", "flood");
    rig.control(0, "second", "daemonize");
    rig.pair.start_both();
    rig.pair
        .wait_status(1, "sees alpha up", |s| s.peers[0].liveness == "alive");
    let before = rig.pair.status(0).node;
    // The flood (10 MB on stdout, logged line by line) and
    // a start that leaves a child holding its stdout: both starts finish.
    wait_until("alpha runs the group", &rig.pair, || {
        rig.running(0, "first") && rig.running(0, "second")
    });
    rig.pair.expect(0, "group 0: started", 1);
    // Every line of it reached the log, tagged with the resource (10 MB in
    // lines of 1000 digits plus a newline).
    let flood_lines = rig
        .pair
        .lines(0, "0000000000 resource=\"first::a\" stream=\"stdout\"")
        .len();
    assert!(
        flood_lines >= 10 * 1024 * 1024 / 1001,
        "{flood_lines} flood lines"
    );
    let child = rig
        .child_pid(0, "second", "daemonize")
        .expect("the start left a child");
    assert!(!process_gone(child), "the service's child keeps running");
    // Throughout, bravo never lost alpha, and alpha's beat loop kept time.
    let after = rig.pair.status(0).node;
    let bravo = rig.pair.status(1);
    assert_eq!(bravo.peers[0].liveness, "alive");
    assert!(
        rig.pair.lines(1, "node alpha is dead").is_empty(),
        "{}",
        rig.dump()
    );
    assert!(
        rig.pair.lines(1, "late heartbeat").is_empty(),
        "{}",
        rig.dump()
    );
    // On a loaded 2-core machine (the other tests' daemons run their beat
    // threads SCHED_FIFO too) a round may be late; what must hold is that
    // no lateness came near warntime, so the peer never had reason to warn.
    assert!(
        after.worst_send_lateness_us < after.warntime_us / 2,
        "alpha's keepalives were held up during the flood: {before:?} -> {after:?}"
    );
    eprintln!(
        "during the flood: {} late and {} skipped keepalive rounds (worst {} µs)",
        after.late_sends - before.late_sends,
        after.skipped_sends - before.skipped_sends,
        after.worst_send_lateness_us
    );
    // SAFETY: killing the test's own leftover.
    unsafe { libc::kill(child, libc::SIGKILL) };
}

/// Short action timeouts and retries: twinbeat's ha.cf extensions, given
/// to alpha only. bravo keeps the defaults: on a loaded CI machine even a
/// script that does nothing can take seconds, and bravo's must not time out.
const SHORT_TIMEOUTS: &str = "resource_timeout start 2\n\
                              resource_timeout stop 1\n\
                              stop_retries 2\n\
                              stop_retry_interval 100ms\n";

#[test]
fn a_stop_hanging_past_its_timeout_is_killed_with_its_children_retried_and_leaves_the_node_unclean()
{
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.hacf_of(0, SHORT_TIMEOUTS);
    if !rig.knows_timeout_knobs() {
        return;
    }
    rig.pair.start_both();
    wait_until("alpha runs the group", &rig.pair, || {
        rig.running(0, "first") && rig.running(0, "second")
    });
    rig.pair
        .wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    rig.control(0, "second", "hangstop");
    rig.pair.signal(0, libc::SIGTERM);
    rig.pair.expect(0, "node unclean, claiming nothing", 1);
    // One stop and two retries, each killed at the timeout with the child
    // it left waiting: nothing of the three attempts survives. (Counted
    // from the daemon's log: on a loaded machine an attempt may be killed
    // before its script got as far as recording itself.)
    let tries = rig.pair.lines(0, "second b stop resource=second::b").len();
    assert_eq!(tries, 3, "{}", rig.dump());
    rig.pair.expect(0, "stop was still running after 1s", 3);
    let children = rig.child_pids(0, "second", "hangstop");
    assert!(!children.is_empty(), "{}", rig.dump());
    wait_until("every lingering child is gone", &rig.pair, || {
        children.iter().all(|&pid| process_gone(pid))
    });
    assert!(rig.running(0, "second") && rig.running(0, "first"));
    rig.pair.expect(0, "release finished UNCLEAN", 1);
    never(
        &rig,
        "bravo started the group while it may still run on alpha",
        Duration::from_millis(10 * common::DEADTIME_US / 1000),
        || !rig.calls_of(1).is_empty(),
    );
    rig.pair
        .expect(1, "group 0: NOT taking it: a stop failed on the peer", 1);
}

#[test]
fn a_start_hanging_past_its_timeout_is_killed_with_its_child_and_the_group_moves() {
    let mut rig = Rig::new(TWO, &["first", "second"]);
    rig.hacf_of(0, SHORT_TIMEOUTS);
    if !rig.knows_timeout_knobs() {
        return;
    }
    rig.control(0, "first", "hangstart");
    rig.pair.start_both();
    rig.pair.expect(0, "start was still running after 2s", 1);
    let child = rig
        .child_pid(0, "first", "hangstart")
        .expect("the hanging start left a child");
    wait_until(
        "the start's child is killed with its group",
        &rig.pair,
        || process_gone(child),
    );
    // The failed start is rolled back and bravo takes the group.
    wait_until("bravo runs the group", &rig.pair, || {
        rig.running(1, "first") && rig.running(1, "second")
    });
    let mut want = vec!["first a status".to_string(), "first a start".to_string()];
    want.extend(released(&TWO_RESOURCES));
    assert_eq!(rig.calls_of(0), want, "{}", rig.dump());
    // The hung script never touched the keepalives.
    assert!(
        rig.pair.lines(1, "node alpha is dead").is_empty(),
        "{}",
        rig.dump()
    );
    assert_eq!(rig.pair.status(1).peers[0].liveness, "alive");
}
