//! Which ping nodes this node reaches: the sans-IO judgement over probe
//! replies and time, and the probe schedule.
//!
//! A *target* is one `ping` address or one `ping_group` (reachable while
//! any member answers — Heartbeat's semantics: a group counts as one node).
//! A target is reachable until it has been silent for `deadping`.
//!
//! At start a target is *pending*: nothing is known yet. It becomes
//! reachable at its first reply, or unreachable once silent for `deadping`
//! since start. The reach count is only reported once no target is pending
//! (one round trip when all answer, `deadping` at most): reporting "all
//! reachable" before any proof would let a node that cannot reach its ping
//! nodes claim groups during its first `deadping`, then hand them back.

use std::net::IpAddr;

use crate::config::HaCf;
use crate::time::{NANOS_PER_MILLI, NANOS_PER_SEC, Nanos};

/// Shortest probe interval: 50 echo requests a second to one host is the
/// most we send, however short `deadping` is.
pub const MIN_INTERVAL: Nanos = 20 * NANOS_PER_MILLI;
/// Longest probe interval: even with the default `deadping` of 30 s a lost
/// target is seen within a second of its deadline.
pub const MAX_INTERVAL: Nanos = NANOS_PER_SEC;
/// Floor of the interval for UDP probes: their proof is an ICMP
/// port-unreachable error, which the target's kernel rate-limits to about
/// one a second per sender (`net.ipv4.icmp_ratelimit`).
pub const UDP_MIN_INTERVAL: Nanos = NANOS_PER_SEC;
/// A target must be allowed to miss this many probes in a row before it is
/// judged unreachable; `deadping` is raised to make room for them.
pub const PROBES_PER_DEADPING: u64 = 3;

/// How the replies arrive, which bounds how often we may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// ICMP echo: replies are not rate-limited by the target.
    Echo,
    /// UDP to a closed port: the proof is a rate-limited ICMP error.
    UdpErrors,
}

/// One ping node or ping group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address for a `ping` node (Heartbeat names it so), the group's
    /// name for a `ping_group`.
    pub name: String,
    pub members: Vec<IpAddr>,
    pub group: bool,
}

/// What the tracker is told once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReachConfig {
    pub targets: Vec<Target>,
    /// Silence after which a target is unreachable (possibly raised above
    /// ha.cf's value, see [`ReachConfig::timed`]).
    pub deadping: Nanos,
    /// Time between two probe rounds.
    pub interval: Nanos,
    /// `deadping` from ha.cf, for the log line when it was raised.
    pub configured_deadping: Nanos,
}

impl ReachConfig {
    /// Targets in ha.cf order: `ping` addresses first, then `ping_group`s.
    pub fn targets_of(hacf: &HaCf) -> Vec<Target> {
        let pings = hacf.pings.iter().map(|p| Target {
            name: p.addr.to_string(),
            members: vec![p.addr],
            group: false,
        });
        let groups = hacf.ping_groups.iter().map(|g| Target {
            name: g.name.clone(),
            members: g.members.clone(),
            group: true,
        });
        pings.chain(groups).collect()
    }

    /// The probe interval is `deadping / 5`, within [`MIN_INTERVAL`] and
    /// [`MAX_INTERVAL`] (at least [`UDP_MIN_INTERVAL`] for UDP probes):
    /// five chances per `deadping` so a lost reply or two never flaps a
    /// target, and no faster because a ping node is usually a router that
    /// owes us nothing (Heartbeat pinged at its keepalive; at twinbeat's
    /// keepalives that would be thousands of requests a second). `deadping`
    /// is raised to [`PROBES_PER_DEADPING`] intervals when shorter.
    pub fn timed(targets: Vec<Target>, deadping: Nanos, pace: Pace) -> ReachConfig {
        let mut interval = (deadping / 5).clamp(MIN_INTERVAL, MAX_INTERVAL);
        if pace == Pace::UdpErrors {
            interval = interval.max(UDP_MIN_INTERVAL);
        }
        ReachConfig {
            targets,
            deadping: deadping.max(PROBES_PER_DEADPING * interval),
            interval,
            configured_deadping: deadping,
        }
    }

    /// Distinct addresses to probe each round, in target order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for a in self.targets.iter().flat_map(|t| t.members.iter()) {
            if !out.contains(a) {
                out.push(*a);
            }
        }
        out
    }
}

/// What is known of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Pending,
    Reachable,
    Unreachable,
}

impl Reach {
    /// Heartbeat's `cl_status nodestatus` word for a ping node.
    pub fn status_word(self) -> &'static str {
        match self {
            Reach::Reachable => "ping",
            Reach::Unreachable => "dead",
            Reach::Pending => "init",
        }
    }
}

/// One target's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    pub reach: Reach,
    /// When any member last answered.
    pub last_reply: Option<Nanos>,
    /// Round-trip time of that answer.
    pub rtt: Option<Nanos>,
    /// Which member answered last.
    pub last_member: Option<IpAddr>,
}

/// A target changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub at: Nanos,
    pub target: usize,
    pub reach: Reach,
}

/// The tracker. Feed it replies and ticks with the time; read the reach.
#[derive(Debug)]
pub struct Tracker {
    cfg: ReachConfig,
    started: Nanos,
    states: Vec<TargetState>,
    next_probe: Nanos,
    reported: Option<u16>,
    changes: Vec<Change>,
}

impl Tracker {
    /// The first probe round is due at `now`.
    pub fn new(cfg: ReachConfig, now: Nanos) -> Tracker {
        let states = vec![
            TargetState {
                reach: Reach::Pending,
                last_reply: None,
                rtt: None,
                last_member: None,
            };
            cfg.targets.len()
        ];
        Tracker {
            changes: Vec::with_capacity(cfg.targets.len()),
            cfg,
            started: now,
            states,
            next_probe: now,
            reported: None,
        }
    }

    pub fn config(&self) -> &ReachConfig {
        &self.cfg
    }

    /// Whether a probe round is due; when it is, the next one is scheduled
    /// (from the due time, so rounds keep their rate; a long stall skips
    /// the rounds it missed rather than bursting).
    pub fn poll_probe(&mut self, now: Nanos) -> bool {
        if now < self.next_probe {
            return false;
        }
        let interval = self.cfg.interval.max(1);
        let behind = (now - self.next_probe) / interval;
        self.next_probe += (behind + 1) * interval;
        true
    }

    /// A reply from `from` to a probe sent at `sent_at`. A reply that took
    /// `deadping` or longer (or claims to come from the future) proves
    /// nothing about reach now and is ignored.
    pub fn on_reply(&mut self, now: Nanos, from: IpAddr, sent_at: Nanos) {
        let Some(rtt) = now.checked_sub(sent_at) else {
            return;
        };
        if rtt >= self.cfg.deadping {
            return;
        }
        for (i, t) in self.cfg.targets.iter().enumerate() {
            if !t.members.contains(&from) {
                continue;
            }
            let Some(s) = self.states.get_mut(i) else {
                continue;
            };
            s.last_reply = Some(now);
            s.rtt = Some(rtt);
            s.last_member = Some(from);
            if s.reach != Reach::Reachable {
                s.reach = Reach::Reachable;
                self.changes.push(Change {
                    at: now,
                    target: i,
                    reach: Reach::Reachable,
                });
            }
        }
    }

    /// Judges silence: a target silent for `deadping` becomes unreachable.
    pub fn on_tick(&mut self, now: Nanos) {
        for (i, s) in self.states.iter_mut().enumerate() {
            if s.reach == Reach::Unreachable {
                continue;
            }
            let since = s.last_reply.unwrap_or(self.started);
            if now.saturating_sub(since) >= self.cfg.deadping {
                s.reach = Reach::Unreachable;
                self.changes.push(Change {
                    at: now,
                    target: i,
                    reach: Reach::Unreachable,
                });
            }
        }
    }

    /// When the next probe round or expiry is due.
    pub fn next_deadline(&self) -> Nanos {
        let expiry = self
            .states
            .iter()
            .filter(|s| s.reach != Reach::Unreachable)
            .map(|s| s.last_reply.unwrap_or(self.started) + self.cfg.deadping)
            .min();
        match expiry {
            Some(e) => e.min(self.next_probe),
            None => self.next_probe,
        }
    }

    /// Reachable targets; `None` while any target is pending.
    pub fn reached(&self) -> Option<u16> {
        if self.states.iter().any(|s| s.reach == Reach::Pending) {
            return None;
        }
        let n = self
            .states
            .iter()
            .filter(|s| s.reach == Reach::Reachable)
            .count();
        Some(u16::try_from(n).unwrap_or(u16::MAX))
    }

    /// The reach count when it is known and differs from the last one
    /// returned here.
    pub fn poll_report(&mut self) -> Option<u16> {
        let now = self.reached()?;
        if self.reported == Some(now) {
            return None;
        }
        self.reported = Some(now);
        Some(now)
    }

    /// Target state changes since the last call, oldest first.
    pub fn poll_change(&mut self) -> Option<Change> {
        if self.changes.is_empty() {
            None
        } else {
            Some(self.changes.remove(0))
        }
    }

    pub fn targets(&self) -> impl Iterator<Item = (&Target, &TargetState)> {
        self.cfg.targets.iter().zip(self.states.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Nanos = NANOS_PER_MILLI;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn node(a: &str) -> Target {
        Target {
            name: a.into(),
            members: vec![ip(a)],
            group: false,
        }
    }

    fn group(name: &str, members: &[&str]) -> Target {
        Target {
            name: name.into(),
            members: members.iter().map(|m| ip(m)).collect(),
            group: true,
        }
    }

    fn tracker(targets: Vec<Target>, deadping: Nanos) -> Tracker {
        Tracker::new(ReachConfig::timed(targets, deadping, Pace::Echo), 0)
    }

    #[test]
    fn interval_is_a_fifth_of_deadping_within_bounds_and_deadping_makes_room() {
        let c = ReachConfig::timed(vec![], 500 * MS, Pace::Echo);
        assert_eq!((c.interval, c.deadping), (100 * MS, 500 * MS));
        let c = ReachConfig::timed(vec![], 30 * NANOS_PER_SEC, Pace::Echo);
        assert_eq!(c.interval, MAX_INTERVAL);
        // deadping 1 ms (deadtime's default at microsecond keepalives):
        // the router is not pinged 5000 times a second.
        let c = ReachConfig::timed(vec![], MS, Pace::Echo);
        assert_eq!(c.interval, MIN_INTERVAL);
        assert_eq!(c.deadping, PROBES_PER_DEADPING * MIN_INTERVAL);
        assert_eq!(c.configured_deadping, MS);
        let c = ReachConfig::timed(vec![], 500 * MS, Pace::UdpErrors);
        assert_eq!(c.interval, UDP_MIN_INTERVAL);
        assert_eq!(c.deadping, PROBES_PER_DEADPING * UDP_MIN_INTERVAL);
    }

    #[test]
    fn reach_is_unknown_until_every_target_answered_or_timed_out() {
        let mut t = tracker(vec![node("10.0.0.1"), node("10.0.0.2")], 500 * MS);
        assert_eq!(t.reached(), None);
        t.on_reply(MS, ip("10.0.0.1"), 0);
        t.on_tick(MS);
        assert_eq!(t.reached(), None, "10.0.0.2 still pending");
        assert_eq!(t.poll_report(), None);
        t.on_reply(2 * MS, ip("10.0.0.2"), MS);
        assert_eq!(t.poll_report(), Some(2));
        assert_eq!(t.poll_report(), None, "reported once");
    }

    #[test]
    fn a_silent_target_is_unreachable_after_deadping_and_back_at_its_next_reply() {
        let mut t = tracker(vec![node("10.0.0.1"), node("10.0.0.2")], 500 * MS);
        t.on_reply(MS, ip("10.0.0.1"), 0);
        t.on_tick(499 * MS);
        assert_eq!(t.reached(), None, "10.0.0.2 silent for less than deadping");
        t.on_tick(500 * MS);
        assert_eq!(t.poll_report(), Some(1));
        // 10.0.0.1 answered at 1 ms: silent for deadping at 501 ms.
        t.on_tick(500 * MS + MS - 1);
        assert_eq!(t.poll_report(), None);
        t.on_tick(501 * MS);
        assert_eq!(t.poll_report(), Some(0));
        t.on_reply(600 * MS, ip("10.0.0.2"), 599 * MS);
        assert_eq!(t.poll_report(), Some(1));
        let (_, s) = t.targets().nth(1).unwrap();
        assert_eq!(s.rtt, Some(MS));
        assert_eq!(s.last_reply, Some(600 * MS));
    }

    #[test]
    fn a_group_is_one_target_reachable_while_any_member_answers() {
        let mut t = tracker(
            vec![
                group("routers", &["10.0.0.1", "10.0.0.2"]),
                node("10.0.0.9"),
            ],
            500 * MS,
        );
        t.on_reply(MS, ip("10.0.0.2"), 0);
        t.on_reply(MS, ip("10.0.0.9"), 0);
        assert_eq!(t.poll_report(), Some(2), "the group counts once");
        // Only .1 answers from now on: the group stays reachable.
        for ms in (100..=2000).step_by(100) {
            t.on_reply(ms * MS, ip("10.0.0.1"), ms * MS - MS);
            t.on_tick(ms * MS);
        }
        assert_eq!(t.poll_report(), Some(1), "10.0.0.9 went silent");
        let (g, s) = t.targets().next().unwrap();
        assert!(g.group);
        assert_eq!(s.reach, Reach::Reachable);
        assert_eq!(s.last_member, Some(ip("10.0.0.1")));
    }

    #[test]
    fn a_reply_slower_than_deadping_or_from_the_future_proves_nothing() {
        let mut t = tracker(vec![node("10.0.0.1")], 500 * MS);
        t.on_reply(600 * MS, ip("10.0.0.1"), 100 * MS);
        t.on_reply(600 * MS, ip("10.0.0.1"), 700 * MS);
        t.on_reply(600 * MS, ip("10.0.0.7"), 599 * MS);
        t.on_tick(600 * MS);
        assert_eq!(t.poll_report(), Some(0));
    }

    #[test]
    fn probes_keep_their_rate_and_a_stall_skips_missed_rounds() {
        let mut t = tracker(vec![node("10.0.0.1")], 500 * MS);
        assert!(t.poll_probe(0));
        assert!(!t.poll_probe(99 * MS));
        assert!(t.poll_probe(100 * MS + 5));
        assert_eq!(t.next_deadline(), 200 * MS);
        // Stalled for a second: one round now, the next on the grid.
        assert!(t.poll_probe(1_250 * MS));
        assert!(!t.poll_probe(1_299 * MS));
        assert!(t.poll_probe(1_300 * MS));
    }

    #[test]
    fn changes_are_reported_in_order() {
        let mut t = tracker(vec![node("10.0.0.1")], 500 * MS);
        t.on_reply(MS, ip("10.0.0.1"), 0);
        t.on_tick(501 * MS);
        let a = t.poll_change().unwrap();
        let b = t.poll_change().unwrap();
        assert_eq!((a.reach, a.at), (Reach::Reachable, MS));
        assert_eq!((b.reach, b.at), (Reach::Unreachable, 501 * MS));
        assert_eq!(t.poll_change(), None);
    }

    proptest! {
        /// Against a model: a target is reachable exactly when some member
        /// answered (in time) within the last deadping.
        #[test]
        fn reach_matches_the_last_timely_reply_of_any_member(
            replies in proptest::collection::vec((0u64..3_000, 0usize..4, 0u64..700), 0..60),
            ticks in proptest::collection::vec(0u64..3_000, 1..20),
        ) {
            let addrs = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"];
            let targets = vec![node(addrs[0]), group("g", &addrs[1..3])];
            let deadping = 500 * MS;
            let mut t = tracker(targets.clone(), deadping);
            let mut events: Vec<(u64, Option<(usize, u64)>)> = replies
                .iter()
                .map(|&(at, m, rtt)| (at * MS, Some((m, rtt * MS))))
                .chain(ticks.iter().map(|&at| (at * MS, None)))
                .collect();
            events.sort_by_key(|e| e.0);
            let mut last: Vec<Option<u64>> = vec![None; targets.len()];
            for (now, e) in events {
                match e {
                    Some((m, rtt)) => {
                        let from = ip(addrs[m]);
                        let sent = now.saturating_sub(rtt);
                        t.on_reply(now, from, sent);
                        if now - sent < deadping {
                            for (i, tg) in targets.iter().enumerate() {
                                if tg.members.contains(&from) { last[i] = Some(now); }
                            }
                        }
                    }
                    None => {
                        t.on_tick(now);
                        for (i, (_, s)) in t.targets().enumerate() {
                            let expect = match last[i] {
                                Some(l) if now - l < deadping => Reach::Reachable,
                                None if now < deadping => Reach::Pending,
                                _ => Reach::Unreachable,
                            };
                            prop_assert_eq!(s.reach, expect, "target {} at {}", i, now);
                        }
                    }
                }
            }
        }
    }
}
