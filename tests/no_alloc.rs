//! "Nothing on the hot path allocates", enforced: a counting global
//! allocator, switched on per thread around the measured region, must see
//! zero allocations while frames are encoded, framed, deframed, decoded and
//! fed to the detector through loss, link down/up, death and revival.
//!
//! Everything the hot path needs (key rings, buffers, the detector) is built
//! before counting starts; the measured code writes only into fixed arrays
//! and integer tallies, which are checked after counting stops.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

mod fake_beat;

use twinbeat::config::authkeys::{AuthKeys, AuthMethod};
use twinbeat::detector::{
    Arrival, Detector, DetectorConfig, Event, LinkId, PeerId, PeerStatus, Rejected,
};
use twinbeat::time::{NANOS_PER_MICRO, NANOS_PER_MILLI, Nanos};
use twinbeat::wire::serial::{Deframer, max_framed_len};
use twinbeat::wire::{
    Header, HoldState, KeyRing, MAX_FRAME_LEN, MessageType, NodeStatus, decode, encode,
};

struct CountingAlloc;

thread_local! {
    // Const-initialised: reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    if counting {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Allocations made by this thread while running `f`.
fn allocations_during<T>(f: impl FnOnce() -> T) -> (u64, T) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.with(Cell::get), out)
}

#[test]
fn the_counter_sees_an_allocation() {
    let (n, v) = allocations_during(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert!(n >= 1, "the counting allocator is not in use");
}

const CLUSTER: u16 = 0x5a5a;

fn header(sequence: u32) -> Header {
    Header {
        message_type: MessageType::KEEPALIVE,
        status: NodeStatus::Active,
        hold: HoldState::default(),
        node: 7,
        cluster: CLUSTER,
        generation: 3,
        sequence,
        tx_timestamp: sequence.wrapping_mul(1_000),
        echo: sequence,
    }
}

fn key_rings() -> Vec<(&'static str, KeyRing)> {
    let methods = [
        AuthMethod::Crc,
        AuthMethod::Md5 { key: b"k".to_vec() },
        AuthMethod::Sha1 { key: b"k".to_vec() },
        AuthMethod::Sha256 { key: b"k".to_vec() },
    ];
    methods
        .into_iter()
        .map(|method| {
            let name = method.name();
            let keys = AuthKeys::new(1, [(1, method)]).expect("key 1 defined and active");
            (name, KeyRing::new(&keys).expect("usable key"))
        })
        .collect()
}

/// Encodes, frames, deframes and decodes `rounds` keepalives; returns how
/// many came back intact through each path (datagram, serial).
fn wire_rounds(ring: &KeyRing, deframer: &mut Deframer, rounds: u32) -> (u32, u32) {
    let mut frame = [0u8; MAX_FRAME_LEN];
    let mut framed = [0u8; max_framed_len(MAX_FRAME_LEN)];
    let (mut datagram_ok, mut serial_ok) = (0, 0);
    for seq in 1..=rounds {
        let sent = header(seq);
        let Ok(len) = encode(&sent, &[], ring, &mut frame) else {
            continue;
        };
        let bytes = frame.get(..len).unwrap_or(&[]);
        if decode(bytes, ring, CLUSTER).is_ok_and(|d| d.header == sent) {
            datagram_ok += 1;
        }
        let Ok(n) = twinbeat::wire::serial::encode(bytes, &mut framed) else {
            continue;
        };
        deframer.push(framed.get(..n).unwrap_or(&[]), |f| {
            if decode(f, ring, CLUSTER).is_ok_and(|d| d.header == sent) {
                serial_ok += 1;
            }
        });
    }
    (datagram_ok, serial_ok)
}

#[test]
fn wire_encode_frame_deframe_decode_do_not_allocate() {
    for (name, ring) in key_rings() {
        let mut deframer = Deframer::new();
        assert_eq!(wire_rounds(&ring, &mut deframer, 4), (4, 4), "{name}");
        let (allocations, ok) = allocations_during(|| wire_rounds(&ring, &mut deframer, 500));
        assert_eq!(ok, (500, 500), "{name}: round trips failed");
        assert_eq!(allocations, 0, "{name}: the wire path allocated");
    }
}

const KEEPALIVE: Nanos = NANOS_PER_MILLI;
const DEADTIME: Nanos = 10 * NANOS_PER_MILLI;
const LINKS: usize = 3;
const PEER: PeerId = PeerId(0);

/// What the scripted run went through, to show every path was exercised.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    accepted: u32,
    replays: u32,
    link_up: u32,
    link_down: u32,
    alive: u32,
    warn: u32,
    dead: u32,
    restarted: u32,
    echo_sum: u64,
}

/// One peer on three links, one round per keepalive for `rounds` rounds
/// starting at round `first`: link 1 loses every 7th frame, link 2 is cut
/// for 5 × deadtime in each 200 rounds, the peer falls silent for
/// 2 × deadtime in each 500 rounds and restarts (new generation) once at
/// round 700; a replay of an older frame follows every 50th round.
fn detector_rounds(det: &mut Detector, start: Nanos, first: u32, rounds: u32) -> Tally {
    let mut t = Tally::default();
    let mut generation = 1;
    for round in first..first + rounds {
        let now = start + Nanos::from(round) * KEEPALIVE;
        let rx_time = now - 50 * NANOS_PER_MICRO;
        if round == 700 {
            generation += 1;
        }
        let silent = round % 500 >= 480;
        for l in 0..LINKS {
            let lost = (l == 1 && round % 7 == 0) || (l == 2 && round % 200 >= 150);
            if silent || lost {
                continue;
            }
            let a = Arrival {
                peer: PEER,
                link: LinkId(l as u8),
                generation,
                seq: round,
                tx_ts: rx_time as u32,
                echo_ts: (rx_time - 40 * NANOS_PER_MICRO) as u32,
                peer_status: if round == 700 {
                    PeerStatus::Init
                } else {
                    PeerStatus::Active
                },
                rx_time,
            };
            match det.on_arrival(&a, now) {
                Ok(()) => t.accepted += 1,
                Err(Rejected::Replay) => t.replays += 1,
                Err(_) => {}
            }
            if round % 50 == 0 {
                let old = Arrival {
                    seq: round.saturating_sub(3),
                    ..a
                };
                if det.on_arrival(&old, now) == Err(Rejected::Replay) {
                    t.replays += 1;
                }
            }
        }
        det.on_tick(now);
        while let Some(e) = det.poll_event() {
            match e {
                Event::LinkUp { .. } => t.link_up += 1,
                Event::LinkDown { .. } => t.link_down += 1,
                Event::PeerAlive { .. } => t.alive += 1,
                Event::PeerWarn { .. } => t.warn += 1,
                Event::PeerDead { .. } => t.dead += 1,
                Event::PeerRestarted { .. } => t.restarted += 1,
                _ => {}
            }
        }
        for l in 0..LINKS {
            t.echo_sum += u64::from(det.echo_for(PEER, LinkId(l as u8), now));
            det.note_sent(LinkId(l as u8), now);
        }
        let _ = det.next_deadline();
    }
    t
}

#[test]
fn detector_hot_path_does_not_allocate() {
    let start = 1_000 * NANOS_PER_MILLI;
    let mut det = Detector::new(DetectorConfig::new(KEEPALIVE, DEADTIME, 1, LINKS), start)
        .expect("valid config");
    let warm = detector_rounds(&mut det, start, 1, 100);
    assert!(warm.accepted > 0 && warm.link_up == 3, "{warm:?}");

    let (allocations, t) = allocations_during(|| detector_rounds(&mut det, start, 101, 1_400));
    assert_eq!(
        allocations, 0,
        "the detector allocated on the hot path: {t:?}"
    );
    // Every path ran: links went down and up, the peer died, came back and
    // restarted, replays were refused, echoes were computed.
    assert!(t.link_down >= 6 && t.link_up >= 6, "{t:?}");
    assert!(t.dead >= 2 && t.alive >= 2 && t.warn >= 2, "{t:?}");
    assert_eq!(t.restarted, 1, "{t:?}");
    assert!(t.replays > 0 && t.echo_sum > 0, "{t:?}");
    assert_eq!(det.events_dropped(), 0);
}

struct CountingSink(u64);

impl twinbeat::engine::beat::EventSink for CountingSink {
    fn publish(&mut self, _event: &Event) {
        self.0 += 1;
    }
}

#[test]
fn beat_loop_turns_do_not_allocate() {
    use std::time::{Duration, Instant};
    use twinbeat::demo::PairParams;
    use twinbeat::engine::beat::BeatLoop;

    let dir = tempfile::tempdir().unwrap();
    let (_nodes, mut loops) = fake_beat::pair(dir.path(), &PairParams::default());
    let mut sink = CountingSink(0);
    let heard = |l: &BeatLoop<fake_beat::FakeBackend>| {
        l.detector()
            .link(PeerId(0), LinkId(0))
            .map_or(0, |s| s.frames_received)
    };
    // Turns until every loop has heard `want` more frames: counted, not
    // timed, so a loaded machine only makes it slower. The cap is a hang
    // guard, far beyond any scheduling delay.
    let mut run_until = |loops: &mut Vec<BeatLoop<fake_beat::FakeBackend>>, want: u64| {
        let start = Instant::now();
        // A fixed array: this runs inside the allocation count.
        let base = [heard(&loops[0]), heard(&loops[1])];
        while loops.iter().zip(base).any(|(l, b)| heard(l) < b + want) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the loops stopped talking"
            );
            for l in loops.iter_mut() {
                l.turn(&mut sink).unwrap();
            }
        }
    };
    // Warm up: first contact, links up, status changes.
    run_until(&mut loops, 20);
    let before: Vec<u64> = loops.iter().map(heard).collect();
    let (allocs, ()) = allocations_during(|| run_until(&mut loops, 50));
    let after: Vec<u64> = loops.iter().map(heard).collect();
    assert!(
        after.iter().zip(&before).all(|(a, b)| a - b >= 50),
        "keepalives kept flowing while counting: {before:?} -> {after:?}"
    );
    assert_eq!(allocs, 0, "beat loop turns allocated");
}
