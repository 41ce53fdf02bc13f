//! The I/O of a latency run: opening the link, the backend and the pinning
//! the daemon uses, pacing probes, answering them, and writing the files.
//!
//! Sender: a hello (retried every [`HELLO_EVERY`]) until the reflector
//! answers, then probes on an absolute schedule `start + i / rate` (a late
//! wake-up sends every probe that is due, up to [`MAX_BURST`] per turn, each
//! stamped when it is actually sent, so lateness of the sender never shows
//! up as RTT). After the last probe it waits for replies for the grace
//! time, or less when all have come, and says bye.
//!
//! Reflector over UDP: it listens on the address given, learns the sender
//! from its hello, then opens the daemon's kind of link (a socket connected
//! to that sender, with kernel receive stamps and DSCP CS6) and answers the
//! hello. The session ends at the sender's bye, or after the idle timeout,
//! and the reflector listens again (or exits with `--once`). One sender at
//! a time. Over serial the line is simply opened and answered on.
//!
//! Receive stamps are the backends' (the kernel's SO_TIMESTAMPNS for UDP,
//! the wake-up for serial); send stamps are read just before the send is
//! queued.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2Serializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use socket2::{Domain, Protocol, Socket, Type};

use super::probe::{HEADER_LEN, Kind, Probe, reflect_in_place};
use super::report::{RunReport, progress_line, render_table, write_hgrm};
use super::stats::{ReplyOutcome, Tracker};
use super::{LatencyError, Medium, ReflectOptions, SendOptions};
use crate::engine::io::{
    AnyBackend, Backend, BackendKind, Completion, MAX_DATAGRAM, SendError, open_backend,
};
use crate::engine::links::{LinkSetup, open_link};
use crate::time::{NANOS_PER_MILLI, NANOS_PER_SEC, Nanos, monotonic_ns};
use crate::wire::serial::{Deframer, RESYNC, encode as cobs_encode, max_framed_len};

/// How often an unanswered hello is repeated.
pub const HELLO_EVERY: Nanos = 100 * NANOS_PER_MILLI;
/// Most probes sent in one turn of the loop when the sender is behind.
pub const MAX_BURST: u64 = 32;
/// Requests a reflector holds between two turns of its loop, and the bytes
/// they may take (a 4 MiB socket buffer holds about 5000 small datagrams).
const PENDING_ENTRIES: usize = 8192;
const PENDING_ARENA: usize = 2 << 20;
/// Socket receive buffer asked for: a stall of the reader (a busy host)
/// must not turn into loss the link never had. 4 MiB holds about 4000
/// small datagrams, 0.4 s at 10 kHz.
const RECV_BUFFER: usize = 4 << 20;
/// Largest framed probe on any medium.
const FRAMED_MAX: usize = max_framed_len(MAX_DATAGRAM);

/// Pins the calling thread to `core`, as the daemon pins its beat thread.
pub fn pin_to_core(core: usize) -> Result<(), LatencyError> {
    crate::engine::realtime::pin_current_thread(core).map_err(|why| LatencyError::Pin { core, why })
}

/// Frames probes for the medium and finds them again in what arrives.
struct Framing {
    serial: bool,
    deframer: Deframer,
    out: [u8; FRAMED_MAX],
}

impl Framing {
    fn new(serial: bool) -> Self {
        Self {
            serial,
            deframer: Deframer::new(),
            out: [0; FRAMED_MAX],
        }
    }

    /// Sends `probe` on link 0, COBS-framed on serial.
    fn send(&mut self, backend: &mut AnyBackend, probe: &[u8]) -> Result<(), SendError> {
        if !self.serial {
            return backend.send(0, probe);
        }
        match cobs_encode(probe, &mut self.out) {
            Ok(n) => backend.send(0, self.out.get(..n).unwrap_or_default()),
            Err(_) => Err(SendError::TooLarge {
                len: probe.len(),
                max: FRAMED_MAX,
            }),
        }
    }

    /// Hands every probe in a completion to `on`, with its receive time;
    /// returns the errno of a link error.
    fn receive(&mut self, c: Completion<'_>, mut on: impl FnMut(&[u8], Nanos)) -> Option<i32> {
        match c {
            Completion::Datagram { bytes, rx_time, .. } => on(bytes, rx_time),
            Completion::SerialBytes { bytes, rx_time, .. } => {
                self.deframer.push(bytes, |frame| on(frame, rx_time));
            }
            Completion::LinkError { error, .. } => return Some(error.raw_os_error().unwrap_or(0)),
            Completion::Timer => {}
        }
        None
    }
}

/// Opens `medium` as the daemon would open it and the backend over it;
/// serial lines start with a resynchronising delimiter.
fn open(setup: &LinkSetup, io: BackendKind) -> Result<(AnyBackend, Option<String>), LatencyError> {
    let link = open_link(setup)?;
    if let crate::engine::links::Medium::Udp { socket, .. } = &link.medium {
        enlarge_recv_buffer(socket);
    }
    for note in &link.notes {
        eprintln!("twinbeat latency: {note}");
    }
    let serial = link.is_serial();
    let (mut backend, fallback) = open_backend(io, vec![link])?;
    if serial {
        backend.send(0, &[RESYNC])?;
    }
    Ok((backend, fallback))
}

/// SO_RCVBUFFORCE when privileged (it passes net.core.rmem_max), else as
/// much as rmem_max allows; best effort either way.
fn enlarge_recv_buffer(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let size = libc::c_int::try_from(RECV_BUFFER).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid fd and an int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    }
}

fn session_id() -> u32 {
    let mixed = monotonic_ns() ^ (u64::from(std::process::id()) << 32);
    match (mixed ^ (mixed >> 32)) as u32 {
        0 => 1,
        s => s,
    }
}

/// The schedule's time for probe `i`: exact, so cadence never drifts.
fn due(start: Nanos, i: u64, rate_hz: u32) -> Nanos {
    let offset = u128::from(i) * u128::from(NANOS_PER_SEC) / u128::from(rate_hz.max(1));
    start.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
}

/// The interval log: one RTT and one forward-jitter histogram per second.
struct IntervalLog {
    file: BufWriter<File>,
    serializer: V2Serializer,
    started: Nanos,
    written: bool,
}

impl IntervalLog {
    fn create(path: &std::path::Path, started: Nanos) -> Result<Self, LatencyError> {
        let file =
            File::create(path).map_err(LatencyError::io(format!("creating {}", path.display())))?;
        Ok(Self {
            file: BufWriter::new(file),
            serializer: V2Serializer::new(),
            started,
            written: false,
        })
    }

    /// Appends one interval (the header first, once). The writer the crate
    /// offers borrows file and serializer, so it is rebuilt per interval;
    /// the header goes out only with the first. The max column stays in ns
    /// (no MaxValueDivisor), which a rebuilt writer could not keep without
    /// repeating the header line.
    fn write(&mut self, tracker: &Tracker, from: Nanos, to: Nanos) -> Result<(), LatencyError> {
        let mut builder = IntervalLogWriterBuilder::new();
        if !self.written {
            let now = SystemTime::now();
            builder
                .add_comment("twinbeat latency: tag rtt = round-trip time, tag jitter = forward transit variation; values in ns")
                .with_start_time(now)
                .with_base_time(now);
        }
        let mut writer = builder
            .begin_log_with(&mut self.file, &mut self.serializer)
            .map_err(|e| LatencyError::IntervalLog(e.to_string()))?;
        let start = Duration::from_nanos(from.saturating_sub(self.started));
        let length = Duration::from_nanos(to.saturating_sub(from));
        let (rtt, jitter) = tracker.interval();
        for (h, tag) in [(rtt, "rtt"), (jitter, "jitter")] {
            writer
                .write_histogram(h, start, length, Tag::new(tag))
                .map_err(|e| LatencyError::IntervalLog(e.to_string()))?;
        }
        self.written = true;
        Ok(())
    }

    fn finish(mut self) -> Result<(), LatencyError> {
        self.file
            .flush()
            .map_err(|e| LatencyError::IntervalLog(e.to_string()))
    }
}

fn link_setup_for_send(o: &SendOptions) -> LinkSetup {
    match &o.medium {
        Medium::Udp(peer) => {
            let bind = o.bind.unwrap_or_else(|| match peer {
                SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
                SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
            });
            LinkSetup::Ucast {
                dev: None,
                bind,
                peer: *peer,
            }
        }
        Medium::Serial { path, baud } => LinkSetup::Serial {
            path: path.clone(),
            baud: *baud,
        },
    }
}

/// Runs the sender: hello, probes, grace, bye. Progress goes to `progress`
/// once a second; the final table is in the returned report's
/// [`render_table`].
pub fn send(o: &SendOptions, progress: &mut dyn Write) -> Result<RunReport, LatencyError> {
    o.check()?;
    if let Some(core) = o.core {
        pin_to_core(core)?;
    }
    let (mut backend, fallback) = open(&link_setup_for_send(o), o.io)?;
    if let Some(reason) = fallback {
        let _ = writeln!(progress, "twinbeat latency: {reason}");
    }
    let mut framing = Framing::new(matches!(o.medium, Medium::Serial { .. }));
    let mut tracker = Tracker::new(session_id())?;
    let mut link_errors = 0u64;
    let mut last_error: Option<i32> = None;
    let mut buf = vec![0u8; o.size];

    // Hello until the reflector answers.
    let began = monotonic_ns();
    let mut acked = false;
    let mut next_hello = began;
    while !acked {
        let now = monotonic_ns();
        if now >= began.saturating_add(o.connect_timeout) {
            return Err(LatencyError::NoReflector {
                target: o.medium.label(),
                timeout: o.connect_timeout,
            });
        }
        if now >= next_hello {
            Probe::request(Kind::Hello, tracker.session(), 0, now)
                .encode(&mut buf)
                .map_err(|e| LatencyError::BadArgument(e.to_string()))?;
            match framing.send(&mut backend, &buf) {
                Ok(()) | Err(SendError::SlotsExhausted(_)) => {}
                Err(e) => return Err(e.into()),
            }
            next_hello = now + HELLO_EVERY;
        }
        let session = tracker.session();
        backend
            .wait(next_hello, |c| {
                framing.receive(c, |bytes, _| {
                    if let Ok(p) = Probe::decode(bytes) {
                        acked |= p.kind == Kind::HelloAck && p.session == session;
                    }
                });
            })
            .map_err(LatencyError::io("waiting for the reflector"))?;
    }

    let what = format!(
        "{}, {} B at {} Hz, {} probes, {}",
        o.medium.label(),
        o.size,
        o.rate_hz,
        o.probes,
        backend.name()
    );
    let _ = writeln!(progress, "twinbeat latency: {what}");
    let start = monotonic_ns();
    let mut log = match &o.interval_log {
        Some(path) => Some(IntervalLog::create(path, start)?),
        None => None,
    };
    let mut interval_start = start;
    let mut sent_at_interval_start = 0u64;
    let mut last_due: Nanos = start;
    let mut sending_done_at: Option<Nanos> = None;
    loop {
        let mut now = monotonic_ns();
        let mut burst = 0;
        while tracker.next_seq() < o.probes && burst < MAX_BURST {
            let seq = tracker.next_seq();
            if due(start, seq, o.rate_hz) > now {
                break;
            }
            now = monotonic_ns();
            Probe::request(Kind::Probe, tracker.session(), seq, now)
                .encode(&mut buf)
                .map_err(|e| LatencyError::BadArgument(e.to_string()))?;
            match framing.send(&mut backend, &buf) {
                Ok(()) => tracker.on_sent(),
                // The ring's send slots are all in flight: the next turn
                // submits them and frees slots; this probe goes then.
                Err(SendError::SlotsExhausted(_)) => break,
                Err(e) => return Err(e.into()),
            }
            burst += 1;
        }
        if tracker.next_seq() >= o.probes && sending_done_at.is_none() {
            sending_done_at = Some(now);
            last_due = now;
        }
        if let Some(done) = sending_done_at
            && (tracker.all_answered() || now >= done.saturating_add(o.grace))
        {
            break;
        }
        if now >= interval_start + NANOS_PER_SEC {
            let sent_now = tracker.counts().sent;
            let _ = writeln!(
                progress,
                "{}",
                progress_line(now - start, &tracker, sent_now - sent_at_interval_start)
            );
            if let Some(log) = log.as_mut() {
                log.write(&tracker, interval_start, now)?;
            }
            tracker.reset_interval();
            interval_start = now;
            sent_at_interval_start = sent_now;
        }
        let next_event = match sending_done_at {
            None if burst >= MAX_BURST => now,
            None => due(start, tracker.next_seq(), o.rate_hz),
            Some(done) => done.saturating_add(o.grace),
        };
        let deadline = next_event.min(interval_start + NANOS_PER_SEC);
        backend
            .wait(deadline, |c| {
                let failed = framing.receive(c, |bytes, rx| {
                    if let Ok(p) = Probe::decode(bytes)
                        && p.kind == Kind::Reply
                    {
                        let _: ReplyOutcome = tracker.on_reply(&p, rx);
                    }
                });
                if failed.is_some() {
                    link_errors += 1;
                    last_error = failed;
                }
            })
            .map_err(LatencyError::io("waiting for replies"))?;
    }
    let end = monotonic_ns();
    if let Some(mut log) = log {
        log.write(&tracker, interval_start, end)?;
        log.finish()?;
    }
    // Goodbye, three times: it is not answered and may be lost.
    for _ in 0..3 {
        let _ = Probe::request(Kind::Bye, tracker.session(), 0, end).encode(&mut buf);
        let _ = framing.send(&mut backend, &buf);
        let _ = backend.wait(monotonic_ns(), |_| {});
    }
    if let Some(path) = &o.percentiles {
        let file =
            File::create(path).map_err(LatencyError::io(format!("creating {}", path.display())))?;
        let mut w = BufWriter::new(file);
        write_hgrm(tracker.rtt(), 1_000.0, &mut w)
            .and_then(|()| w.flush())
            .map_err(LatencyError::io(format!("writing {}", path.display())))?;
    }
    let elapsed = last_due.max(start) - start;
    let mut report = RunReport::new(what, elapsed, &tracker, link_errors);
    report.last_link_error = last_error.map(|e| io::Error::from_raw_os_error(e).to_string());
    Ok(report)
}

/// Convenience for the command line: runs [`send`] with progress on stderr
/// and returns the final table.
pub fn send_and_render(o: &SendOptions) -> Result<(RunReport, String), LatencyError> {
    let report = send(o, &mut io::stderr().lock())?;
    let table = render_table(&report);
    Ok((report, table))
}

/// The requests a reflector has received and not yet answered, oldest
/// first, packed in a fixed arena: a backlog of thousands of small probes
/// (the epoll backend hands over a whole socket queue at once after a
/// stall) fits without allocating.
struct Pending {
    arena: Box<[u8]>,
    /// (offset in the arena, length, receive time), `head..len` live.
    entries: Box<[(usize, usize, Nanos)]>,
    head: usize,
    len: usize,
    /// Arena bytes in use (from 0: entries are appended in order).
    used: usize,
    overflow: u64,
}

impl Pending {
    fn new() -> Self {
        Self {
            arena: vec![0u8; PENDING_ARENA].into_boxed_slice(),
            entries: vec![(0, 0, 0); PENDING_ENTRIES].into_boxed_slice(),
            head: 0,
            len: 0,
            used: 0,
            overflow: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.head >= self.len
    }

    /// Moves the live requests to the front (only when full: rare).
    fn compact(&mut self) {
        let Some(&(start, _, _)) = self.entries.get(self.head) else {
            return;
        };
        if self.head == 0 {
            return;
        }
        self.arena.copy_within(start..self.used, 0);
        self.entries.copy_within(self.head..self.len, 0);
        self.len -= self.head;
        self.head = 0;
        self.used -= start;
        for e in self.entries.iter_mut().take(self.len) {
            e.0 -= start;
        }
    }

    fn push(&mut self, bytes: &[u8], rx: Nanos) {
        if self.len >= self.entries.len() || self.used + bytes.len() > self.arena.len() {
            self.compact();
        }
        let at = self.used;
        let room = self
            .arena
            .get_mut(at..at + bytes.len())
            .filter(|_| self.len < self.entries.len());
        match (room, self.entries.get_mut(self.len)) {
            (Some(dst), Some(entry)) => {
                dst.copy_from_slice(bytes);
                *entry = (at, bytes.len(), rx);
                self.used += bytes.len();
                self.len += 1;
            }
            _ => self.overflow += 1,
        }
    }

    /// The oldest request and its receive time.
    fn front(&mut self) -> Option<(&mut [u8], Nanos)> {
        if self.is_empty() {
            return None;
        }
        let (at, len, rx) = *self.entries.get(self.head)?;
        Some((self.arena.get_mut(at..at + len)?, rx))
    }

    fn pop(&mut self) {
        self.head += 1;
        if self.head >= self.len {
            self.head = 0;
            self.len = 0;
            self.used = 0;
        }
    }
}

/// What a reflector session saw, for its closing line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReflectCounts {
    pub answered: u64,
    pub dropped_on_purpose: u64,
    pub not_probes: u64,
    pub queue_overflow: u64,
    pub link_errors: u64,
    /// errno of the last link error (a failed send, ECONNREFUSED, ...).
    pub last_link_error: Option<i32>,
}

/// How a reflector session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionEnd {
    Bye,
    Idle,
}

/// Answers probes on an open backend until bye (or idle on UDP).
fn reflect_session(
    backend: &mut AnyBackend,
    serial: bool,
    o: &ReflectOptions,
    counts: &mut ReflectCounts,
) -> Result<SessionEnd, LatencyError> {
    let mut framing = Framing::new(serial);
    let mut pending = Pending::new();
    let mut probes_seen = 0u64;
    let mut last_heard = monotonic_ns();
    let mut bye = false;
    loop {
        let now = monotonic_ns();
        if bye && pending.is_empty() {
            return Ok(SessionEnd::Bye);
        }
        if !serial && now >= last_heard.saturating_add(o.idle_timeout) {
            return Ok(SessionEnd::Idle);
        }
        let mut heard = false;
        let mut errors = 0u64;
        let mut last_error = None;
        // Requests left over (send slots all in flight) go out as soon as
        // this wait has submitted the queued sends and reaped completions.
        let deadline = if pending.is_empty() {
            now + 100 * NANOS_PER_MILLI
        } else {
            now
        };
        backend
            .wait(deadline, |c| {
                let failed = framing.receive(c, |bytes, rx| {
                    heard = true;
                    match Probe::decode(bytes).map(|p| p.kind) {
                        Ok(Kind::Bye) => bye = true,
                        Ok(Kind::Hello | Kind::Probe) => pending.push(bytes, rx),
                        _ => {}
                    }
                });
                if failed.is_some() {
                    errors += 1;
                    last_error = failed;
                }
            })
            .map_err(LatencyError::io("waiting for probes"))?;
        counts.link_errors += errors;
        counts.last_link_error = last_error.or(counts.last_link_error);
        counts.queue_overflow += std::mem::take(&mut pending.overflow);
        if heard {
            last_heard = monotonic_ns();
        }
        while let Some((bytes, rx)) = pending.front() {
            let is_probe = Probe::decode(bytes).is_ok_and(|p| p.kind == Kind::Probe);
            if is_probe {
                let ordinal = probes_seen + 1;
                if o.drop_every.is_some_and(|n| ordinal % n == 0) {
                    probes_seen = ordinal;
                    counts.dropped_on_purpose += 1;
                    pending.pop();
                    continue;
                }
            }
            let tx = monotonic_ns();
            let answered = match reflect_in_place(bytes, rx, tx) {
                Ok(_) => match framing.send(backend, bytes) {
                    Ok(()) => true,
                    // All send slots are in flight: keep the request for
                    // the next turn, which reflects and stamps it afresh.
                    Err(SendError::SlotsExhausted(_)) => {
                        restore_request(bytes);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                },
                Err(_) => {
                    counts.not_probes += 1;
                    false
                }
            };
            if answered {
                counts.answered += 1;
                if is_probe {
                    probes_seen += 1;
                }
            }
            pending.pop();
        }
    }
}

/// Turns an answer that could not be sent back into its request, so the
/// next attempt reflects (and stamps) it afresh.
fn restore_request(bytes: &mut [u8]) {
    if let Some(kind) = bytes.get_mut(5) {
        *kind = match Kind::from_code(*kind) {
            Some(Kind::HelloAck) => Kind::Hello.code(),
            Some(Kind::Reply) => Kind::Probe.code(),
            _ => *kind,
        };
    }
}

/// Waits on an unconnected socket for a sender's hello; returns the sender.
fn learn_sender(bind: SocketAddr) -> Result<SocketAddr, LatencyError> {
    let socket = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))
        .map_err(LatencyError::io("creating the listening socket"))?;
    socket
        .set_reuse_address(true)
        .map_err(LatencyError::io("SO_REUSEADDR"))?;
    socket
        .bind(&bind.into())
        .map_err(LatencyError::io(format!("binding {bind}")))?;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); MAX_DATAGRAM];
    loop {
        let (n, from) = socket
            .recv_from(&mut buf)
            .map_err(LatencyError::io(format!("receiving on {bind}")))?;
        // SAFETY: recv_from initialised the first n bytes.
        let bytes: &[u8] =
            unsafe { std::slice::from_raw_parts(buf.as_ptr().cast(), n.min(buf.len())) };
        let is_hello =
            bytes.len() >= HEADER_LEN && Probe::decode(bytes).is_ok_and(|p| p.kind == Kind::Hello);
        if let (true, Some(from)) = (is_hello, from.as_socket()) {
            return Ok(from);
        }
    }
}

/// Runs the reflector until killed (or, with `--once`, one session).
/// Says what it does on `log`.
pub fn reflect(o: &ReflectOptions, log: &mut dyn Write) -> Result<ReflectCounts, LatencyError> {
    o.check()?;
    if let Some(core) = o.core {
        pin_to_core(core)?;
    }
    let mut total = ReflectCounts::default();
    match &o.medium {
        Medium::Serial { path, baud } => {
            let setup = LinkSetup::Serial {
                path: path.clone(),
                baud: *baud,
            };
            let (mut backend, fallback) = open(&setup, o.io)?;
            if let Some(reason) = fallback {
                let _ = writeln!(log, "twinbeat latency: {reason}");
            }
            let _ = writeln!(
                log,
                "twinbeat latency: reflecting on {} ({})",
                o.medium.label(),
                backend.name()
            );
            loop {
                let mut counts = ReflectCounts::default();
                reflect_session(&mut backend, true, o, &mut counts)?;
                say_session_end(log, "serial sender", &counts);
                add(&mut total, &counts);
                if o.once {
                    return Ok(total);
                }
            }
        }
        Medium::Udp(bind) => {
            let _ = writeln!(log, "twinbeat latency: reflecting on udp {bind}");
            loop {
                let sender = learn_sender(*bind)?;
                let setup = LinkSetup::Ucast {
                    dev: None,
                    bind: *bind,
                    peer: sender,
                };
                let (mut backend, fallback) = open(&setup, o.io)?;
                if let Some(reason) = fallback {
                    let _ = writeln!(log, "twinbeat latency: {reason}");
                }
                let _ = writeln!(
                    log,
                    "twinbeat latency: session from {sender} ({})",
                    backend.name()
                );
                let mut counts = ReflectCounts::default();
                let end = reflect_session(&mut backend, false, o, &mut counts)?;
                let who = format!(
                    "{sender}{}",
                    if end == SessionEnd::Idle {
                        " (idle)"
                    } else {
                        ""
                    }
                );
                say_session_end(log, &who, &counts);
                add(&mut total, &counts);
                if o.once {
                    return Ok(total);
                }
            }
        }
    }
}

fn add(total: &mut ReflectCounts, c: &ReflectCounts) {
    total.answered += c.answered;
    total.dropped_on_purpose += c.dropped_on_purpose;
    total.not_probes += c.not_probes;
    total.queue_overflow += c.queue_overflow;
    total.link_errors += c.link_errors;
    total.last_link_error = c.last_link_error.or(total.last_link_error);
}

fn say_session_end(log: &mut dyn Write, who: &str, c: &ReflectCounts) {
    let _ = writeln!(
        log,
        "twinbeat latency: session with {who} ended: answered {}, dropped on purpose {}, queue overflow {}, link errors {}{}",
        c.answered,
        c.dropped_on_purpose,
        c.queue_overflow,
        c.link_errors,
        c.last_link_error
            .map(|e| format!(" (last: {})", io::Error::from_raw_os_error(e)))
            .unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_exact_over_long_runs() {
        assert_eq!(due(5, 0, 3), 5);
        assert_eq!(due(0, 3, 3), NANOS_PER_SEC);
        assert_eq!(due(0, 30_000_000_000, 3), 10_000_000_000 * NANOS_PER_SEC);
        assert_eq!(
            due(0, 1, 0),
            NANOS_PER_SEC,
            "a zero rate is not a division by zero"
        );
    }

    #[test]
    fn the_reflector_queue_keeps_order_reuses_room_and_counts_what_it_cannot_hold() {
        let mut p = Pending::new();
        for i in 0..PENDING_ENTRIES + 2 {
            p.push(&[(i % 251) as u8; 3], i as Nanos);
        }
        assert_eq!((p.len, p.overflow), (PENDING_ENTRIES, 2));
        assert_eq!(
            p.front().map(|(b, rx)| (b.to_vec(), rx)),
            Some((vec![0; 3], 0))
        );
        // Once the oldest is answered, its room is reused for a new one.
        p.pop();
        p.push(&[7; 5], 99);
        assert_eq!(p.overflow, 2);
        assert_eq!(
            p.front().map(|(b, rx)| (b.to_vec(), rx)),
            Some((vec![1; 3], 1))
        );
        for _ in 0..PENDING_ENTRIES - 1 {
            p.pop();
        }
        assert_eq!(
            p.front().map(|(b, rx)| (b.to_vec(), rx)),
            Some((vec![7; 5], 99))
        );
        p.pop();
        assert!(p.is_empty());
        // Large requests are bounded by the arena, not the entry count.
        let big = [1u8; MAX_DATAGRAM];
        for _ in 0..PENDING_ARENA / MAX_DATAGRAM + 1 {
            p.push(&big, 1);
        }
        assert_eq!((p.len, p.overflow), (PENDING_ARENA / MAX_DATAGRAM, 3));
    }
}
