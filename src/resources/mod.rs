//! Running haresources groups: resource scripts (and, through [`Agent`],
//! built-ins such as IPaddr) with Heartbeat's ordering, status reading,
//! timeouts, stop retries and environment.
//!
//! - [`status`]: how a `status` action's output is read (pure).
//! - [`lines`]: script output cut into bounded log lines (pure).
//! - [`lookup`]: where a script is found (`resource.d`, then `/etc/init.d`).
//! - [`env`]: the `HA_*` / `OCF_ROOT` variables scripts rely on.
//! - [`process`]: one child in its own process group, with a timeout that
//!   kills the whole group, its output logged line by line.
//! - [`agent`]: [`Action`], [`Outcome`], the [`Agent`] trait and [`Dispatch`]
//!   (built-ins by script name, scripts for the rest).
//! - [`script`]: [`ScriptAgent`], the agent that runs scripts.
//! - [`group`]: a group's start / stop / status as Heartbeat does them.
//! - [`executor`]: group actions on worker threads, reports on a channel.

pub mod agent;
pub mod env;
pub mod executor;
pub mod group;
pub mod lines;
pub mod lookup;
pub mod process;
pub mod script;
pub mod status;

pub use agent::{Action, Agent, Dispatch, Failure, Outcome};
pub use env::{ScriptEnv, ScriptLogging};
pub use executor::{GroupExecutor, GroupOp, GroupReport, JobId, SubmitError};
pub use group::{
    GroupOutcome, GroupPolicy, ResourceStatus, StopFailure, StopRetry, Timeouts, group_status,
    start_group, start_group_probed, stop_group,
};
pub use lookup::{ScriptNotFound, ScriptSearch};
pub use process::{LineSink, OutputLimits, Stream, TracingSink};
pub use script::ScriptAgent;
pub use status::{ResourceState, judge_status_output};
