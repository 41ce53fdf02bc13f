//! What the cluster state machine hands back: actions for the engine to
//! carry out, the per-group owner, Heartbeat's rscstatus, and the log of
//! decisions with their reasons.

use std::fmt;

use super::message::{Kind, Message};
use crate::time::Nanos;

/// Something the engine must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start group `i` (left to right); report with `start_result`.
    StartGroup(usize),
    /// Stop group `i` (right to left); report with `stop_result`.
    StopGroup(usize),
    /// Send this message to the peer (encode with [`Message::encode`]).
    Send(Message),
    /// Run the configured fencing command (a stop failed).
    RunFence,
}

/// Who holds a group, as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Us,
    Peer,
    None,
    /// We are starting or stopping it.
    Transition,
}

/// Heartbeat's `cl_status rscstatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RscStatus {
    None,
    /// Some of our home groups, none of the peer's.
    Local,
    /// Some of the peer's home groups, none of ours.
    Foreign,
    /// Groups of both homes (or every group when all share one home).
    All,
    Transition,
}

impl RscStatus {
    pub fn name(self) -> &'static str {
        match self {
            RscStatus::None => "none",
            RscStatus::Local => "local",
            RscStatus::Foreign => "foreign",
            RscStatus::All => "all",
            RscStatus::Transition => "transition",
        }
    }
}

/// Operator request scope, as hb_standby / hb_takeover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Groups whose home is this node.
    Local,
    /// Groups whose home is the peer.
    Foreign,
}

/// Why an operator request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("standby is not supported with auto_failback legacy")]
    LegacyStandby,
    #[error("the peer is not up: nobody to hand the groups to")]
    PeerNotUp,
    #[error("this node is still starting or is shutting down")]
    NotRunning,
}

/// One decision and why it was taken, for the daemon's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub at: Nanos,
    pub what: Why,
}

/// The reasons, one variant per rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// initdead passed; `peer_heard` says whether the peer was alive.
    InitDeadPassed {
        peer_heard: bool,
    },
    /// The startup exchange is done: the peer's holdings are known.
    PeerStateKnown,
    PeerAlive {
        generation: u32,
        restarted: bool,
    },
    /// Peer declared dead: we take everything (both nodes do if this is a
    /// partition: split brain).
    PeerDead,
    PeerLeaving,
    TakeHome {
        group: usize,
    },
    TakePeerDead {
        group: usize,
    },
    TakePeerAbsent {
        group: usize,
    },
    TakePeerLeft {
        group: usize,
    },
    /// A free group this node is designated for (home, or the peer cannot).
    TakeFree {
        group: usize,
    },
    ReleasePingWorse {
        group: usize,
        ours: u16,
        peers: u16,
    },
    ReleaseStandby {
        group: usize,
    },
    ReleaseFailback {
        group: usize,
    },
    /// Both nodes hold the group; the rule picked `we_keep`.
    SplitBrainResolved {
        group: usize,
        we_keep: bool,
    },
    Started {
        group: usize,
    },
    Stopped {
        group: usize,
    },
    /// Start failed; the runner stopped what it started. `peer_can_take`.
    StartFailed {
        group: usize,
        peer_can_take: bool,
    },
    /// Stop failed and the resource still runs: unclean.
    StopFailed {
        group: usize,
    },
    /// Not taken although the peer is gone: it held the group while
    /// unclean, so the group may still run there.
    PeerUncleanHeld {
        group: usize,
    },
    UncleanCleared,
    /// A restarted takeover process was told the node is unclean.
    UncleanRestored,
    /// A restarted takeover process found the group running.
    Adopted {
        group: usize,
    },
    /// ... found it partly running: its start is completed.
    AdoptedPartial {
        group: usize,
    },
    /// The peer's takeover process restarted (a later message epoch).
    PeerAgentRestarted {
        epoch: u8,
    },
    Standby {
        groups: u64,
    },
    Takeover {
        groups: u64,
    },
    PeerRequested {
        groups: u64,
    },
    PeerOffered {
        groups: u64,
    },
    /// The peer acknowledged our request or offer.
    PeerAcked {
        kind: Kind,
    },
    ShutdownStarted,
    /// Every group we could stop is stopped; the peer was told.
    ShutdownReleased,
    HaresourcesMismatch {
        ours: u64,
        peers: u64,
    },
    BadMessage(super::message::DecodeError),
    /// A result for a group that was not starting / stopping.
    UnexpectedResult {
        group: usize,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::InitDeadPassed { peer_heard: false } => {
                write!(
                    f,
                    "initdead passed without hearing the peer: taking every group"
                )
            }
            Why::InitDeadPassed { peer_heard: true } => write!(
                f,
                "initdead passed; the peer is alive but sent no usable state: taking our home groups"
            ),
            Why::PeerStateKnown => write!(f, "peer's holdings received"),
            Why::PeerAlive {
                generation,
                restarted,
            } => write!(
                f,
                "peer alive (generation {generation}{})",
                if *restarted { ", restarted" } else { "" }
            ),
            Why::PeerDead => write!(
                f,
                "PEER DEAD: taking every group it held and every free group (if this is a partition, both nodes are now active: split brain)"
            ),
            Why::PeerLeaving => write!(f, "peer is shutting down and released its groups"),
            Why::TakeHome { group } => write!(
                f,
                "group {group}: taking our home group, the peer does not hold it"
            ),
            Why::TakePeerDead { group } => {
                write!(f, "group {group}: taking over from the dead peer")
            }
            Why::TakePeerAbsent { group } => {
                write!(f, "group {group}: taking it, the peer never appeared")
            }
            Why::TakePeerLeft { group } => write!(f, "group {group}: taking it, the peer left"),
            Why::TakeFree { group } => write!(
                f,
                "group {group}: free and this node is designated to run it"
            ),
            Why::ReleasePingWorse { group, ours, peers } => write!(
                f,
                "group {group}: giving it to the peer, which reaches {peers} ping nodes to our {ours}"
            ),
            Why::ReleaseStandby { group } => {
                write!(f, "group {group}: giving it to the peer (standby/takeover)")
            }
            Why::ReleaseFailback { group } => write!(
                f,
                "group {group}: auto_failback, returning it to its home node"
            ),
            Why::SplitBrainResolved { group, we_keep } => write!(
                f,
                "SPLIT BRAIN: both nodes held group {group}; {}",
                if *we_keep {
                    "we keep it, the peer stops it"
                } else {
                    "we stop it, the peer keeps it"
                }
            ),
            Why::Started { group } => write!(f, "group {group}: started"),
            Why::Stopped { group } => write!(f, "group {group}: stopped"),
            Why::StartFailed {
                group,
                peer_can_take,
            } => write!(
                f,
                "group {group}: start failed; {}",
                if *peer_can_take {
                    "giving it to the peer"
                } else {
                    "the peer cannot take it: left stopped"
                }
            ),
            Why::StopFailed { group } => write!(
                f,
                "group {group}: stop failed and it still runs: node unclean, claiming nothing until an operator clears it"
            ),
            Why::PeerUncleanHeld { group } => write!(
                f,
                "group {group}: NOT taking it: a stop failed on the peer (unclean) and it may still run there; clear the unclean mark here once it is gone there"
            ),
            Why::UncleanCleared => write!(f, "operator cleared the unclean mark"),
            Why::UncleanRestored => write!(
                f,
                "node unclean (a stop failed before this takeover process started): claiming nothing until an operator clears it"
            ),
            Why::Adopted { group } => write!(
                f,
                "group {group}: found running by its status checks, adopted (nothing started again)"
            ),
            Why::AdoptedPartial { group } => write!(
                f,
                "group {group}: found partly running, completing its start (what runs is not started again)"
            ),
            Why::PeerAgentRestarted { epoch } => write!(
                f,
                "peer's takeover process restarted (epoch {epoch}): announcing our state to it"
            ),
            Why::Standby { groups } => {
                write!(f, "standby: offering groups {groups:#x} to the peer")
            }
            Why::Takeover { groups } => {
                write!(f, "takeover: asking the peer for groups {groups:#x}")
            }
            Why::PeerRequested { groups } => write!(f, "peer asked for groups {groups:#x}"),
            Why::PeerOffered { groups } => write!(f, "peer offered groups {groups:#x}"),
            Why::PeerAcked { kind } => write!(f, "peer acknowledged our {kind:?}"),
            Why::ShutdownStarted => write!(f, "shutting down: releasing groups in reverse order"),
            Why::ShutdownReleased => write!(f, "shutdown: groups released, peer told"),
            Why::HaresourcesMismatch { ours, peers } => write!(
                f,
                "haresources differ between the nodes (hash {ours:#x} here, {peers:#x} on the peer): ignoring its resource messages"
            ),
            Why::BadMessage(e) => write!(f, "bad cluster message: {e}"),
            Why::UnexpectedResult { group } => write!(
                f,
                "group {group}: result for an action not in progress, ignored"
            ),
        }
    }
}
