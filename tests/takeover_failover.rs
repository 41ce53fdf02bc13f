//! The takeover path end to end on a live pair: the home node takes its
//! group at startup, the survivor takes it when the holder is killed, and a
//! planned shutdown hands it over without waiting for deadtime. The group is
//! the demo's `demo-service` script, which marks the node it runs on.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Pair, wait_until};

fn running_on(pair: &Pair, i: usize) -> bool {
    marker(pair, i).exists()
}

fn marker(pair: &Pair, i: usize) -> PathBuf {
    pair.nodes[i].dirs.state_dir.join("demo-service.running")
}

/// `twinbeat cl_status rscstatus` against node `i`.
fn rscstatus(pair: &Pair, i: usize) -> String {
    let run = pair.run_dir(i).to_str().unwrap().to_string();
    pair.cli(&["cl_status", "--run-dir", &run, "rscstatus"])
        .1
        .trim()
        .to_string()
}

#[test]
fn both_starting_together_the_home_node_takes_its_group_and_only_it() {
    let mut pair = Pair::new(true, "uring");
    pair.start_both();
    wait_until("alpha runs its group", &pair, || running_on(&pair, 0));
    pair.wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    // Several keepalive rounds later, still exactly one owner.
    std::thread::sleep(Duration::from_millis(500));
    assert!(running_on(&pair, 0) && !running_on(&pair, 1));
}

#[test]
fn the_takeover_process_stays_off_the_beat_threads_core() {
    let mut pair = Pair::new(true, "uring");
    pair.start_both();
    wait_until("alpha runs its group", &pair, || running_on(&pair, 0));
    let cores_of = |pid: i32| twinbeat::engine::realtime::cores_of(pid).unwrap();
    let mine = cores_of(std::process::id() as i32);
    let pinned = pair.lines(0, "beat thread pinned");
    let Some(core) = pinned
        .last()
        .and_then(|l| l.split("core=").nth(1))
        .and_then(|c| c.trim().parse::<usize>().ok())
    else {
        panic!("alpha did not say where its beat thread runs");
    };
    let agent = cores_of(pair.agent_pid(0));
    if mine.len() < 2 {
        eprintln!("skipped: one core here, the takeover process shares it");
        assert_eq!(agent, mine);
        return;
    }
    let expected: Vec<usize> = mine.iter().copied().filter(|&c| c != core).collect();
    assert_eq!(agent, expected, "beat thread on core {core}");
    pair.expect(0, "off the beat thread's core", 1);
}

#[test]
fn kill_9_of_the_holder_moves_the_group_to_the_survivor() {
    let mut pair = Pair::new(true, "uring");
    pair.start_both();
    wait_until("alpha runs its group", &pair, || running_on(&pair, 0));
    let alpha_agent = pair.agent_pid(0);
    // With one group, homed on alpha, its holder holds every group: the
    // cluster names that "all" (local when the peer's groups exist too).
    wait_until("alpha announcing its group", &pair, || {
        ["local", "all"].contains(&rscstatus(&pair, 0).as_str())
    });
    assert_eq!(rscstatus(&pair, 1), "none");
    pair.kill9(0);
    wait_until("bravo takes the group over", &pair, || running_on(&pair, 1));
    pair.expect(1, "taking over from the dead peer", 1);
    // The group's job goes out before anything is logged, but the log
    // still reads in order: the verdict, then what was decided on it.
    let log = pair.log(1);
    let verdict = log
        .find("node alpha is dead")
        .expect("the verdict is logged");
    let decision = log.find("taking over from the dead peer").unwrap();
    assert!(
        verdict < decision,
        "decision logged before its verdict:\n{log}"
    );
    wait_until("bravo announcing alpha's group", &pair, || {
        ["foreign", "all"].contains(&rscstatus(&pair, 1).as_str())
    });
    let status = pair.status(1);
    assert_eq!(status.node.state, "active");
    // alpha's takeover process outlived its daemon only to release the
    // group (one owner), then exited.
    wait_until("alpha's group released", &pair, || !running_on(&pair, 0));
    pair.expect(0, "releasing resource groups", 1);
    wait_until("alpha's takeover process exits", &pair, || {
        // SAFETY: signal 0 only checks that the process exists.
        let gone = unsafe { libc::kill(alpha_agent, 0) != 0 };
        gone || std::fs::read_to_string(format!("/proc/{alpha_agent}/stat"))
            .is_ok_and(|s| s.contains(") Z "))
    });
}

#[test]
fn planned_shutdown_hands_the_group_over_without_waiting_for_deadtime() {
    let mut pair = Pair::new(true, "uring");
    pair.start_both();
    wait_until("alpha runs its group", &pair, || running_on(&pair, 0));
    pair.wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    assert!(pair.stop(0), "alpha stops cleanly on SIGTERM");
    assert!(
        !running_on(&pair, 0),
        "alpha stopped its group before exiting"
    );
    wait_until("bravo takes the group over", &pair, || running_on(&pair, 1));
    // bravo took it because alpha said it was leaving, not because alpha
    // fell silent: the takeover precedes any death verdict.
    let log = pair.log(1);
    let took = log.find("group 0: ").expect("bravo logged its decision");
    if let Some(dead) = log.find("node alpha is dead") {
        assert!(took < dead, "handover before deadtime:\n{log}");
    }
    pair.expect(0, "release complete: no resource group runs here", 1);
}
