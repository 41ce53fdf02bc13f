//! Operator commands, a restarted takeover process and fencing on a live
//! pair (loopback UDP and a pty cable). The group is three resources of a
//! recording script, `rec::r1 rec::r2 rec::r3`, homed on alpha: each call
//! appends `NODE ACTION NAME` to one shared log, a started resource leaves
//! a marker in its node's state dir, and a `slow` file makes r2's start
//! take a second; a `failstop` file in a node's state dir makes its stops
//! fail.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use common::{Pair, wait_until};

const RESOURCES: [&str; 3] = ["r1", "r2", "r3"];

fn calls_log(pair: &Pair) -> PathBuf {
    pair.root.path().join("calls.log")
}

fn calls(pair: &Pair) -> Vec<String> {
    fs::read_to_string(calls_log(pair))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(pair: &Pair, call: &str) -> usize {
    calls(pair).iter().filter(|c| *c == call).count()
}

fn marker(pair: &Pair, i: usize, r: &str) -> PathBuf {
    pair.nodes[i].dirs.state_dir.join(format!("{r}.running"))
}

fn runs_all(pair: &Pair, i: usize) -> bool {
    RESOURCES.iter().all(|r| marker(pair, i, r).exists())
}

fn runs_none(pair: &Pair, i: usize) -> bool {
    RESOURCES.iter().all(|r| !marker(pair, i, r).exists())
}

/// A pair whose haresources is the recording group, with `extra` ha.cf lines.
fn pair_with(extra: &str) -> Pair {
    let pair = Pair::with_extra(true, "auto", extra);
    let log = calls_log(&pair);
    for i in 0..2 {
        let d = &pair.nodes[i].dirs;
        fs::write(
            d.config_dir.join("haresources"),
            "alpha rec::r1 rec::r2 rec::r3\n",
        )
        .unwrap();
        let state = d.state_dir.display();
        let script = d.config_dir.join("resource.d/rec");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n\
                 name=$1\n\
                 m='{state}'/$name.running\n\
                 case \"$2\" in\n\
                 start) echo \"{node} start $name\" >> '{log}'\n\
                   if [ \"$name\" = r2 ] && [ -f '{state}/slow' ]; then sleep 1; fi\n\
                   touch \"$m\" ;;\n\
                 stop) echo \"{node} stop $name\" >> '{log}'\n\
                   if [ -f '{state}/failstop' ]; then exit 1; fi\n\
                   rm -f \"$m\" ;;\n\
                 status) if [ -f \"$m\" ]; then echo running; else echo stopped; fi ;;\n\
                 esac\nexit 0\n",
                node = d.name,
                log = log.display(),
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }
    pair
}

fn run_dir(pair: &Pair, i: usize) -> String {
    pair.run_dir(i).to_str().unwrap().to_string()
}

/// `twinbeat ARGS --run-dir <node i's>`.
fn op(pair: &Pair, i: usize, args: &[&str]) -> (i32, String, String) {
    let rd = run_dir(pair, i);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--run-dir", &rd]);
    pair.cli(&all)
}

/// Both nodes up, the group running on alpha and bravo knowing it.
fn settled(pair: &mut Pair) {
    pair.start_both();
    wait_until("alpha runs the group", pair, || runs_all(pair, 0));
    pair.wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    // The startup exchange is over on both sides.
    pair.expect(1, "peer's holdings received", 1);
    pair.expect(0, "peer's holdings received", 1);
}

fn kill9(pid: i32) {
    // SAFETY: signalling a process this test's daemon started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

#[test]
fn standby_and_takeover_move_the_group_and_are_acknowledged_by_both_nodes() {
    let mut pair = pair_with("");
    settled(&mut pair);
    let (code, out, err) = op(&pair, 0, &["standby"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("acknowledged by both nodes"), "{out}");
    assert!(out.contains("rec::r1"), "names the group: {out}");
    wait_until("bravo runs the group", &pair, || runs_all(&pair, 1));
    wait_until("alpha released it", &pair, || runs_none(&pair, 0));

    let (code, out, err) = op(&pair, 0, &["takeover", "local"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("acknowledged by both nodes"), "{out}");
    wait_until("the group back on alpha", &pair, || {
        runs_all(&pair, 0) && runs_none(&pair, 1)
    });
    for r in RESOURCES {
        assert_eq!(
            count(&pair, &format!("alpha start {r}")),
            2,
            "{:?}",
            calls(&pair)
        );
        assert_eq!(
            count(&pair, &format!("bravo start {r}")),
            1,
            "{:?}",
            calls(&pair)
        );
    }
}

#[test]
fn standby_is_refused_or_times_out_with_a_reason_and_exit_1() {
    let mut pair = pair_with("");
    settled(&mut pair);
    // bravo's takeover process frozen: its daemon beats, nobody acks.
    let bravo_agent = pair.agent_pid(1);
    // SAFETY: signalling a process this test's daemon started.
    unsafe { libc::kill(bravo_agent, libc::SIGSTOP) };
    let (code, out, err) = op(&pair, 0, &["standby", "foreign"]);
    unsafe { libc::kill(bravo_agent, libc::SIGCONT) };
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the peer bravo did not acknowledge"), "{err}");

    pair.kill9(1);
    pair.expect(0, "PEER DEAD", 1);
    let (code, out, err) = op(&pair, 0, &["standby"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("standby refused: the peer is not up"), "{err}");

    // No daemon at all.
    pair.kill9(0);
    let (code, _, err) = op(&pair, 0, &["takeover"]);
    assert_eq!(code, 1);
    assert!(err.contains("no twinbeat daemon is running"), "{err}");
}

#[test]
fn a_killed_takeover_process_is_restarted_and_adopts_the_running_group() {
    let mut pair = pair_with("");
    settled(&mut pair);
    let before = calls(&pair);
    let agent = pair.agent_pid(0);
    kill9(agent);
    pair.expect(0, "restarted takeover process (epoch 1)", 1);
    pair.expect(0, "found running by its status checks, adopted", 1);
    // The peer heard the new takeover process and answered it.
    pair.expect(1, "peer's takeover process restarted (epoch 1)", 1);
    assert_ne!(pair.agent_pid(0), agent);
    // Well past deadtime: nothing moved, nothing ran again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(calls(&pair), before, "no start or stop script ran again");
    assert!(runs_all(&pair, 0) && runs_none(&pair, 1));
    // The adopted group still answers operators: it is really held.
    let (code, out, err) = op(&pair, 0, &["standby"]);
    assert_eq!(code, 0, "{out}{err}");
    wait_until("bravo runs the group", &pair, || runs_all(&pair, 1));
}

#[test]
fn a_takeover_process_killed_while_starting_the_group_ends_with_each_resource_started_once() {
    let mut pair = pair_with("");
    for i in 0..2 {
        fs::write(pair.nodes[i].dirs.state_dir.join("slow"), "").unwrap();
    }
    pair.start_both();
    wait_until("alpha starting r2 (slow)", &pair, || {
        count(&pair, "alpha start r2") == 1
    });
    let agent = pair.agent_pid(0);
    kill9(agent);
    pair.expect(0, "restarted takeover process (epoch 1)", 1);
    // r2's start outlived its takeover process: waited for, not repeated;
    // r3 was never started: the group is completed.
    pair.expect(0, "of the previous takeover process still run", 1);
    pair.expect(0, "found partly running, completing its start", 1);
    wait_until("the group running somewhere", &pair, || {
        runs_all(&pair, 0) || runs_all(&pair, 1)
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        runs_all(&pair, 0) && runs_none(&pair, 1),
        "{:?}",
        calls(&pair)
    );
    for r in RESOURCES {
        assert_eq!(
            count(&pair, &format!("alpha start {r}")),
            1,
            "{r}: {:?}\n{}",
            calls(&pair),
            pair.log(0)
        );
    }
    assert!(
        calls(&pair).iter().all(|c| c.starts_with("alpha start")),
        "{:?}",
        calls(&pair)
    );
}

#[test]
fn a_failed_stop_makes_the_node_unclean_fences_once_and_clear_unclean_lets_the_group_move() {
    let root = tempfile::tempdir().unwrap();
    let fence_log = root.path().join("fence.log");
    let fence = root.path().join("fence.sh");
    fs::write(
        &fence,
        format!(
            "#!/bin/sh\necho \"$TWINBEAT_FENCE_NODE $TWINBEAT_FENCE_PEER $TWINBEAT_FENCE_GROUP \
             $TWINBEAT_FENCE_REASON\" >> '{}'\necho fencing done\nexit 3\n",
            fence_log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fence, fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "fence_command {}\nstop_retries 1\nstop_retry_interval 50ms\n",
        fence.display()
    );
    let mut pair = pair_with(&extra);
    settled(&mut pair);
    fs::write(pair.nodes[0].dirs.state_dir.join("failstop"), "").unwrap();
    let (code, out, err) = op(&pair, 0, &["standby"]);
    assert_eq!(code, 0, "{out}{err}");
    pair.expect(0, "stop failed and it still runs: node unclean", 1);
    pair.expect(0, "fence command FAILED: exit status 3", 1);
    pair.expect(0, "fencing done", 1);
    // First try and one retry of r3, then the group stops there.
    assert_eq!(count(&pair, "alpha stop r3"), 2, "{:?}", calls(&pair));
    std::thread::sleep(Duration::from_millis(1000));
    let fenced = fs::read_to_string(&fence_log).unwrap();
    assert_eq!(fenced, "alpha bravo rec::r1 stop-failed\n");
    assert!(
        !calls(&pair).iter().any(|c| c.starts_with("bravo")),
        "bravo must not start a group alpha may still run: {:?}",
        calls(&pair)
    );

    // The operator makes sure it is gone, then clears the mark.
    fs::remove_file(pair.nodes[0].dirs.state_dir.join("failstop")).unwrap();
    for r in RESOURCES {
        let _ = fs::remove_file(marker(&pair, 0, r));
    }
    let (code, out, err) = op(&pair, 0, &["clear-unclean"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("unclean mark cleared"), "{out}");
    wait_until("bravo takes the group", &pair, || runs_all(&pair, 1));
    assert_eq!(fs::read_to_string(&fence_log).unwrap().lines().count(), 1);
}
