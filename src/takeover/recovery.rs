//! What a restarted takeover process needs to find out before it decides
//! anything: which resource actions of its killed predecessor are still
//! running (their scripts outlive it), what each group's `status` says
//! now, and whether the node was left unclean.
//!
//! Scripts run in process groups of their own, so a takeover process
//! killed with SIGKILL leaves them running. Each script's environment
//! carries [`ENV_AGENT_RUN_DIR`]; a process-group leader with that variable
//! that does not lead a session is an action of a takeover process of this
//! run dir. The restarted
//! process waits for them to finish (up to the longest action timeout, then
//! kills their process groups) before it asks for status, so a start that
//! was under way is neither run twice nor mistaken for a stopped resource.
//! Daemons that scripts start inherit the variable but lead sessions of
//! their own (setsid), and a script's other children are not group
//! leaders, so neither is waited for (nor killed).
//!
//! The unclean mark is kept as a file in the run dir: it survives the
//! takeover process and the daemon, not a reboot (which also ends whatever
//! would not stop).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::resources::{GroupOutcome, ResourceState, ResourceStatus};

/// Set in every script's environment: the run dir of its takeover process.
pub const ENV_AGENT_RUN_DIR: &str = "TWINBEAT_AGENT_RUN_DIR";
/// The unclean record's file in the run dir (its content names the group).
pub const UNCLEAN_FILE: &str = "unclean";

/// What a group's status says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Running,
    /// Some resources run, some do not.
    Partial,
    Stopped,
}

/// Reads a status outcome. A status that failed proves nothing: as when a
/// group starts, such a resource counts as not running (its start runs,
/// and a start of a running LSB service succeeds).
pub fn judge(outcome: &GroupOutcome) -> Found {
    let GroupOutcome::Status(list) = outcome else {
        return Found::Stopped;
    };
    let running = list
        .iter()
        .filter(|r: &&ResourceStatus| r.state == Ok(ResourceState::Running))
        .count();
    match running {
        0 => Found::Stopped,
        n if n == list.len() => Found::Running,
        _ => Found::Partial,
    }
}

/// Session leaders carrying our run dir's marker: actions of a previous
/// takeover process still running.
pub fn leftover_actions(run_dir: &Path) -> Vec<i32> {
    let marker = format!("{ENV_AGENT_RUN_DIR}={}", run_dir.display()).into_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || !is_action_leader(pid) {
            continue;
        }
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|v| v == marker.as_slice())
            && let Ok(pid) = i32::try_from(pid)
        {
            found.push(pid);
        }
    }
    found
}

/// Whether `pid` leads its process group but not its session: what the
/// resource runner makes of a script, and what a daemon that detached
/// itself (setsid) is not.
fn is_action_leader(pid: u32) -> bool {
    group_and_session(pid).is_some_and(|(pgrp, sid)| pgrp == pid && sid != pid)
}

/// The process group and session in `/proc/PID/stat` (the 5th and 6th
/// fields; the command name before them may hold spaces and parentheses).
/// `None` for a process that is gone or finished and not yet reaped.
fn group_and_session(pid: u32) -> Option<(u32, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace();
    // state, ppid, pgrp, session
    let state = fields.next()?;
    if state == "Z" {
        return None;
    }
    let pgrp = fields.nth(1)?.parse().ok()?;
    let sid = fields.next()?.parse().ok()?;
    Some((pgrp, sid))
}

/// Waits until no leftover action of `run_dir` runs, at most `limit`; then
/// kills the process groups of those still there. Returns how many there
/// were at first.
pub fn wait_for_leftovers(run_dir: &Path, limit: Duration) -> usize {
    let first = leftover_actions(run_dir);
    if first.is_empty() {
        return 0;
    }
    tracing::warn!(
        "{} resource action(s) of the previous takeover process still run (pids {first:?}): \
         waiting for them to finish before reading the groups' status",
        first.len()
    );
    let started = Instant::now();
    loop {
        let left = leftover_actions(run_dir);
        if left.is_empty() {
            tracing::info!(
                "the previous takeover process's actions finished after {} ms",
                started.elapsed().as_millis()
            );
            break;
        }
        if started.elapsed() >= limit {
            tracing::error!(
                "actions {left:?} of the previous takeover process still run after {} ms: \
                 killing their process groups",
                limit.as_millis()
            );
            for pid in left {
                // SAFETY: signalling a process group; no memory involved.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    first.len()
}

fn unclean_path(run_dir: &Path) -> PathBuf {
    run_dir.join(UNCLEAN_FILE)
}

/// The group named by the unclean record, if the node is unclean.
pub fn read_unclean(run_dir: &Path) -> Option<String> {
    fs::read_to_string(unclean_path(run_dir))
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn record_unclean(run_dir: &Path, group: &str) {
    if let Err(e) = fs::write(unclean_path(run_dir), format!("{group}\n")) {
        tracing::error!("cannot record the unclean mark in the run dir: {e}");
    }
}

pub fn clear_unclean(run_dir: &Path) {
    match fs::remove_file(unclean_path(run_dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::error!("cannot remove the unclean record: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Failure;

    fn status(states: &[Result<ResourceState, Failure>]) -> GroupOutcome {
        GroupOutcome::Status(
            states
                .iter()
                .enumerate()
                .map(|(i, s)| ResourceStatus {
                    resource: format!("r{i}"),
                    state: s.clone(),
                })
                .collect(),
        )
    }

    #[test]
    fn a_group_is_running_partial_or_stopped_by_its_resources() {
        use ResourceState::{Running, Stopped};
        let failed = Err(Failure::Unexpected {
            action: crate::resources::Action::Status,
            got: "x".into(),
        });
        assert_eq!(judge(&status(&[Ok(Running), Ok(Running)])), Found::Running);
        assert_eq!(judge(&status(&[Ok(Running), Ok(Stopped)])), Found::Partial);
        assert_eq!(
            judge(&status(&[Ok(Running), failed.clone()])),
            Found::Partial
        );
        assert_eq!(judge(&status(&[Ok(Stopped), failed])), Found::Stopped);
        assert_eq!(judge(&GroupOutcome::Stopped), Found::Stopped);
    }

    #[test]
    fn a_marked_group_leader_is_found_until_it_ends() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30").env(ENV_AGENT_RUN_DIR, dir.path());
        cmd.process_group(0);
        let mut child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        // A daemon a script started: same marker, but it detached itself.
        let mut daemon = std::process::Command::new("sleep");
        daemon.arg("30").env(ENV_AGENT_RUN_DIR, dir.path());
        // SAFETY: setsid between fork and exec, as a daemon does.
        unsafe {
            daemon.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut daemon = daemon.spawn().unwrap();
        // And a child in the caller's own group: not a leader.
        let mut plain = std::process::Command::new("sleep");
        let mut plain = plain
            .arg("30")
            .env(ENV_AGENT_RUN_DIR, dir.path())
            .spawn()
            .unwrap();
        assert_eq!(leftover_actions(dir.path()), [pid]);
        for other in [&mut daemon, &mut plain] {
            let _ = other.kill();
            let _ = other.wait();
        }
        let other = tempfile::tempdir().unwrap();
        assert!(leftover_actions(other.path()).is_empty(), "another run dir");
        // Killed at the limit.
        let n = wait_for_leftovers(dir.path(), Duration::from_millis(50));
        assert_eq!(n, 1);
        let _ = child.wait();
        assert!(leftover_actions(dir.path()).is_empty());
    }

    #[test]
    fn the_unclean_record_survives_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_unclean(dir.path()), None);
        record_unclean(dir.path(), "IPaddr::10.0.0.1");
        assert_eq!(
            read_unclean(dir.path()).as_deref(),
            Some("IPaddr::10.0.0.1")
        );
        clear_unclean(dir.path());
        assert_eq!(read_unclean(dir.path()), None);
    }
}
