//! The failure detector: links × peers → liveness events, in virtual time.
//!
//! This module owns the liveness state machine. It is sans-IO: it reads no
//! clock and opens nothing; every call takes `now` (monotonic nanoseconds)
//! and decisions come out as [`Event`]s from [`Detector::poll_event`].
//! Per (peer, link) statistics live in [`LinkStats`].
//!
//! # Liveness
//!
//! - A link is down when it has been silent for `deadtime`; a peer is dead
//!   when silent on every link for `deadtime`. A peer never heard is dead
//!   after `initdead` (counted from construction); its links were never up,
//!   so no `LinkDown` is emitted for them.
//! - `PeerWarn` is raised once per silence, when it passes `warntime`.
//! - Only accepted frames count as signs of life: the counter must rise
//!   strictly on the frame's link *and* be recent against the newest counter
//!   heard from the peer on any link (see [`sequence`]): within
//!   [`LINK_LAG_WINDOW`] rounds on a link that is up, at least the newest
//!   round to bring a link up, strictly newer (or a restart) to revive a dead
//!   peer. So a captured frame replayed on another link revives neither a
//!   dead peer nor a down link. A rejected frame touches neither liveness nor
//!   the receive statistics.
//!
//! # Stalls: silence is measured in awake time
//!
//! The engine drains every frame that has arrived before it calls
//! [`Detector::on_tick`], but the detector does not trust its own wake-ups:
//! if this process is not scheduled for a while, every peer looks silent
//! although the frames are queued in the kernel. The rule:
//!
//! 1. Each service (an arrival or a tick) advances an *awake clock* by the
//!    real time since the previous service, but by at most
//!    `stall_threshold` (default max(keepalive, deadtime / 4), always below
//!    deadtime). All silences (warntime, deadtime, initdead) are measured on
//!    the awake clock. A stall therefore costs at most `stall_threshold` of
//!    any silence budget, and no stall alone can declare a peer dead.
//! 2. A frame is placed on the awake clock by its kernel receive time:
//!    exactly when it came during normal running; at the end of the stall
//!    (the wake-up) when it came during a stall; at the previous service when
//!    it came before it. Each choice is the latest defensible one, so a
//!    frame never counts as heard earlier than it could have been observed.
//!    A false death is far worse than a detection one stall late.
//! 3. A peer that really died is declared dead once `deadtime` of awake time
//!    has passed since its last frame: exactly at `last_heard + deadtime`
//!    (to the tick) when running normally; after a stall, later by at most
//!    the stall's length.
//!
//! [`Detector::next_deadline`] never lies more than `stall_threshold` ahead
//! while a timer runs, so an engine that sleeps until it is never mistakes
//! its own quiet sleep for a stall.
//!
//! Event times (`at`) are real monotonic times: the receive time for
//! arrivals, the real instant the silence budget ran out for timeouts (the
//! wake-up when that instant fell inside a stall). Per peer they never go
//! backwards: an event is never dated before the previous one of its peer.
//!
//! # No allocation after construction
//!
//! The peers, the (peer, link) pairs, their histograms and the event queue
//! are all sized in [`Detector::new`]. The queue holds
//! 4 × peers × (links + 4) events; one service emits at most
//! peers × (links + 4), so an engine that polls until `None` after each
//! service never loses one. Overflow is counted ([`Detector::events_dropped`]).

mod arrival;
mod awake;
mod config;
mod event;
pub mod sequence;
mod stats;

pub use arrival::{Arrival, LinkId, PeerId, PeerStatus, Rejected};
pub use config::{ConfigError, DetectorConfig, MAX_IDS, MAX_PAIRS, default_stall_threshold};
pub use event::Event;
pub use stats::{HISTOGRAM_HIGHEST, HISTOGRAM_SIGFIG, LinkStats, RTT_PLAUSIBLE_BELOW};

use awake::AwakeClock;
use event::EventQueue;
pub use sequence::LINK_LAG_WINDOW;
use sequence::{Bar, Check, CounterWindow, Incarnation, Run};

use crate::time::Nanos;

/// Where a peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Never heard, initdead not yet over.
    Pending,
    Alive,
    Dead,
}

/// A read-only summary of one peer, for status output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerView {
    pub liveness: Liveness,
    /// Generation of the peer's current run, once heard.
    pub generation: Option<u32>,
    /// Status the peer last announced.
    pub status: Option<PeerStatus>,
    /// Receive time of the last accepted frame on any link.
    pub last_heard: Option<Nanos>,
    /// A warning was raised for the current silence.
    pub warned: bool,
    pub links_up: usize,
}

#[derive(Debug, Clone, Copy)]
struct PeerState {
    liveness: Liveness,
    incarnation: Incarnation,
    status: Option<PeerStatus>,
    last_heard: Option<Nanos>,
    /// Awake time of the latest frame on any link.
    heard_awake: Nanos,
    warned: bool,
    /// Latest `at` emitted for this peer, so event times never go back.
    last_event_at: Nanos,
}

#[derive(Debug, Clone)]
struct PairState {
    window: CounterWindow,
    heard_awake: Nanos,
    /// Receive time and sender timestamp of the latest accepted frame.
    last_rx: Nanos,
    last_tx_ts: u32,
    stats: LinkStats,
}

/// The failure detector. See the module doc for the rules.
#[derive(Debug)]
pub struct Detector {
    cfg: DetectorConfig,
    clock: AwakeClock,
    /// Awake time at construction: initdead counts from here.
    start_awake: Nanos,
    peers: Vec<PeerState>,
    /// Indexed by `peer * links + link`.
    pairs: Vec<PairState>,
    events: EventQueue,
    unknown_source: u64,
}

impl Detector {
    /// Builds a detector; every peer is pending (initdead running) from `now`.
    pub fn new(cfg: DetectorConfig, now: Nanos) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let clock = AwakeClock::new(cfg.stall_threshold, now);
        let peer = PeerState {
            liveness: Liveness::Pending,
            incarnation: Incarnation::default(),
            status: None,
            last_heard: None,
            heard_awake: now,
            warned: false,
            last_event_at: now,
        };
        let mut pairs = Vec::with_capacity(cfg.peers * cfg.links);
        for _ in 0..cfg.peers * cfg.links {
            pairs.push(PairState {
                window: CounterWindow::default(),
                heard_awake: now,
                last_rx: now,
                last_tx_ts: 0,
                stats: LinkStats::new()?,
            });
        }
        let per_service = cfg.peers * (cfg.links + 4);
        Ok(Detector {
            cfg,
            clock,
            start_awake: clock.now_awake(),
            peers: vec![peer; cfg.peers],
            pairs,
            events: EventQueue::with_capacity((4 * per_service).max(16)),
            unknown_source: 0,
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    fn pair_index(&self, peer: PeerId, link: LinkId) -> Option<usize> {
        let (p, l) = (usize::from(peer.0), usize::from(link.0));
        (p < self.cfg.peers && l < self.cfg.links).then_some(p * self.cfg.links + l)
    }

    /// Queues an event, dated no earlier than the peer's previous one.
    fn emit(&mut self, peer: usize, event: Event) {
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        let at = event.at().max(state.last_event_at);
        state.last_event_at = at;
        self.events.push(event.dated(at));
    }

    /// Takes in one received frame. `now` is the time of this call; the
    /// frame's own `rx_time` dates it (clamped to `now`).
    pub fn on_arrival(&mut self, a: &Arrival, now: Nanos) -> Result<(), Rejected> {
        let p = usize::from(a.peer.0);
        if p >= self.cfg.peers {
            self.unknown_source = self.unknown_source.saturating_add(1);
            return Err(Rejected::UnknownPeer(a.peer.0));
        }
        let Some(pi) = self.pair_index(a.peer, a.link) else {
            self.unknown_source = self.unknown_source.saturating_add(1);
            return Err(Rejected::UnknownLink(a.link.0));
        };
        self.clock.service(now);
        let rx = a.rx_time.min(self.clock.now_real());
        let counter = a.counter();
        let (Some(peer), Some(pair)) = (self.peers.get_mut(p), self.pairs.get_mut(pi)) else {
            return Err(Rejected::UnknownPeer(a.peer.0));
        };

        let run = peer
            .incarnation
            .classify(counter, a.peer_status == PeerStatus::Init);
        let run_number = match run {
            Run::Restarted { .. } => peer.incarnation.number.wrapping_add(1),
            Run::Old => {
                pair.stats.rejected_replay = pair.stats.rejected_replay.saturating_add(1);
                return Err(Rejected::Replay);
            }
            Run::First | Run::Current => peer.incarnation.number,
        };
        let (lost, adjacent) = match pair.window.check(counter, run_number) {
            Check::Fresh { lost, adjacent } => {
                let bar = if peer.liveness == Liveness::Dead {
                    Bar::Newer
                } else if !pair.stats.up {
                    Bar::CurrentRound
                } else {
                    Bar::Lagging
                };
                if !peer.incarnation.clears(counter, run, bar) {
                    pair.stats.rejected_replay = pair.stats.rejected_replay.saturating_add(1);
                    return Err(Rejected::Replay);
                }
                (lost, adjacent)
            }
            Check::Late => {
                pair.window.record(counter, run_number);
                pair.stats.reordered = pair.stats.reordered.saturating_add(1);
                pair.stats.lost = pair.stats.lost.saturating_sub(1);
                return Err(Rejected::Late);
            }
            Check::Duplicate => {
                pair.stats.duplicates = pair.stats.duplicates.saturating_add(1);
                pair.stats.rejected_replay = pair.stats.rejected_replay.saturating_add(1);
                return Err(Rejected::Replay);
            }
            Check::Stale => {
                pair.stats.rejected_replay = pair.stats.rejected_replay.saturating_add(1);
                return Err(Rejected::Replay);
            }
        };

        // Accepted: from here on the frame is a sign of life.
        peer.incarnation.accept(counter, run);
        pair.window.record(counter, run_number);
        let heard_awake = self.clock.awake_at(rx);

        let stats = &mut pair.stats;
        stats.frames_received = stats.frames_received.saturating_add(1);
        stats.lost = stats.lost.saturating_add(lost);
        if adjacent {
            stats.record_interarrival(rx.saturating_sub(pair.last_rx), self.cfg.keepalive);
        }
        if a.echo_ts != 0 {
            // Dated by the kernel receive time, not `now`: our own drain
            // delay is not part of the network's round trip.
            stats.record_rtt((rx as u32).wrapping_sub(a.echo_ts));
        }
        stats.last_heard = Some(stats.last_heard.map_or(rx, |t| t.max(rx)));
        let link_came_up = !stats.up;
        stats.up = true;
        pair.last_rx = rx;
        pair.last_tx_ts = a.tx_ts;
        pair.heard_awake = pair.heard_awake.max(heard_awake);

        let came_alive = peer.liveness != Liveness::Alive;
        peer.liveness = Liveness::Alive;
        peer.last_heard = Some(peer.last_heard.map_or(rx, |t| t.max(rx)));
        peer.heard_awake = peer.heard_awake.max(heard_awake);
        peer.warned = false;
        let status_changed = peer.status != Some(a.peer_status);
        peer.status = Some(a.peer_status);

        if let Run::Restarted { old_generation } = run {
            let ev = Event::PeerRestarted {
                peer: a.peer,
                at: rx,
                old_generation,
                new_generation: a.generation,
            };
            self.emit(p, ev);
        }
        if came_alive {
            let ev = Event::PeerAlive {
                peer: a.peer,
                at: rx,
                generation: a.generation,
            };
            self.emit(p, ev);
        }
        if link_came_up {
            let ev = Event::LinkUp {
                peer: a.peer,
                link: a.link,
                at: rx,
            };
            self.emit(p, ev);
        }
        if status_changed {
            let ev = Event::PeerStatusChanged {
                peer: a.peer,
                at: rx,
                status: a.peer_status,
            };
            self.emit(p, ev);
        }
        Ok(())
    }

    /// Runs the timers. Call it after draining every frame received so far.
    pub fn on_tick(&mut self, now: Nanos) {
        let awake = self.clock.service(now);
        let cfg = self.cfg;
        for p in 0..self.peers.len() {
            let Some(peer) = self.peers.get(p).copied() else {
                continue;
            };
            let id = PeerId(p as u8);
            match peer.liveness {
                Liveness::Dead => {}
                Liveness::Pending => {
                    let deadline = self.start_awake.saturating_add(cfg.initdead);
                    if awake >= deadline {
                        self.set_liveness(p, Liveness::Dead);
                        let at = self.clock.real_at(deadline);
                        self.emit(
                            p,
                            Event::PeerDead {
                                peer: id,
                                at,
                                last_heard: None,
                            },
                        );
                    }
                }
                Liveness::Alive => self.check_silences(p, awake),
            }
        }
    }

    fn set_liveness(&mut self, p: usize, liveness: Liveness) {
        if let Some(peer) = self.peers.get_mut(p) {
            peer.liveness = liveness;
        }
    }

    fn check_silences(&mut self, p: usize, awake: Nanos) {
        let cfg = self.cfg;
        let id = PeerId(p as u8);
        for l in 0..cfg.links {
            let Some(pair) = self.pairs.get_mut(p * cfg.links + l) else {
                continue;
            };
            let deadline = pair.heard_awake.saturating_add(cfg.deadtime);
            if pair.stats.up && awake >= deadline {
                pair.stats.up = false;
                let last_heard = pair.last_rx;
                let at = self.clock.real_at(deadline);
                self.emit(
                    p,
                    Event::LinkDown {
                        peer: id,
                        link: LinkId(l as u8),
                        at,
                        last_heard,
                    },
                );
            }
        }
        let Some(peer) = self.peers.get_mut(p) else {
            return;
        };
        let silence = awake.saturating_sub(peer.heard_awake);
        let (heard_awake, last_heard) = (peer.heard_awake, peer.last_heard);
        if !peer.warned && cfg.warntime < cfg.deadtime && silence >= cfg.warntime {
            peer.warned = true;
            let at = self.clock.real_at(heard_awake.saturating_add(cfg.warntime));
            self.emit(
                p,
                Event::PeerWarn {
                    peer: id,
                    at,
                    silent_for: silence,
                },
            );
        }
        if silence >= cfg.deadtime {
            self.set_liveness(p, Liveness::Dead);
            let at = self.clock.real_at(heard_awake.saturating_add(cfg.deadtime));
            self.emit(
                p,
                Event::PeerDead {
                    peer: id,
                    at,
                    last_heard,
                },
            );
        }
    }

    /// Next queued event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// When the earliest verdict falls due (real time, the clock of
    /// `now`) if a peer is late (warned) and not yet declared dead: the
    /// instant it is declared unless heard before, stalls of our own
    /// aside. `None` while every live peer is on time.
    pub fn verdict_due(&self) -> Option<Nanos> {
        self.peers
            .iter()
            .filter(|p| p.liveness == Liveness::Alive && p.warned)
            .map(|p| {
                self.clock
                    .real_when(p.heard_awake.saturating_add(self.cfg.deadtime))
            })
            .min()
    }

    /// The earliest instant a tick could change anything, or `None` when no
    /// timer runs (every peer dead). While a timer runs it is never more than
    /// `stall_threshold` after the last service (see the module doc).
    pub fn next_deadline(&self) -> Option<Nanos> {
        let cfg = &self.cfg;
        let mut earliest: Option<Nanos> = None;
        let mut consider = |awake: Nanos| {
            earliest = Some(earliest.map_or(awake, |e: Nanos| e.min(awake)));
        };
        for (p, peer) in self.peers.iter().enumerate() {
            match peer.liveness {
                Liveness::Dead => {}
                Liveness::Pending => consider(self.start_awake.saturating_add(cfg.initdead)),
                Liveness::Alive => {
                    consider(peer.heard_awake.saturating_add(cfg.deadtime));
                    if !peer.warned && cfg.warntime < cfg.deadtime {
                        consider(peer.heard_awake.saturating_add(cfg.warntime));
                    }
                    let first = p * cfg.links;
                    let links = self.pairs.get(first..first + cfg.links).unwrap_or(&[]);
                    for pair in links.iter().filter(|pair| pair.stats.up) {
                        consider(pair.heard_awake.saturating_add(cfg.deadtime));
                    }
                }
            }
        }
        let keep_awake = self.clock.now_real().saturating_add(self.clock.threshold());
        earliest.map(|awake| self.clock.real_when(awake).min(keep_awake))
    }

    /// The value to put in the echo field of our next frame to `peer` on
    /// `link`: the peer's last timestamp heard there, aged by how long we
    /// held it (wrapping u32). 0 when nothing was heard; a result that wraps
    /// to exactly 0 is sent as 1 so it is not read as "no echo".
    pub fn echo_for(&self, peer: PeerId, link: LinkId, now: Nanos) -> u32 {
        let Some(pair) = self.pair_index(peer, link).and_then(|i| self.pairs.get(i)) else {
            return 0;
        };
        if pair.stats.last_heard.is_none() {
            return 0;
        }
        let held = now.saturating_sub(pair.last_rx) as u32;
        match pair.last_tx_ts.wrapping_add(held) {
            0 => 1,
            echo => echo,
        }
    }

    /// Counts one frame sent on `link` (to every peer reached through it).
    pub fn note_sent(&mut self, link: LinkId, _now: Nanos) {
        let l = usize::from(link.0);
        if l >= self.cfg.links {
            return;
        }
        for pair in self.pairs.iter_mut().skip(l).step_by(self.cfg.links) {
            pair.stats.frames_sent = pair.stats.frames_sent.saturating_add(1);
        }
    }

    /// Summary of one peer; `None` for an unknown peer.
    pub fn peer(&self, peer: PeerId) -> Option<PeerView> {
        let p = usize::from(peer.0);
        let state = self.peers.get(p)?;
        let first = p * self.cfg.links;
        let links = self.pairs.get(first..first + self.cfg.links).unwrap_or(&[]);
        Some(PeerView {
            liveness: state.liveness,
            generation: state.incarnation.generation(),
            status: state.status,
            last_heard: state.last_heard,
            warned: state.warned,
            links_up: links.iter().filter(|pair| pair.stats.up).count(),
        })
    }

    /// Statistics of one (peer, link) pair; `None` if either is unknown.
    pub fn link(&self, peer: PeerId, link: LinkId) -> Option<&LinkStats> {
        let i = self.pair_index(peer, link)?;
        self.pairs.get(i).map(|pair| &pair.stats)
    }

    /// Events lost because the queue was full (should stay 0).
    pub fn events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Arrivals naming a peer or link that is not configured.
    pub fn unknown_source(&self) -> u64 {
        self.unknown_source
    }
}
