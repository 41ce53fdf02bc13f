//! The backup sender: keepalives from a second core while the beat thread
//! is held up.
//!
//! Why it exists: on a virtual machine the hypervisor can stop running one
//! vCPU for tens of milliseconds (steal; measured by `tools/soak`, see
//! bench-results/soak.md). The beat thread pinned to that vCPU sends
//! nothing meanwhile, SCHED_FIFO or not, and the peer — which cannot tell
//! a node whose core is not running from a dead node — declares it dead
//! after deadtime and takes its groups while its services still run on
//! the other cores. The detector's awake-time rule protects a node from
//! its *own* stalls; the backup sender protects its peer from them.
//!
//! What it does not mask: a dead process sends nothing (kill -9), a stopped
//! process stops this thread too (SIGSTOP), a cut link fails its sends, and
//! a beat thread stuck for [`policy::COVER_LIMIT`] is given up on loudly.
//! Only the loss of the beat thread's core for less than that is covered.
//!
//! Parts: [`policy`] decides when to send (pure, virtual time), [`shared`]
//! holds what the beat thread publishes (lock-free), [`sender`] is the
//! thread that sends. ha.cf's `beat_backup_core N|off` places it (default:
//! the first core that is not the beat thread's; none on a one-core host).

pub mod policy;
pub mod sender;
pub mod shared;

pub use policy::{COVER_LIMIT, Cover, CoverTimings, Report, Step};
pub use sender::{BackupLink, BackupSender, Identity};
pub use shared::BeatShared;

use crate::config::BackupCore;

/// The core the backup sender runs on, or why there is none.
pub fn choose_core(
    setting: Option<BackupCore>,
    beat_core: Option<usize>,
    cores: &[usize],
) -> Result<usize, String> {
    match setting {
        Some(BackupCore::Off) => Err("beat_backup_core off".into()),
        Some(BackupCore::Core(c)) if Some(c) == beat_core => Err(format!(
            "beat_backup_core {c} is the beat thread's own core: a backup there would stall with it"
        )),
        Some(BackupCore::Core(c)) if !cores.contains(&c) => Err(format!(
            "beat_backup_core {c}: no such core (this host has {cores:?})"
        )),
        Some(BackupCore::Core(c)) => Ok(c),
        None => cores
            .iter()
            .copied()
            .find(|&c| Some(c) != beat_core)
            .ok_or_else(|| "this host has one core: nowhere to run a backup sender".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_first_other_core() {
        assert_eq!(choose_core(None, Some(1), &[0, 1]), Ok(0));
        assert_eq!(choose_core(None, Some(0), &[0, 1, 2]), Ok(1));
        assert_eq!(choose_core(None, None, &[0, 1]), Ok(0));
        assert!(
            choose_core(None, Some(0), &[0])
                .unwrap_err()
                .contains("one core")
        );
    }

    #[test]
    fn an_explicit_core_is_checked() {
        assert_eq!(
            choose_core(Some(BackupCore::Core(2)), Some(0), &[0, 1, 2]),
            Ok(2)
        );
        assert!(
            choose_core(Some(BackupCore::Core(1)), Some(1), &[0, 1])
                .unwrap_err()
                .contains("own core")
        );
        assert!(
            choose_core(Some(BackupCore::Core(7)), Some(1), &[0, 1])
                .unwrap_err()
                .contains("no such core")
        );
        assert!(choose_core(Some(BackupCore::Off), Some(1), &[0, 1]).is_err());
    }
}
