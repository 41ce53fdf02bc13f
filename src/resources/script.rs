//! [`ScriptAgent`]: a Heartbeat resource script or LSB init script run as
//! `SCRIPT ARG1 ARG2 ... start|stop|status`.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Resource;

use super::agent::{Action, Agent, Failure, Outcome};
use super::env::ScriptEnv;
use super::lookup::ScriptSearch;
use super::process::{Ending, Invocation, LineSink, OutputLimits, run_in_own_group};
use super::status::judge_status_output;

/// Runs resource scripts found on a search path.
pub struct ScriptAgent {
    search: ScriptSearch,
    env: ScriptEnv,
    kill_grace: Duration,
    limits: OutputLimits,
    sink: Arc<dyn LineSink>,
}

/// Heartbeat's init scripts get a few seconds between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

impl ScriptAgent {
    pub fn new(search: ScriptSearch, env: ScriptEnv, sink: Arc<dyn LineSink>) -> Self {
        ScriptAgent {
            search,
            env,
            kill_grace: DEFAULT_KILL_GRACE,
            limits: OutputLimits::default(),
            sink,
        }
    }

    /// Time between SIGTERM and SIGKILL to the group on a timeout.
    pub fn with_kill_grace(mut self, grace: Duration) -> Self {
        self.kill_grace = grace;
        self
    }

    pub fn with_limits(mut self, limits: OutputLimits) -> Self {
        self.limits = limits;
        self
    }
}

impl Agent for ScriptAgent {
    fn run(&self, resource: &Resource, action: Action, timeout: Duration) -> Outcome {
        let program = match self.search.find(&resource.script) {
            Ok(path) => path,
            Err(not_found) => return Outcome::Failed(not_found.into()),
        };
        let mut args: Vec<&str> = resource.args.iter().map(String::as_str).collect();
        args.push(action.as_arg());
        let tag = resource.to_string();
        let invocation = Invocation {
            program: &program,
            args: &args,
            env: self.env.vars(),
            tag: &tag,
        };
        tracing::info!(target: "twinbeat::resources", resource = %tag, "running {} {}", program.display(), args.join(" "));
        let finished = match run_in_own_group(
            invocation,
            timeout,
            self.kill_grace,
            self.limits,
            self.sink.clone(),
        ) {
            Ok(finished) => finished,
            Err(err) => {
                return Outcome::Failed(Failure::Spawn {
                    action,
                    message: format!("{}: {err}", program.display()),
                });
            }
        };
        match (action, finished.ending) {
            // Heartbeat reads status by its output alone, whatever the exit code.
            (Action::Status, Ending::Exited(_)) => {
                Outcome::State(judge_status_output(&finished.stdout))
            }
            (_, Ending::Exited(0)) => Outcome::Done,
            (_, Ending::Exited(code)) => Outcome::Failed(Failure::Exit { action, code }),
            (_, Ending::Signaled(signal)) => Outcome::Failed(Failure::Signal { action, signal }),
            (_, Ending::TimedOut) => Outcome::Failed(Failure::TimedOut { action, timeout }),
        }
    }
}
