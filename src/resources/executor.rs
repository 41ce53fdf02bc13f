//! Group actions off the caller's thread: each submitted job runs on its own
//! worker thread and its [`GroupReport`] comes back on a channel, so the
//! takeover process keeps reading events while a script hangs. One job per
//! group at a time: a second job for a busy group is refused.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, unbounded};

use crate::config::ResourceGroup;

use super::agent::Agent;
use super::group::{GroupOutcome, GroupPolicy, group_status, start_group_probed, stop_group};

/// What to do with a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOp {
    Start,
    Stop,
    Status,
}

/// Identifies a submitted job in its report.
pub type JobId = u64;

/// A finished group action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupReport {
    pub job: JobId,
    /// The group's key (its first resource).
    pub group: String,
    pub op: GroupOp,
    pub outcome: GroupOutcome,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("group `{0}` is already running an action")]
    Busy(String),
    #[error("cannot start a worker thread for group `{group}`: {message}")]
    Spawn { group: String, message: String },
}

/// Runs group actions on worker threads.
pub struct GroupExecutor {
    agent: Arc<dyn Agent>,
    policy: GroupPolicy,
    busy: Arc<Mutex<HashSet<String>>>,
    reports_tx: Sender<GroupReport>,
    reports_rx: Receiver<GroupReport>,
    next_job: JobId,
    /// SCHED_FIFO priority for the worker threads (their scripts reset to
    /// normal priority at fork); `None` leaves them as created.
    realtime: Option<i32>,
}

fn lock(set: &Mutex<HashSet<String>>) -> MutexGuard<'_, HashSet<String>> {
    // A worker that panicked leaves a usable set behind.
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupExecutor {
    pub fn new(agent: Arc<dyn Agent>, policy: GroupPolicy) -> Self {
        let (reports_tx, reports_rx) = unbounded();
        GroupExecutor {
            agent,
            policy,
            busy: Arc::new(Mutex::new(HashSet::new())),
            reports_tx,
            reports_rx,
            next_job: 1,
            realtime: None,
        }
    }

    /// Workers run SCHED_FIFO at `priority` (with reset-on-fork), so a
    /// takeover's built-in IPaddr and its script forks are not queued
    /// behind normal-priority load.
    pub fn with_realtime(mut self, priority: Option<i32>) -> Self {
        self.realtime = priority;
        self
    }

    /// Where reports arrive (usable in `crossbeam::select!`).
    pub fn reports(&self) -> &Receiver<GroupReport> {
        &self.reports_rx
    }

    pub fn is_busy(&self, group_key: &str) -> bool {
        lock(&self.busy).contains(group_key)
    }

    /// Starts `op` on `group` on a new worker thread.
    pub fn submit(&mut self, op: GroupOp, group: ResourceGroup) -> Result<JobId, SubmitError> {
        self.submit_probed(op, group, Vec::new())
    }

    /// As [`GroupExecutor::submit`]; a start skips the status of the
    /// resources `known_stopped` marks (see [`super::start_group_probed`]).
    pub fn submit_probed(
        &mut self,
        op: GroupOp,
        group: ResourceGroup,
        known_stopped: Vec<bool>,
    ) -> Result<JobId, SubmitError> {
        let key = group.key();
        if !lock(&self.busy).insert(key.clone()) {
            return Err(SubmitError::Busy(key));
        }
        let job = self.next_job;
        self.next_job += 1;
        let agent = self.agent.clone();
        let policy = self.policy;
        let busy = self.busy.clone();
        let tx = self.reports_tx.clone();
        let worker_key = key.clone();
        let realtime = self.realtime;
        let spawned = std::thread::Builder::new()
            .name(format!("group-{job}"))
            .spawn(move || {
                if let Some(p) = realtime {
                    // Refusal was reported when the takeover process started.
                    let _ = crate::engine::realtime::promote_current_thread(p);
                }
                let started = Instant::now();
                let outcome = match op {
                    GroupOp::Start => {
                        start_group_probed(agent.as_ref(), &group, &policy, &known_stopped)
                    }
                    GroupOp::Stop => stop_group(agent.as_ref(), &group, &policy),
                    GroupOp::Status => group_status(agent.as_ref(), &group, &policy),
                };
                // Free the group before reporting, so a caller reacting to
                // the report can submit the next action at once.
                lock(&busy).remove(&worker_key);
                let _ = tx.send(GroupReport {
                    job,
                    group: worker_key,
                    op,
                    outcome,
                    elapsed: started.elapsed(),
                });
            });
        match spawned {
            Ok(_) => Ok(job),
            Err(err) => {
                lock(&self.busy).remove(&key);
                Err(SubmitError::Spawn {
                    group: key,
                    message: err.to_string(),
                })
            }
        }
    }
}
