//! Per (peer, link) statistics: counters and latency histograms.
//!
//! The histograms have fixed bounds (1 ns .. 60 s, 3 significant digits) and
//! no auto-resize, so recording never allocates; values out of range are
//! clamped to the bounds.

use hdrhistogram::Histogram;

use super::config::ConfigError;
use crate::time::{NANOS_PER_SEC, Nanos};

/// Highest value the histograms track; larger values are clamped to it.
pub const HISTOGRAM_HIGHEST: u64 = 60 * NANOS_PER_SEC;
/// Significant digits of the histograms.
pub const HISTOGRAM_SIGFIG: u8 = 3;
/// An RTT at or above this is implausible (a stale or corrupt echo).
pub const RTT_PLAUSIBLE_BELOW: u64 = 4 * NANOS_PER_SEC;

/// What one link has seen of one peer. Read-only outside the detector.
#[derive(Debug, Clone)]
pub struct LinkStats {
    /// Frames accepted (rising counter).
    pub frames_received: u64,
    /// Frames we sent on this link (`Detector::note_sent`).
    pub frames_sent: u64,
    /// Counters skipped in the peer's sequence and not (yet) arrived late.
    pub lost: u64,
    /// Frames that arrived after a newer one (rejected as `Late`).
    pub reordered: u64,
    /// Frames whose counter had already been received (rejected as `Replay`).
    pub duplicates: u64,
    /// Every `Replay` rejection: duplicates, counters too old to tell,
    /// frames of an older run, and frames too far behind the newest counter
    /// heard from the peer on any link.
    pub rejected_replay: u64,
    /// Echoes giving an RTT of 4 s or more, not recorded.
    pub rtt_implausible: u64,
    /// Receive time of the last accepted frame.
    pub last_heard: Option<Nanos>,
    /// Link currently up (heard within deadtime).
    pub up: bool,
    /// Time between consecutive frames (adjacent counters only, so a loss
    /// does not show up as a long interval).
    pub interarrival: Histogram<u64>,
    /// |inter-arrival − keepalive|.
    pub jitter: Histogram<u64>,
    /// Round-trip time from the peer's echo of our timestamp.
    pub rtt: Histogram<u64>,
}

fn histogram() -> Result<Histogram<u64>, ConfigError> {
    let mut h = Histogram::new_with_bounds(1, HISTOGRAM_HIGHEST, HISTOGRAM_SIGFIG)
        .map_err(|e| ConfigError::Histogram(format!("{e:?}")))?;
    h.auto(false);
    Ok(h)
}

impl LinkStats {
    pub(crate) fn new() -> Result<Self, ConfigError> {
        Ok(LinkStats {
            frames_received: 0,
            frames_sent: 0,
            lost: 0,
            reordered: 0,
            duplicates: 0,
            rejected_replay: 0,
            rtt_implausible: 0,
            last_heard: None,
            up: false,
            interarrival: histogram()?,
            jitter: histogram()?,
            rtt: histogram()?,
        })
    }

    pub(crate) fn record_interarrival(&mut self, interval: Nanos, keepalive: Nanos) {
        self.interarrival.saturating_record(interval);
        self.jitter.saturating_record(interval.abs_diff(keepalive));
    }

    /// `rtt` as computed with wrapping u32 arithmetic from an echo.
    pub(crate) fn record_rtt(&mut self, rtt: u32) {
        let rtt = u64::from(rtt);
        if rtt < RTT_PLAUSIBLE_BELOW {
            self.rtt.saturating_record(rtt);
        } else {
            self.rtt_implausible = self.rtt_implausible.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_saturate_instead_of_growing() {
        let mut s = LinkStats::new().expect("fixed bounds are valid");
        let before = s.interarrival.distinct_values();
        s.record_interarrival(10 * HISTOGRAM_HIGHEST, 1_000);
        assert_eq!(s.interarrival.distinct_values(), before);
        assert_eq!(s.interarrival.len(), 1);
        assert!(s.interarrival.max() >= HISTOGRAM_HIGHEST / 2);
    }

    #[test]
    fn implausible_rtt_is_counted_not_recorded() {
        let mut s = LinkStats::new().expect("fixed bounds are valid");
        s.record_rtt(u32::MAX);
        s.record_rtt(40_000);
        assert_eq!(s.rtt_implausible, 1);
        assert_eq!(s.rtt.len(), 1);
    }
}
