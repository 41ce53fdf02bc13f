//! The daemon's PM QoS CPU latency request (`cpu_latency`): in force while
//! the daemon runs, gone when it is killed. Needs root (the device is
//! root's); skips and says so otherwise.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, Pair, is_root};

const DEVICE: &str = "/dev/cpu_dma_latency";

/// The bound the kernel applies now, in µs.
fn in_force_us() -> i64 {
    let raw = std::fs::read(DEVICE).unwrap();
    i64::from(i32::from_ne_bytes(raw[..4].try_into().unwrap()))
}

/// Processes that hold the device open, as a request. Other tests run
/// daemons beside this one, and the kernel applies the lowest request.
fn holders() -> usize {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .flatten()
        .filter(|p| {
            std::fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|t| t == std::path::Path::new(DEVICE))
                })
            })
        })
        .count()
}

fn eventually(what: &str, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_request_holds_while_the_daemon_runs_and_ends_with_it() {
    if !is_root() || !std::path::Path::new(DEVICE).exists() {
        eprintln!("skipped: needs root and {DEVICE}");
        return;
    }
    let before = in_force_us();
    if before <= 20 {
        eprintln!("skipped: another process already holds {before} µs, below what this test asks");
        return;
    }
    let mut pair = Pair::with_extra(false, "uring", "cpu_latency 20us\n");
    pair.start(0);
    assert!(
        pair.wait_for(0, "cpu_latency: CPU wake-ups held within 20 µs", 1),
        "{}",
        pair.log(0)
    );
    // At most 20 µs: a daemon of another test may ask for less meanwhile.
    let during = in_force_us();
    assert!(
        during <= 20,
        "the daemon's request is in force: {during} µs"
    );
    pair.kill9(0);
    eventually("the kernel to drop the killed daemon's request", || {
        in_force_us() == before || holders() > 0
    });
    if holders() > 0 {
        eprintln!(
            "other processes hold {DEVICE} (daemons of other tests): the bound after the kill \
             is theirs, not checked"
        );
    }
}

#[test]
fn off_makes_no_request() {
    if !is_root() || !std::path::Path::new(DEVICE).exists() {
        eprintln!("skipped: needs root and {DEVICE}");
        return;
    }
    let mut pair = Pair::with_extra(false, "uring", "cpu_latency off\n");
    pair.start(0);
    assert!(pair.wait_for(0, "twinbeat starting", 1), "{}", pair.log(0));
    assert!(pair.wait_for(0, "beat thread", 1), "{}", pair.log(0));
    assert!(!pair.log(0).contains("cpu_latency:"), "{}", pair.log(0));
    pair.kill9(0);
}
