//! `twinbeat run`: everything around the beat loop.
//!
//! Order of start: configuration (the same checks as check-config), run and
//! state directories, a lock so two daemons never share a run dir, a new
//! generation (fsync'd before the first frame leaves), links, the I/O
//! backend, the event ring, the takeover process (the ring's consumer,
//! supervised and restarted if it dies), the control thread, the backup
//! sender, the signal thread, and last the beat loop itself, pinned, on the
//! main thread. SIGTERM/SIGINT stop it; SIGHUP re-reads authkeys
//! (new keys take effect at once) and reports what in ha.cf would need a
//! restart.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam::channel;

use crate::config::{self, Config};
use crate::control::protocol::{Request, Response};
use crate::control::server::ControlServer;
use crate::engine::backup::{BackupLink, BackupSender, Cover, CoverTimings, Identity};
use crate::engine::beat::{BeatLoop, Controls, EventSink, LoopInfo, SnapshotRequest};
use crate::engine::events::{BeatRecord, Received};
use crate::engine::io::{BackendKind, open_backend};
use crate::engine::links::{LinkSetup, open_links};
use crate::engine::plan::{BeatPlan, local_addresses};
use crate::reach::{Method, ProberSetup, ReachReport, ReachView, Target, spawn_prober};
use crate::ring::{Backing, Ring, RingFds, Writer, clear_cloexec};
use crate::state::GenerationStore;
use crate::time::monotonic_ns;
use crate::wire::KeyRing;

/// The event ring's file in the run dir.
pub const RING_FILE: &str = "events.ring";
/// The pid/lock file in the run dir.
pub const PID_FILE: &str = "twinbeat.pid";
/// Environment variables that hand the ring's fds to the takeover process.
pub const ENV_RING_FD: &str = "TWINBEAT_RING_FD";
pub const ENV_WAKE_FD: &str = "TWINBEAT_WAKE_FD";
/// Records the event ring holds; a consumer that falls this far behind
/// learns it missed events and asks for the full state.
pub const RING_CAPACITY: u64 = 4096;

/// What `twinbeat run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dir: PathBuf,
    pub node: String,
    pub state_dir: Option<PathBuf>,
    pub run_dir: Option<PathBuf>,
    pub io: BackendKind,
    /// Start no takeover process (tests of the beat path alone).
    pub no_agent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{what} {}: {source}", path.display())]
    Path {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("another twinbeat daemon is running with run dir {} (pid {pid})", dir.display())]
    AlreadyRunning { dir: PathBuf, pid: String },
    #[error("generation: {0}")]
    State(#[from] crate::state::StateError),
    #[error("{0}")]
    Plan(#[from] crate::engine::plan::PlanError),
    #[error("opening links: {0}")]
    Links(#[from] crate::engine::links::LinkError),
    #[error("io backend: {0}")]
    Backend(#[from] crate::engine::io::OpenBackendError),
    #[error("keys: {0}")]
    Keys(#[from] crate::wire::KeyRingError),
    #[error("event ring: {0}")]
    Ring(#[from] crate::ring::RingError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("beat thread: {0}")]
    Beat(String),
    #[error("control socket: {0}")]
    Control(String),
}

fn path_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DaemonError + 'a {
    move |source| DaemonError::Path {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn make_private_dir(path: &Path) -> Result<(), DaemonError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(path_err("creating", path))
}

/// Holds the run dir's lock for the daemon's lifetime.
struct PidLock {
    _file: fs::File,
}

fn lock_run_dir(run_dir: &Path) -> Result<PidLock, DaemonError> {
    use std::io::Write;
    let path = run_dir.join(PID_FILE);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .map_err(path_err("opening", &path))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let pid = fs::read_to_string(&path)
            .unwrap_or_default()
            .trim()
            .to_string();
        return Err(DaemonError::AlreadyRunning {
            dir: run_dir.to_path_buf(),
            pid,
        });
    }
    file.set_len(0).map_err(path_err("writing", &path))?;
    writeln!(file, "{}", std::process::id()).map_err(path_err("writing", &path))?;
    Ok(PidLock { _file: file })
}

/// Publishes detector events and peer messages on the shared-memory ring.
struct RingSink {
    writer: Writer<BeatRecord>,
    pending: bool,
}

impl EventSink for RingSink {
    fn publish(&mut self, event: &crate::detector::Event) {
        // A full ring is counted by the writer; the consumer sees the gap.
        self.writer.push(&BeatRecord::event(event));
        self.pending = true;
    }

    fn publish_message(&mut self, message: Received<'_>) {
        if let Received::Message {
            at,
            peer,
            link,
            msg_type,
            counter,
            payload,
        } = message
            && let Some(rec) = BeatRecord::message(at, peer, link, msg_type, counter, payload)
        {
            self.writer.push(&rec);
            self.pending = true;
        }
    }

    fn publish_reach(&mut self, report: &crate::reach::ReachReport) {
        self.writer.push(&BeatRecord::reach(report));
        self.pending = true;
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.pending) {
            self.writer.notify();
        }
    }

    fn dropped(&self) -> u64 {
        self.writer.stats().overflowed
    }
}

/// Answers control requests: status by asking the beat thread, which
/// replies at its next turn (at most a keepalive or a detector deadline
/// away); operator requests by forwarding them to the takeover process.
fn control_handler(
    snapshots: channel::Sender<SnapshotRequest>,
    run_dir: PathBuf,
    agent: bool,
    reach: Arc<Mutex<ReachView>>,
) -> impl FnMut(Request) -> Response {
    move |req| match req {
        Request::Status => {
            let (reply, answer) = channel::bounded(1);
            if snapshots.try_send(SnapshotRequest { reply }).is_err() {
                return Response::Error {
                    message: "the beat thread is busy with other status requests".into(),
                };
            }
            match answer.recv_timeout(Duration::from_secs(2)) {
                Ok(mut snap) => {
                    // The prober's view, read here so the beat thread
                    // never takes its lock.
                    if let Ok(view) = reach.lock() {
                        snap.ping = view.status(monotonic_ns());
                    }
                    Response::Status(snap)
                }
                Err(_) => Response::Error {
                    message: "the beat thread did not answer within 2 s".into(),
                },
            }
        }
        Request::Standby { .. } | Request::Takeover { .. } | Request::ClearUnclean if !agent => {
            Response::Error {
                message: "this daemon runs without a takeover process (--no-agent)".into(),
            }
        }
        Request::Standby { .. } | Request::Takeover { .. } | Request::ClearUnclean => {
            forward_to_agent(&run_dir, &req)
        }
    }
}

/// Hands an operator request to the takeover process and returns its
/// answer; the errors name the hop that failed.
fn forward_to_agent(run_dir: &Path, req: &Request) -> Response {
    use crate::control::{AGENT_SOCKET_NAME, Client, ControlError, OPERATOR_AGENT_WAIT};
    let answer = Client::connect_named(run_dir, AGENT_SOCKET_NAME)
        .and_then(|c| c.with_timeout(OPERATOR_AGENT_WAIT).request(req));
    match answer {
        Ok(response) => response,
        Err(ControlError::NoDaemon { .. }) => Response::Error {
            message: "the takeover process is not running (it is being restarted?); try again"
                .into(),
        },
        Err(ControlError::Timeout { .. }) => Response::Error {
            message: format!(
                "the takeover process did not answer the {} request within {} ms",
                req.name(),
                OPERATOR_AGENT_WAIT.as_millis()
            ),
        },
        Err(e) => Response::Error {
            message: format!("the takeover process: {e}"),
        },
    }
}

/// Blocks the signals the daemon handles so only the signal thread sees them.
fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for a signal for up to `timeout`; `None` on timeout.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the set is initialised; info may be null.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

/// The beat thread's core: `beat_core`, else the last core.
pub(crate) fn beat_core(cfg: &Config) -> Option<usize> {
    cfg.hacf
        .beat_core
        .as_ref()
        .map(|c| c.value)
        .or_else(|| crate::engine::realtime::current_cores().last().copied())
}

/// Pins the calling thread and, when ha.cf says `realtime on`, makes it
/// SCHED_FIFO and locks memory. Lacking privilege is said once, not fatal.
fn tune_beat_thread(cfg: &Config) {
    use crate::engine::realtime::{pin_current_thread, promote_current_thread};
    if let Some(id) = beat_core(cfg) {
        match pin_current_thread(id) {
            Ok(()) => tracing::info!(core = id, "beat thread pinned"),
            Err(why) => tracing::warn!(
                core = id,
                "could not pin the beat thread to core {id} ({why}); running unpinned"
            ),
        }
    }
    if !cfg.hacf.realtime.value {
        return;
    }
    let prio = i32::from(cfg.hacf.realtime_priority.value);
    match promote_current_thread(prio) {
        Ok(()) => tracing::info!(priority = prio, "beat thread runs SCHED_FIFO"),
        Err(e) => tracing::warn!(
            "realtime on: SCHED_FIFO priority {prio} refused ({e}); the beat thread runs at normal priority"
        ),
    }
    // SAFETY: mlockall has no memory-safety preconditions.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        tracing::warn!(
            "realtime on: mlockall refused ({}); memory may be paged out",
            io::Error::last_os_error()
        );
    }
}

/// Asks the kernel for quick CPU wake-ups as `cpu_latency` says; a
/// refusal is said, not fatal (wake-ups from idle are then slower).
fn hold_cpu_latency(cfg: &Config) -> Option<crate::engine::cpu_latency::CpuLatencyRequest> {
    use crate::engine::cpu_latency::{CpuLatencyRequest, DEVICE};
    let h = &cfg.hacf;
    let bound = h
        .cpu_latency
        .value
        .requested(h.deadtime.value, h.realtime.value)?;
    match CpuLatencyRequest::hold(bound) {
        Ok(held) => {
            tracing::info!(
                bound_us = bound.as_micros() as u64,
                "cpu_latency: CPU wake-ups held within {} µs ({DEVICE}) while the daemon runs{}",
                bound.as_micros(),
                if bound.is_zero() {
                    ": idle CPUs poll instead of halting"
                } else {
                    ""
                }
            );
            Some(held)
        }
        Err(e) => {
            tracing::warn!(
                "cpu_latency: could not ask for CPU wake-ups within {} µs ({DEVICE}: {e}); \
                 a CPU woken from idle may take tens of µs more (set `cpu_latency off` to \
                 silence this)",
                bound.as_micros()
            );
            None
        }
    }
}

/// The backup sender's core and its duplicates of the links, or why it
/// does not run.
fn backup_plan(
    cfg: &Config,
    links: &[crate::engine::links::OpenLink],
) -> Result<(usize, Vec<BackupLink>), String> {
    let setting = cfg.hacf.beat_backup_core.as_ref().map(|s| s.value);
    let core = crate::engine::backup::choose_core(
        setting,
        beat_core(cfg),
        &crate::engine::realtime::current_cores(),
    )?;
    let dups = links
        .iter()
        .map(|l| BackupLink::duplicate(l).map_err(|e| format!("duplicating {}: {e}", l.label)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((core, dups))
}

/// The backup sender runs pinned to its own core and, with `realtime on`,
/// one SCHED_FIFO priority above the beat thread: it stands in for it, and
/// must not wait behind a beat thread that shares its core (the peer's,
/// when both nodes of a test pair run on one host). It runs microseconds
/// at a time, so it costs nothing to whatever it preempts.
fn tune_backup_thread(cfg: &Config, core: usize) {
    use crate::engine::realtime::{pin_current_thread, promote_current_thread};
    if let Err(why) = pin_current_thread(core) {
        tracing::warn!("could not pin the backup sender to core {core} ({why}); running unpinned");
    }
    let priority = i32::from(cfg.hacf.realtime_priority.value) + 1;
    if cfg.hacf.realtime.value
        && let Err(e) = promote_current_thread(priority)
    {
        tracing::warn!("realtime on: SCHED_FIFO refused for the backup sender ({e})");
    }
}

/// Serial lines start with a delimiter so the peer's deframer begins clean.
fn greet_serial_lines(links: &[crate::engine::links::OpenLink]) {
    for l in links.iter().filter(|l| l.is_serial()) {
        let zero = [crate::wire::serial::RESYNC];
        // SAFETY: writing one byte from a valid buffer to an open fd.
        let _ = unsafe { libc::write(l.raw_fd(), zero.as_ptr().cast(), 1) };
    }
}

/// Starts the takeover process with the ring's fds.
fn spawn_agent(
    opts: &RunOptions,
    run_dir: &Path,
    fds: &RingFds,
    generation: u32,
    epoch: u8,
    restarted: bool,
) -> io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let (ring_fd, wake_fd) = (fds.ring_fd(), fds.wake_fd());
    let mut cmd = Command::new(exe);
    cmd.arg("agent")
        .arg("--dir")
        .arg(&opts.dir)
        .arg("--node")
        .arg(&opts.node)
        .arg("--run-dir")
        .arg(run_dir)
        .env(ENV_RING_FD, ring_fd.to_string())
        .env(ENV_WAKE_FD, wake_fd.to_string())
        .env(crate::takeover::ENV_GENERATION, generation.to_string())
        .env(crate::takeover::ENV_AGENT_EPOCH, epoch.to_string())
        .env(
            crate::takeover::ENV_AGENT_RESTARTED,
            u8::from(restarted).to_string(),
        );
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            clear_cloexec(ring_fd)?;
            clear_cloexec(wake_fd)?;
            // The daemon blocks the signals it waits for; the child must not
            // inherit that mask, or SIGTERM could never stop it.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            // The agent dies with the daemon rather than outliving it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn()
}

/// Reports what differs between the running ha.cf and the file now.
fn hacf_changes(running: &Config, dir: &Path, node: &str) -> Vec<String> {
    let now = match config::load_dir(dir, node) {
        Ok(c) => c,
        Err(e) => return vec![format!("ha.cf no longer loads: {e}")],
    };
    let keep = |text: String| -> Vec<String> {
        text.lines()
            .take_while(|l| !l.starts_with("# authkeys"))
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let before = keep(config::render_effective(running));
    let after = keep(config::render_effective(&now));
    after.into_iter().filter(|l| !before.contains(l)).collect()
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(opts: RunOptions) -> Result<(), DaemonError> {
    let signals = block_signals();
    let cfg = config::load_dir(&opts.dir, &opts.node)?;
    for w in cfg.warnings.iter() {
        tracing::warn!("{w}");
    }
    let run_dir = opts
        .run_dir
        .clone()
        .unwrap_or_else(|| cfg.hacf.run_dir.value.clone());
    let state_dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| cfg.hacf.state_dir.value.clone());
    make_private_dir(&run_dir)?;
    make_private_dir(&state_dir)?;
    let _lock = lock_run_dir(&run_dir)?;
    // Bound before anything else starts, so a second daemon on this run dir
    // fails early with the first one's pid.
    let control = ControlServer::bind(&run_dir).map_err(|e| DaemonError::Control(e.to_string()))?;
    // Held until the daemon exits (the kernel drops it with the process,
    // however it ends); before the takeover process starts, so its
    // wake-ups are quick from the first verdict on.
    let _cpu_latency = hold_cpu_latency(&cfg);

    let mut store = GenerationStore::open(&state_dir)?;
    let generation = store.take_next()?;
    // Reserved now so a sequence roll (after 2^32 frames) needs no disk
    // write on the beat thread.
    store.reserve(generation.saturating_add(1))?;

    let local: HashSet<_> = local_addresses().unwrap_or_default();
    let plan = BeatPlan::with_device_addresses(&cfg, &local, |dev| {
        crate::engine::links::ipv4_of(dev)
            .ok()
            .flatten()
            .map(|i| std::net::IpAddr::V4(i.address))
    })?;
    for s in &plan.skipped {
        tracing::info!("ha.cf:{}: {}", s.line, s.reason);
    }
    let setups: Vec<LinkSetup> = plan.links.iter().map(|l| l.setup.clone()).collect();
    let links = open_links(&setups)?;
    for l in &links {
        for note in &l.notes {
            tracing::warn!("{}: {note}", l.label);
        }
    }
    greet_serial_lines(&links);
    let backup_links = backup_plan(&cfg, &links);
    let (backend, fallback) = open_backend(opts.io, links)?;
    match &fallback {
        Some(reason) => tracing::warn!(
            "io_uring not used ({reason}); running on {}",
            crate::engine::io::Backend::name(&backend)
        ),
        None => tracing::info!(
            "io backend: {}",
            crate::engine::io::Backend::describe(&backend)
        ),
    }

    // TWINBEAT_RING_CAPACITY (a power of two) exists so tests can overflow
    // the ring on purpose.
    let capacity = std::env::var("TWINBEAT_RING_CAPACITY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RING_CAPACITY);
    let (writer, fds) =
        Ring::create::<BeatRecord>(Backing::File(&run_dir.join(RING_FILE)), capacity)?;
    let outbox = crate::engine::outbox::create_for_beat(&run_dir)?;
    let keys = KeyRing::new(&cfg.auth)?;
    let keys_for_backup = keys.clone();
    let serial_gap: Vec<Option<u64>> = plan
        .links
        .iter()
        .map(|l| match l.setup {
            LinkSetup::Serial { baud, .. } => {
                let frame = crate::wire::serial_keepalive_wire_ns(cfg.auth.active(), baud);
                Some((plan.keepalive / 2).max(2 * frame))
            }
            _ => None,
        })
        .collect();
    let info = LoopInfo {
        link_labels: plan.links.iter().map(|l| l.setup.label()).collect(),
        link_lines: plan.links.iter().map(|l| l.line).collect(),
        io_fallback_reason: fallback,
        pid: std::process::id(),
        backup_core: backup_links
            .as_ref()
            .map(|(core, _)| *core)
            .map_err(Clone::clone),
    };
    let mut beat = BeatLoop::new(
        &plan,
        backend,
        keys,
        generation,
        &serial_gap,
        info,
        monotonic_ns(),
    )
    .map_err(|e| DaemonError::Beat(e.to_string()))?
    .with_outbox(outbox);
    let shared = beat.shared();

    let stop = Arc::new(AtomicBool::new(false));
    let (snap_tx, snap_rx) = channel::bounded::<SnapshotRequest>(4);
    let (keys_tx, keys_rx) = channel::bounded::<KeyRing>(1);
    let (backup_keys_tx, backup_keys_rx) = channel::bounded::<KeyRing>(1);
    let (reach_tx, reach_rx) = channel::bounded::<ReachReport>(16);
    let controls = Controls {
        stop: stop.clone(),
        snapshots: snap_rx,
        keys: keys_rx,
        reach: reach_rx,
    };
    let reach_view = Arc::new(Mutex::new(ReachView::default()));
    let control_stop = stop.clone();
    let handler = control_handler(snap_tx, run_dir.clone(), !opts.no_agent, reach_view.clone());
    let control_thread = crate::engine::realtime::thread_named("control")
        .spawn(move || control.serve(handler, control_stop))?;
    let prober = start_prober(&cfg, reach_tx, reach_view, &stop)?;

    tracing::info!(
        node = %plan.node_name,
        generation,
        links = plan.links.len(),
        keepalive_us = plan.keepalive / 1_000,
        deadtime_us = plan.detector.deadtime / 1_000,
        "twinbeat starting"
    );

    // The takeover process, supervised: restarted whenever it exits.
    let releasing = Arc::new(AtomicBool::new(false));
    let agent = (!opts.no_agent).then(|| {
        let opts = opts.clone();
        let run_dir = run_dir.clone();
        let supervision = Supervision {
            stop: stop.clone(),
            releasing: releasing.clone(),
        };
        crate::engine::realtime::thread_named("agent-supervisor")
            .spawn(move || supervise_agent(&opts, &run_dir, &fds, generation, &supervision))
    });
    if let Some(Err(e)) = &agent {
        tracing::error!(
            "cannot start the thread that runs the takeover process ({e}): keepalives only, no resource groups"
        );
    }

    let backup_thread = match backup_links {
        Ok((core, links)) => {
            let mut sender = BackupSender::new(
                shared,
                links,
                keys_for_backup,
                backup_keys_rx,
                Identity {
                    node_id: plan.node_id,
                    cluster_id: plan.cluster_id,
                },
                Cover::new(CoverTimings::new(plan.keepalive, plan.detector.deadtime)),
                plan.detector.deadtime,
                core,
            );
            let backup_cfg = cfg.clone();
            let stop = stop.clone();
            tracing::info!(
                core,
                "backup sender on core {core}: covers hold-ups of the beat thread up to {} ms",
                crate::engine::backup::COVER_LIMIT / crate::time::NANOS_PER_MILLI
            );
            Some(
                crate::engine::realtime::thread_named("beat-backup").spawn(move || {
                    tune_backup_thread(&backup_cfg, core);
                    sender.run(&stop)
                })?,
            )
        }
        Err(why) => {
            tracing::info!("no backup sender: {why}");
            None
        }
    };

    // Signals (SIGTERM, SIGINT, SIGHUP) are taken on a thread of their own;
    // every thread blocks them, and that one waits for them.
    let signal_thread = {
        let (cfg, opts, stop, releasing) =
            (cfg.clone(), opts.clone(), stop.clone(), releasing.clone());
        let has_agent = matches!(agent, Some(Ok(_)));
        crate::engine::realtime::thread_named("signals").spawn(move || {
            // Nobody else takes SIGTERM: if this thread ends by a panic,
            // the daemon stops rather than run on deaf to signals.
            let _stop_if_lost = StopOnPanic(stop.clone());
            // With `realtime on` it runs SCHED_FIFO 1 (it sleeps all the
            // time), so a reload or a stop is not queued behind normal load.
            if cfg.hacf.realtime.value {
                let _ = crate::engine::realtime::promote_current_thread(1);
            }
            while !stop.load(Ordering::Relaxed) {
                match wait_signal(&signals, Duration::from_millis(200)) {
                    Some(libc::SIGHUP) => {
                        let reloaded =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                reload(&cfg, &opts, &[&keys_tx, &backup_keys_tx])
                            }));
                        if reloaded.is_err() {
                            tracing::error!(
                                "SIGHUP: the reload panicked; running on with the keys in use"
                            );
                        }
                    }
                    // A planned shutdown: the takeover process releases our
                    // groups and tells the peer while keepalives still flow;
                    // the supervisor stops everything once it is done. A
                    // second signal stops now.
                    Some(sig) if has_agent && !releasing.load(Ordering::SeqCst) => {
                        tracing::info!("signal {sig}: releasing resource groups, then stopping");
                        releasing.store(true, Ordering::SeqCst);
                    }
                    Some(sig) => {
                        tracing::info!("signal {sig}: stopping");
                        stop.store(true, Ordering::SeqCst);
                    }
                    None => {}
                }
            }
        })?
    };

    // The beat loop runs on this, the main thread. A signal sent to the
    // daemon is handed to the main thread first when it does not block
    // it, and SIGSTOP cannot be blocked: the beat thread itself takes the
    // stop and sends nothing more. With the loop on a thread of its own,
    // SIGSTOP woke the main thread first, which then stopped the others,
    // and the loop went on sending meanwhile (its last keepalive left
    // ~0.14 ms after the signal, p50, on a busy VM).
    tune_beat_thread(&cfg);
    let mut sink = RingSink {
        writer,
        pending: false,
    };
    // A panic in the loop is an error of the daemon, reported and shut
    // down like any other, not an abrupt exit of the process.
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        beat.run(&controls, &mut sink)
    })) {
        Ok(r) => r.map_err(|e| DaemonError::Beat(e.to_string())),
        Err(_) => Err(DaemonError::Beat("the keepalive loop panicked".into())),
    };
    stop.store(true, Ordering::SeqCst);
    if signal_thread.join().is_err() {
        tracing::error!("the signal thread panicked");
    }
    if let Some(h) = backup_thread
        && h.join().is_err()
    {
        tracing::error!("the backup sender panicked");
    }
    if let Some(Ok(h)) = agent {
        let _ = h.join();
    }
    if let Some(h) = prober {
        let _ = h.join();
    }
    match control_thread.join() {
        Ok(Err(e)) => tracing::warn!("control socket: {e}"),
        Err(_) => tracing::error!("the control thread panicked"),
        Ok(Ok(())) => {}
    }
    result?;
    tracing::info!("twinbeat stopped");
    Ok(())
}

/// Sets the stop flag when dropped by a panicking thread.
struct StopOnPanic(Arc<AtomicBool>);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// The prober thread, when ha.cf names ping nodes or ping groups.
fn start_prober(
    cfg: &Config,
    reports: channel::Sender<ReachReport>,
    view: Arc<Mutex<ReachView>>,
    stop: &Arc<AtomicBool>,
) -> io::Result<Option<std::thread::JoinHandle<()>>> {
    let targets: Vec<Target> = crate::reach::ReachConfig::targets_of(&cfg.hacf);
    if targets.is_empty() {
        return Ok(None);
    }
    let preferred = std::env::var(crate::reach::prober::ENV_PING_METHOD)
        .ok()
        .and_then(|m| Method::parse(&m));
    let setup = ProberSetup {
        targets,
        deadping: u64::try_from(cfg.hacf.deadping.value.as_nanos()).unwrap_or(u64::MAX),
        preferred,
    };
    spawn_prober(setup, reports, view, stop.clone()).map(Some)
}

fn reload(cfg: &Config, opts: &RunOptions, keys_tx: &[&channel::Sender<KeyRing>]) {
    let path = opts.dir.join(config::AUTHKEYS_FILE);
    match config::authkeys::load(&path)
        .map_err(|e| e.to_string())
        .and_then(|(auth, _)| KeyRing::new(&auth).map_err(|e| e.to_string()))
    {
        Ok(keys) => {
            let idx = keys.active_index();
            // Every sender signs with the new key (a sender that is not
            // running needs none).
            let taken = keys_tx.iter().all(|tx| {
                !matches!(
                    tx.try_send(keys.clone()),
                    Err(channel::TrySendError::Full(_))
                )
            });
            if taken {
                tracing::info!("SIGHUP: authkeys re-read; key {idx} now signs");
            } else {
                tracing::warn!(
                    "SIGHUP: authkeys re-read, but the previous reload is not taken yet; send SIGHUP again"
                );
            }
        }
        Err(e) => tracing::error!("SIGHUP: authkeys not reloaded, the old keys stay: {e}"),
    }
    let changes = hacf_changes(cfg, &opts.dir, &opts.node);
    if changes.is_empty() {
        tracing::info!("SIGHUP: ha.cf unchanged");
    }
    for c in changes {
        tracing::warn!("SIGHUP: ha.cf changed, needs a restart to take effect: {c}");
    }
}

/// How long a planned shutdown may take to release every group before the
/// daemon stops anyway (and says so).
pub const RELEASE_LIMIT: Duration = Duration::from_secs(120);

struct Supervision {
    stop: Arc<AtomicBool>,
    releasing: Arc<AtomicBool>,
}

fn supervise_agent(
    opts: &RunOptions,
    run_dir: &Path,
    fds: &RingFds,
    generation: u32,
    sup: &Supervision,
) {
    let stop = &sup.stop;
    let mut child: Option<Child> = None;
    let mut backoff = Duration::from_millis(50);
    // Counts the takeover processes of this run: a restarted one marks its
    // messages with the next epoch so the peer hears it (see cluster).
    let mut epoch: u8 = 0;
    let mut started_once = false;
    while !stop.load(Ordering::Relaxed) {
        if sup.releasing.load(Ordering::SeqCst) {
            release_then_stop(child.take(), stop);
            return;
        }
        match child.as_mut().map(|c| c.try_wait()) {
            None => match spawn_agent(opts, run_dir, fds, generation, epoch, started_once) {
                Ok(c) => {
                    if started_once {
                        tracing::info!(epoch, "restarted takeover process: it rebuilds its view");
                    }
                    // Tests read the pid at the end of this line.
                    tracing::info!(pid = c.id(), "takeover process started");
                    started_once = true;
                    epoch = epoch.wrapping_add(1);
                    child = Some(c);
                }
                Err(e) => {
                    tracing::error!("cannot start the takeover process: {e}");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            },
            Some(Ok(Some(status))) => {
                tracing::error!("takeover process exited ({status}); restarting it");
                child = None;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Some(Ok(None)) => {
                backoff = Duration::from_millis(50);
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(Err(e)) => {
                tracing::error!("waiting for the takeover process: {e}");
                child = None;
            }
        }
    }
    if let Some(c) = child {
        terminate_within(c, RELEASE_LIMIT);
    }
}

/// SIGTERM to the takeover process (it releases our groups and tells the
/// peer), wait for it within RELEASE_LIMIT, then stop the daemon.
fn release_then_stop(child: Option<Child>, stop: &AtomicBool) {
    if let Some(c) = child {
        terminate_within(c, RELEASE_LIMIT);
    }
    stop.store(true, Ordering::SeqCst);
}

/// SIGTERM to the takeover process, which releases our groups before it
/// exits; killed if it has not exited within `limit`, so a hung stop
/// script cannot keep the daemon from exiting (said loudly: resources
/// may then still run here).
fn terminate_within(mut c: Child, limit: Duration) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    loop {
        match c.try_wait() {
            Ok(Some(status)) => {
                tracing::info!("takeover process finished the release ({status})");
                return;
            }
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                tracing::error!(
                    "the takeover process did not finish releasing within {limit:?}; \
                     killing it: resources may still run here"
                );
                let _ = c.kill();
                let _ = c.wait();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn a_takeover_process_that_ignores_sigterm_is_killed_at_the_limit() {
        // Stands for a takeover process stuck in a stop script.
        let child = Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 30"])
            .spawn()
            .expect("sh");
        let pid = child.id() as i32;
        // Let the shell install its trap before the signal comes.
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        terminate_within(child, Duration::from_millis(300));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300),
            "it waited the limit out"
        );
        assert!(
            took < Duration::from_secs(20),
            "it did not wait for the sleep"
        );
        // SAFETY: signal 0 only asks whether the pid exists (it was reaped).
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "killed and reaped");
    }

    #[test]
    fn a_takeover_process_that_exits_on_sigterm_is_not_waited_for_longer() {
        let child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let started = Instant::now();
        terminate_within(child, Duration::from_secs(20));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
