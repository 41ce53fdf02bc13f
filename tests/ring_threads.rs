//! Producer and consumer on two threads: every record arrives exactly once,
//! in order, or is accounted for as missed.

use std::thread;
use std::time::{Duration, Instant};

use twinbeat::ring::{Backing, EventRecord, Next, Reader, Ring};

const TOTAL: u64 = 1_000_000;

fn record_for(seq: u64) -> EventRecord {
    EventRecord {
        at: seq,
        value: seq.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        kind: (seq % 7) as u16,
        node: (seq >> 16) as u16,
        link: seq as u16,
        flags: 0,
    }
}

#[test]
fn a_million_records_arrive_once_in_order_or_are_counted_missed() {
    let (mut writer, fds) = Ring::create::<EventRecord>(Backing::Memfd, 1024).unwrap();
    let mut reader = Reader::<EventRecord>::open(fds).unwrap();

    let producer = thread::spawn(move || {
        let mut dropped = 0u64;
        for seq in 0..TOTAL {
            if !writer.push(&record_for(seq)) {
                dropped += 1;
            }
            if seq % 64 == 63 {
                writer.notify();
            }
        }
        writer.notify();
        (dropped, writer.stats())
    });

    let mut received = 0u64;
    let mut missed = 0u64;
    let mut expected = 0u64;
    while expected < TOTAL {
        match reader.next().unwrap() {
            Next::Record(r) => {
                assert_eq!(
                    r,
                    record_for(expected),
                    "record {expected} damaged or out of order"
                );
                expected += 1;
                received += 1;
            }
            Next::Missed(n) => {
                assert!(n > 0);
                expected += n;
                missed += n;
            }
            Next::Empty => {
                reader.wait(Some(Duration::from_millis(10))).unwrap();
            }
            Next::Restarted { .. } => panic!("no producer restart happened"),
        }
    }
    let (dropped, stats) = producer.join().unwrap();
    assert_eq!(expected, TOTAL, "no sequence number beyond what was pushed");
    assert_eq!(received + missed, TOTAL);
    assert_eq!(missed, dropped, "every drop is reported, exactly");
    assert_eq!(stats.overflowed, dropped);
    assert_eq!(stats.pushed, received);
    assert_eq!(reader.next().unwrap(), Next::Empty);
}

#[test]
fn a_consumer_that_keeps_up_loses_nothing_when_the_producer_waits_for_room() {
    // The beat thread never waits; this test does, to check that with room
    // available nothing is ever lost and wake-ups are not missed.
    let (mut writer, fds) = Ring::create::<u64>(Backing::Memfd, 64).unwrap();
    let mut reader = Reader::<u64>::open(fds).unwrap();
    const N: u64 = 200_000;
    let producer = thread::spawn(move || {
        for v in 0..N {
            while writer.free_slots() == 0 {
                writer.notify();
                std::hint::spin_loop();
            }
            assert!(writer.push(&v));
            writer.notify();
        }
    });
    let mut expect = 0;
    while expect < N {
        match reader.next().unwrap() {
            Next::Record(v) => {
                assert_eq!(v, expect);
                expect += 1;
            }
            Next::Empty => {
                // Spurious returns are allowed; sleeping out the whole
                // timeout while the producer is still going is a lost wake-up
                // (the producer never pauses for anywhere near 5 s).
                let started = Instant::now();
                reader.wait(Some(Duration::from_secs(5))).unwrap();
                assert!(
                    started.elapsed() < Duration::from_secs(4),
                    "slept through a wake-up at {expect}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    producer.join().unwrap();
}
