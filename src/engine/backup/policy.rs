//! When the backup sender sends: a pure decision over two clocks, the
//! beat thread's last keepalive round and now, tested in virtual time.
//!
//! The rules:
//! - While the beat thread is on time, the backup sender only looks: it
//!   wakes `check` after the beat thread's last round (`max(2 × keepalive,
//!   deadtime / 4)`, so the peer never sees a gap longer than about a
//!   quarter of its deadtime from this node) and goes back to sleep.
//! - Once the last round is `2 × keepalive` old, the beat thread is held
//!   up: the backup sender sends a round at once and then one per
//!   keepalive, until the beat thread sends again.
//! - It covers at most [`COVER_LIMIT`]. A beat thread silent that long is
//!   not waiting for a stolen core but stuck; the backup stops so that the
//!   peer sees this node as it is, and says so.

use crate::time::{NANOS_PER_MILLI, Nanos};

/// The longest hold-up of the beat thread the backup sender covers.
/// Hypervisor steal on a busy VM stops a vCPU for tens of milliseconds;
/// a second is far beyond that.
pub const COVER_LIMIT: Nanos = 1_000 * NANOS_PER_MILLI;

/// The cover's timings, from ha.cf's keepalive and deadtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoverTimings {
    pub keepalive: Nanos,
    /// How long after the beat thread's last round the backup looks again.
    pub check: Nanos,
    /// Age of the last round at which the beat thread counts as held up.
    pub late_after: Nanos,
    /// See [`COVER_LIMIT`].
    pub limit: Nanos,
}

impl CoverTimings {
    pub fn new(keepalive: Nanos, deadtime: Nanos) -> Self {
        let keepalive = keepalive.max(1);
        let late_after = keepalive.saturating_mul(2);
        CoverTimings {
            keepalive,
            check: late_after.max(deadtime / 4),
            late_after,
            limit: COVER_LIMIT,
        }
    }
}

/// What happened to a hold-up, for the log and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The beat thread sent again after `held_up` without a round; the
    /// backup sent `rounds` meanwhile.
    Ended {
        held_up: Nanos,
        rounds: u64,
        gave_up: bool,
    },
    /// The hold-up reached the limit: the backup stops sending.
    GaveUp { held_up: Nanos, rounds: u64 },
}

/// One decision: send a round now or not, when to look again, and what
/// to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub send: bool,
    pub wake_at: Nanos,
    pub report: Option<Report>,
    /// A hold-up began at this step.
    pub started: bool,
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    /// The beat thread's last round before the hold-up.
    since: Nanos,
    rounds: u64,
    gave_up: bool,
}

/// The backup sender's state between wake-ups.
#[derive(Debug, Clone)]
pub struct Cover {
    t: CoverTimings,
    episode: Option<Episode>,
    next_send: Nanos,
}

impl Cover {
    pub fn new(t: CoverTimings) -> Self {
        Cover {
            t,
            episode: None,
            next_send: 0,
        }
    }

    pub fn timings(&self) -> CoverTimings {
        self.t
    }

    /// Whether a hold-up is being covered (or was given up on) right now.
    pub fn covering(&self) -> bool {
        self.episode.is_some()
    }

    /// Decides at `now`, given the beat thread's last round (`None`
    /// before its first: nothing to cover yet).
    pub fn step(&mut self, now: Nanos, last_round: Option<Nanos>) -> Step {
        let t = self.t;
        let Some(last) = last_round else {
            return Step {
                send: false,
                wake_at: now.saturating_add(t.check),
                report: None,
                started: false,
            };
        };
        let silent = now.saturating_sub(last);
        // A round since the episode began ends it, even if the beat thread
        // is late again already.
        let ended = match self.episode {
            Some(e) if e.since != last => {
                self.episode = None;
                Some(Report::Ended {
                    held_up: last.saturating_sub(e.since),
                    rounds: e.rounds,
                    gave_up: e.gave_up,
                })
            }
            _ => None,
        };
        if silent < t.late_after {
            let ended = ended.or_else(|| {
                self.episode.take().map(|e| Report::Ended {
                    held_up: last.saturating_sub(e.since),
                    rounds: e.rounds,
                    gave_up: e.gave_up,
                })
            });
            return Step {
                send: false,
                wake_at: last.saturating_add(t.check).max(now.saturating_add(1)),
                report: ended,
                started: false,
            };
        }
        let started = self.episode.is_none();
        if started {
            self.next_send = now;
        }
        let episode = self.episode.get_or_insert(Episode {
            since: last,
            rounds: 0,
            gave_up: false,
        });
        if silent > t.limit {
            let report = (!episode.gave_up).then(|| {
                episode.gave_up = true;
                Report::GaveUp {
                    held_up: silent,
                    rounds: episode.rounds,
                }
            });
            return Step {
                send: false,
                wake_at: now.saturating_add(t.check),
                report: ended.or(report),
                started,
            };
        }
        let send = now >= self.next_send;
        if send {
            episode.rounds += 1;
            self.next_send = self.next_send.saturating_add(t.keepalive);
            if self.next_send <= now {
                // Woken late: the missed rounds prove nothing, skip them.
                let missed = (now - self.next_send) / t.keepalive + 1;
                self.next_send = self.next_send.saturating_add(missed * t.keepalive);
            }
        }
        Step {
            send,
            wake_at: self.next_send,
            report: ended,
            started,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NANOS_PER_MICRO;

    const US: Nanos = NANOS_PER_MICRO;

    fn cover() -> Cover {
        // keepalive 200 µs, deadtime 2 ms: check 500 µs, late after 400 µs.
        Cover::new(CoverTimings::new(200 * US, 2_000 * US))
    }

    #[test]
    fn timings_follow_keepalive_and_deadtime() {
        let t = CoverTimings::new(200 * US, 2_000 * US);
        assert_eq!((t.check, t.late_after), (500 * US, 400 * US));
        let t = CoverTimings::new(100 * US, 300 * US);
        assert_eq!(
            t.check,
            200 * US,
            "never looks more often than 2 keepalives"
        );
    }

    #[test]
    fn nothing_to_cover_before_the_first_round() {
        let mut c = cover();
        let s = c.step(10_000 * US, None);
        assert!(!s.send);
        assert_eq!(s.wake_at, 10_500 * US);
    }

    #[test]
    fn an_on_time_beat_thread_is_only_watched() {
        let mut c = cover();
        let mut last = 1_000 * US;
        let mut now = 1_000 * US;
        for _ in 0..100 {
            let s = c.step(now, Some(last));
            assert!(!s.send && s.report.is_none() && !s.started);
            assert_eq!(s.wake_at, last + 500 * US);
            now = s.wake_at;
            // The beat thread went on sending every 200 µs meanwhile.
            last = now - 100 * US;
        }
        assert!(!c.covering());
    }

    #[test]
    fn a_held_up_beat_thread_is_covered_every_keepalive_until_it_sends() {
        let mut c = cover();
        let last = 1_000 * US;
        // First look: 500 µs after the last round, already late.
        let s = c.step(1_500 * US, Some(last));
        assert!(s.send && s.started);
        assert_eq!(s.wake_at, 1_700 * US);
        let mut now = s.wake_at;
        let mut sent = 1;
        while now < 30_000 * US {
            let s = c.step(now, Some(last));
            assert!(s.send, "a round every keepalive at {now}");
            assert_eq!(s.wake_at, now + 200 * US);
            sent += 1;
            now = s.wake_at;
        }
        // The beat thread is back.
        let s = c.step(now + 10 * US, Some(now));
        assert!(!s.send);
        assert_eq!(
            s.report,
            Some(Report::Ended {
                held_up: now - last,
                rounds: sent,
                gave_up: false,
            })
        );
        assert!(!c.covering());
    }

    #[test]
    fn a_late_wake_up_skips_the_missed_rounds() {
        let mut c = cover();
        let s = c.step(1_500 * US, Some(1_000 * US));
        assert!(s.send);
        // The backup's own core stalled for 5 ms.
        let s = c.step(6_700 * US, Some(1_000 * US));
        assert!(s.send);
        assert!(s.wake_at > 6_700 * US && s.wake_at <= 6_900 * US);
    }

    #[test]
    fn a_beat_thread_late_again_right_after_one_round_starts_a_new_hold_up() {
        let mut c = cover();
        assert!(c.step(1_500 * US, Some(1_000 * US)).send);
        // It sent one round at 1.6 ms and stalled again; we look at 2.1 ms.
        let s = c.step(2_100 * US, Some(1_600 * US));
        assert!(s.send && s.started);
        assert_eq!(
            s.report,
            Some(Report::Ended {
                held_up: 600 * US,
                rounds: 1,
                gave_up: false
            })
        );
    }

    #[test]
    fn a_stuck_beat_thread_is_given_up_on_after_the_limit() {
        let mut c = cover();
        let last = 1_000 * US;
        let mut now = 1_500 * US;
        let mut gave_up = None;
        while now < last + 2 * COVER_LIMIT {
            let s = c.step(now, Some(last));
            if now - last > COVER_LIMIT {
                assert!(!s.send, "no round past the limit");
            } else {
                assert!(s.send);
            }
            if let Some(Report::GaveUp { held_up, .. }) = s.report {
                assert!(gave_up.is_none(), "said once");
                assert!(held_up > COVER_LIMIT);
                gave_up = Some(now);
            }
            now = s.wake_at;
        }
        assert!(gave_up.is_some());
        let s = c.step(now, Some(now));
        assert!(matches!(
            s.report,
            Some(Report::Ended { gave_up: true, .. })
        ));
    }
}
