//! Running one script action as a child in its own process group, with a
//! timeout, its output logged line by line.
//!
//! - The child leads a new process group: on timeout the whole group (the
//!   script and everything it forked) gets SIGTERM, then SIGKILL after a
//!   grace. The group is set by `posix_spawn` itself (no code runs between
//!   fork and exec), so the child is started with vfork semantics: no copy
//!   of this process's page tables, which a plain fork of the (mlocked)
//!   takeover process took most of a millisecond for.
//! - One poll loop watches stdout, stderr and a pidfd of the child (with a
//!   short-interval `try_wait` fallback where `pidfd_open` is refused). Pipes
//!   are read as soon as they are readable, so a flooding script never
//!   blocks on a full pipe.
//! - The action ends when the child has exited. If something the script left
//!   behind (a daemon that did not close its stdout) still holds a pipe, the
//!   rest is handed to a detached drainer thread: the runner never waits for
//!   such processes, and they are not sent SIGPIPE either.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::lines::{Line, LineSplitter};

/// Which of the child's output streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Where script output goes, one line at a time, tagged with the resource.
pub trait LineSink: Send + Sync {
    fn line(&self, tag: &str, stream: Stream, line: &str, truncated: bool);
}

/// Sends script output to `tracing` (target `twinbeat::resources`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl LineSink for TracingSink {
    fn line(&self, tag: &str, stream: Stream, line: &str, truncated: bool) {
        if truncated {
            tracing::info!(target: "twinbeat::resources", resource = tag, stream = stream.name(), "{line} [line truncated]");
        } else {
            tracing::info!(target: "twinbeat::resources", resource = tag, stream = stream.name(), "{line}");
        }
    }
}

/// Bounds on what one action may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Longer lines are cut to this many bytes.
    pub max_line: usize,
    /// Bytes of stdout kept for the caller (status is judged on them).
    pub capture: usize,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            max_line: 4096,
            capture: 64 * 1024,
        }
    }
}

/// One command to run.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a str],
    pub env: &'a [(String, String)],
    /// Names the resource in log lines.
    pub tag: &'a str,
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    /// Still running at the timeout: its process group was terminated.
    TimedOut,
}

/// The result of a finished (or terminated) child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub ending: Ending,
    /// The first [`OutputLimits::capture`] bytes of stdout.
    pub stdout: Vec<u8>,
    pub elapsed: Duration,
}

/// Without a pidfd the child is polled this often.
const TRY_WAIT_INTERVAL: Duration = Duration::from_millis(2);
const READ_CHUNK: usize = 8192;
/// 64 reads of [`READ_CHUNK`]: half a megabyte per pipe per round.
const MAX_READS_PER_ROUND: usize = 64;

/// Runs `inv` in a new session / process group; on `timeout` the group gets
/// SIGTERM, and SIGKILL once `kill_grace` has passed.
pub fn run_in_own_group(
    inv: Invocation<'_>,
    timeout: Duration,
    kill_grace: Duration,
    limits: OutputLimits,
    sink: Arc<dyn LineSink>,
) -> io::Result<Finished> {
    let started = Instant::now();
    let mut command = Command::new(inv.program);
    command
        .args(inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A process group, not a session: std can only hand the former to
    // posix_spawn, and a pre_exec hook would force a full fork.
    command.process_group(0);
    let mut child = crate::engine::realtime::with_script_affinity(|| command.spawn())?;
    let pgid = child.id() as libc::pid_t;

    let mut pipes = Pipes::new(&mut child, inv.tag, limits, sink)?;
    let pidfd = open_pidfd(pgid);
    let deadline = started + timeout;
    let mut phase = Phase::Running;
    let mut status: Option<ExitStatus> = None;

    loop {
        if status.is_none() {
            status = child.try_wait()?;
        }
        let now = Instant::now();
        match phase {
            Phase::Running if status.is_none() && now >= deadline => {
                signal_group(pgid, libc::SIGTERM);
                phase = Phase::Terminating {
                    kill_at: now + kill_grace,
                };
                continue;
            }
            Phase::Terminating { kill_at }
                if now >= kill_at || (status.is_some() && group_gone(pgid)) =>
            {
                if !group_gone(pgid) {
                    signal_group(pgid, libc::SIGKILL);
                }
                phase = Phase::Killed;
                continue;
            }
            _ => {}
        }
        let settled = match phase {
            Phase::Running => status.is_some(),
            Phase::Terminating { .. } => false,
            Phase::Killed => status.is_some(),
        };
        if settled {
            break;
        }

        let wake_at = match phase {
            Phase::Running => Some(deadline),
            Phase::Terminating { kill_at } => Some(kill_at),
            Phase::Killed => None,
        };
        let mut wait = wake_at.map(|t| t.saturating_duration_since(now));
        let watch_pid = pidfd.as_ref().filter(|_| status.is_none());
        if watch_pid.is_none() || matches!(phase, Phase::Terminating { .. }) {
            // Group membership has no fd to wait on: look again soon.
            wait = Some(wait.map_or(TRY_WAIT_INTERVAL, |w| w.min(TRY_WAIT_INTERVAL)));
        }
        pipes.poll_and_read(watch_pid.map(AsRawFd::as_raw_fd), wait)?;
    }

    // The child's last writes are already in the pipes: take them now.
    pipes.read_available()?;
    let stdout = std::mem::take(&mut pipes.captured);
    if pipes.is_open() {
        pipes.hand_off();
    } else {
        pipes.finish();
    }
    let ending = match (phase, status) {
        (Phase::Running, Some(st)) => match (st.code(), st.signal()) {
            (Some(code), _) => Ending::Exited(code),
            (None, Some(sig)) => Ending::Signaled(sig),
            (None, None) => Ending::Exited(-1),
        },
        _ => Ending::TimedOut,
    };
    Ok(Finished {
        ending,
        stdout,
        elapsed: started.elapsed(),
    })
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Running,
    Terminating { kill_at: Instant },
    Killed,
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: plain syscall; a negative pid addresses the process group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// No process of the group is left (zombies not yet reaped still count).
fn group_gone(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(-pgid, 0) };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

fn open_pidfd(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just gave us this fd and nobody else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One output pipe of the child and its line splitter.
struct Pipe {
    fd: Option<OwnedFd>,
    stream: Stream,
    splitter: LineSplitter,
}

/// The child's stdout and stderr while they are open.
struct Pipes {
    pipes: [Pipe; 2],
    tag: String,
    captured: Vec<u8>,
    capture_limit: usize,
    sink: Arc<dyn LineSink>,
}

impl Pipes {
    fn new(
        child: &mut Child,
        tag: &str,
        limits: OutputLimits,
        sink: Arc<dyn LineSink>,
    ) -> io::Result<Self> {
        let stdout: Option<OwnedFd> = child.stdout.take().map(Into::into);
        let stderr: Option<OwnedFd> = child.stderr.take().map(Into::into);
        for fd in [&stdout, &stderr].into_iter().flatten() {
            set_nonblocking(fd.as_raw_fd(), true)?;
        }
        Ok(Pipes {
            pipes: [
                Pipe {
                    fd: stdout,
                    stream: Stream::Stdout,
                    splitter: LineSplitter::new(limits.max_line),
                },
                Pipe {
                    fd: stderr,
                    stream: Stream::Stderr,
                    splitter: LineSplitter::new(limits.max_line),
                },
            ],
            tag: tag.to_string(),
            captured: Vec::new(),
            capture_limit: limits.capture,
            sink,
        })
    }

    fn is_open(&self) -> bool {
        self.pipes.iter().any(|p| p.fd.is_some())
    }

    /// Waits until a pipe or `extra` is readable or `wait` passes (forever
    /// when `None`), then reads whatever is there.
    fn poll_and_read(&mut self, extra: Option<RawFd>, wait: Option<Duration>) -> io::Result<()> {
        let mut fds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; 3];
        for (slot, pipe) in fds.iter_mut().zip(&self.pipes) {
            slot.fd = pipe.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        }
        fds[2].fd = extra.unwrap_or(-1);
        if fds.iter().all(|f| f.fd < 0) {
            if let Some(wait) = wait {
                std::thread::sleep(wait);
            }
            return Ok(());
        }
        let timeout_ms = match wait {
            None => -1,
            // Round up so a deadline is never polled for early in a spin.
            Some(w) => w.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int,
        };
        // SAFETY: `fds` is a valid array of pollfd for the call's duration.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        self.read_available()
    }

    /// Reads every open pipe until it would block or ends.
    fn read_available(&mut self) -> io::Result<()> {
        let mut buf = [0u8; READ_CHUNK];
        for index in 0..self.pipes.len() {
            // Bounded per round so a flood cannot keep the caller from its
            // deadline checks; the next round reads on.
            let mut reads = 0;
            while let Some(fd) = self
                .pipes
                .get(index)
                .and_then(|p| p.fd.as_ref())
                .map(AsRawFd::as_raw_fd)
            {
                if reads == MAX_READS_PER_ROUND {
                    break;
                }
                reads += 1;
                // SAFETY: reading into a stack buffer of the length given.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    let err = io::Error::last_os_error();
                    match err.kind() {
                        io::ErrorKind::WouldBlock => break,
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(err),
                    }
                }
                let n = n as usize;
                if n == 0 {
                    self.close(index);
                    break;
                }
                let chunk = buf.get(..n).unwrap_or(&[]);
                self.take_chunk(index, chunk);
            }
        }
        Ok(())
    }

    fn take_chunk(&mut self, index: usize, chunk: &[u8]) {
        let Pipes {
            pipes,
            tag,
            captured,
            capture_limit,
            sink,
        } = self;
        let Some(pipe) = pipes.get_mut(index) else {
            return;
        };
        if pipe.stream == Stream::Stdout && captured.len() < *capture_limit {
            let room = *capture_limit - captured.len();
            captured.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        let stream = pipe.stream;
        pipe.splitter
            .push(chunk, |line| emit(sink.as_ref(), tag, stream, line));
    }

    fn close(&mut self, index: usize) {
        let Pipes {
            pipes, tag, sink, ..
        } = self;
        if let Some(pipe) = pipes.get_mut(index) {
            pipe.fd = None;
            let stream = pipe.stream;
            pipe.splitter
                .finish(|line| emit(sink.as_ref(), tag, stream, line));
        }
    }

    fn finish(&mut self) {
        for index in 0..self.pipes.len() {
            self.close(index);
        }
    }

    /// Leaves the still-open pipes to a thread that logs them until they end.
    fn hand_off(mut self) {
        tracing::debug!(target: "twinbeat::resources", resource = %self.tag,
            "a process left behind by the script still holds its output; draining it in the background");
        let spawned = crate::engine::realtime::thread_named("script-drain").spawn(move || {
            for pipe in self.pipes.iter().filter_map(|p| p.fd.as_ref()) {
                let _ = set_nonblocking(pipe.as_raw_fd(), true);
            }
            while self.is_open() {
                if self.poll_and_read(None, None).is_err() {
                    break;
                }
            }
            self.finish();
        });
        if let Err(err) = spawned {
            // Dropping the pipes instead: the holders may see EPIPE, the runner goes on.
            tracing::warn!(target: "twinbeat::resources", "cannot start an output drainer: {err}");
        }
    }
}

fn emit(sink: &dyn LineSink, tag: &str, stream: Stream, line: Line<'_>) {
    let text = String::from_utf8_lossy(line.bytes);
    sink.line(tag, stream, &text, line.truncated);
}
