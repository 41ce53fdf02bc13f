//! The sender's bookkeeping: which probes came back, in what order, how
//! late, and the RTT and one-way jitter histograms.
//!
//! - RTT is the sender's receive time minus its send time, less the time the
//!   reflector held the probe (measured on the reflector's clock, a duration
//!   needing no synchronisation): the time spent on the path in both
//!   directions, as the daemon's keepalive echo measures it.
//! - One-way jitter is RFC 3550's transit variation: for two probes i, j,
//!   `D(i,j) = (Rj − Ri) − (Sj − Si)`, where S and R are the send and receive
//!   stamps taken on *different* clocks. The clocks' offset cancels, so no
//!   synchronisation is needed. `|D|` of each reply against the reply before
//!   it is recorded, forwards (sender → reflector: our send stamp against
//!   the reflector's receive stamp) and backwards (the reflector's send stamp
//!   against our receive stamp). RFC 3550's smoothed estimate
//!   `J += (|D| − J) / 16` is kept as well.
//! - Loss: a probe is lost when no reply to it ever came; while running,
//!   the gaps below the highest sequence answered so far are the loss seen
//!   so far (probes still in flight are not counted).
//! - Reordering: a reply whose sequence is below the highest already seen.
//! - Duplicates: a second reply to the same sequence, found in a bitmap of
//!   the last [`WINDOW`] sequences; a reply older than that is counted as
//!   stale (and its probe as lost).
//!
//! Histograms are allocated once in [`Tracker::new`]; recording never
//! allocates (values beyond the bounds are clamped).

use hdrhistogram::Histogram;

use super::probe::Probe;
use crate::time::{NANOS_PER_SEC, Nanos};

/// Sequences back from the highest one answered for which duplicates are
/// still recognised (6.5 s at 10 kHz).
pub const WINDOW: u64 = 1 << 16;
/// The largest value a histogram holds, ns (longer is clamped to it).
pub const HIGHEST_NS: u64 = 60 * NANOS_PER_SEC;
/// Significant figures the histograms keep.
pub const SIGFIG: u8 = 3;

/// A histogram of nanoseconds with the bounds this module uses.
pub fn new_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG)
}

/// What a reply turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// The first reply to its probe, in order; `rtt` in ns.
    InOrder {
        rtt: Nanos,
    },
    /// The first reply to its probe, after a reply to a later one.
    Reordered {
        rtt: Nanos,
    },
    Duplicate,
    /// Older than the duplicate window: ignored, its probe counted lost.
    Stale,
    /// Another session's reply, or one for a sequence never sent.
    Foreign,
}

/// Counters, for progress and the final report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    /// Distinct probes answered.
    pub received: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub stale: u64,
    pub foreign: u64,
}

impl Counts {
    /// Probes never answered (call at the end of a run).
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

/// The sender side of one run.
pub struct Tracker {
    session: u32,
    counts: Counts,
    highest: Option<u64>,
    seen: Box<[u64]>,
    last_forward: Option<(Nanos, Nanos)>,
    last_backward: Option<(Nanos, Nanos)>,
    rfc3550_forward: f64,
    rfc3550_backward: f64,
    rtt: Histogram<u64>,
    jitter_forward: Histogram<u64>,
    jitter_backward: Histogram<u64>,
    interval_rtt: Histogram<u64>,
    interval_jitter: Histogram<u64>,
}

fn transit_variation(prev: (Nanos, Nanos), now: (Nanos, Nanos)) -> u64 {
    let d = (i128::from(now.1) - i128::from(prev.1)) - (i128::from(now.0) - i128::from(prev.0));
    u64::try_from(d.unsigned_abs()).unwrap_or(u64::MAX)
}

impl Tracker {
    pub fn new(session: u32) -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            session,
            counts: Counts::default(),
            highest: None,
            seen: vec![0u64; (WINDOW / 64) as usize].into_boxed_slice(),
            last_forward: None,
            last_backward: None,
            rfc3550_forward: 0.0,
            rfc3550_backward: 0.0,
            rtt: new_histogram()?,
            jitter_forward: new_histogram()?,
            jitter_backward: new_histogram()?,
            interval_rtt: new_histogram()?,
            interval_jitter: new_histogram()?,
        })
    }

    pub fn session(&self) -> u32 {
        self.session
    }

    /// The sequence number the next probe gets (probes are numbered 0, 1, ...).
    pub fn next_seq(&self) -> u64 {
        self.counts.sent
    }

    /// Notes that probe [`Self::next_seq`] went out.
    pub fn on_sent(&mut self) {
        self.counts.sent += 1;
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Probes missing below the highest answered: the loss seen so far,
    /// without those still in flight.
    pub fn gaps(&self) -> u64 {
        match self.highest {
            Some(h) => (h + 1).saturating_sub(self.counts.received),
            None => 0,
        }
    }

    /// Whether every probe sent has been answered.
    pub fn all_answered(&self) -> bool {
        self.counts.received >= self.counts.sent
    }

    fn bit(seq: u64) -> (usize, u64) {
        let slot = seq % WINDOW;
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }

    fn test_and_set(&mut self, seq: u64) -> bool {
        let (word, mask) = Self::bit(seq);
        match self.seen.get_mut(word) {
            Some(w) => {
                let was = *w & mask != 0;
                *w |= mask;
                was
            }
            None => false,
        }
    }

    fn clear(&mut self, seq: u64) {
        let (word, mask) = Self::bit(seq);
        if let Some(w) = self.seen.get_mut(word) {
            *w &= !mask;
        }
    }

    /// Takes in a reply (kind already checked) received at `received_at`
    /// on our clock.
    pub fn on_reply(&mut self, reply: &Probe, received_at: Nanos) -> ReplyOutcome {
        if reply.session != self.session || reply.seq >= self.counts.sent {
            self.counts.foreign += 1;
            return ReplyOutcome::Foreign;
        }
        let seq = reply.seq;
        let reordered = match self.highest {
            None => false,
            Some(h) if seq > h => {
                // Slots the window reuses for seq h+1..=seq must forget the
                // sequences that used them WINDOW earlier.
                if seq - h >= WINDOW {
                    self.seen.fill(0);
                } else {
                    for s in h + 1..=seq {
                        self.clear(s);
                    }
                }
                false
            }
            Some(h) if h - seq >= WINDOW => {
                self.counts.stale += 1;
                return ReplyOutcome::Stale;
            }
            Some(_) => true,
        };
        if self.test_and_set(seq) {
            self.counts.duplicates += 1;
            return ReplyOutcome::Duplicate;
        }
        if !reordered {
            self.highest = Some(seq);
        }
        self.counts.received += 1;

        let rtt = received_at
            .saturating_sub(reply.sent_at)
            .saturating_sub(reply.hold());
        self.rtt.saturating_record(rtt);
        self.interval_rtt.saturating_record(rtt);

        let forward = (reply.sent_at, reply.reflector_rx);
        if let Some(prev) = self.last_forward {
            let d = transit_variation(prev, forward);
            self.jitter_forward.saturating_record(d);
            self.interval_jitter.saturating_record(d);
            self.rfc3550_forward += (d as f64 - self.rfc3550_forward) / 16.0;
        }
        self.last_forward = Some(forward);
        let backward = (reply.reflector_tx, received_at);
        if let Some(prev) = self.last_backward {
            let d = transit_variation(prev, backward);
            self.jitter_backward.saturating_record(d);
            self.rfc3550_backward += (d as f64 - self.rfc3550_backward) / 16.0;
        }
        self.last_backward = Some(backward);

        if reordered {
            self.counts.reordered += 1;
            ReplyOutcome::Reordered { rtt }
        } else {
            ReplyOutcome::InOrder { rtt }
        }
    }

    pub fn rtt(&self) -> &Histogram<u64> {
        &self.rtt
    }

    pub fn jitter_forward(&self) -> &Histogram<u64> {
        &self.jitter_forward
    }

    pub fn jitter_backward(&self) -> &Histogram<u64> {
        &self.jitter_backward
    }

    /// RFC 3550's smoothed interarrival jitter, forwards and backwards, ns.
    pub fn rfc3550_jitter(&self) -> (f64, f64) {
        (self.rfc3550_forward, self.rfc3550_backward)
    }

    /// RTT and forward jitter since the last [`Self::reset_interval`].
    pub fn interval(&self) -> (&Histogram<u64>, &Histogram<u64>) {
        (&self.interval_rtt, &self.interval_jitter)
    }

    pub fn reset_interval(&mut self) {
        self.interval_rtt.reset();
        self.interval_jitter.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::probe::Kind;
    use proptest::prelude::*;

    /// A reply to probe `seq` sent at `sent`, reflected `fwd` ns later on a
    /// reflector clock `offset` ns ahead, held `hold` ns.
    fn reply(seq: u64, sent: Nanos, fwd: u64, hold: u64, offset: u64) -> Probe {
        Probe {
            kind: Kind::Reply,
            session: 1,
            seq,
            sent_at: sent,
            reflector_rx: sent + fwd + offset,
            reflector_tx: sent + fwd + offset + hold,
        }
    }

    fn sent(t: &mut Tracker, n: u64) {
        for _ in 0..n {
            t.on_sent();
        }
    }

    #[test]
    fn rtt_excludes_the_reflector_hold_and_clocks_need_not_agree() {
        let mut t = Tracker::new(1).unwrap();
        sent(&mut t, 1);
        let r = reply(0, 1_000, 30_000, 5_000, 123_456_789_000);
        let out = t.on_reply(&r, 1_000 + 30_000 + 5_000 + 20_000);
        assert_eq!(out, ReplyOutcome::InOrder { rtt: 50_000 });
        assert_eq!(t.counts().received, 1);
    }

    #[test]
    fn jitter_is_the_transit_variation_in_each_direction() {
        let mut t = Tracker::new(1).unwrap();
        sent(&mut t, 3);
        // Forward transit 10 µs, then 14 µs, then 9 µs; backward constant 20 µs.
        for (seq, fwd) in [(0u64, 10_000u64), (1, 14_000), (2, 9_000)] {
            let s = 1_000_000 * (seq + 1);
            let r = reply(seq, s, fwd, 0, 777);
            t.on_reply(&r, s + fwd + 20_000);
        }
        let j = t.jitter_forward();
        assert_eq!(j.len(), 2);
        assert_eq!(j.min(), 4_000);
        assert!(j.equivalent(j.max(), 5_000));
        assert_eq!(t.jitter_backward().max(), 0);
        let (fwd, back) = t.rfc3550_jitter();
        assert!(fwd > 0.0 && back == 0.0);
    }

    #[test]
    fn reordering_duplicates_and_loss_are_told_apart() {
        let mut t = Tracker::new(1).unwrap();
        sent(&mut t, 6);
        let at = |seq| reply(seq, seq * 1000, 100, 0, 0);
        let outcome = |t: &mut Tracker, seq| t.on_reply(&at(seq), seq * 1000 + 500);
        assert!(matches!(outcome(&mut t, 0), ReplyOutcome::InOrder { .. }));
        assert!(matches!(outcome(&mut t, 2), ReplyOutcome::InOrder { .. }));
        assert_eq!(t.gaps(), 1, "1 is missing below 2");
        assert!(matches!(outcome(&mut t, 1), ReplyOutcome::Reordered { .. }));
        assert_eq!(t.gaps(), 0);
        assert_eq!(outcome(&mut t, 1), ReplyOutcome::Duplicate);
        assert_eq!(outcome(&mut t, 2), ReplyOutcome::Duplicate);
        assert!(matches!(outcome(&mut t, 4), ReplyOutcome::InOrder { .. }));
        assert_eq!(outcome(&mut t, 6), ReplyOutcome::Foreign, "never sent");
        let c = t.counts();
        assert_eq!(
            (c.sent, c.received, c.reordered, c.duplicates),
            (6, 4, 1, 2)
        );
        assert_eq!(c.lost(), 2, "3 and 5 never came");
        assert!(!t.all_answered());
    }

    #[test]
    fn another_sessions_reply_is_foreign() {
        let mut t = Tracker::new(2).unwrap();
        sent(&mut t, 1);
        assert_eq!(t.on_reply(&reply(0, 0, 1, 0, 0), 5), ReplyOutcome::Foreign);
        assert_eq!(t.counts().received, 0);
    }

    #[test]
    fn the_window_forgets_old_sequences_and_calls_older_replies_stale() {
        let mut t = Tracker::new(1).unwrap();
        sent(&mut t, 2 * WINDOW + 10);
        let r = |seq| reply(seq, seq, 1, 0, 0);
        assert!(matches!(
            t.on_reply(&r(5), 10),
            ReplyOutcome::InOrder { .. }
        ));
        // WINDOW + 5 reuses 5's slot: it is new, not a duplicate of 5.
        assert!(matches!(
            t.on_reply(&r(WINDOW + 5), 10),
            ReplyOutcome::InOrder { .. }
        ));
        assert_eq!(t.on_reply(&r(5), 10), ReplyOutcome::Stale);
        assert!(matches!(
            t.on_reply(&r(WINDOW + 6), 10),
            ReplyOutcome::InOrder { .. }
        ));
        assert!(matches!(
            t.on_reply(&r(2 * WINDOW + 9), 10),
            ReplyOutcome::InOrder { .. }
        ));
        assert_eq!(t.counts().received, 4);
    }

    proptest! {
        /// Whatever order and repetition replies come in, each sequence is
        /// received once, the rest are duplicates, and loss is what never came.
        #[test]
        fn counts_match_a_model(order in proptest::collection::vec(0u64..300, 0..600)) {
            let mut t = Tracker::new(1).unwrap();
            sent(&mut t, 300);
            let mut seen = std::collections::BTreeSet::new();
            let mut highest: Option<u64> = None;
            let mut reordered = 0;
            for &seq in &order {
                let out = t.on_reply(&reply(seq, seq * 10, 3, 1, 0), seq * 10 + 100);
                if seen.insert(seq) {
                    if highest.is_some_and(|h| seq < h) {
                        reordered += 1;
                        prop_assert!(matches!(out, ReplyOutcome::Reordered { .. }), "{:?}", out);
                    } else {
                        highest = Some(seq);
                        prop_assert!(matches!(out, ReplyOutcome::InOrder { .. }), "{:?}", out);
                    }
                } else {
                    prop_assert_eq!(out, ReplyOutcome::Duplicate);
                }
            }
            let c = t.counts();
            prop_assert_eq!(c.received, seen.len() as u64);
            prop_assert_eq!(c.duplicates, order.len() as u64 - seen.len() as u64);
            prop_assert_eq!(c.reordered, reordered);
            prop_assert_eq!(c.lost(), 300 - seen.len() as u64);
            prop_assert_eq!(t.rtt().len(), seen.len() as u64);
        }
    }
}
