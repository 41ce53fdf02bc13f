//! The awake clock: monotonic time with local stalls cut down.
//!
//! Every service of the detector (an arrival or a tick) advances the awake
//! clock by the real time elapsed since the previous service, but by no more
//! than the stall threshold. While the process runs normally (gaps below the
//! threshold) the awake clock moves with the real clock at a constant offset;
//! a stall only adds the threshold.
//!
//! The clock remembers its last segment (previous service → last service) so
//! that a frame's kernel receive time can be placed on it:
//! - inside a normal segment, exactly (linear);
//! - inside a stalled segment, at the segment's end: we could not observe
//!   anything during the stall, so the frame counts as heard when we woke up;
//! - before the segment, at the segment's start (it should have been drained
//!   by the previous service already).
//!
//! Each choice places a frame no earlier than it could really have been
//! heard in awake time, so it can only delay a death, never invent one.

use crate::time::Nanos;

#[derive(Debug, Clone, Copy)]
pub(crate) struct AwakeClock {
    threshold: Nanos,
    prev_real: Nanos,
    prev_awake: Nanos,
    last_real: Nanos,
    last_awake: Nanos,
}

impl AwakeClock {
    /// Starts at `now` on both clocks, so without stalls awake == real.
    pub(crate) fn new(threshold: Nanos, now: Nanos) -> Self {
        AwakeClock {
            threshold,
            prev_real: now,
            prev_awake: now,
            last_real: now,
            last_awake: now,
        }
    }

    /// Records a service at `now` and returns the awake time. A `now` before
    /// the last service is taken as the last service (time never goes back).
    pub(crate) fn service(&mut self, now: Nanos) -> Nanos {
        if now > self.last_real {
            let credited = (now - self.last_real).min(self.threshold);
            self.prev_real = self.last_real;
            self.prev_awake = self.last_awake;
            self.last_real = now;
            self.last_awake = self.last_awake.saturating_add(credited);
        }
        self.last_awake
    }

    /// Awake time at the last service.
    pub(crate) fn now_awake(&self) -> Nanos {
        self.last_awake
    }

    /// Real time of the last service.
    pub(crate) fn now_real(&self) -> Nanos {
        self.last_real
    }

    /// Places a receive time on the awake clock (see the module doc).
    pub(crate) fn awake_at(&self, rx_time: Nanos) -> Nanos {
        if rx_time <= self.prev_real {
            return self.prev_awake;
        }
        let stalled = self.last_real - self.prev_real > self.threshold;
        if stalled || rx_time >= self.last_real {
            return self.last_awake;
        }
        self.prev_awake + (rx_time - self.prev_real)
    }

    /// The real instant an awake instant at or before now corresponds to,
    /// assuming no stall since: used to date timeouts. Never after now.
    pub(crate) fn real_at(&self, awake: Nanos) -> Nanos {
        let behind = self.last_awake.saturating_sub(awake);
        self.last_real.saturating_sub(behind)
    }

    /// The real instant at which the awake clock reaches `awake`, if the
    /// process is serviced without stalls; `now_real` if already reached.
    pub(crate) fn real_when(&self, awake: Nanos) -> Nanos {
        let ahead = awake.saturating_sub(self.last_awake);
        self.last_real.saturating_add(ahead)
    }

    pub(crate) fn threshold(&self) -> Nanos {
        self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_real_time_without_stalls() {
        let mut c = AwakeClock::new(100, 1_000);
        assert_eq!(c.service(1_050), 1_050);
        assert_eq!(c.service(1_150), 1_150);
        assert_eq!(c.awake_at(1_100), 1_100);
        assert_eq!(c.real_at(1_120), 1_120);
    }

    #[test]
    fn a_stall_counts_only_the_threshold() {
        let mut c = AwakeClock::new(100, 1_000);
        assert_eq!(c.service(11_000), 1_100);
        // Frames received during the stall count as heard when we woke up.
        assert_eq!(c.awake_at(5_000), 1_100);
        // Frames older than the previous service count as heard then.
        assert_eq!(c.awake_at(900), 1_000);
        assert_eq!(c.service(11_050), 1_150);
        assert_eq!(c.awake_at(11_020), 1_120);
    }

    #[test]
    fn time_going_back_is_ignored() {
        let mut c = AwakeClock::new(100, 1_000);
        c.service(1_050);
        assert_eq!(c.service(1_010), 1_050);
        assert_eq!(c.now_real(), 1_050);
    }

    #[test]
    fn repeated_service_at_the_same_instant_keeps_the_segment() {
        let mut c = AwakeClock::new(100, 1_000);
        c.service(1_080);
        c.service(1_080);
        assert_eq!(c.awake_at(1_040), 1_040);
    }
}
