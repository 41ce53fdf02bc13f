//! The beat thread polls through the last stretch before a verdict only
//! when the verdict would start something on this node (the takeover
//! process says so in its state record). A node holding every group — the
//! active node whose link was cut — sleeps towards the verdict instead, and
//! leaves its cores to its services and, on a shared host, to the peer.

mod fake_beat;

use std::time::{Duration, Instant};

use fake_beat::FakeBackend;
use twinbeat::demo::PairParams;
use twinbeat::detector::Event;
use twinbeat::engine::beat::BeatLoop;
use twinbeat::engine::outbox::{OutboxRecord, Outgoing, attach_producer, create_for_beat};
use twinbeat::wire::{HoldState, NodeStatus};

/// A hang guard, far beyond any scheduling delay: the loops count turns,
/// not time, except for the detector's own deadtime.
const LIMIT: Duration = Duration::from_secs(60);

fn turn_until(
    loops: &mut [&mut BeatLoop<FakeBackend>],
    sink: &mut Vec<Event>,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) {
    let start = Instant::now();
    while !done(sink) {
        assert!(start.elapsed() < LIMIT, "no {what} within {LIMIT:?}");
        for l in loops.iter_mut() {
            l.turn(sink).unwrap();
        }
    }
}

/// Lets `a` and `b` hear each other until `a` has the peer alive, then
/// silences `b` until `a` declares it dead; returns how many times `a`
/// asked its backend to poll meanwhile.
fn polls_while_silent(a: &mut BeatLoop<FakeBackend>, b: &mut BeatLoop<FakeBackend>) -> u64 {
    let mut sink = Vec::new();
    let mut b_sink = Vec::new();
    let start = Instant::now();
    while !sink.iter().any(|e| matches!(e, Event::PeerAlive { .. })) {
        assert!(start.elapsed() < LIMIT, "the pair never met");
        a.turn(&mut sink).unwrap();
        b.turn(&mut b_sink).unwrap();
    }
    // A few more rounds: the outbox is drained, the links settle.
    for _ in 0..50 {
        a.turn(&mut sink).unwrap();
        b.turn(&mut b_sink).unwrap();
    }
    let before = a.backend().polls;
    sink.clear();
    turn_until(&mut [a], &mut sink, "verdict", |evs| {
        evs.iter().any(|e| matches!(e, Event::PeerDead { .. }))
    });
    assert!(
        sink.iter().any(|e| matches!(e, Event::PeerWarn { .. })),
        "the verdict came without a warning first: {sink:?}"
    );
    a.backend().polls - before
}

fn announce(dir: &std::path::Path, verdict_acts: bool) {
    let mut outbox = attach_producer(dir).unwrap();
    let rec = OutboxRecord::new(Outgoing::State {
        status: NodeStatus::Active,
        hold: HoldState {
            own: true,
            peer: !verdict_acts,
        },
        verdict_acts,
    })
    .unwrap();
    assert!(outbox.push(&rec));
}

#[test]
fn a_node_whose_verdict_would_start_nothing_sleeps_towards_it() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, loops) = fake_beat::pair(dir.path(), &PairParams::default());
    let mut loops = loops.into_iter();
    let reader = create_for_beat(&nodes[0].run_dir).unwrap();
    let mut a = loops.next().unwrap().with_outbox(reader);
    let mut b = loops.next().unwrap();
    announce(&nodes[0].run_dir, false);
    // Every attempt is deterministic here: no poll whatever the timing.
    for _ in 0..3 {
        assert_eq!(polls_while_silent(&mut a, &mut b), 0);
    }
    // The takeover process changes its mind (the node now misses a
    // group): the loop polls again before the next verdict.
    announce(&nodes[0].run_dir, true);
    assert_polls_before_a_verdict(&mut a, &mut b);
}

#[test]
fn until_the_takeover_process_says_otherwise_a_near_verdict_is_polled_for() {
    let dir = tempfile::tempdir().unwrap();
    let (_nodes, loops) = fake_beat::pair(dir.path(), &PairParams::default());
    let mut loops = loops.into_iter();
    let (mut a, mut b) = (loops.next().unwrap(), loops.next().unwrap());
    assert_polls_before_a_verdict(&mut a, &mut b);
}

/// The poll stretch is the last 250 µs before the verdict: a loop preempted
/// across all of it (a loaded test machine) makes no poll in that round,
/// so a few rounds are allowed; a loop that never polls fails them all.
fn assert_polls_before_a_verdict(a: &mut BeatLoop<FakeBackend>, b: &mut BeatLoop<FakeBackend>) {
    let rounds: Vec<u64> = (0..5).map(|_| polls_while_silent(a, b)).collect();
    assert!(
        rounds.iter().any(|&p| p > 0),
        "no poll before any of 5 verdicts: {rounds:?}"
    );
}
