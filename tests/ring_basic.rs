//! Single-thread behaviour of the event ring: order, wraparound, overflow
//! accounting, consumer and producer restarts.

use std::collections::VecDeque;

use proptest::prelude::*;
use twinbeat::ring::{Backing, EventRecord, Next, Reader, Ring, RingFds, RingStats, Writer};

fn memfd_ring(capacity: u64) -> (Writer<u64>, Reader<u64>) {
    let (w, fds) = Ring::create::<u64>(Backing::Memfd, capacity).unwrap();
    (w, Reader::open(fds).unwrap())
}

fn drain(r: &mut Reader<u64>) -> Vec<Next<u64>> {
    let mut out = Vec::new();
    loop {
        match r.next().unwrap() {
            Next::Empty => return out,
            other => out.push(other),
        }
    }
}

#[test]
fn records_come_out_in_push_order() {
    let (mut w, mut r) = memfd_ring(8);
    assert_eq!(r.next().unwrap(), Next::Empty);
    for v in [10, 20, 30] {
        assert!(w.push(&v));
    }
    assert_eq!(
        drain(&mut r),
        vec![Next::Record(10), Next::Record(20), Next::Record(30)]
    );
    assert_eq!(r.expected_seq(), 3);
}

#[test]
fn event_records_round_trip_field_by_field() {
    let (mut w, fds) = Ring::create::<EventRecord>(Backing::Memfd, 4).unwrap();
    let mut r = Reader::<EventRecord>::open(fds).unwrap();
    let ev = EventRecord {
        at: 123_456_789,
        value: u64::MAX - 1,
        kind: 3,
        node: 0xBEEF,
        link: 2,
        flags: 0,
    };
    assert!(w.push(&ev));
    assert_eq!(r.next().unwrap(), Next::Record(ev));
}

#[test]
fn wraparound_keeps_order_for_every_capacity() {
    for shift in 0..=10 {
        let cap = 1u64 << shift;
        let (mut w, mut r) = memfd_ring(cap);
        let mut next_value = 0u64;
        let mut expect = 0u64;
        // Many laps, with batches that alternately fill the ring and not.
        for round in 0..(8 * cap + 5) {
            let batch = 1 + (round % cap);
            for _ in 0..batch {
                assert!(w.push(&next_value), "cap {cap}: push must fit");
                next_value += 1;
            }
            for item in drain(&mut r) {
                assert_eq!(item, Next::Record(expect), "cap {cap}");
                expect += 1;
            }
        }
        assert_eq!(expect, next_value);
        assert_eq!(w.stats().overflowed, 0);
    }
}

#[test]
fn overflow_reports_the_exact_number_missed_then_resumes() {
    let (mut w, mut r) = memfd_ring(4);
    let accepted: Vec<bool> = (0..10u64).map(|v| w.push(&v)).collect();
    assert_eq!(
        accepted,
        [
            true, true, true, true, false, false, false, false, false, false
        ]
    );
    assert_eq!(w.stats().overflowed, 6);
    assert_eq!(w.stats().pushed, 4);
    // The gap is only known once a later record (or the empty ring) shows it.
    assert_eq!(
        drain(&mut r),
        vec![
            Next::Record(0),
            Next::Record(1),
            Next::Record(2),
            Next::Record(3),
            Next::Missed(6)
        ]
    );
    assert!(w.push(&10));
    assert!(w.push(&11));
    assert_eq!(drain(&mut r), vec![Next::Record(10), Next::Record(11)]);
    assert_eq!(r.stats().overflowed, 6);
}

#[test]
fn a_gap_before_a_record_is_reported_before_that_record() {
    let (mut w, mut r) = memfd_ring(2);
    assert!(w.push(&0));
    assert!(w.push(&1));
    assert!(!w.push(&2));
    assert_eq!(r.next().unwrap(), Next::Record(0));
    assert!(w.push(&3)); // lands after the dropped seq 2
    assert_eq!(
        drain(&mut r),
        vec![Next::Record(1), Next::Missed(1), Next::Record(3)]
    );
}

#[test]
fn resync_skips_what_is_outstanding() {
    let (mut w, mut r) = memfd_ring(4);
    for v in 0..6u64 {
        w.push(&v);
    }
    r.resync();
    assert_eq!(r.next().unwrap(), Next::Empty);
    assert_eq!(w.free_slots(), 4);
    assert!(w.push(&100));
    assert_eq!(drain(&mut r), vec![Next::Record(100)]);
}

#[test]
fn a_restarted_consumer_resumes_after_its_saved_position_and_learns_of_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (mut w, fds) = Ring::create::<u64>(Backing::File(&path), 4).unwrap();
    let (_, wake) = fds.try_clone().unwrap().into_parts();
    let mut r = Reader::<u64>::open(fds).unwrap();
    for v in 0..3u64 {
        w.push(&v);
    }
    assert_eq!(r.next().unwrap(), Next::Record(0));
    assert_eq!(r.next().unwrap(), Next::Record(1));
    drop(r); // the consumer dies with record 2 unread

    for v in 3..9u64 {
        w.push(&v); // 3, 4, 5 fit; 6, 7, 8 are dropped
    }
    assert!(!w.push(&9));
    let mut r = Reader::<u64>::open_path(&path, wake).unwrap();
    assert_eq!(
        drain(&mut r),
        vec![
            Next::Record(2),
            Next::Record(3),
            Next::Record(4),
            Next::Record(5),
            Next::Missed(4)
        ]
    );
}

#[test]
fn a_restarted_producer_adopts_the_file_and_the_consumer_hears_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (mut w, fds) = Ring::create::<u64>(Backing::File(&path), 8).unwrap();
    let mut r = Reader::<u64>::open(fds).unwrap();
    assert_eq!(w.stats().epoch, 1);
    w.push(&1);
    w.push(&2);
    drop(w);

    let (mut w2, _fds2) = Ring::create::<u64>(Backing::File(&path), 8).unwrap();
    assert_eq!(w2.stats().epoch, 2);
    assert_eq!(w2.stats().pushed, 2, "counters continue");
    w2.push(&3);
    assert_eq!(
        drain(&mut r),
        vec![
            Next::Restarted { epoch: 2 },
            Next::Record(1),
            Next::Record(2),
            Next::Record(3)
        ]
    );
}

#[test]
fn a_consumer_restarted_after_a_producer_restart_still_hears_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (w, fds) = Ring::create::<u64>(Backing::File(&path), 8).unwrap();
    let (_, wake) = fds.try_clone().unwrap().into_parts();
    let r = Reader::<u64>::open(fds).unwrap();
    drop(r);
    drop(w);
    let (_w2, _fds2) = Ring::create::<u64>(Backing::File(&path), 8).unwrap();
    let mut r = Reader::<u64>::open_path(&path, wake).unwrap();
    assert_eq!(r.next().unwrap(), Next::Restarted { epoch: 2 });
    assert_eq!(r.next().unwrap(), Next::Empty);
}

#[test]
fn a_file_of_another_shape_is_replaced_not_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (mut w, _) = Ring::create::<u64>(Backing::File(&path), 8).unwrap();
    w.push(&1);
    drop(w);
    let (w, fds) = Ring::create::<u64>(Backing::File(&path), 16).unwrap();
    assert_eq!(
        w.stats(),
        RingStats {
            epoch: 1,
            pushed: 0,
            overflowed: 0
        }
    );
    let mut r = Reader::<u64>::open(fds).unwrap();
    assert_eq!(r.capacity(), 16);
    assert_eq!(r.next().unwrap(), Next::Empty);
}

#[test]
fn bad_capacities_are_refused() {
    for cap in [0, 3, 6, 1 << 40] {
        assert!(Ring::create::<u64>(Backing::Memfd, cap).is_err(), "{cap}");
    }
}

#[test]
fn fds_survive_a_round_trip_through_raw_numbers() {
    let (mut w, fds) = Ring::create::<u64>(Backing::Memfd, 4).unwrap();
    let (ring, wake) = fds.into_parts();
    use std::os::fd::IntoRawFd;
    let (ring, wake) = (ring.into_raw_fd(), wake.into_raw_fd());
    // SAFETY: the raw fds were just released by their OwnedFds.
    let fds = unsafe { RingFds::from_raw_fds(ring, wake) };
    let mut r = Reader::<u64>::open(fds).unwrap();
    w.push(&7);
    assert_eq!(r.next().unwrap(), Next::Record(7));
}

#[derive(Clone, Debug)]
enum Op {
    Push(u8),
    Pop(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![(1u8..20).prop_map(Op::Push), (1u8..20).prop_map(Op::Pop)]
}

proptest! {
    /// Against a model: a bounded queue whose drops are remembered as a gap
    /// that is reported before the next surviving record.
    #[test]
    fn matches_a_bounded_queue_model(shift in 0u32..6, ops in proptest::collection::vec(op(), 1..60)) {
        let cap = 1u64 << shift;
        let (mut w, mut r) = memfd_ring(cap);
        // Model: queue of (gap_before, value); trailing gap not yet attached.
        let mut queue: VecDeque<(u64, u64)> = VecDeque::new();
        let mut pending_gap = 0u64;
        let mut value = 0u64;
        for op in ops {
            match op {
                Op::Push(n) => for _ in 0..n {
                    let fits = (queue.len() as u64) < cap;
                    prop_assert_eq!(w.push(&value), fits);
                    if fits {
                        queue.push_back((pending_gap, value));
                        pending_gap = 0;
                    } else {
                        pending_gap += 1;
                    }
                    value += 1;
                },
                Op::Pop(n) => for _ in 0..n {
                    let got = r.next().unwrap();
                    match queue.front_mut() {
                        Some((gap, _)) if *gap > 0 => {
                            prop_assert_eq!(got, Next::Missed(*gap));
                            *gap = 0;
                        }
                        Some(&mut (_, v)) => {
                            prop_assert_eq!(got, Next::Record(v));
                            queue.pop_front();
                        }
                        None if pending_gap > 0 => {
                            prop_assert_eq!(got, Next::Missed(pending_gap));
                            pending_gap = 0;
                        }
                        None => prop_assert_eq!(got, Next::Empty),
                    }
                },
            }
        }
    }
}
