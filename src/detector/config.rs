//! The detector's timing and sizing parameters, and their validation.
//!
//! The `config` module turns ha.cf into these numbers (keepalive, warntime,
//! deadtime, initdead, the node and media lists); this module only checks
//! that the detector can run with them.

use crate::time::Nanos;

/// Timings (all in nanoseconds of the monotonic clock) and sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    /// Interval at which peers send keepalives on every link.
    pub keepalive: Nanos,
    /// Silence after which a `PeerWarn` is raised ("late heartbeat").
    pub warntime: Nanos,
    /// Silence after which a link is down, and a peer silent on every link dead.
    pub deadtime: Nanos,
    /// Replaces `deadtime` for a peer that has never been heard.
    pub initdead: Nanos,
    /// Number of peers (other nodes); indexed by `PeerId(0..peers)`.
    pub peers: usize,
    /// Number of links (media lines of ha.cf); indexed by `LinkId(0..links)`.
    pub links: usize,
    /// A gap between two services of the detector longer than this is a local
    /// stall: only this much of it counts as silence (see the module doc of
    /// `detector`). Must be below `deadtime`.
    pub stall_threshold: Nanos,
}

/// Most peers or links a `u8` id can name.
pub const MAX_IDS: usize = 256;

/// Most (peer, link) pairs: each pair holds three histograms (~200 KiB each).
pub const MAX_PAIRS: usize = 1024;

impl DetectorConfig {
    /// A configuration with the derived values filled in: warntime =
    /// deadtime / 2 (Heartbeat's default), initdead = deadtime, stall
    /// threshold = [`default_stall_threshold`].
    ///
    /// initdead = deadtime is a neutral starting value, *not* Heartbeat's
    /// default (deadtime when above 10 s, 12 s below 6 s, else 2 × deadtime).
    /// That rule belongs to the ha.cf layer (`config::hacf` applies it when
    /// `initdead` is not set) and the engine copies the resulting value into
    /// [`DetectorConfig::initdead`]; a caller building a detector by hand
    /// sets the field itself.
    pub fn new(keepalive: Nanos, deadtime: Nanos, peers: usize, links: usize) -> Self {
        DetectorConfig {
            keepalive,
            warntime: deadtime / 2,
            deadtime,
            initdead: deadtime,
            peers,
            links,
            stall_threshold: default_stall_threshold(keepalive, deadtime),
        }
    }

    /// Checks the values the detector relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keepalive == 0 {
            return Err(ConfigError::ZeroKeepalive);
        }
        if self.deadtime <= self.keepalive {
            return Err(ConfigError::DeadtimeNotAboveKeepalive {
                keepalive: self.keepalive,
                deadtime: self.deadtime,
            });
        }
        if self.warntime == 0 {
            return Err(ConfigError::ZeroWarntime);
        }
        if self.initdead == 0 {
            return Err(ConfigError::ZeroInitdead);
        }
        if self.stall_threshold == 0 || self.stall_threshold >= self.deadtime {
            return Err(ConfigError::StallThreshold {
                stall_threshold: self.stall_threshold,
                deadtime: self.deadtime,
            });
        }
        if self.peers > MAX_IDS || self.links > MAX_IDS {
            return Err(ConfigError::TooManyIds {
                peers: self.peers,
                links: self.links,
            });
        }
        if self.peers.saturating_mul(self.links) > MAX_PAIRS {
            return Err(ConfigError::TooManyPairs {
                pairs: self.peers.saturating_mul(self.links),
            });
        }
        Ok(())
    }
}

/// max(keepalive, deadtime / 4): long enough that a normal tick or a late
/// wake-up is never mistaken for a stall, short enough that a stall can use
/// at most a quarter of the deadtime budget.
pub fn default_stall_threshold(keepalive: Nanos, deadtime: Nanos) -> Nanos {
    keepalive.max(deadtime / 4)
}

/// Why a [`DetectorConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("keepalive must be above zero")]
    ZeroKeepalive,
    #[error("deadtime ({deadtime} ns) must be above keepalive ({keepalive} ns)")]
    DeadtimeNotAboveKeepalive { keepalive: Nanos, deadtime: Nanos },
    #[error("warntime must be above zero")]
    ZeroWarntime,
    #[error("initdead must be above zero")]
    ZeroInitdead,
    #[error(
        "stall threshold ({stall_threshold} ns) must be above zero and below deadtime ({deadtime} ns)"
    )]
    StallThreshold {
        stall_threshold: Nanos,
        deadtime: Nanos,
    },
    #[error("at most 256 peers and 256 links (got {peers} peers, {links} links)")]
    TooManyIds { peers: usize, links: usize },
    #[error("at most {MAX_PAIRS} peer × link pairs (got {pairs})")]
    TooManyPairs { pairs: usize },
    #[error("cannot create a latency histogram: {0}")]
    Histogram(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NANOS_PER_MILLI;

    #[test]
    fn new_fills_warntime_half_deadtime_initdead_deadtime_and_passes_validation() {
        let cfg = DetectorConfig::new(NANOS_PER_MILLI, 40 * NANOS_PER_MILLI, 1, 2);
        assert_eq!(cfg.warntime, 20 * NANOS_PER_MILLI);
        // Not Heartbeat's initdead rule: the ha.cf layer applies that one.
        assert_eq!(cfg.initdead, cfg.deadtime);
        assert_eq!(cfg.stall_threshold, 10 * NANOS_PER_MILLI);
        assert_eq!(cfg.validate(), Ok(()));
    }

    #[test]
    fn stall_threshold_defaults_to_keepalive_when_deadtime_is_short() {
        assert_eq!(default_stall_threshold(100, 300), 100);
    }

    #[test]
    fn rejects_unusable_values() {
        let good = DetectorConfig::new(100, 1_000, 1, 1);
        let cases = [
            DetectorConfig {
                keepalive: 0,
                ..good
            },
            DetectorConfig {
                deadtime: 100,
                ..good
            },
            DetectorConfig {
                warntime: 0,
                ..good
            },
            DetectorConfig {
                initdead: 0,
                ..good
            },
            DetectorConfig {
                stall_threshold: 1_000,
                ..good
            },
            DetectorConfig {
                stall_threshold: 0,
                ..good
            },
            DetectorConfig { peers: 257, ..good },
            DetectorConfig {
                peers: 64,
                links: 64,
                ..good
            },
        ];
        for cfg in cases {
            assert!(cfg.validate().is_err(), "{cfg:?} should be refused");
        }
    }
}
