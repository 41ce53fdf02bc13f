//! Running ha.cf's `fence_command` when a stop failed and the resource
//! still runs: on a thread of its own (the main loop goes on), in its own
//! process group killed at `fence_timeout`, its output logged line by line
//! and its exit status logged. Its environment says which node and group.

use std::sync::Arc;
use std::time::Duration;

use crate::config::knobs::FenceCommand;
use crate::resources::process::{Ending, Invocation, OutputLimits, run_in_own_group};
use crate::resources::{ScriptEnv, TracingSink};

/// Time between SIGTERM and SIGKILL to a fence command past its timeout.
const KILL_GRACE: Duration = Duration::from_secs(2);

pub const ENV_FENCE_NODE: &str = "TWINBEAT_FENCE_NODE";
pub const ENV_FENCE_PEER: &str = "TWINBEAT_FENCE_PEER";
pub const ENV_FENCE_GROUP: &str = "TWINBEAT_FENCE_GROUP";
pub const ENV_FENCE_REASON: &str = "TWINBEAT_FENCE_REASON";

/// What the fence command is told.
#[derive(Debug, Clone)]
pub struct FenceRequest {
    /// The node where the resource still runs: this one.
    pub node: String,
    pub peer: String,
    /// The group's key (its first resource).
    pub group: String,
}

/// Starts `cmd` for `req` on a new thread; returns at once.
pub fn spawn(cmd: &FenceCommand, timeout: Duration, env: &ScriptEnv, req: FenceRequest) {
    let cmd = cmd.clone();
    let mut env = env.clone();
    env.set(ENV_FENCE_NODE, &req.node);
    env.set(ENV_FENCE_PEER, &req.peer);
    env.set(ENV_FENCE_GROUP, &req.group);
    env.set(ENV_FENCE_REASON, "stop-failed");
    let spawned = crate::engine::realtime::thread_named("fence")
        .spawn(move || run(&cmd, timeout, &env, &req));
    if let Err(e) = spawned {
        tracing::error!("fence command not run: cannot start its thread: {e}");
    }
}

fn run(cmd: &FenceCommand, timeout: Duration, env: &ScriptEnv, req: &FenceRequest) {
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    tracing::error!(
        target: "twinbeat::fence",
        "FENCING node {} (group {} would not stop): running {} {}",
        req.node,
        req.group,
        cmd.program.display(),
        args.join(" ")
    );
    let inv = Invocation {
        program: &cmd.program,
        args: &args,
        env: env.vars(),
        tag: "fence_command",
    };
    match run_in_own_group(
        inv,
        timeout,
        KILL_GRACE,
        OutputLimits::default(),
        Arc::new(TracingSink),
    ) {
        Ok(f) => match f.ending {
            Ending::Exited(0) => tracing::warn!(
                target: "twinbeat::fence",
                "fence command exited with status 0 after {} ms",
                f.elapsed.as_millis()
            ),
            Ending::Exited(code) => tracing::error!(
                target: "twinbeat::fence",
                "fence command FAILED: exit status {code} after {} ms",
                f.elapsed.as_millis()
            ),
            Ending::Signaled(sig) => tracing::error!(
                target: "twinbeat::fence",
                "fence command FAILED: killed by signal {sig}"
            ),
            Ending::TimedOut => tracing::error!(
                target: "twinbeat::fence",
                "fence command FAILED: still running after {} ms; its process group was killed",
                timeout.as_millis()
            ),
        },
        Err(e) => tracing::error!(
            target: "twinbeat::fence",
            "fence command {} could not be run: {e}",
            cmd.program.display()
        ),
    }
}
