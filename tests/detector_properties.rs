//! Property tests: random schedules of arrivals, ticks and stalls keep the
//! detector's invariants, checked against an independent model of awake time.

use proptest::prelude::*;
use twinbeat::detector::{
    Arrival, Detector, DetectorConfig, Event, LinkId, Liveness, PeerId, PeerStatus,
};
use twinbeat::time::{NANOS_PER_MILLI, Nanos};

const KEEPALIVE: Nanos = NANOS_PER_MILLI;
const DEADTIME: Nanos = 8 * NANOS_PER_MILLI;
const PEERS: usize = 2;
const LINKS: usize = 2;
const START: Nanos = 5_000 * NANOS_PER_MILLI;

#[derive(Debug, Clone)]
enum Op {
    /// Time passes normally, then a tick.
    Tick(Nanos),
    /// We are not scheduled for a long while, then a tick.
    Stall(Nanos),
    /// Time passes, frames from `peer` arrive on the links in `mask`, tick.
    Frames {
        gap: Nanos,
        peer: usize,
        mask: u8,
        kind: Kind,
        rx_back: Nanos,
        status: u8,
    },
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Next,
    Skip(u32),
    Replay(u32),
    Restart(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        6 => Just(Kind::Next),
        2 => (1u32..20).prop_map(Kind::Skip),
        2 => (0u32..80).prop_map(Kind::Replay),
        1 => (1u32..3).prop_map(Kind::Restart),
    ];
    prop_oneof![
        4 => (0..3 * KEEPALIVE).prop_map(Op::Tick),
        1 => (3 * KEEPALIVE..20 * DEADTIME).prop_map(Op::Stall),
        6 => (0..2 * KEEPALIVE, 0..PEERS, 1u8..4, kind, 0..2 * KEEPALIVE, 0u8..4)
            .prop_map(|(gap, peer, mask, kind, rx_back, status)| Op::Frames {
                gap, peer, mask, kind, rx_back, status
            }),
    ]
}

fn status(n: u8) -> PeerStatus {
    match n {
        0 => PeerStatus::Init,
        1 => PeerStatus::Up,
        2 => PeerStatus::Active,
        _ => PeerStatus::Dead,
    }
}

/// The awake clock written independently of the detector: services credit
/// at most the stall threshold; an accepted frame was heard no earlier than
/// the previous service and no later than the current one.
struct Model {
    threshold: Nanos,
    now: Nanos,
    awake: Nanos,
    start_awake: Nanos,
    /// Awake time of the last service that came after some time had passed:
    /// frames received since are heard no earlier than this.
    segment_start: Nanos,
    /// Per peer: (lower, upper) awake bounds of the latest accepted frame.
    heard: [Option<(Nanos, Nanos)>; PEERS],
    /// Per peer: the sender's next (generation, seq).
    sender: [(u32, u32); PEERS],
    last_event_at: [Nanos; PEERS],
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_for_random_schedules(ops in prop::collection::vec(op(), 1..120)) {
        let cfg = DetectorConfig::new(KEEPALIVE, DEADTIME, PEERS, LINKS);
        let mut det = Detector::new(cfg, START).expect("valid config");
        let mut m = Model {
            threshold: cfg.stall_threshold,
            now: START,
            awake: START,
            start_awake: START,
            segment_start: START,
            heard: [None; PEERS],
            sender: [(1, 1); PEERS],
            last_event_at: [START; PEERS],
        };

        for op in ops {
            let gap = match &op {
                Op::Tick(d) | Op::Stall(d) => *d,
                Op::Frames { gap, .. } => *gap,
            };
            let awake_before = m.awake;
            let prev_now = m.now;
            m.now += gap;
            m.awake += gap.min(m.threshold);
            if gap > 0 {
                m.segment_start = awake_before;
            }

            if let Op::Frames { peer, mask, kind, rx_back, status: st, .. } = op {
                let (generation, seq) = &mut m.sender[peer];
                let sent = match kind {
                    Kind::Next => { *seq += 1; (*generation, *seq) }
                    Kind::Skip(n) => { *seq += n + 1; (*generation, *seq) }
                    Kind::Replay(back) => (*generation, seq.saturating_sub(back)),
                    Kind::Restart(n) => { *generation += n; *seq = 0; (*generation, 0) }
                };
                let peer_status = if matches!(kind, Kind::Restart(_)) { PeerStatus::Init } else { status(st) };
                // Received since the previous service (or at it, when no time passed).
                let rx_time = (m.now - rx_back.min(gap.saturating_sub(1))).max(prev_now);
                for l in 0..LINKS {
                    if mask & (1 << l) == 0 { continue; }
                    let a = Arrival {
                        peer: PeerId(peer as u8), link: LinkId(l as u8),
                        generation: sent.0, seq: sent.1, tx_ts: rx_time as u32,
                        echo_ts: (rx_time as u32).wrapping_sub(1_000), peer_status, rx_time,
                    };
                    if det.on_arrival(&a, m.now).is_ok() {
                        m.heard[peer] = Some((m.segment_start, m.awake));
                    }
                }
            }
            det.on_tick(m.now);

            while let Some(e) = det.poll_event() {
                let p = usize::from(e.peer().0);
                prop_assert!(p < PEERS);
                prop_assert!(e.at() >= m.last_event_at[p], "event time went back: {e:?}");
                prop_assert!(e.at() <= m.now, "event dated in the future: {e:?}");
                m.last_event_at[p] = e.at();
                if let Event::PeerDead { .. } = e {
                    match m.heard[p] {
                        Some((lower, _)) => prop_assert!(
                            m.awake - lower >= DEADTIME,
                            "dead while heard {} ns of awake time ago", m.awake - lower
                        ),
                        None => prop_assert!(m.awake - m.start_awake >= cfg.initdead),
                    }
                }
            }

            for p in 0..PEERS {
                let view = det.peer(PeerId(p as u8)).expect("configured peer");
                let overdue = match m.heard[p] {
                    Some((_, upper)) => m.awake - upper >= DEADTIME,
                    None => m.awake - m.start_awake >= cfg.initdead,
                };
                if overdue {
                    prop_assert_eq!(view.liveness, Liveness::Dead, "peer {} overdue but not dead", p);
                }
                if let Some(next) = det.next_deadline() {
                    prop_assert!(next <= m.now + m.threshold);
                }
            }
        }
        prop_assert_eq!(det.events_dropped(), 0);
    }
}
