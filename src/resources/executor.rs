//! Group actions off the caller's thread: each group has a worker thread of
//! its own that runs the group's jobs, and each [`GroupReport`] comes back
//! on a channel, so the takeover process keeps reading events while a
//! script hangs. One job per group at a time: a second job for a busy group
//! is refused.
//!
//! Workers live as long as the executor: the first job of a group starts
//! its worker (at startup that is the status probe), so a takeover hands
//! its start to a thread that is already there and already realtime,
//! instead of paying a thread's creation (~0.1 ms here) between the
//! detector's verdict and the virtual IP. [`GroupExecutor::stay_awake_until`]
//! makes idle workers poll for their next job for a short while (see
//! `takeover::alert`), so the job does not wait for a sleeping thread to be
//! woken either.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender, TryRecvError, unbounded};

use crate::config::ResourceGroup;
use crate::time::{Nanos, monotonic_ns};

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

/// Runs group actions on worker threads, one per group.
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
    /// Each group's worker, by group key.
    workers: HashMap<String, Sender<Work>>,
    /// Idle workers poll for a job until this moment (monotonic ns).
    awake_until: Arc<AtomicU64>,
}

/// What a worker's channel carries.
enum Work {
    Run(Job),
    /// Poll for the next job until `awake_until` instead of sleeping.
    StayAwake,
}

/// One submitted action, as its worker receives it.
struct Job {
    id: JobId,
    op: GroupOp,
    group: ResourceGroup,
    known_stopped: Vec<bool>,
}

/// What a worker needs besides its jobs.
struct WorkerContext {
    key: String,
    agent: Arc<dyn Agent>,
    policy: GroupPolicy,
    busy: Arc<Mutex<HashSet<String>>>,
    reports: Sender<GroupReport>,
    realtime: Option<i32>,
    awake_until: Arc<AtomicU64>,
}

impl WorkerContext {
    /// The next job; polls while asked to stay awake, sleeps otherwise.
    /// `None` once the executor is gone.
    fn next_job(&self, jobs: &Receiver<Work>, mut polling: bool) -> Option<Job> {
        loop {
            let work = if polling && monotonic_ns() < self.awake_until.load(Ordering::Relaxed) {
                match jobs.try_recv() {
                    Ok(work) => work,
                    Err(TryRecvError::Empty) => {
                        crate::engine::realtime::yield_now();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return None,
                }
            } else {
                jobs.recv().ok()?
            };
            match work {
                Work::Run(job) => return Some(job),
                Work::StayAwake => polling = true,
            }
        }
    }

    /// Runs jobs until the executor is dropped.
    fn serve(self, jobs: Receiver<Work>) {
        if let Some(p) = self.realtime {
            // Refusal was reported when the takeover process started.
            let _ = crate::engine::realtime::promote_current_thread(p);
        }
        // After a job the worker sleeps: it polls only when asked to.
        while let Some(job) = self.next_job(&jobs, false) {
            let started = Instant::now();
            let (agent, policy, group) = (self.agent.as_ref(), &self.policy, &job.group);
            let outcome = match job.op {
                GroupOp::Start => start_group_probed(agent, group, policy, &job.known_stopped),
                GroupOp::Stop => stop_group(agent, group, policy),
                GroupOp::Status => group_status(agent, group, policy),
            };
            // Free the group before reporting, so a caller reacting to the
            // report can submit the next action at once.
            lock(&self.busy).remove(&self.key);
            let _ = self.reports.send(GroupReport {
                job: job.id,
                group: self.key.clone(),
                op: job.op,
                outcome,
                elapsed: started.elapsed(),
            });
        }
    }
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
            workers: HashMap::new(),
            awake_until: Arc::new(AtomicU64::new(0)),
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

    /// Starts `op` on `group` on the group's worker thread.
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
        let id = self.next_job;
        self.next_job += 1;
        let mut job = Job {
            id,
            op,
            group,
            known_stopped,
        };
        // A worker that is gone (it panicked) gets a successor.
        for _ in 0..2 {
            let worker = match self.workers.get(&key) {
                Some(w) => w.clone(),
                None => match self.start_worker(&key) {
                    Ok(w) => w,
                    Err(message) => {
                        lock(&self.busy).remove(&key);
                        return Err(SubmitError::Spawn {
                            group: key,
                            message,
                        });
                    }
                },
            };
            match worker.send(Work::Run(job)) {
                Ok(()) => return Ok(id),
                Err(returned) => {
                    self.workers.remove(&key);
                    match returned.into_inner() {
                        Work::Run(returned) => job = returned,
                        Work::StayAwake => break,
                    }
                }
            }
        }
        lock(&self.busy).remove(&key);
        Err(SubmitError::Spawn {
            group: key,
            message: "its worker thread ended twice in a row".into(),
        })
    }

    /// Idle workers poll for their next job until `until` (monotonic ns)
    /// instead of sleeping; a worker goes back to sleeping after that job.
    pub fn stay_awake_until(&self, until: Nanos) {
        self.awake_until.store(until, Ordering::Relaxed);
        for worker in self.workers.values() {
            let _ = worker.send(Work::StayAwake);
        }
    }

    /// Idle workers stop polling (the peer was heard again): they sleep
    /// at their next look.
    pub fn sleep_now(&self) {
        self.awake_until.store(0, Ordering::Relaxed);
    }

    fn start_worker(&mut self, key: &str) -> Result<Sender<Work>, String> {
        let (tx, rx) = unbounded();
        let context = WorkerContext {
            key: key.to_string(),
            agent: self.agent.clone(),
            policy: self.policy,
            busy: self.busy.clone(),
            reports: self.reports_tx.clone(),
            realtime: self.realtime,
            awake_until: self.awake_until.clone(),
        };
        crate::engine::realtime::thread_named(&format!("group-{}", self.workers.len() + 1))
            .spawn(move || context.serve(rx))
            .map_err(|e| e.to_string())?;
        self.workers.insert(key.to_string(), tx.clone());
        Ok(tx)
    }
}
