//! The seam between the group logic and whatever carries out one action on
//! one resource: a script ([`super::ScriptAgent`]) or a built-in (IPaddr).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Resource;

use super::lookup::ScriptNotFound;
use super::status::ResourceState;

/// What Heartbeat asks of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Start,
    Stop,
    Status,
}

impl Action {
    /// The word passed to the script.
    pub fn as_arg(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Status => "status",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_arg())
    }
}

/// The result of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// start or stop succeeded (exit 0).
    Done,
    /// What a status action says.
    State(ResourceState),
    Failed(Failure),
}

/// Why an action did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("{action} exited with status {code}")]
    Exit { action: Action, code: i32 },
    #[error("{action} was killed by signal {signal}")]
    Signal { action: Action, signal: i32 },
    #[error("{action} was still running after {timeout:?}: its process group was terminated")]
    TimedOut { action: Action, timeout: Duration },
    #[error(transparent)]
    NotFound(#[from] ScriptNotFound),
    #[error("{action} could not be run: {message}")]
    Spawn { action: Action, message: String },
    #[error("{action} returned {got}, which makes no sense for it")]
    Unexpected { action: Action, got: String },
}

/// Carries out actions on resources. Implementations must return by
/// `timeout` (give or take the kill grace) whatever the resource does.
pub trait Agent: Send + Sync {
    fn run(&self, resource: &Resource, action: Action, timeout: Duration) -> Outcome;
}

/// Sends each resource to the agent registered for its script name, or to
/// the fallback (the script agent) when none is.
pub struct Dispatch {
    fallback: Arc<dyn Agent>,
    builtins: HashMap<String, Arc<dyn Agent>>,
}

impl Dispatch {
    pub fn new(fallback: Arc<dyn Agent>) -> Self {
        Dispatch {
            fallback,
            builtins: HashMap::new(),
        }
    }

    /// Routes resources whose script is `script` (e.g. `IPaddr2`) to `agent`.
    pub fn with_builtin(mut self, script: &str, agent: Arc<dyn Agent>) -> Self {
        self.builtins.insert(script.to_string(), agent);
        self
    }
}

impl Agent for Dispatch {
    fn run(&self, resource: &Resource, action: Action, timeout: Duration) -> Outcome {
        match self.builtins.get(&resource.script) {
            Some(agent) => agent.run(resource, action, timeout),
            None => self.fallback.run(resource, action, timeout),
        }
    }
}
