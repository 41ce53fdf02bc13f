//! The takeover process's channel to the wire and back: a message put in
//! one node's outbox reaches the other node's event ring once (though it
//! travels on every link), after the events that precede it; a state
//! announced through the outbox rides in every keepalive.
//!
//! The daemons run without their takeover process; this test plays it.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, Pair};
use twinbeat::engine::events::{BeatRecord, Received};
use twinbeat::engine::outbox::{OutboxRecord, Outgoing, attach_producer};
use twinbeat::ring::{EventFd, Next, Reader};
use twinbeat::wire::{HoldState, NodeStatus};

#[test]
fn outbox_messages_reach_the_peer_once_and_state_rides_in_keepalives() {
    let mut pair = Pair::new(true, "uring");
    pair.args.push("--no-agent".into());
    pair.start_both();
    pair.wait_status(1, "sees alpha on both links", |s| {
        s.links.iter().all(|l| l.state == "up")
    });
    let mut events: Reader<BeatRecord> = Reader::open_path(
        &pair.run_dir(1).join("events.ring"),
        EventFd::new().unwrap().into_owned(),
    )
    .unwrap();
    let mut outbox = attach_producer(pair.run_dir(0)).unwrap();
    for text in [&b"first"[..], b"second"] {
        let rec = OutboxRecord::new(Outgoing::Message {
            msg_type: 5,
            payload: text,
        })
        .unwrap();
        assert!(outbox.push(&rec));
    }
    let state = OutboxRecord::new(Outgoing::State {
        status: NodeStatus::Active,
        hold: HoldState {
            own: true,
            peer: false,
        },
        verdict_acts: true,
    })
    .unwrap();
    assert!(outbox.push(&state));

    // Collect bravo's ring for a while: both messages, once each, in order.
    let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
    let start = Instant::now();
    while start.elapsed() < PATIENCE && got.len() < 2 {
        match events.next().unwrap() {
            Next::Record(r) => {
                if let Some(Received::Message {
                    msg_type, payload, ..
                }) = r.decode()
                {
                    got.push((msg_type, payload.to_vec()));
                }
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // Anything more arriving within a few keepalives would be a duplicate.
    std::thread::sleep(Duration::from_millis(200));
    while let Next::Record(r) = events.next().unwrap() {
        if let Some(Received::Message { payload, .. }) = r.decode() {
            got.push((0, payload.to_vec()));
        }
    }
    assert_eq!(got, vec![(5, b"first".to_vec()), (5, b"second".to_vec())]);

    let s = pair.wait_status(1, "sees alpha active", |s| s.peers[0].status == "active");
    assert_eq!(s.peers[0].liveness, "alive");
    assert_eq!(pair.status(0).node.state, "active");
}
