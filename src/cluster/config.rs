//! What the cluster state machine needs to know about the pair: the groups
//! in haresources order with their home, the failback mode, the timers.

use thiserror::Error;

use super::mask::{GroupMask, MAX_GROUPS};
use crate::config::{AutoFailback, Config};
use crate::time::{NANOS_PER_MILLI, Nanos};

/// Which node haresources names as a group's home.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Home {
    Me,
    Peer,
    /// A node that is neither of the pair (ha.cf lists more than two).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The group's first resource, as [`crate::config::ResourceGroup::key`].
    pub key: String,
    pub home_node: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub me: String,
    pub peer: String,
    /// haresources order: index `i` is group `i` in every action and mask.
    pub groups: Vec<GroupSpec>,
    pub auto_failback: AutoFailback,
    /// `ping` or `ping_group` lines exist: ping reach decides eligibility.
    pub pings_configured: bool,
    /// How long to wait for the peer at startup.
    pub initdead: Nanos,
    /// Resend an unacknowledged message after this long.
    pub retransmit: Nanos,
    /// Ask for [`super::Action::RunFence`] when a stop fails.
    pub fence_on_stop_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClusterConfigError {
    #[error("haresources has {0} groups; twinbeat supports at most {MAX_GROUPS}")]
    TooManyGroups(usize),
    #[error("ha.cf names no peer for {0}: the cluster protocol needs a pair")]
    NoPeer(String),
}

/// Default pause before an unacknowledged message is resent.
pub const DEFAULT_RETRANSMIT: Nanos = 50 * NANOS_PER_MILLI;

impl ClusterConfig {
    /// From the loaded configuration; `retransmit` is how long to wait for
    /// an ack (a few keepalive round trips is sensible).
    pub fn from_config(cfg: &Config, retransmit: Nanos) -> Result<Self, ClusterConfigError> {
        let peer = cfg
            .peer
            .clone()
            .ok_or_else(|| ClusterConfigError::NoPeer(cfg.node.clone()))?;
        let groups: Vec<GroupSpec> = cfg
            .groups
            .iter()
            .map(|g| GroupSpec {
                key: g.key(),
                home_node: g.home_node.clone(),
            })
            .collect();
        if groups.len() > MAX_GROUPS {
            return Err(ClusterConfigError::TooManyGroups(groups.len()));
        }
        Ok(ClusterConfig {
            me: cfg.node.clone(),
            peer,
            groups,
            auto_failback: cfg.hacf.auto_failback.value,
            pings_configured: !cfg.hacf.pings.is_empty() || !cfg.hacf.ping_groups.is_empty(),
            initdead: u64::try_from(cfg.hacf.initdead.value.as_nanos()).unwrap_or(u64::MAX),
            retransmit,
            fence_on_stop_failure: false,
        })
    }

    pub fn validate(&self) -> Result<(), ClusterConfigError> {
        if self.groups.len() > MAX_GROUPS {
            return Err(ClusterConfigError::TooManyGroups(self.groups.len()));
        }
        Ok(())
    }

    pub fn home(&self, group: usize) -> Home {
        match self.groups.get(group) {
            Some(g) if g.home_node == self.me => Home::Me,
            Some(g) if g.home_node == self.peer => Home::Peer,
            _ => Home::Other,
        }
    }

    pub fn all(&self) -> GroupMask {
        GroupMask::first(self.groups.len())
    }

    /// Groups whose home is this node.
    pub fn home_mine(&self) -> GroupMask {
        self.mask_where(Home::Me)
    }

    /// Groups whose home is the peer.
    pub fn home_peers(&self) -> GroupMask {
        self.mask_where(Home::Peer)
    }

    fn mask_where(&self, home: Home) -> GroupMask {
        let mut m = GroupMask::EMPTY;
        for i in 0..self.groups.len() {
            if self.home(i) == home {
                m.insert(i);
            }
        }
        m
    }
}

/// FNV-1a over every group's home node and key, in order: two nodes with
/// different haresources (order included) get different hashes.
pub fn haresources_hash(groups: &[GroupSpec]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for g in groups {
        eat(g.home_node.as_bytes());
        eat(&[0]);
        eat(g.key.as_bytes());
        eat(&[0xff]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(home: &str, key: &str) -> GroupSpec {
        GroupSpec {
            key: key.into(),
            home_node: home.into(),
        }
    }

    #[test]
    fn hash_changes_with_order_home_and_key() {
        let a = [spec("alpha", "IPaddr::10.0.0.1"), spec("bravo", "httpd")];
        let base = haresources_hash(&a);
        assert_eq!(base, haresources_hash(&a.clone()));
        assert_ne!(base, haresources_hash(&[a[1].clone(), a[0].clone()]));
        assert_ne!(
            base,
            haresources_hash(&[spec("bravo", "IPaddr::10.0.0.1"), a[1].clone()])
        );
        assert_ne!(
            base,
            haresources_hash(&[a[0].clone(), spec("bravo", "httpd2")])
        );
        // Field boundaries matter: "ab"+"c" is not "a"+"bc".
        assert_ne!(
            haresources_hash(&[spec("ab", "c")]),
            haresources_hash(&[spec("a", "bc")])
        );
    }
}
