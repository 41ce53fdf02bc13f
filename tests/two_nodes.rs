//! Two live daemons on one host, over loopback UDP and a pty serial cable:
//! they see each other on both links, survive a cut cable, detect a killed
//! peer, and take it back with a new generation. Each scenario runs on the
//! io_uring backend and on the poll fallback.

mod common;

use common::{DEADTIME_US, Pair};

fn both_links_up(pair: &Pair) {
    for i in 0..2 {
        let peer = pair.name(1 - i);
        pair.expect(i, &format!("node {peer} is alive"), 1);
        pair.expect(i, "link ucast lo", 1);
        pair.expect(i, &format!("link {} ", pair.serial_label(i)), 1);
    }
    for i in 0..2 {
        assert!(
            pair.lines(i, &format!("{} ", pair.serial_label(i)))
                .iter()
                .any(|l| l.contains("is up")),
            "serial link up on node {}",
            pair.name(i)
        );
        assert!(
            pair.lines(i, "is up")
                .iter()
                .any(|l| l.contains("ucast lo"))
        );
    }
}

fn see_each_other_on_both_links(io: &'static str) {
    let mut pair = Pair::new(true, io);
    pair.start_both();
    both_links_up(&pair);
    let backend = if io == "poll" { "epoll" } else { "io_uring" };
    for i in 0..2 {
        assert!(
            pair.log(i).contains(&format!("io backend: {backend}"))
                || pair.log(i).contains(&format!("running on {backend}")),
            "node {} runs on {backend}:\n{}",
            pair.name(i),
            pair.log(i)
        );
    }
    assert!(pair.stop(0), "alpha stops cleanly on SIGTERM");
    assert!(pair.stop(1), "bravo stops cleanly on SIGTERM");
}

#[test]
fn pair_sees_each_other_on_both_links_uring() {
    see_each_other_on_both_links("uring");
}

#[test]
fn pair_sees_each_other_on_both_links_poll() {
    see_each_other_on_both_links("poll");
}

fn cut_cable_downs_serial_only(io: &'static str) {
    let mut pair = Pair::new(true, io);
    pair.start_both();
    both_links_up(&pair);
    pair.cable.as_ref().unwrap().cut();
    for i in 0..2 {
        pair.expect(i, &format!("link {} ", pair.serial_label(i)), 2);
        let last = pair.lines(i, &format!("link {} ", pair.serial_label(i)));
        assert!(last[1].contains("is down"), "serial went down: {last:?}");
    }
    pair.cable.as_ref().unwrap().restore();
    for i in 0..2 {
        pair.expect(i, &format!("link {} ", pair.serial_label(i)), 3);
        let last = pair.lines(i, &format!("link {} ", pair.serial_label(i)));
        assert!(last[2].contains("is up"), "serial came back: {last:?}");
        // UDP carried the peer all along.
        assert!(
            pair.lines(i, "is dead").is_empty(),
            "no peer died:\n{}",
            pair.log(i)
        );
        assert!(
            pair.lines(i, "link ucast lo")
                .iter()
                .all(|l| l.contains("is up"))
        );
    }
}

#[test]
fn cut_serial_cable_downs_that_link_on_both_sides_only_uring() {
    cut_cable_downs_serial_only("uring");
}

#[test]
fn cut_serial_cable_downs_that_link_on_both_sides_only_poll() {
    cut_cable_downs_serial_only("poll");
}

/// "silent on every link for N µs" → N.
fn silence_us(line: &str) -> u64 {
    let tail = line.split("silent on every link for ").nth(1).unwrap();
    tail.split(' ').next().unwrap().parse().unwrap()
}

fn kill_and_return(io: &'static str) {
    let mut pair = Pair::new(true, io);
    pair.start_both();
    both_links_up(&pair);
    pair.kill9(0);
    pair.expect(1, "node alpha is dead", 1);
    let dead = &pair.lines(1, "node alpha is dead")[0];
    // Logged by the takeover process: the event crossed the ring.
    assert!(dead.contains("twinbeat::event"), "{dead}");
    let silent = silence_us(dead);
    assert!(
        (DEADTIME_US..DEADTIME_US + 2_000_000).contains(&silent),
        "declared dead after {silent} µs of silence (deadtime {DEADTIME_US} µs)"
    );
    // Each link went down before (or with) the death, never after it.
    let log = pair.log(1);
    let death_at = log.find("node alpha is dead").unwrap();
    for link in ["link ucast lo", &format!("link {} ", pair.serial_label(1))] {
        let down = log
            .match_indices(link)
            .map(|(i, _)| i)
            .find(|&i| log[i..].lines().next().unwrap().contains("is down"));
        assert!(
            down.is_some_and(|d| d < death_at),
            "{link} down before the death:\n{log}"
        );
    }

    pair.start(0);
    pair.expect(0, "twinbeat starting node=alpha", 2);
    let restarted = &pair.lines(0, "twinbeat starting node=alpha")[1];
    let generation: u32 = restarted
        .split("generation=")
        .nth(1)
        .and_then(|g| g.split(' ').next())
        .and_then(|g| g.parse().ok())
        .expect("the start line names the generation");
    assert!(
        generation > 1,
        "a restart takes a new generation: {restarted}"
    );
    pair.expect(
        1,
        &format!("node alpha restarted: generation 1 -> {generation}"),
        1,
    );
    pair.expect(
        1,
        &format!("node alpha is alive (generation {generation})"),
        1,
    );
    pair.expect(0, "node bravo is alive (generation 1)", 1);
}

#[test]
fn killed_peer_is_declared_dead_then_returns_with_a_new_generation_uring() {
    kill_and_return("uring");
}

#[test]
fn killed_peer_is_declared_dead_then_returns_with_a_new_generation_poll() {
    kill_and_return("poll");
}
