//! Scenario tests for the failure detector, in virtual time: a scripted peer
//! sends keepalives on chosen links and the harness services the detector
//! the way the engine does (drain arrivals, then tick, then poll events).

use twinbeat::detector::{
    Arrival, Detector, DetectorConfig, Event, LinkId, Liveness, PeerId, PeerStatus, Rejected,
};
use twinbeat::time::{NANOS_PER_MICRO, NANOS_PER_MILLI, Nanos};

const KEEPALIVE: Nanos = NANOS_PER_MILLI;
const WARNTIME: Nanos = 5 * NANOS_PER_MILLI;
const DEADTIME: Nanos = 10 * NANOS_PER_MILLI;
const INITDEAD: Nanos = 20 * NANOS_PER_MILLI;
const TICK: Nanos = 100 * NANOS_PER_MICRO;
const LATENCY: Nanos = 50 * NANOS_PER_MICRO;
const START: Nanos = 1_000 * NANOS_PER_MILLI;
const LINKS: usize = 2;
const P: PeerId = PeerId(0);

fn config() -> DetectorConfig {
    DetectorConfig {
        warntime: WARNTIME,
        initdead: INITDEAD,
        ..DetectorConfig::new(KEEPALIVE, DEADTIME, 1, LINKS)
    }
}

/// The remote node as seen from the wire.
struct ScriptedPeer {
    generation: u32,
    seq: u32,
    status: PeerStatus,
    interval: Nanos,
    next_send: Nanos,
    sending: bool,
    link_on: [bool; LINKS],
    lose_next: [u32; LINKS],
    echo_age: Option<Nanos>,
    last_sent: Option<Arrival>,
}

struct Harness {
    det: Detector,
    now: Nanos,
    peer: ScriptedPeer,
    in_flight: Vec<Arrival>,
    /// (time the harness saw it, event)
    events: Vec<(Nanos, Event)>,
    rejected: Vec<Rejected>,
}

impl Harness {
    fn new() -> Self {
        Harness {
            det: Detector::new(config(), START).expect("valid config"),
            now: START,
            peer: ScriptedPeer {
                generation: 7,
                seq: 0,
                status: PeerStatus::Active,
                interval: KEEPALIVE,
                next_send: START + KEEPALIVE,
                sending: true,
                link_on: [true; LINKS],
                lose_next: [0; LINKS],
                echo_age: None,
                last_sent: None,
            },
            in_flight: Vec::new(),
            events: Vec::new(),
            rejected: Vec::new(),
        }
    }

    /// The peer sends whatever is due up to `until` (it is not stalled).
    fn peer_sends_until(&mut self, until: Nanos) {
        while self.peer.sending && self.peer.next_send <= until {
            let sent_at = self.peer.next_send;
            self.peer.seq = self.peer.seq.wrapping_add(1);
            if self.peer.seq == 0 {
                self.peer.generation += 1; // sequence roll
            }
            for l in 0..LINKS {
                if !self.peer.link_on[l] {
                    continue;
                }
                if self.peer.lose_next[l] > 0 {
                    self.peer.lose_next[l] -= 1;
                    continue;
                }
                let rx_time = sent_at + LATENCY;
                let a = Arrival {
                    peer: P,
                    link: LinkId(l as u8),
                    generation: self.peer.generation,
                    seq: self.peer.seq,
                    tx_ts: sent_at as u32,
                    echo_ts: self.peer.echo_age.map_or(0, |age| (rx_time - age) as u32),
                    peer_status: self.peer.status,
                    rx_time,
                };
                self.peer.last_sent = Some(a);
                self.in_flight.push(a);
            }
            self.peer.next_send += self.peer.interval;
        }
    }

    /// One engine service at `self.now`: drain, tick, poll.
    fn service(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) =
            self.in_flight.drain(..).partition(|a| a.rx_time <= now);
        self.in_flight = later;
        for a in due {
            self.deliver(a);
        }
        self.det.on_tick(now);
        self.poll();
    }

    fn deliver(&mut self, a: Arrival) {
        if let Err(r) = self.det.on_arrival(&a, self.now) {
            self.rejected.push(r);
        }
        self.poll();
    }

    fn poll(&mut self) {
        while let Some(e) = self.det.poll_event() {
            self.events.push((self.now, e));
        }
    }

    /// Normal running: the peer sends, we are serviced every TICK.
    fn run_for(&mut self, d: Nanos) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + TICK).min(end);
            self.peer_sends_until(self.now);
            self.service();
        }
    }

    /// We are not scheduled for `d`; the peer keeps sending (or not, if it
    /// shares our stall). Then one service drains everything.
    fn stall(&mut self, d: Nanos, peer_stalled_too: bool) {
        self.now += d;
        if peer_stalled_too {
            self.peer.next_send = self.now + KEEPALIVE;
        } else {
            self.peer_sends_until(self.now);
        }
        self.service();
    }

    fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| pred(e)).count()
    }

    fn find(&self, pred: impl Fn(&Event) -> bool) -> Option<(Nanos, Event)> {
        self.events.iter().copied().find(|(_, e)| pred(e))
    }

    fn liveness(&self) -> Liveness {
        self.det.peer(P).expect("peer 0 exists").liveness
    }
}

fn is_dead(e: &Event) -> bool {
    matches!(e, Event::PeerDead { .. })
}
fn is_link_down(link: u8) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::LinkDown { link: l, .. } if l.0 == link)
}
fn is_link_up(link: u8) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::LinkUp { link: l, .. } if l.0 == link)
}

#[test]
fn first_contact_brings_links_up_and_peer_alive() {
    let mut h = Harness::new();
    h.run_for(3 * KEEPALIVE + LATENCY);
    let first_rx = START + KEEPALIVE + LATENCY;
    assert_eq!(
        h.find(|e| matches!(e, Event::PeerAlive { .. }))
            .map(|(_, e)| e),
        Some(Event::PeerAlive {
            peer: P,
            at: first_rx,
            generation: 7
        })
    );
    for l in 0..LINKS as u8 {
        assert_eq!(h.count(is_link_up(l)), 1);
        // The same frame on both links proves each link.
        assert_eq!(h.det.link(P, LinkId(l)).expect("link").frames_received, 3);
    }
    assert_eq!(
        h.count(|e| matches!(
            e,
            Event::PeerStatusChanged {
                status: PeerStatus::Active,
                ..
            }
        )),
        1
    );
    assert_eq!(h.liveness(), Liveness::Alive);
    assert!(h.rejected.is_empty());
}

#[test]
fn real_death_is_declared_at_last_heard_plus_deadtime() {
    let mut h = Harness::new();
    h.run_for(20 * KEEPALIVE);
    h.peer.sending = false;
    let last_rx = h.peer.last_sent.expect("sent").rx_time;
    h.run_for(2 * DEADTIME);

    let (seen_warn, warn) = h
        .find(|e| matches!(e, Event::PeerWarn { .. }))
        .expect("warned");
    let Event::PeerWarn { at, silent_for, .. } = warn else {
        unreachable!()
    };
    assert_eq!(at, last_rx + WARNTIME);
    assert!((at..at + TICK).contains(&seen_warn));
    assert!((WARNTIME..WARNTIME + TICK).contains(&silent_for));

    let (seen_dead, dead) = h.find(is_dead).expect("declared dead");
    assert_eq!(
        dead,
        Event::PeerDead {
            peer: P,
            at: last_rx + DEADTIME,
            last_heard: Some(last_rx)
        }
    );
    assert!((last_rx + DEADTIME..last_rx + DEADTIME + TICK).contains(&seen_dead));
    for l in 0..LINKS as u8 {
        assert_eq!(h.count(is_link_down(l)), 1);
    }
    assert_eq!(h.count(is_dead), 1, "dead is declared once");
    assert_eq!(h.count(|e| matches!(e, Event::PeerWarn { .. })), 1);
    assert_eq!(h.liveness(), Liveness::Dead);
    assert_eq!(h.det.next_deadline(), None, "nothing left to time");
}

#[test]
fn a_dead_peer_that_returns_is_alive_again() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    h.peer.sending = false;
    h.run_for(2 * DEADTIME);
    assert_eq!(h.liveness(), Liveness::Dead);
    h.peer.sending = true;
    h.peer.next_send = h.now + KEEPALIVE;
    h.run_for(3 * KEEPALIVE);
    assert_eq!(h.count(|e| matches!(e, Event::PeerAlive { .. })), 2);
    assert_eq!(h.count(is_link_up(0)), 2);
    assert_eq!(h.liveness(), Liveness::Alive);
}

#[test]
fn a_flapping_link_goes_down_and_up_while_the_peer_stays_alive() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    for _ in 0..2 {
        h.peer.link_on[1] = false;
        h.run_for(DEADTIME + 3 * KEEPALIVE);
        h.peer.link_on[1] = true;
        h.run_for(5 * KEEPALIVE);
    }
    let link1: Vec<bool> = h
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::LinkUp { link, .. } if link.0 == 1 => Some(true),
            Event::LinkDown { link, .. } if link.0 == 1 => Some(false),
            _ => None,
        })
        .collect();
    assert_eq!(link1, [true, false, true, false, true]);
    assert_eq!(h.count(is_link_down(0)), 0);
    assert_eq!(h.count(is_dead), 0);
    assert_eq!(h.count(|e| matches!(e, Event::PeerWarn { .. })), 0);
    assert_eq!(h.det.link(P, LinkId(1)).map(|s| s.up), Some(true));
}

#[test]
fn silence_on_one_link_only_downs_that_link() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    h.peer.link_on[0] = false;
    h.run_for(5 * DEADTIME);
    assert_eq!(h.count(is_link_down(0)), 1);
    assert_eq!(h.count(is_link_down(1)), 0);
    assert_eq!(h.count(is_dead), 0);
    let view = h.det.peer(P).expect("peer");
    assert_eq!(view.liveness, Liveness::Alive);
    assert_eq!(view.links_up, 1);
    // The link's silence is not loss: frames never sent on it are not counted.
    assert_eq!(h.det.link(P, LinkId(0)).map(|s| s.lost), Some(0));
}

#[test]
fn loss_bursts_shorter_than_deadtime_are_counted_exactly_and_kill_nothing() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    let bursts = [3u32, 7, 9];
    for &n in &bursts {
        h.peer.lose_next[0] = n;
        h.peer.lose_next[1] = n; // both links at once: the peer is silent
        h.run_for(u64::from(n) * KEEPALIVE + 5 * KEEPALIVE);
    }
    let total: u64 = bursts.iter().map(|&n| u64::from(n)).sum();
    for l in 0..LINKS as u8 {
        let stats = h.det.link(P, LinkId(l)).expect("link");
        assert_eq!(stats.lost, total);
        assert_eq!(stats.reordered, 0);
        assert_eq!(stats.duplicates, 0);
    }
    assert_eq!(h.count(is_dead), 0);
    assert_eq!(h.count(is_link_down(0)), 0);
    // A burst of n lost frames is a silence of (n + 1) keepalives.
    let past_warntime = bursts
        .iter()
        .filter(|&&n| u64::from(n + 1) * KEEPALIVE >= WARNTIME)
        .count();
    assert_eq!(past_warntime, 2);
    assert_eq!(
        h.count(|e| matches!(e, Event::PeerWarn { .. })),
        past_warntime,
        "one warning per silence past warntime"
    );
}

#[test]
fn a_long_stall_with_the_peer_alive_declares_nothing() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    h.stall(10 * DEADTIME, false);
    h.run_for(5 * KEEPALIVE);
    h.stall(10 * DEADTIME, false);
    h.run_for(DEADTIME);
    assert_eq!(h.count(is_dead), 0);
    assert_eq!(h.count(is_link_down(0)) + h.count(is_link_down(1)), 0);
    assert_eq!(h.count(|e| matches!(e, Event::PeerWarn { .. })), 0);
    assert!(h.rejected.is_empty());
}

#[test]
fn a_shared_stall_with_no_frames_waits_for_deadtime_of_awake_time() {
    let threshold = config().stall_threshold;
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE + LATENCY);
    let last_rx = h.peer.last_sent.expect("sent").rx_time;
    let before_stall = h.now;
    let awake_silence_before = before_stall - last_rx;
    // The peer lives on the same VM: nothing is sent during the stall.
    h.stall(10 * DEADTIME, true);
    assert_eq!(h.count(is_dead), 0, "the stall alone kills nobody");

    // Peer resumes promptly: no death at all.
    h.run_for(3 * DEADTIME);
    assert_eq!(h.count(is_dead), 0);

    // Same stall, but the peer never resumes: dead once deadtime of awake time passed.
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE + LATENCY);
    h.stall(10 * DEADTIME, true);
    let woke = h.now;
    h.peer.sending = false;
    h.run_for(3 * DEADTIME);
    let (seen, _) = h.find(is_dead).expect("dead in the end");
    let awake_needed = DEADTIME - awake_silence_before - threshold;
    assert!(
        seen >= woke + awake_needed,
        "not before deadtime of awake time"
    );
    assert!(seen < woke + awake_needed + TICK);
}

#[test]
fn a_death_followed_by_a_stall_is_declared_late_but_bounded() {
    let threshold = config().stall_threshold;
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    h.peer.sending = false;
    let last_rx = h.peer.last_sent.expect("sent").rx_time;
    h.run_for(DEADTIME / 2);
    let stall = 10 * DEADTIME;
    h.stall(stall, false);
    h.run_for(2 * DEADTIME);
    let (seen, dead) = h.find(is_dead).expect("declared dead");
    assert!(seen > last_rx + DEADTIME, "later than deadtime");
    assert!(
        seen <= last_rx + DEADTIME + stall - threshold + TICK,
        "late by at most the uncredited stall"
    );
    assert!(matches!(dead, Event::PeerDead { last_heard: Some(t), .. } if t == last_rx));
}

#[test]
fn initdead_applies_before_first_contact() {
    let mut h = Harness::new();
    h.peer.sending = false;
    h.run_for(INITDEAD - TICK);
    assert_eq!(h.count(is_dead), 0, "deadtime alone does not apply");
    h.run_for(2 * TICK);
    assert_eq!(
        h.events.iter().map(|&(_, e)| e).collect::<Vec<_>>(),
        [Event::PeerDead {
            peer: P,
            at: START + INITDEAD,
            last_heard: None
        }],
        "no LinkDown for links never up"
    );
}

#[test]
fn a_restart_is_reported_once_and_old_frames_become_replays() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    let old = h.peer.last_sent.expect("sent");
    h.peer.generation = 8;
    h.peer.seq = 0;
    h.peer.status = PeerStatus::Init;
    h.run_for(3 * KEEPALIVE);
    assert_eq!(
        h.find(|e| matches!(e, Event::PeerRestarted { .. }))
            .map(|(_, e)| e),
        Some(Event::PeerRestarted {
            peer: P,
            at: START + 6 * KEEPALIVE + LATENCY,
            old_generation: 7,
            new_generation: 8
        })
    );
    assert_eq!(h.count(|e| matches!(e, Event::PeerRestarted { .. })), 1);
    assert_eq!(h.det.peer(P).and_then(|v| v.generation), Some(8));

    // A frame of the old run, even with a higher seq, is a replay on every link.
    for l in 0..LINKS as u8 {
        let replay = Arrival {
            link: LinkId(l),
            seq: old.seq + 100,
            rx_time: h.now,
            ..old
        };
        assert_eq!(h.det.on_arrival(&replay, h.now), Err(Rejected::Replay));
        assert_eq!(h.det.link(P, LinkId(l)).map(|s| s.rejected_replay), Some(1));
    }
    assert_eq!(h.det.link(P, LinkId(0)).map(|s| s.lost), Some(0));
}

#[test]
fn a_sequence_roll_is_a_continuation_not_a_restart() {
    let mut h = Harness::new();
    h.peer.seq = u32::MAX - 4;
    h.run_for(10 * KEEPALIVE + LATENCY);
    assert_eq!(h.count(|e| matches!(e, Event::PeerRestarted { .. })), 0);
    assert_eq!(h.det.peer(P).and_then(|v| v.generation), Some(8));
    assert_eq!(h.det.link(P, LinkId(0)).map(|s| s.lost), Some(0));
    assert_eq!(
        h.det.link(P, LinkId(0)).map(|s| s.frames_received),
        Some(10)
    );
    assert!(h.rejected.is_empty());
}

#[test]
fn a_roll_announced_by_an_initialising_peer_is_a_restart() {
    let mut h = Harness::new();
    h.peer.seq = u32::MAX - 4;
    h.peer.status = PeerStatus::Init;
    h.run_for(10 * KEEPALIVE);
    assert_eq!(h.count(|e| matches!(e, Event::PeerRestarted { .. })), 1);
}

#[test]
fn a_replayed_frame_does_not_refresh_liveness() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE);
    h.peer.sending = false;
    let last = h.peer.last_sent.expect("sent");
    // An attacker (or a looping switch) replays the last frame every keepalive.
    let end = h.now + 2 * DEADTIME;
    while h.now < end {
        h.now += KEEPALIVE;
        h.in_flight.push(Arrival {
            rx_time: h.now,
            ..last
        });
        h.service();
    }
    let (_, dead) = h.find(is_dead).expect("dead despite replays");
    assert_eq!(dead.at(), last.rx_time + DEADTIME);
    let stats = h.det.link(P, last.link).expect("link");
    assert!(stats.duplicates >= 19);
    assert_eq!(stats.duplicates, stats.rejected_replay);
    assert_eq!(stats.last_heard, Some(last.rx_time));
}

#[test]
fn a_reordered_frame_is_late_and_takes_its_loss_back() {
    let mut h = Harness::new();
    h.run_for(3 * KEEPALIVE + LATENCY);
    let base = h.peer.last_sent.expect("sent");
    let frame = |seq: u32, rx_time: Nanos| Arrival {
        seq,
        rx_time,
        ..base
    };
    let now = h.now;
    assert_eq!(h.det.on_arrival(&frame(base.seq + 2, now), now), Ok(()));
    assert_eq!(h.det.link(P, base.link).map(|s| s.lost), Some(1));
    assert_eq!(
        h.det.on_arrival(&frame(base.seq + 1, now), now),
        Err(Rejected::Late)
    );
    assert_eq!(
        h.det.on_arrival(&frame(base.seq + 1, now), now),
        Err(Rejected::Replay)
    );
    let stats = h.det.link(P, base.link).expect("link");
    assert_eq!((stats.lost, stats.reordered, stats.duplicates), (0, 1, 1));
}

#[test]
fn rtt_and_jitter_are_recorded_with_known_values() {
    let mut h = Harness::new();
    h.peer.echo_age = Some(40 * NANOS_PER_MICRO);
    h.peer.interval = KEEPALIVE + 200 * NANOS_PER_MICRO;
    h.run_for(60 * KEEPALIVE);
    let stats = h.det.link(P, LinkId(0)).expect("link");
    let within = |value: u64, expected: u64| value.abs_diff(expected) * 1_000 <= expected;
    assert!(stats.rtt.len() >= 40);
    assert!(within(
        stats.rtt.value_at_quantile(0.5),
        40 * NANOS_PER_MICRO
    ));
    assert!(within(
        stats.interarrival.value_at_quantile(0.5),
        KEEPALIVE + 200 * NANOS_PER_MICRO
    ));
    assert!(within(
        stats.jitter.value_at_quantile(0.5),
        200 * NANOS_PER_MICRO
    ));
    assert_eq!(stats.rtt_implausible, 0);
}

#[test]
fn echo_carries_the_peer_timestamp_aged_by_our_hold_time() {
    let mut h = Harness::new();
    assert_eq!(h.det.echo_for(P, LinkId(0), h.now), 0, "nothing heard yet");
    h.run_for(2 * KEEPALIVE);
    let last = h.peer.last_sent.expect("sent");
    let later = last.rx_time + 123;
    assert_eq!(
        h.det.echo_for(P, LinkId(0), later),
        last.tx_ts.wrapping_add(123)
    );
    assert_eq!(h.det.echo_for(PeerId(9), LinkId(0), later), 0);
}

#[test]
fn sent_frames_are_counted_per_link() {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.det.note_sent(LinkId(1), h.now);
    }
    h.det.note_sent(LinkId(42), h.now);
    assert_eq!(h.det.link(P, LinkId(1)).map(|s| s.frames_sent), Some(3));
    assert_eq!(h.det.link(P, LinkId(0)).map(|s| s.frames_sent), Some(0));
}

#[test]
fn unknown_peers_and_links_are_refused_and_counted() {
    let mut h = Harness::new();
    let a = Arrival {
        peer: PeerId(3),
        link: LinkId(0),
        generation: 1,
        seq: 1,
        tx_ts: 0,
        echo_ts: 0,
        peer_status: PeerStatus::Up,
        rx_time: h.now,
    };
    assert_eq!(h.det.on_arrival(&a, h.now), Err(Rejected::UnknownPeer(3)));
    let b = Arrival {
        peer: P,
        link: LinkId(5),
        ..a
    };
    assert_eq!(h.det.on_arrival(&b, h.now), Err(Rejected::UnknownLink(5)));
    assert_eq!(h.det.unknown_source(), 2);
    h.run_for(KEEPALIVE / 2);
    assert!(h.events.is_empty());
}

#[test]
fn next_deadline_names_the_next_timer_and_never_sleeps_past_the_threshold() {
    let threshold = config().stall_threshold;
    let mut h = Harness::new();
    assert_eq!(h.det.next_deadline(), Some(START + threshold));
    h.run_for(3 * KEEPALIVE);
    h.peer.sending = false;
    let last_rx = h.peer.last_sent.expect("sent").rx_time;
    h.run_for(3 * KEEPALIVE);
    // warntime (5 ms) comes before the next threshold-bounded wake-up.
    assert_eq!(h.det.next_deadline(), Some(last_rx + WARNTIME));
    // An engine that sleeps exactly until each deadline detects on time.
    let mut wakeups = 0;
    while let Some(at) = h.det.next_deadline() {
        h.now = at.max(h.now);
        h.service();
        wakeups += 1;
        assert!(wakeups < 100, "deadlines make progress");
    }
    let (seen, _) = h.find(is_dead).expect("dead");
    assert_eq!(seen, last_rx + DEADTIME);
    assert_eq!(h.det.events_dropped(), 0);
}

/// The frame the scripted peer sent in round `seq`, replayed on `link` now.
fn replay_of(h: &Harness, seq: u32, link: u8) -> Arrival {
    let last = h.peer.last_sent.expect("the peer sent something");
    let rounds_back = u64::from(last.seq - seq);
    Arrival {
        link: LinkId(link),
        seq,
        tx_ts: last.tx_ts.wrapping_sub((rounds_back * KEEPALIVE) as u32),
        rx_time: h.now,
        ..last
    }
}

#[test]
fn an_old_frame_replayed_on_a_link_that_never_heard_it_does_not_revive_a_dead_peer() {
    let mut h = Harness::new();
    h.peer.link_on[1] = false;
    h.run_for(50 * KEEPALIVE + LATENCY);
    assert_eq!(h.peer.last_sent.map(|a| a.seq), Some(50));
    h.peer.sending = false;
    h.run_for(2 * DEADTIME);
    assert_eq!(h.liveness(), Liveness::Dead);
    let events_before = h.events.len();

    let replay = replay_of(&h, 10, 1);
    assert_eq!(h.det.on_arrival(&replay, h.now), Err(Rejected::Replay));
    h.poll();
    h.run_for(KEEPALIVE);

    assert_eq!(h.liveness(), Liveness::Dead);
    assert_eq!(
        h.events.len(),
        events_before,
        "{:?}",
        &h.events[events_before..]
    );
    let link1 = h.det.link(P, LinkId(1)).expect("link");
    assert!(!link1.up);
    assert_eq!((link1.frames_received, link1.rejected_replay), (0, 1));
    assert_eq!(link1.last_heard, None);
}

#[test]
fn reviving_a_dead_peer_takes_a_counter_above_any_heard() {
    let mut h = Harness::new();
    h.peer.link_on[1] = false;
    h.run_for(20 * KEEPALIVE + LATENCY);
    h.peer.sending = false;
    h.run_for(2 * DEADTIME);
    assert_eq!(h.liveness(), Liveness::Dead);
    // The newest round ever heard (on link 0) proves nothing new on link 1.
    let newest = replay_of(&h, 20, 1);
    assert_eq!(h.det.on_arrival(&newest, h.now), Err(Rejected::Replay));
    assert_eq!(h.liveness(), Liveness::Dead);
    // The next round does.
    let next = Arrival { seq: 21, ..newest };
    assert_eq!(h.det.on_arrival(&next, h.now), Ok(()));
    assert_eq!(h.liveness(), Liveness::Alive);
    h.poll();
    assert_eq!(h.count(|e| matches!(e, Event::PeerAlive { .. })), 2);
    assert_eq!(h.count(is_link_up(1)), 1);
}

#[test]
fn an_old_frame_replayed_on_a_down_link_does_not_bring_it_up() {
    let mut h = Harness::new();
    h.run_for(5 * KEEPALIVE + LATENCY);
    h.peer.link_on[1] = false;
    h.run_for(DEADTIME + 30 * KEEPALIVE);
    assert_eq!(h.count(is_link_down(1)), 1);
    let newest = h.peer.last_sent.expect("sent").seq;

    // Heard on link 0 ten rounds ago, never on link 1: not proof of link 1 now.
    let replay = replay_of(&h, newest - 10, 1);
    assert_eq!(h.det.on_arrival(&replay, h.now), Err(Rejected::Replay));
    h.poll();
    assert_eq!(h.det.link(P, LinkId(1)).map(|s| s.up), Some(false));
    assert_eq!(h.count(is_link_up(1)), 1, "only the first contact");

    // The current round on the repaired link does prove it.
    h.peer.link_on[1] = true;
    h.run_for(2 * KEEPALIVE);
    assert_eq!(h.count(is_link_up(1)), 2);
    assert_eq!(h.liveness(), Liveness::Alive);
}

#[test]
fn a_lagging_link_that_is_up_is_heard_within_the_window_only() {
    let mut h = Harness::new();
    h.run_for(20 * KEEPALIVE + LATENCY);
    h.peer.link_on[1] = false;
    h.run_for(5 * KEEPALIVE);
    assert_eq!(h.det.link(P, LinkId(1)).map(|s| s.up), Some(true));
    let top = h.peer.last_sent.expect("sent").seq;
    // Link 1 is slow: it delivers a round link 0 delivered 3 rounds ago.
    let lagging = replay_of(&h, top - 3, 1);
    assert_eq!(h.det.on_arrival(&lagging, h.now), Ok(()));
    // The peer jumps 70 rounds ahead on link 0 (lost on the way here);
    // link 1's next round is now too far behind the newest to prove anything.
    let ahead = Arrival {
        link: LinkId(0),
        seq: top + 70,
        ..replay_of(&h, top, 0)
    };
    assert_eq!(h.det.on_arrival(&ahead, h.now), Ok(()));
    let too_far = replay_of(&h, top - 2, 1);
    assert_eq!(h.det.on_arrival(&too_far, h.now), Err(Rejected::Replay));
    let link1 = h.det.link(P, LinkId(1)).expect("link");
    assert_eq!(link1.rejected_replay, 1);
}

#[test]
fn a_verdict_is_due_from_the_warning_to_the_verdict_or_the_peers_return() {
    let mut h = Harness::new();
    h.run_for(20 * KEEPALIVE);
    assert!(h.det.verdict_due().is_none(), "an on-time peer");
    h.peer.sending = false;
    h.run_for(WARNTIME - 2 * TICK);
    assert!(
        h.det.verdict_due().is_none(),
        "silent, but not past warntime"
    );
    h.run_for(4 * TICK);
    assert!(h.det.verdict_due().is_some(), "warned");
    let heard = h.det.peer(P).and_then(|p| p.last_heard).expect("heard");
    assert_eq!(
        h.det.verdict_due(),
        Some(heard + DEADTIME),
        "due a deadtime after the peer was last heard"
    );
    // It comes back before deadtime: no verdict is near any more.
    h.peer.sending = true;
    h.peer.next_send = h.now + TICK;
    h.run_for(2 * KEEPALIVE);
    assert!(h.det.verdict_due().is_none());
    assert_eq!(h.count(is_dead), 0);
    // Silent again until declared dead: near until the verdict, then not.
    h.peer.sending = false;
    h.run_for(WARNTIME + 2 * TICK);
    assert!(h.det.verdict_due().is_some());
    h.run_for(DEADTIME);
    assert_eq!(h.count(is_dead), 1);
    assert!(
        h.det.verdict_due().is_none(),
        "a dead peer is no longer near a verdict"
    );
}
