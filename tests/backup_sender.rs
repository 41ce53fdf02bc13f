//! The backup sender covers a beat thread whose core is taken away.
//!
//! A SCHED_FIFO 99 busy loop pinned to alpha's beat core stands in for a
//! vCPU the hypervisor does not run: alpha's beat thread (SCHED_FIFO 50,
//! pinned there) sends nothing while it spins. With the backup sender on
//! the other core, bravo never sees alpha silent; with it off, the same
//! fault makes bravo declare alpha dead — so the first test can fail.
//!
//! Needs root (SCHED_FIFO 99) and two cores; skips and says so otherwise.
//! Runs alone (.config/nextest.toml): the spinning core would stall other
//! tests' threads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Pair, is_root};

const TIMINGS: &str = "keepalive 5ms\nwarntime 25ms\ndeadtime 50ms\ninitdead 3\n";
/// Six deadtimes: far beyond anything the detector forgives.
const HOG: Duration = Duration::from_millis(300);

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn skip() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root to take a core away with a SCHED_FIFO 99 busy loop");
        return true;
    }
    if cores() < 2 {
        eprintln!("skipped: needs two cores (the backup sender runs on another core)");
        return true;
    }
    false
}

/// alpha's beat thread on core 0, bravo's on core 1; `alpha_extra` added
/// to alpha's ha.cf.
fn pair(alpha_extra: &str) -> Pair {
    let pair = Pair::new(false, "uring");
    for (i, extra) in [(0, alpha_extra), (1, "")] {
        let hacf = pair.nodes[i].dirs.config_dir.join("ha.cf");
        let text = std::fs::read_to_string(&hacf).unwrap();
        let text = text.replace(common::TEST_TIMINGS, TIMINGS);
        assert!(
            text.contains(TIMINGS),
            "timings replaced in {}",
            hacf.display()
        );
        std::fs::write(&hacf, format!("{text}beat_core {i}\n{extra}")).unwrap();
    }
    pair
}

/// Spins on `core` at SCHED_FIFO 99 for `how_long`.
fn take_core_away(core: usize, how_long: Duration) {
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let hog = std::thread::spawn(move || {
        twinbeat::engine::realtime::pin_current_thread(core).expect("pinning the hog");
        twinbeat::engine::realtime::promote_current_thread(99).expect("SCHED_FIFO 99");
        flag.store(true, Ordering::SeqCst);
        let t0 = Instant::now();
        while t0.elapsed() < how_long {
            std::hint::spin_loop();
        }
    });
    hog.join().unwrap();
    assert!(started.load(Ordering::SeqCst));
}

fn up(pair: &Pair) {
    for i in 0..2 {
        pair.wait_status(i, "sees its peer alive", |s| {
            s.peers.first().is_some_and(|p| p.liveness == "alive")
        });
    }
}

fn unknown_key_drops(s: &twinbeat::engine::status::Snapshot) -> u64 {
    s.links[0]
        .drops
        .iter()
        .find(|(r, _)| r == "unknown_key")
        .map_or(0, |(_, n)| *n)
}

#[test]
fn a_beat_thread_whose_core_is_taken_away_is_covered_by_the_backup_sender() {
    if skip() {
        return;
    }
    let mut pair = pair("");
    pair.start_both();
    up(&pair);
    pair.expect(0, "backup sender on core 1", 1);
    // Rotate to a new key that bravo alone accepts, so frames the backup
    // sender signed with the old key would be dropped: a SIGHUP must reach
    // it too.
    pair.write_authkeys(
        0,
        "auth 2\n1 sha1 twinbeat-demo-secret\n2 sha256 rotated-secret\n",
    );
    pair.signal(0, libc::SIGHUP);
    pair.expect(0, "key 2 now signs", 1);
    pair.write_authkeys(1, "auth 2\n2 sha256 rotated-secret\n");
    pair.signal(1, libc::SIGHUP);
    pair.expect(1, "key 2 now signs", 1);
    up(&pair);
    let before = pair.status(1);

    take_core_away(0, HOG);

    let alpha = pair.wait_status(0, "reports the hold-up it covered", |s| {
        s.node.backup.longest_held_up_us >= 250_000
    });
    let b = &alpha.node.backup;
    assert_eq!(b.core, Some(1));
    assert!(b.episodes >= 1, "{b:?}");
    assert!(
        b.rounds >= 250 / 5 - 10,
        "a round every keepalive while held up: {b:?}"
    );
    assert_eq!(b.gave_up, 0);
    let after = pair.status(1);
    assert_eq!(
        pair.lines(1, "is dead").len(),
        0,
        "bravo never declared alpha dead:\n{}",
        pair.log(1)
    );
    assert_eq!(after.peers[0].liveness, "alive");
    assert_eq!(
        unknown_key_drops(&after),
        unknown_key_drops(&before),
        "the backup sender signs with the new key"
    );
    assert!(
        pair.log(0).contains("the beat thread was held up"),
        "alpha says what happened:\n{}",
        pair.log(0)
    );
    let run_dir = pair.run_dir(0).to_str().unwrap().to_string();
    let (code, out, _) = pair.cli(&["status", "--run-dir", &run_dir]);
    assert_eq!(code, 0);
    assert!(
        out.contains("backup sender") && out.contains("core 1: covered"),
        "{out}"
    );
}

#[test]
fn without_the_backup_sender_the_same_fault_looks_like_a_dead_node() {
    if skip() {
        return;
    }
    let mut pair = pair("beat_backup_core off\n");
    pair.start_both();
    up(&pair);
    pair.expect(0, "no backup sender: beat_backup_core off", 1);
    assert_eq!(pair.status(0).node.backup.core, None);

    take_core_away(0, HOG);

    pair.expect(1, "node alpha is dead", 1);
}
