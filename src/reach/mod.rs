//! Ping nodes and ping groups: whether this node reaches them.
//!
//! - [`tracker`]: sans-IO — replies and time in, each target's reach and
//!   the reach count out; the probe schedule.
//! - [`probe`]: the bytes of an ICMP echo and of every probe's payload.
//! - [`prober`]: the thread in the daemon that sends probes and reads
//!   replies (ICMP datagram socket, raw socket, or UDP), never the beat
//!   thread.
//!
//! The count flows prober → channel → beat thread → event ring (a
//! [`ReachReport`] record) → takeover process → the cluster's
//! `set_ping_reach`, which carries it to the peer and decides who may hold
//! groups: a node that reaches fewer ping nodes than its peer gives its
//! groups up and takes none (Heartbeat's ipfail, built in).

pub mod probe;
pub mod prober;
pub mod tracker;

pub use prober::{Method, ProberSetup, ReachView, spawn_prober};
pub use tracker::{Pace, Reach, ReachConfig, Target, TargetState, Tracker};

use crate::time::Nanos;

/// The reach count at a moment, as it travels to the takeover process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReachReport {
    pub at: Nanos,
    /// Targets reachable now (a ping group counts once).
    pub reached: u16,
    /// Targets configured.
    pub configured: u16,
}
