//! The takeover process: a separate OS process, started and supervised by
//! `twinbeat run`, that consumes the detector's events from the shared
//! memory ring.
//!
//! It logs every event with the names from the configuration, says loudly
//! when it missed events (the ring overflowed while it was slow or dead),
//! and drives the [`Manager`]: cluster decisions, group actions, messages
//! to the peer. Operator requests arrive on `RUN_DIR/agent.sock`
//! ([`operator`]); a stop that fails runs ha.cf's `fence_command`
//! ([`fence`]).
//!
//! A takeover process restarted by its daemon (`TWINBEAT_AGENT_RESTARTED`)
//! first rebuilds its view ([`recovery`]): it waits for its predecessor's
//! actions still running, asks each group's `status`, adopts what runs,
//! restores the unclean mark, then asks the daemon for the peer's liveness.
//! Its messages carry the next agent epoch (`TWINBEAT_AGENT_EPOCH`), so the
//! peer hears it as a new sender and re-announces its state.

pub mod alert;
mod builtin_ip;
pub mod fence;
mod manager;
pub mod operator;
pub mod recovery;

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use builtin_ip::BuiltinIp;
pub use manager::{Manager, Side};

use crate::cluster::config::DEFAULT_RETRANSMIT;
use crate::cluster::{Cluster, ClusterConfig};
use crate::resources::{Dispatch, GroupPolicy, ScriptAgent, ScriptEnv, ScriptSearch, TracingSink};

use crate::config;
use crate::detector::Event;
use crate::engine::daemon::{ENV_RING_FD, ENV_WAKE_FD};
use crate::engine::events::{BeatRecord, Received};
use crate::engine::plan::{BeatPlan, local_addresses};
use crate::ring::{Next, Reader, RingFds};
use crate::time::monotonic_ns;

#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub dir: PathBuf,
    pub node: String,
    pub run_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0} is not set: the takeover process is started by `twinbeat run`, not by hand")]
    NoFd(&'static str),
    #[error("{0}: not a file descriptor number")]
    BadFd(&'static str),
    #[error("event ring: {0}")]
    Ring(#[from] crate::ring::RingError),
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn fd_from_env(name: &'static str) -> Result<RawFd, AgentError> {
    let v = std::env::var(name).map_err(|_| AgentError::NoFd(name))?;
    v.parse().map_err(|_| AgentError::BadFd(name))
}

/// Names for log lines: the peer and each link as the beat loop numbers them.
struct Names {
    peer: String,
    links: Vec<String>,
}

impl Names {
    fn link(&self, i: u8) -> &str {
        self.links.get(usize::from(i)).map_or("?", String::as_str)
    }
}

fn describe(ev: &Event, names: &Names, now: u64) -> String {
    let us = |ns: u64| ns / 1_000;
    let p = &names.peer;
    match *ev {
        Event::LinkUp { link, .. } => format!("link {} to {p} is up", names.link(link.0)),
        Event::LinkDown {
            link,
            last_heard,
            at,
            ..
        } => format!(
            "link {} to {p} is down: silent {} µs",
            names.link(link.0),
            us(at.saturating_sub(last_heard))
        ),
        Event::PeerAlive { generation, .. } => {
            format!("node {p} is alive (generation {generation})")
        }
        Event::PeerWarn { silent_for, .. } => {
            format!("late heartbeat: node {p} silent for {} µs", us(silent_for))
        }
        Event::PeerDead {
            last_heard: Some(t),
            at,
            ..
        } => format!(
            "node {p} is dead: silent on every link for {} µs (declared {} µs ago)",
            us(at.saturating_sub(t)),
            us(now.saturating_sub(at))
        ),
        Event::PeerDead {
            last_heard: None, ..
        } => {
            format!("node {p} is dead: never heard within initdead")
        }
        Event::PeerRestarted {
            old_generation,
            new_generation,
            ..
        } => format!("node {p} restarted: generation {old_generation} -> {new_generation}"),
        Event::PeerStatusChanged { status, .. } => format!("node {p} status is now {status:?}"),
    }
}

/// After a gap in the events, the daemon's snapshot is the truth: log it,
/// and return the peer's liveness (`Some(Some(generation))` alive,
/// `Some(None)` dead, `None` unknown).
fn log_full_state(opts: &AgentOptions) -> Option<Option<u32>> {
    match crate::control::client::Client::connect(&opts.run_dir).and_then(|mut c| c.status()) {
        Ok(s) => {
            for l in &s.links {
                tracing::info!("full state: link {} is {}", l.label, l.state);
            }
            let p = s.peers.first()?;
            tracing::info!(
                "full state: node {} is {} ({}), generation {:?}",
                p.name,
                p.liveness,
                p.status,
                p.generation
            );
            match p.liveness.as_str() {
                "alive" => Some(p.generation),
                "dead" => Some(None),
                _ => None,
            }
        }
        Err(e) => {
            tracing::error!("full state unavailable: {e}");
            None
        }
    }
}

/// The generation the daemon runs with (its frames carry it), handed over
/// so resource messages name the right incarnation.
pub const ENV_GENERATION: &str = "TWINBEAT_GENERATION";
/// How many takeover processes this daemon started before this one
/// (mod 256): the epoch in our message ids.
pub const ENV_AGENT_EPOCH: &str = "TWINBEAT_AGENT_EPOCH";
/// `1` when this takeover process replaces one that died.
pub const ENV_AGENT_RESTARTED: &str = "TWINBEAT_AGENT_RESTARTED";

static TERMINATE: AtomicBool = AtomicBool::new(false);

/// At most this many events wait to be logged (a flood of events still
/// gets logged as it comes).
const UNLOGGED_MAX: usize = 32;

/// Logs the events acted on since the last call, in their order, then the
/// cluster's decisions, and announces our state ([`Manager::report`]).
fn log_events(unlogged: &mut Vec<Event>, names: &Names, manager: Option<&mut Manager>) {
    if unlogged.is_empty() {
        return;
    }
    let now = monotonic_ns();
    for ev in unlogged.drain(..) {
        tracing::info!(target: "twinbeat::event", "{}", describe(&ev, names, now));
    }
    if let Some(m) = manager {
        m.report();
    }
}

extern "C" fn on_terminate(_: libc::c_int) {
    TERMINATE.store(true, Ordering::SeqCst);
}

/// Longest wait between two looks at the executor's reports and timers.
const POLL: Duration = Duration::from_millis(2);
/// After a planned shutdown completes, time for the beat thread to carry
/// the Leaving message out before this process exits.
const LINGER: Duration = Duration::from_millis(100);

/// Runs the takeover process until the daemon stops it: SIGTERM releases
/// our groups (a planned shutdown the peer takes over from at once), then
/// the process exits.
pub fn run_agent(opts: &AgentOptions) -> Result<(), AgentError> {
    let ring_fd = fd_from_env(ENV_RING_FD)?;
    let wake_fd = fd_from_env(ENV_WAKE_FD)?;
    // The ring reached us across exec; the scripts we run must not get it.
    for fd in [ring_fd, wake_fd] {
        crate::engine::links::set_cloexec(fd)?;
    }
    // SAFETY: the daemon passed these two fds open across exec for us alone.
    let fds = unsafe { RingFds::from_raw_fds(ring_fd, wake_fd) };
    let mut reader: Reader<BeatRecord> = Reader::open(fds)?;
    let generation: u32 = std::env::var(ENV_GENERATION)
        .ok()
        .and_then(|g| g.parse().ok())
        .ok_or(AgentError::NoFd(ENV_GENERATION))?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_terminate as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_terminate as *const () as libc::sighandler_t,
        );
    }
    let epoch: u8 = std::env::var(ENV_AGENT_EPOCH)
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let restarted = std::env::var(ENV_AGENT_RESTARTED).is_ok_and(|v| v == "1");
    let cfg = config::load_dir(&opts.dir, &opts.node)?;
    if let Some(p) = manager::agent_priority(&cfg) {
        match crate::engine::realtime::promote_current_thread(p) {
            Ok(()) => tracing::info!(
                priority = p,
                "takeover process runs SCHED_FIFO (scripts it forks run at normal priority)"
            ),
            Err(e) => tracing::warn!(
                "realtime on: SCHED_FIFO for the takeover process refused ({e}); it runs at \
                 normal priority and a busy machine can delay a takeover"
            ),
        }
    }
    // Before any thread starts, so the group workers inherit it.
    if let Some(core) = crate::engine::daemon::beat_core(&cfg) {
        match crate::engine::realtime::keep_off_core(core) {
            Ok(Some(cores)) => tracing::info!(
                "takeover process and its group workers run on cores {cores:?}, off the beat \
                 thread's core {core} (the scripts they start may use every core)"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                "could not keep the takeover process off the beat thread's core {core} ({e})"
            ),
        }
    }
    let plan = BeatPlan::new(&cfg, &local_addresses().unwrap_or_default())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let names = Names {
        peer: cfg.peer.clone().unwrap_or_else(|| "?".into()),
        links: plan.links.iter().map(|l| l.setup.label()).collect(),
    };
    let mut manager = if cfg.peer.is_some() && !cfg.groups.is_empty() {
        let cluster_cfg = ClusterConfig::from_config(&cfg, DEFAULT_RETRANSMIT)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut cluster_cfg = cluster_cfg;
        let knobs = &cfg.hacf.takeover;
        cluster_cfg.fence_on_stop_failure = knobs.fence_command.is_some();
        let cluster = Cluster::new(cluster_cfg, generation, monotonic_ns())
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .with_agent_epoch(epoch);
        let env = ScriptEnv::from_config(&cfg);
        let mut script_env = env.clone();
        // Marks our scripts, so a restarted takeover process finds the
        // actions its predecessor left running.
        script_env.set(
            recovery::ENV_AGENT_RUN_DIR,
            &opts.run_dir.display().to_string(),
        );
        let scripts = Arc::new(ScriptAgent::new(
            ScriptSearch::heartbeat(&cfg.dir),
            script_env,
            Arc::new(TracingSink),
        ));
        let knobs = &cfg.hacf.takeover;
        // `builtin_ipaddr off`: IPaddr/IPaddr2 stay with the script agent,
        // which finds them in resource.d like any other resource.
        let builtin = cfg
            .hacf
            .builtin_ipaddr
            .value
            .then(|| Arc::new(BuiltinIp::new(knobs.arp())));
        let mut agent = Dispatch::new(scripts);
        if let Some(b) = &builtin {
            agent = agent
                .with_builtin("IPaddr", b.clone())
                .with_builtin("IPaddr2", b.clone());
        }
        let policy = GroupPolicy {
            timeouts: knobs.timeouts(),
            stop_retry: knobs.stop_retry(),
        };
        let outbox = crate::engine::outbox::attach_producer(&opts.run_dir)?;
        let side = Side {
            node: cfg.node.clone(),
            peer: cfg.peer.clone().unwrap_or_default(),
            run_dir: opts.run_dir.clone(),
            fence: knobs
                .fence_command
                .as_ref()
                .map(|f| (f.value.clone(), knobs.fence_timeout.value)),
            env,
        };
        let manager = Manager::new(&cfg, cluster, Arc::new(agent), policy, outbox, side);
        Some(match builtin {
            Some(b) => manager.with_ip_reannounce(b),
            None => manager,
        })
    } else {
        tracing::info!("no peer or no resource groups: the takeover process only logs events");
        None
    };
    let timeouts = cfg.hacf.takeover.timeouts();
    if restarted && let Some(m) = manager.as_mut() {
        tracing::warn!(
            "restarted takeover process (epoch {epoch}): rebuilding the view of the groups"
        );
        // A leftover action ends by its own timeout plus the kill grace.
        let leftover_limit =
            timeouts.start.max(timeouts.stop) + crate::resources::script::DEFAULT_KILL_GRACE;
        let per_group = timeouts.status.saturating_mul(
            u32::try_from(
                cfg.groups
                    .iter()
                    .map(|g| g.resources.len())
                    .max()
                    .unwrap_or(1),
            )
            .unwrap_or(u32::MAX),
        );
        m.recover(
            monotonic_ns,
            leftover_limit,
            per_group + Duration::from_secs(1),
        );
        if let Some(peer) = log_full_state(opts) {
            m.on_full_state(monotonic_ns(), peer);
        }
    }
    // Operator requests: only with a resource manager to carry them out.
    let operator_stop = Arc::new(AtomicBool::new(false));
    let operator = match manager {
        Some(_) => match operator::serve(&opts.run_dir, operator_stop.clone()) {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::error!("operator socket unavailable: {e}; standby/takeover will fail");
                None
            }
        },
        None => None,
    };
    let reports = manager.as_ref().map(Manager::reports);
    tracing::info!(
        pid = std::process::id(),
        generation,
        groups = cfg.groups.len(),
        "takeover process consuming the event ring"
    );
    let mut leaving_since: Option<Instant> = None;
    let deadtime = u64::try_from(cfg.hacf.deadtime.value.as_nanos()).unwrap_or(u64::MAX);
    // While a verdict may be near, poll the ring instead of sleeping.
    let mut awake_until: u64 = 0;
    // Events acted on but not yet logged (see `log_events`).
    let mut unlogged: Vec<Event> = Vec::with_capacity(UNLOGGED_MAX);
    // SAFETY: getppid has no preconditions.
    let daemon = unsafe { libc::getppid() };
    loop {
        let now = monotonic_ns();
        // The daemon gone (crashed, killed): its keepalives have stopped, so
        // the peer will take our groups; release them here so they never run
        // on both nodes.
        let orphaned = unsafe { libc::getppid() } != daemon;
        if (TERMINATE.load(Ordering::SeqCst) || orphaned) && leaving_since.is_none() {
            if orphaned {
                tracing::error!("the daemon is gone: releasing resource groups and exiting");
            } else {
                tracing::info!("planned shutdown: releasing resource groups");
            }
            leaving_since = Some(Instant::now());
            if let Some(m) = manager.as_mut() {
                m.shutdown(now);
            }
        }
        if let Some(since) = leaving_since {
            log_events(&mut unlogged, &names, manager.as_mut());
            let done = manager
                .as_ref()
                .is_none_or(|m| m.shutdown_complete() || (orphaned && m.released()));
            if done && since.elapsed() >= LINGER {
                if manager.as_ref().is_some_and(|m| m.cluster().is_unclean()) {
                    tracing::error!(
                        "release finished UNCLEAN: a resource that would not stop may still run \
                         here; the peer will not take its group until an operator clears it"
                    );
                } else {
                    tracing::info!("release complete: no resource group runs here");
                }
                return Ok(());
            }
            if since.elapsed() > crate::engine::daemon::RELEASE_LIMIT {
                tracing::error!(
                    "release not finished within {:?}; exiting: resources may still run here",
                    crate::engine::daemon::RELEASE_LIMIT
                );
                return Ok(());
            }
        }
        match reader.next()? {
            Next::Record(r) => match r.decode() {
                Some(Received::Event(ev)) => {
                    // Act first, log after: the log writes (the event, the
                    // cluster's decisions) would otherwise sit between a
                    // verdict and the group job that answers it. Every
                    // event the ring holds is acted on before any is
                    // logged: a link's "down" comes just before the
                    // verdict it completes.
                    //
                    // Poll only for a verdict that would start something
                    // here: a node holding every group (the peer's link
                    // cut, say) would otherwise take cores from the
                    // services it runs, for nothing.
                    if let Event::PeerWarn { at, silent_for, .. } = ev
                        && manager.as_ref().is_some_and(Manager::verdict_would_start)
                        && let Some(until) = alert::awake_until(at, silent_for, deadtime)
                    {
                        awake_until = until;
                        if let Some(m) = manager.as_ref() {
                            m.stay_awake_until(until);
                        }
                    }
                    let alert_over = matches!(
                        ev,
                        Event::PeerDead { .. }
                            | Event::PeerAlive { .. }
                            | Event::PeerRestarted { .. }
                    );
                    if alert_over {
                        awake_until = 0;
                    }
                    if let Some(m) = manager.as_mut() {
                        let gave_jobs = m.on_event(now, &ev);
                        // The verdict came (its jobs are queued: a polling
                        // worker finds its job without a wake-up) or the
                        // peer is back: idle workers sleep again.
                        if alert_over {
                            m.stop_staying_awake();
                        }
                        // The workers share this process's cores and its
                        // priority: without a yield the log writes below
                        // ran first and the virtual IP waited 40-60 µs
                        // for them (traced).
                        if gave_jobs {
                            crate::engine::realtime::yield_now();
                        }
                    }
                    unlogged.push(ev);
                    if unlogged.len() >= UNLOGGED_MAX {
                        log_events(&mut unlogged, &names, manager.as_mut());
                    }
                }
                Some(Received::Message { payload, .. }) => {
                    log_events(&mut unlogged, &names, manager.as_mut());
                    if let Some(m) = manager.as_mut() {
                        m.on_message(now, payload);
                    }
                }
                Some(Received::Reach(r)) => {
                    log_events(&mut unlogged, &names, manager.as_mut());
                    tracing::info!(
                        target: "twinbeat::event",
                        "ping reach: {} of {} ping nodes reachable",
                        r.reached,
                        r.configured
                    );
                    if let Some(m) = manager.as_mut() {
                        m.on_reach(now, r.reached);
                    }
                }
                None => tracing::warn!(
                    "event ring: a record of unknown kind {} skipped",
                    r.head.kind
                ),
            },
            Next::Missed(n) => {
                log_events(&mut unlogged, &names, manager.as_mut());
                tracing::error!(
                    "event ring: {n} events were lost while this process was slow or absent; \
                     asking the daemon for its full state"
                );
                let peer = log_full_state(opts);
                if let (Some(m), Some(peer)) = (manager.as_mut(), peer) {
                    m.on_full_state(now, peer);
                }
            }
            Next::Restarted { epoch } => {
                log_events(&mut unlogged, &names, manager.as_mut());
                tracing::warn!(
                    "event ring: the daemon restarted (epoch {epoch}); asking for its full state"
                );
                let peer = log_full_state(opts);
                if let (Some(m), Some(peer)) = (manager.as_mut(), peer) {
                    m.on_full_state(now, peer);
                }
            }
            Next::Empty => {
                log_events(&mut unlogged, &names, manager.as_mut());
                if let (Some(m), Some(reports)) = (manager.as_mut(), reports.as_ref()) {
                    while let Ok(report) = reports.try_recv() {
                        m.on_report(monotonic_ns(), report);
                    }
                    if let Some(calls) = operator.as_ref() {
                        while let Ok(call) = calls.try_recv() {
                            m.on_operator(monotonic_ns(), call);
                        }
                    }
                    m.on_tick(monotonic_ns());
                }
                if monotonic_ns() < awake_until {
                    // Yield rather than spin: a realtime thread of the same
                    // priority waiting for this core (a group worker with
                    // its job; the peer's pollers when both nodes share a
                    // host) gets it at once.
                    crate::engine::realtime::yield_now();
                    continue;
                }
                let wait = manager
                    .as_ref()
                    .and_then(Manager::next_timeout)
                    .map(|t| Duration::from_nanos(t.saturating_sub(monotonic_ns())))
                    .unwrap_or(POLL)
                    .min(POLL);
                reader.wait(Some(wait))?;
            }
        }
    }
}
