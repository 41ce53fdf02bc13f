//! The takeover process: a separate OS process, started and supervised by
//! `twinbeat run`, that consumes the detector's events from the shared
//! memory ring.
//!
//! Today it logs every event with the names from the configuration, and
//! says loudly when it missed events (the ring overflowed while it was slow
//! or dead); running resource scripts builds on this loop.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

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

/// After a gap in the events, the daemon's snapshot is the truth: log it.
fn log_full_state(opts: &AgentOptions) {
    match crate::control::client::Client::connect(&opts.run_dir).and_then(|mut c| c.status()) {
        Ok(s) => {
            for p in &s.peers {
                tracing::info!(
                    "full state: node {} is {} ({}), generation {:?}",
                    p.name,
                    p.liveness,
                    p.status,
                    p.generation
                );
            }
            for l in &s.links {
                tracing::info!("full state: link {} is {}", l.label, l.state);
            }
        }
        Err(e) => tracing::error!("full state unavailable: {e}"),
    }
}

/// Runs the consumer until killed (the daemon sends SIGTERM, or its death
/// does, through PR_SET_PDEATHSIG).
pub fn run_agent(opts: &AgentOptions) -> Result<(), AgentError> {
    let ring_fd = fd_from_env(ENV_RING_FD)?;
    let wake_fd = fd_from_env(ENV_WAKE_FD)?;
    // SAFETY: the daemon passed these two fds open across exec for us alone.
    let fds = unsafe { RingFds::from_raw_fds(ring_fd, wake_fd) };
    let mut reader: Reader<BeatRecord> = Reader::open(fds)?;
    let cfg = config::load_dir(&opts.dir, &opts.node)?;
    let plan = BeatPlan::new(&cfg, &local_addresses().unwrap_or_default())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let names = Names {
        peer: cfg.peer.clone().unwrap_or_else(|| "?".into()),
        links: plan.links.iter().map(|l| l.setup.label()).collect(),
    };
    tracing::info!(
        pid = std::process::id(),
        "takeover process consuming the event ring"
    );
    loop {
        match reader.next()? {
            Next::Record(r) => match r.decode() {
                Some(Received::Event(ev)) => tracing::info!(
                    target: "twinbeat::event",
                    "{}",
                    describe(&ev, &names, monotonic_ns())
                ),
                Some(Received::Message {
                    msg_type, payload, ..
                }) => tracing::debug!(
                    "message type {msg_type} ({} bytes) from {}",
                    payload.len(),
                    names.peer
                ),
                None => tracing::warn!(
                    "event ring: a record of unknown kind {} skipped",
                    r.head.kind
                ),
            },
            Next::Missed(n) => {
                tracing::error!(
                    "event ring: {n} events were lost while this process was slow or absent; \
                     asking the daemon for its full state"
                );
                log_full_state(opts);
            }
            Next::Restarted { epoch } => {
                tracing::warn!(
                    "event ring: the daemon restarted (epoch {epoch}); asking for its full state"
                );
                log_full_state(opts);
            }
            Next::Empty => {
                reader.wait(Some(Duration::from_secs(1)))?;
            }
        }
    }
}
