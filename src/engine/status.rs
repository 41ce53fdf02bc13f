//! What a running node reports about itself: the snapshot the beat thread
//! builds on request and the control socket serves as JSON.
//!
//! Plain data with serde derives; nothing here touches the hot path. Times
//! are given as "µs ago" relative to the instant the snapshot was taken, so
//! a reader needs no access to the daemon's monotonic clock.

use serde::{Deserialize, Serialize};

/// The whole status of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub node: NodeSnapshot,
    pub peers: Vec<PeerSnapshot>,
    pub links: Vec<LinkSnapshot>,
    pub io: IoSnapshot,
    /// Detector events the event ring could not take (consumer too slow or
    /// absent); the consumer learns of the gap and asks for a snapshot.
    pub ring_overflows: u64,
    /// Ping nodes and ping groups (empty when ha.cf names none).
    #[serde(default)]
    pub ping: PingStatus,
}

/// What the prober knows of the ping nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PingStatus {
    /// How probes are sent, per address family ("icmp-dgram (IPv4)");
    /// empty when no ping nodes are configured.
    pub method: String,
    pub interval_us: u64,
    /// Silence after which a ping node is unreachable.
    pub deadping_us: u64,
    /// Reachable ping nodes (a group counts once); `None` until known.
    pub reached: Option<u16>,
    pub nodes: Vec<PingNodeSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingNodeSnapshot {
    /// The address of a `ping` node, the name of a `ping_group`.
    pub name: String,
    pub group: bool,
    pub members: Vec<String>,
    /// Heartbeat's words: "ping" (reachable), "dead", or "init" (not
    /// judged yet).
    pub status: String,
    pub last_reply_us_ago: Option<u64>,
    /// Round trip of the last reply, µs.
    pub rtt_us: Option<f64>,
    /// The member that answered last.
    pub last_member: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSnapshot {
    pub name: String,
    pub generation: u32,
    /// Heartbeat's status words: "init", "up", "active", "dead".
    pub state: String,
    /// cl_status rscstatus: what this node announces it holds ("none",
    /// "local", "foreign", "all").
    #[serde(default)]
    pub rscstatus: String,
    pub uptime_us: u64,
    /// The daemon's CLOCK_MONOTONIC (ns) when the snapshot was taken: the
    /// clock is system-wide, so a reader on the same host can date events.
    #[serde(default)]
    pub clock_ns: u64,
    pub pid: u32,
    pub keepalive_us: u64,
    pub deadtime_us: u64,
    pub warntime_us: u64,
    pub initdead_us: u64,
    /// Keepalive rounds sent later than half a keepalive after their deadline.
    pub late_sends: u64,
    /// Worst lateness of a keepalive round, µs.
    pub worst_send_lateness_us: u64,
    /// Keepalive rounds skipped entirely because the loop was stalled
    /// longer than a whole keepalive.
    pub skipped_sends: u64,
    /// The backup sender, which covers for a held-up beat thread.
    #[serde(default)]
    pub backup: BackupSnapshot,
}

/// What the backup sender did (see `engine::backup`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSnapshot {
    /// The core it runs on; `None` when there is none (see `note`).
    pub core: Option<usize>,
    /// Why there is no backup sender, when there is none.
    pub note: String,
    /// Hold-ups of the beat thread it covered.
    pub episodes: u64,
    /// Keepalive rounds it sent.
    pub rounds: u64,
    /// The longest hold-up of the beat thread that ended, µs.
    pub longest_held_up_us: u64,
    /// Hold-ups that reached the cover limit (a stuck beat thread).
    pub gave_up: u64,
    /// Frames the kernel refused.
    pub send_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSnapshot {
    pub name: String,
    /// "pending" (never heard, within initdead), "alive" or "dead".
    pub liveness: String,
    /// Heartbeat's status words for the peer: what it last announced while
    /// alive ("init", "up", "active"), "dead" otherwise.
    pub status: String,
    pub generation: Option<u32>,
    /// µs since the last accepted frame on any link.
    pub last_heard_us_ago: Option<u64>,
    /// µs since the last accepted frame, per link (index = link index).
    pub last_heard_us_ago_by_link: Vec<Option<u64>>,
    /// µs since the beat thread declared the peer dead (the tick that
    /// found deadtime of silence; its timer may fire a little after the
    /// silence reached deadtime), while it is dead.
    #[serde(default)]
    pub declared_dead_us_ago: Option<u64>,
}

/// Percentiles of one histogram, in µs (fractional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkSnapshot {
    pub index: usize,
    /// The medium as ha.cf names it ("ucast lo 127.0.0.1:7702", "serial /dev/ttyS0").
    pub label: String,
    /// ha.cf line the link comes from.
    pub line: usize,
    /// "up" or "dead" (Heartbeat's words for a link).
    pub state: String,
    pub frames_rx: u64,
    pub frames_tx: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub send_errors: u64,
    pub rtt: Percentiles,
    pub interarrival: Percentiles,
    pub jitter: Percentiles,
    /// Frames dropped on this link, by reason (bad_mac, replay, ...).
    pub drops: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoSnapshot {
    /// "io_uring" or "epoll".
    pub backend: String,
    /// Why io_uring is not in use, when it is not.
    pub fallback_reason: Option<String>,
    pub describe: String,
    pub datagrams: u64,
    pub serial_bytes: u64,
    pub link_errors: u64,
}

impl Percentiles {
    /// Reads p50/p99/p99.9/max of a nanosecond histogram.
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Self {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}
