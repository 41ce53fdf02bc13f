//! What the detector is told about a received keepalive, and why it may
//! refuse one.
//!
//! The engine maps each decoded, authenticated frame onto an [`Arrival`];
//! the detector never sees wire bytes.

use crate::time::Nanos;

/// A peer (another node), by its index among the configured peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u8);

/// A link, by the index of its media line in ha.cf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u8);

/// The state a peer announces for itself (Heartbeat's init → up → active, and
/// dead when it is leaving on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerStatus {
    Init,
    Up,
    Active,
    /// The peer says it is leaving (graceful shutdown).
    Dead,
}

/// One keepalive received from a peer on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub peer: PeerId,
    pub link: LinkId,
    /// The peer's generation (incremented at each of its starts).
    pub generation: u32,
    /// The peer's sequence number; on wrap it continues with (generation + 1, 0).
    pub seq: u32,
    /// Low 32 bits of the peer's monotonic clock when it sent the frame.
    pub tx_ts: u32,
    /// Our own `tx_ts` as the peer last saw it, aged by its hold time; 0 = none.
    pub echo_ts: u32,
    pub peer_status: PeerStatus,
    /// Kernel receive time on our monotonic clock (never after `now`).
    pub rx_time: Nanos,
}

impl Arrival {
    /// The per-sender counter that must strictly rise: `(generation << 32) | seq`.
    pub fn counter(&self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.seq)
    }
}

/// Why an arrival did not count as a sign of life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("peer {0} is not configured")]
    UnknownPeer(u8),
    #[error("link {0} is not configured")]
    UnknownLink(u8),
    /// Counter already seen on this link, too old to tell, from an older
    /// run of the peer, or not recent enough against the newest counter
    /// heard from the peer on any link (a frame replayed onto another link).
    #[error("replayed or stale frame")]
    Replay,
    /// Counter below the highest seen on this link but never seen before: a
    /// reordered frame. It fills a loss gap in the statistics but, not being
    /// a rising counter, does not refresh liveness.
    #[error("reordered frame arrived after a newer one")]
    Late,
}
