//! Staying awake while a verdict may come.
//!
//! Waking a sleeping thread costs 30–90 µs on a virtual machine (the idle
//! vCPU has to be rescheduled by the host), and a takeover needs two such
//! wake-ups: the takeover process by the beat thread, then a group worker
//! by the takeover process. With a 1 ms deadtime that was a tenth of the
//! failover. A late heartbeat (`PeerWarn`, at warntime) says a verdict may
//! follow within `deadtime - warntime`: for that window, and only when it
//! is short, the takeover process and the group workers poll instead of
//! sleeping, so the verdict finds them running.
//!
//! Bounded: at most [`MAX_WINDOW`] plus [`MARGIN`] per late heartbeat, and
//! the verdict (or a dead peer's return) ends it; a worker stops polling
//! once it has its job. The polling loops yield rather than spin, so a
//! thread of the same priority waiting for the core gets it. Longer windows (Heartbeat's
//! default timings) sleep as before: there the wake-up is lost in the noise.

use crate::time::Nanos;

/// Windows longer than this are slept through.
pub const MAX_WINDOW: Nanos = 2_000_000;
/// Past the expected verdict: the beat thread's timer may fire late, on a
/// busy virtual machine by hundreds of µs (a margin of 200 µs let the
/// pollers fall asleep just before late verdicts there, and each takeover
/// then paid two thread wake-ups). A false alarm (the peer heard again
/// after the warning, which is no event) costs the whole bound: at most
/// 2.5 ms of polling per late heartbeat, on two threads.
pub const MARGIN: Nanos = 2_000_000;

/// Until when to stay awake after a `PeerWarn` raised at `at` after
/// `silent_for` of silence, with `deadtime`; `None` when the window is too
/// long to poll through (or the verdict is already due).
pub fn awake_until(at: Nanos, silent_for: Nanos, deadtime: Nanos) -> Option<Nanos> {
    let window = deadtime.checked_sub(silent_for)?;
    (window <= MAX_WINDOW).then(|| at.saturating_add(window).saturating_add(MARGIN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: Nanos = 1_000;
    const MS: Nanos = 1_000_000;

    #[test]
    fn a_short_window_is_polled_through_to_just_past_the_verdict() {
        // keepalive 100 µs, warntime 500 µs, deadtime 1 ms.
        assert_eq!(
            awake_until(10 * MS, 500 * US, MS),
            Some(10 * MS + 500 * US + MARGIN)
        );
    }

    #[test]
    fn heartbeat_timings_are_slept_through() {
        // Heartbeat's defaults: warntime 10 s, deadtime 30 s; and 5/10 ms.
        assert_eq!(awake_until(MS, 10_000 * MS, 30_000 * MS), None);
        assert_eq!(awake_until(MS, 5 * MS, 10 * MS), None);
    }

    proptest! {
        #[test]
        fn never_longer_than_the_bound(at in 0u64..u64::MAX, silent in 0u64..u64::MAX, dead in 0u64..u64::MAX) {
            if let Some(until) = awake_until(at, silent, dead) {
                prop_assert!(until >= at);
                prop_assert!(until - at <= MAX_WINDOW + MARGIN);
            }
        }
    }
}
