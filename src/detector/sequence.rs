//! Replay protection and loss accounting on the per-sender counter
//! `(generation << 32) | seq`.
//!
//! Two levels:
//! - [`Incarnation`] (per peer) decides whether a frame's generation belongs
//!   to the peer's current run, to an older one (replay), or to a new one
//!   (restart). A sequence roll, where the sender goes on with
//!   (generation + 1, 0), is a continuation when the counter advances by less
//!   than [`ROLL_WINDOW`], unless the frame says the peer is initialising.
//! - [`CounterWindow`] (per peer and link) requires the counter to rise
//!   strictly, counts the gaps as loss, and remembers the last 64 counters so
//!   a late frame is told apart from a duplicate (a late frame takes its
//!   counter back out of the loss).
//! - [`Incarnation::clears`] (per peer, across links) decides whether a frame
//!   that is new *on its link* is also recent enough to be a sign of life.
//!   A link's own history cannot tell: a frame heard on link 0 and replayed
//!   on link 1 rises on link 1. So the peer keeps the highest counter
//!   accepted on any link, and a frame must clear a [`Bar`] set by where the
//!   peer and the link stand:
//!   - link up, peer alive: within [`LINK_LAG_WINDOW`] rounds of that
//!     highest (every round goes out on every link, so a slower link may
//!     deliver a round that a faster one already did);
//!   - link not up (never heard, or down): at least that highest, i.e. the
//!     newest round heard anywhere, or newer;
//!   - peer dead: strictly above that highest, or a new run (restart).
//!
//!   Frames of an older run (before a restart) are always replays. Frames of
//!   the generation before a sequence roll belong to the same run and are
//!   judged by the same bar on the 64-bit counter.

/// Counter advance below which a generation step is a sequence roll.
pub const ROLL_WINDOW: u64 = 1 << 16;

/// How far (in rounds) a link that is up may lag behind the newest round
/// heard from the peer on any link and still count as alive.
pub const LINK_LAG_WINDOW: u64 = 64;

/// How recent a frame of the current run must be to count as a sign of life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bar {
    /// The link is up and the peer alive: within [`LINK_LAG_WINDOW`] of the
    /// peer's highest counter.
    Lagging,
    /// The link is not up: at least the peer's highest counter.
    CurrentRound,
    /// The peer is dead: strictly above its highest counter.
    Newer,
}

/// How a frame's counter relates to the peer's current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// First frame ever heard from the peer.
    First,
    /// Same run as the frames heard so far.
    Current,
    /// A new run: the peer restarted.
    Restarted { old_generation: u32 },
    /// An older run (or a frame too far behind the current one).
    Old,
}

/// The peer's current run: its highest counter and where the run began.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Incarnation {
    highest: Option<u64>,
    /// First counter seen in this run: frames below it from an older
    /// generation are never taken for pre-roll frames of this run.
    floor: u64,
    /// Incremented at each restart, so links know whether their own counter
    /// belongs to the current run.
    pub(crate) number: u32,
}

fn generation_of(counter: u64) -> u32 {
    (counter >> 32) as u32
}

impl Incarnation {
    pub(crate) fn generation(&self) -> Option<u32> {
        self.highest.map(generation_of)
    }

    pub(crate) fn classify(&self, counter: u64, initialising: bool) -> Run {
        let Some(highest) = self.highest else {
            return Run::First;
        };
        let (generation, top) = (generation_of(counter), generation_of(highest));
        if generation == top {
            Run::Current
        } else if generation < top {
            // A pre-roll frame still in flight on a slower link.
            if highest - counter < ROLL_WINDOW && counter >= self.floor {
                Run::Current
            } else {
                Run::Old
            }
        } else if counter - highest < ROLL_WINDOW && !initialising {
            Run::Current
        } else {
            Run::Restarted {
                old_generation: top,
            }
        }
    }

    /// Whether a frame of the current run is recent enough for `bar`. Frames
    /// of a first contact or of a new run always are.
    pub(crate) fn clears(&self, counter: u64, run: Run, bar: Bar) -> bool {
        let Some(highest) = self.highest else {
            return true;
        };
        match run {
            Run::First | Run::Restarted { .. } => true,
            Run::Old => false,
            Run::Current => match bar {
                Bar::Lagging => counter > highest || highest - counter < LINK_LAG_WINDOW,
                Bar::CurrentRound => counter >= highest,
                Bar::Newer => counter > highest,
            },
        }
    }

    /// Records an accepted frame of the given run.
    pub(crate) fn accept(&mut self, counter: u64, run: Run) {
        match run {
            Run::First | Run::Restarted { .. } => {
                if matches!(run, Run::Restarted { .. }) {
                    self.number = self.number.wrapping_add(1);
                }
                self.highest = Some(counter);
                self.floor = counter;
            }
            Run::Current => {
                self.highest = Some(self.highest.map_or(counter, |h| h.max(counter)));
            }
            Run::Old => {}
        }
    }
}

/// What a link's counter check says about a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Rising: `lost` counters were skipped; `adjacent` when it follows the
    /// previous one directly (the inter-arrival time is meaningful).
    Fresh { lost: u64, adjacent: bool },
    /// Below the highest, never seen: reordered.
    Late,
    /// Seen before.
    Duplicate,
    /// Too far below the highest to tell: treated as a replay.
    Stale,
}

/// Per (peer, link): the highest counter and a 64-counter history below it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CounterWindow {
    highest: Option<u64>,
    /// Bit i set = counter `highest - i` was received.
    seen: u64,
    /// First counter of the run on this link: anything below it was never
    /// counted as lost, so it is stale rather than late.
    base: u64,
    /// The peer run `highest` belongs to.
    run: u32,
}

impl CounterWindow {
    /// Judges a frame of the peer's current run `run`. Does not record it.
    pub(crate) fn check(&self, counter: u64, run: u32) -> Check {
        let Some(highest) = self.highest.filter(|_| self.run == run) else {
            // First frame of this run on this link: nothing to compare with.
            return Check::Fresh {
                lost: 0,
                adjacent: false,
            };
        };
        if counter > highest {
            let lost = counter - highest - 1;
            return Check::Fresh {
                lost,
                adjacent: lost == 0,
            };
        }
        let behind = highest - counter;
        if behind >= 64 || counter < self.base {
            Check::Stale
        } else if self.seen & (1 << behind) != 0 {
            Check::Duplicate
        } else {
            Check::Late
        }
    }

    /// Records a frame judged `Fresh` or `Late`.
    pub(crate) fn record(&mut self, counter: u64, run: u32) {
        match self.highest.filter(|_| self.run == run) {
            Some(highest) if counter > highest => {
                let step = counter - highest;
                self.seen = if step >= 64 {
                    1
                } else {
                    (self.seen << step) | 1
                };
                self.highest = Some(counter);
            }
            Some(highest) => {
                let behind = highest - counter;
                if behind < 64 {
                    self.seen |= 1 << behind;
                }
            }
            None => {
                self.highest = Some(counter);
                self.seen = 1;
                self.base = counter;
                self.run = run;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(generation: u32, seq: u32) -> u64 {
        (u64::from(generation) << 32) | u64::from(seq)
    }

    fn incarnation_at(c: u64) -> Incarnation {
        let mut inc = Incarnation::default();
        inc.accept(c, Run::First);
        inc
    }

    #[test]
    fn generation_steps_are_told_apart() {
        let inc = incarnation_at(counter(7, u32::MAX - 3));
        assert_eq!(inc.classify(counter(7, u32::MAX), false), Run::Current);
        assert_eq!(inc.classify(counter(8, 2), false), Run::Current);
        assert_eq!(
            inc.classify(counter(8, 2), true),
            Run::Restarted { old_generation: 7 }
        );
        assert_eq!(inc.classify(counter(6, 10), false), Run::Old);
        let far = incarnation_at(counter(7, 100));
        assert_eq!(
            far.classify(counter(8, 0), false),
            Run::Restarted { old_generation: 7 }
        );
    }

    #[test]
    fn pre_roll_frames_are_current_but_not_before_the_run_began() {
        let mut inc = incarnation_at(counter(7, u32::MAX - 10));
        inc.accept(counter(8, 1), Run::Current);
        assert_eq!(inc.classify(counter(7, u32::MAX - 5), false), Run::Current);
        assert_eq!(inc.classify(counter(7, u32::MAX - 20), false), Run::Old);
    }

    #[test]
    fn the_bar_rises_with_what_the_frame_would_revive() {
        let top = counter(7, 1_000);
        let inc = incarnation_at(top);
        let clears = |c: u64, bar| inc.clears(c, inc.classify(c, false), bar);
        assert!(clears(top - (LINK_LAG_WINDOW - 1), Bar::Lagging));
        assert!(!clears(top - LINK_LAG_WINDOW, Bar::Lagging));
        assert!(clears(top, Bar::CurrentRound));
        assert!(!clears(top - 1, Bar::CurrentRound));
        assert!(!clears(top, Bar::Newer));
        assert!(clears(top + 1, Bar::Newer));
        assert!(!clears(counter(6, 1_000), Bar::Lagging), "older run");
        let restart = counter(8, 0);
        assert!(inc.clears(restart, inc.classify(restart, true), Bar::Newer));
        assert!(Incarnation::default().clears(5, Run::First, Bar::Newer));
    }

    #[test]
    fn a_pre_roll_frame_is_judged_on_the_full_counter() {
        let mut inc = incarnation_at(counter(7, u32::MAX - 1));
        inc.accept(counter(8, 2), Run::Current);
        let pre_roll = counter(7, u32::MAX);
        let run = inc.classify(pre_roll, false);
        assert_eq!(run, Run::Current);
        assert!(inc.clears(pre_roll, run, Bar::Lagging));
        assert!(!inc.clears(pre_roll, run, Bar::CurrentRound));
    }

    #[test]
    fn window_counts_gaps_and_tells_late_from_duplicate() {
        let mut w = CounterWindow::default();
        w.record(10, 0);
        assert_eq!(
            w.check(11, 0),
            Check::Fresh {
                lost: 0,
                adjacent: true
            }
        );
        assert_eq!(
            w.check(14, 0),
            Check::Fresh {
                lost: 3,
                adjacent: false
            }
        );
        w.record(14, 0);
        assert_eq!(w.check(12, 0), Check::Late);
        w.record(12, 0);
        assert_eq!(w.check(12, 0), Check::Duplicate);
        assert_eq!(w.check(14, 0), Check::Duplicate);
        assert_eq!(w.check(10, 0), Check::Duplicate);
        w.record(200, 0);
        assert_eq!(w.check(100, 0), Check::Stale);
        let mut fresh = CounterWindow::default();
        fresh.record(10, 0);
        assert_eq!(
            fresh.check(8, 0),
            Check::Stale,
            "below the link's first counter"
        );
    }

    #[test]
    fn a_new_run_starts_the_window_afresh() {
        let mut w = CounterWindow::default();
        w.record(counter(3, 500), 0);
        assert_eq!(
            w.check(counter(4, 0), 1),
            Check::Fresh {
                lost: 0,
                adjacent: false
            }
        );
    }
}
