//! A resource group's start, stop and status, with Heartbeat's rules
//! (ResourceManager's `acquireresourcegroup` / `giveupresourcegroup`):
//!
//! - start runs left to right and skips a resource whose status says it
//!   runs (a status that fails counts as "not running", as in Heartbeat);
//! - a start failure releases the whole group right to left — resources
//!   found running and ones after the failure included, so nothing of the
//!   group stays on this node once it is given up;
//! - stop runs right to left; a failed stop is retried; when it still fails
//!   and status does not say "stopped", the group stops there with
//!   [`GroupOutcome::StopFailed`] (Heartbeat reboots at this point; upstream
//!   marks the node unclean). A status that itself fails counts as
//!   "running" here: it proves nothing. A failed stop of a resource whose
//!   status says stopped is logged as a non-LSB script and the stop goes on;
//!   so is a resource whose script is missing (it cannot have been started).

use std::time::Duration;

use crate::config::{Resource, ResourceGroup};

use super::agent::{Action, Agent, Failure, Outcome};
use super::status::ResourceState;

/// Per-action time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub start: Duration,
    pub stop: Duration,
    pub status: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            start: Duration::from_secs(60),
            stop: Duration::from_secs(60),
            status: Duration::from_secs(20),
        }
    }
}

impl Timeouts {
    pub fn of(&self, action: Action) -> Duration {
        match action {
            Action::Start => self.start,
            Action::Stop => self.stop,
            Action::Status => self.status,
        }
    }
}

/// How a failed stop is retried (Heartbeat: `HA_STOPRETRYMAX=10`, 1 s apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopRetry {
    /// Further attempts after the first one.
    pub retries: u32,
    pub interval: Duration,
}

impl Default for StopRetry {
    fn default() -> Self {
        StopRetry {
            retries: 10,
            interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupPolicy {
    pub timeouts: Timeouts,
    pub stop_retry: StopRetry,
}

/// A resource that would not stop and still runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource `{resource}` would not stop and still runs: {why}")]
pub struct StopFailure {
    pub resource: String,
    pub why: Failure,
}

/// One resource's status in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    pub resource: String,
    /// `Err` when the status action itself failed.
    pub state: Result<ResourceState, Failure>,
}

/// What a group action came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Every resource runs; these were running already and were not started.
    Started {
        already_running: Vec<String>,
    },
    /// `resource` failed to start; the group was then released, and
    /// `release` says whether that left it fully stopped.
    StartFailed {
        resource: String,
        why: Failure,
        release: Result<(), StopFailure>,
    },
    Stopped,
    StopFailed(StopFailure),
    Status(Vec<ResourceStatus>),
}

impl GroupOutcome {
    /// Something of the group may still run although it should not: the
    /// node must not claim the group again until an operator clears it.
    pub fn leaves_node_unclean(&self) -> bool {
        matches!(
            self,
            GroupOutcome::StopFailed(_)
                | GroupOutcome::StartFailed {
                    release: Err(_),
                    ..
                }
        )
    }
}

/// Starts `group` left to right.
pub fn start_group(agent: &dyn Agent, group: &ResourceGroup, policy: &GroupPolicy) -> GroupOutcome {
    start_group_probed(agent, group, policy, &[])
}

/// As [`start_group`], for a group whose resources were probed recently:
/// `known_stopped[i]` says a status of resource `i` answered "stopped" and
/// nothing ran on it since, so its status is not asked again before its
/// start. This is what lets a takeover run its first start script at once
/// instead of after a status fork; a resource started behind twinbeat's
/// back since the probe gets a `start` while it runs, which an LSB script
/// answers with success.
pub fn start_group_probed(
    agent: &dyn Agent,
    group: &ResourceGroup,
    policy: &GroupPolicy,
    known_stopped: &[bool],
) -> GroupOutcome {
    let mut already_running = Vec::new();
    for (i, resource) in group.resources.iter().enumerate() {
        let name = resource.to_string();
        let stopped = known_stopped.get(i).copied().unwrap_or(false);
        if !stopped && status_of(agent, resource, policy) == Ok(ResourceState::Running) {
            tracing::info!(target: "twinbeat::resources", resource = %name, "already running: not started");
            already_running.push(name);
            continue;
        }
        let why = match agent.run(resource, Action::Start, policy.timeouts.start) {
            Outcome::Done => continue,
            Outcome::Failed(why) => why,
            Outcome::State(state) => Failure::Unexpected {
                action: Action::Start,
                got: format!("{state:?}"),
            },
        };
        tracing::error!(target: "twinbeat::resources", resource = %name, "start failed: {why}; giving up the group");
        let release = release(agent, group, policy);
        return GroupOutcome::StartFailed {
            resource: name,
            why,
            release,
        };
    }
    GroupOutcome::Started { already_running }
}

/// Stops `group` right to left.
pub fn stop_group(agent: &dyn Agent, group: &ResourceGroup, policy: &GroupPolicy) -> GroupOutcome {
    match release(agent, group, policy) {
        Ok(()) => GroupOutcome::Stopped,
        Err(failure) => GroupOutcome::StopFailed(failure),
    }
}

/// Asks every resource of `group` for its status, left to right.
pub fn group_status(
    agent: &dyn Agent,
    group: &ResourceGroup,
    policy: &GroupPolicy,
) -> GroupOutcome {
    GroupOutcome::Status(
        group
            .resources
            .iter()
            .map(|resource| ResourceStatus {
                resource: resource.to_string(),
                state: status_of(agent, resource, policy),
            })
            .collect(),
    )
}

fn status_of(
    agent: &dyn Agent,
    resource: &Resource,
    policy: &GroupPolicy,
) -> Result<ResourceState, Failure> {
    match agent.run(resource, Action::Status, policy.timeouts.status) {
        Outcome::State(state) => Ok(state),
        Outcome::Failed(why) => Err(why),
        Outcome::Done => Err(Failure::Unexpected {
            action: Action::Status,
            got: "Done".to_string(),
        }),
    }
}

fn release(
    agent: &dyn Agent,
    group: &ResourceGroup,
    policy: &GroupPolicy,
) -> Result<(), StopFailure> {
    for resource in group.resources.iter().rev() {
        stop_with_retries(agent, resource, policy)?;
    }
    Ok(())
}

fn stop_with_retries(
    agent: &dyn Agent,
    resource: &Resource,
    policy: &GroupPolicy,
) -> Result<(), StopFailure> {
    let name = resource.to_string();
    let mut attempt = 0u32;
    let why = loop {
        let why = match agent.run(resource, Action::Stop, policy.timeouts.stop) {
            Outcome::Done => return Ok(()),
            // No script, nothing it could have started (Heartbeat's status of
            // a missing script is empty output: "not running").
            Outcome::Failed(Failure::NotFound(missing)) => {
                tracing::error!(target: "twinbeat::resources", resource = %name,
                    "cannot stop: {missing}; taken as not running");
                return Ok(());
            }
            Outcome::Failed(why) => why,
            Outcome::State(state) => Failure::Unexpected {
                action: Action::Stop,
                got: format!("{state:?}"),
            },
        };
        if attempt >= policy.stop_retry.retries {
            break why;
        }
        attempt += 1;
        tracing::warn!(target: "twinbeat::resources", resource = %name,
            "stop failed ({why}); retry {attempt} of {}", policy.stop_retry.retries);
        std::thread::sleep(policy.stop_retry.interval);
    };
    // A status that cannot answer proves nothing: treat the resource as running.
    match status_of(agent, resource, policy) {
        Ok(ResourceState::Stopped) => {
            tracing::warn!(target: "twinbeat::resources", resource = %name,
                "stop failed ({why}) but status says stopped: the script is probably not LSB-compliant (stop must succeed when already stopped)");
            Ok(())
        }
        _ => {
            tracing::error!(target: "twinbeat::resources", resource = %name,
                "stop failed ({why}) and the resource still runs: this node is unclean");
            Err(StopFailure {
                resource: name,
                why,
            })
        }
    }
}
