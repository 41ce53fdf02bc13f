//! The takeover process as the event ring's consumer: it is restarted when
//! it dies, and after missing events (ring overflow) it learns so and asks
//! the daemon for the full state.

mod common;

use common::Pair;

#[test]
fn a_killed_takeover_process_is_restarted_and_keeps_consuming() {
    let mut pair = Pair::new(false, "uring");
    pair.start(1);
    let first = pair.agent_pid(1);
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(first, libc::SIGKILL) };
    pair.expect(1, "takeover process exited", 1);
    pair.expect(1, "takeover process started pid=", 2);
    assert_ne!(pair.agent_pid(1), first);
    // The new consumer gets the events that follow.
    pair.start(0);
    pair.expect(1, "node alpha is alive", 1);
}

#[test]
fn a_consumer_that_missed_events_asks_for_the_full_state() {
    let mut pair = Pair::new(true, "uring");
    pair.env.push(("TWINBEAT_RING_CAPACITY".into(), "2".into()));
    pair.start(1);
    pair.expect(1, "takeover process consuming the event ring", 1);
    let agent = pair.agent_pid(1);
    // SAFETY: signalling a process of this test.
    unsafe { libc::kill(agent, libc::SIGSTOP) };
    pair.start(0);
    // Alive, two links up and status changes: more than 2 records.
    let s = pair.wait_status(1, "sees alpha on both links", |s| {
        s.links.iter().all(|l| l.state == "up") && s.ring_overflows > 0
    });
    assert!(s.ring_overflows > 0);
    unsafe { libc::kill(agent, libc::SIGCONT) };
    pair.expect(
        1,
        "events were lost while this process was slow or absent",
        1,
    );
    pair.expect(1, "full state: node alpha is alive", 1);
    assert!(pair.stop(1));
}

#[test]
fn the_takeover_process_inherits_neither_the_serial_line_nor_sockets() {
    let mut pair = Pair::new(true, "uring");
    pair.start(0);
    pair.expect(0, "takeover process consuming the event ring", 1);
    let agent = pair.agent_pid(0);
    let tty = pair.cable.as_ref().unwrap().ends()[0].to_path_buf();
    let fds = |pid: u32| -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .map(|t| t.display().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let held = fds(agent as u32);
    let daemon = pair.nodes[0].child.as_ref().unwrap().id();
    // Inherited means the very socket the daemon holds (same inode); the
    // takeover process's own sockets (agent.sock, a script spawn's
    // transient ones) are its own business.
    let daemon_sockets: Vec<String> = fds(daemon)
        .into_iter()
        .filter(|t| t.starts_with("socket:"))
        .collect();
    assert!(
        !daemon_sockets.is_empty(),
        "the daemon holds sockets (its links, its control socket)"
    );
    assert!(
        !held
            .iter()
            .any(|t| *t == tty.display().to_string() || daemon_sockets.contains(t)),
        "the takeover process holds {held:?}; the daemon's sockets are {daemon_sockets:?}"
    );
}
