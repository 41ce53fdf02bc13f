//! The beat thread's I/O: one backend-neutral interface over io_uring
//! ([`uring`]) and an epoll + timerfd fallback ([`poll`]), and the choice
//! between them.
//!
//! Contract both backends keep:
//! - [`Backend::send`] never blocks. io_uring queues an SQE that the next
//!   [`Backend::wait`] submits; poll sends at once. Kernel errors from a send
//!   arrive later as [`Completion::LinkError`] in both, so the beat loop has
//!   one place to handle them; `send` itself fails only for caller errors or
//!   a full send pool.
//! - [`Backend::wait`] blocks until the absolute monotonic `deadline` or
//!   until input is ready, then hands over everything ready (all datagrams,
//!   all serial bytes, all link errors) before returning. It reports
//!   [`Completion::Timer`] once the deadline has passed. The loop keeps its
//!   keepalive deadlines absolute, so cadence never drifts.
//! - `rx_time` of a datagram is the kernel's arrival stamp (SO_TIMESTAMPNS,
//!   CLOCK_REALTIME) moved onto the monotonic clock with an offset sampled
//!   once per wake-up; per link it never decreases and never exceeds the
//!   monotonic time read after the wake-up (a clock step cannot make a
//!   frame look as if it came from the future). Serial bytes are stamped
//!   with that wake-up time.
//! - [`Backend::poll_ready`] is the same without blocking: the beat loop
//!   polls with it while a verdict is near (see `engine::beat`).
//! - A link error never ends the loop: receives are re-armed.

pub mod poll;
pub mod uring;

use std::io;
use std::path::Path;

use crate::engine::links::{OpenLink, SCM_TIMESTAMPNS};
use crate::time::{NANOS_PER_SEC, Nanos};

pub use poll::PollBackend;
pub use uring::{UringBackend, UringOptions};

/// The largest datagram a backend sends or receives (an Ethernet MTU).
pub const MAX_DATAGRAM: usize = 1500;

/// One thing a backend hands to the beat loop.
#[derive(Debug)]
pub enum Completion<'a> {
    Datagram {
        link: usize,
        bytes: &'a [u8],
        rx_time: Nanos,
    },
    SerialBytes {
        link: usize,
        bytes: &'a [u8],
        rx_time: Nanos,
    },
    /// A kernel error on a link (ECONNREFUSED after an ICMP unreachable, a
    /// failed send, a hung-up tty). The link stays armed unless noted in
    /// the backend's docs.
    LinkError { link: usize, error: io::Error },
    /// The deadline passed to [`Backend::wait`] has been reached.
    Timer,
}

/// Why a send was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no link {0}")]
    NoSuchLink(usize),
    #[error("a frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("all {0} send slots are in flight")]
    SlotsExhausted(usize),
    #[error("submission failed: {0}")]
    Submit(#[source] io::Error),
}

/// Counters a backend keeps for status output (never reset).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoStats {
    pub datagrams: u64,
    pub serial_bytes: u64,
    pub link_errors: u64,
    /// Multishot receives that ended (no MORE flag) and were re-armed.
    pub recv_rearms: u64,
    /// Of those, the ones that ended because provided buffers ran out.
    pub enobufs: u64,
    /// Datagrams longer than [`MAX_DATAGRAM`], dropped.
    pub truncated: u64,
    pub sends: u64,
}

/// What the beat loop needs from an I/O backend.
pub trait Backend {
    /// "io_uring" or "epoll", for logs.
    fn name(&self) -> &'static str;
    /// Features in use, for the one log line at start.
    fn describe(&self) -> String;
    fn stats(&self) -> IoStats;
    fn link_count(&self) -> usize;
    /// Queues (io_uring) or performs (poll) one send on `link`.
    fn send(&mut self, link: usize, bytes: &[u8]) -> Result<(), SendError>;
    /// Delivers everything ready, with [`Completion::Timer`] once
    /// `deadline` (absolute, monotonic ns) has passed, keeping the timer
    /// armed for it; when `block`, first waits for input or the deadline.
    /// Errors are fatal to the backend only. The loop calls it through
    /// [`Backend::wait`] and [`Backend::poll_ready`].
    fn deliver<F: FnMut(Completion<'_>)>(
        &mut self,
        deadline: Nanos,
        block: bool,
        on: F,
    ) -> io::Result<()>;

    /// Blocks until `deadline` or input, then delivers everything ready.
    fn wait<F: FnMut(Completion<'_>)>(&mut self, deadline: Nanos, on: F) -> io::Result<()> {
        self.deliver(deadline, true, on)
    }

    /// As [`Backend::wait`] without blocking: hands over what is ready now.
    fn poll_ready<F: FnMut(Completion<'_>)>(&mut self, deadline: Nanos, on: F) -> io::Result<()> {
        self.deliver(deadline, false, on)
    }
}

/// Which backend to use (ha.cf / command line), `Auto` preferring io_uring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Auto,
    Uring,
    Poll,
}

/// The chosen backend, without dynamic dispatch on the hot path.
pub enum AnyBackend {
    Uring(Box<UringBackend>),
    Poll(PollBackend),
}

impl Backend for AnyBackend {
    fn name(&self) -> &'static str {
        match self {
            AnyBackend::Uring(b) => b.name(),
            AnyBackend::Poll(b) => b.name(),
        }
    }
    fn describe(&self) -> String {
        match self {
            AnyBackend::Uring(b) => b.describe(),
            AnyBackend::Poll(b) => b.describe(),
        }
    }
    fn stats(&self) -> IoStats {
        match self {
            AnyBackend::Uring(b) => b.stats(),
            AnyBackend::Poll(b) => b.stats(),
        }
    }
    fn link_count(&self) -> usize {
        match self {
            AnyBackend::Uring(b) => b.link_count(),
            AnyBackend::Poll(b) => b.link_count(),
        }
    }
    #[inline]
    fn send(&mut self, link: usize, bytes: &[u8]) -> Result<(), SendError> {
        match self {
            AnyBackend::Uring(b) => b.send(link, bytes),
            AnyBackend::Poll(b) => b.send(link, bytes),
        }
    }
    #[inline]
    fn deliver<F: FnMut(Completion<'_>)>(
        &mut self,
        deadline: Nanos,
        block: bool,
        on: F,
    ) -> io::Result<()> {
        match self {
            AnyBackend::Uring(b) => b.deliver(deadline, block, on),
            AnyBackend::Poll(b) => b.deliver(deadline, block, on),
        }
    }
}

/// Why a backend could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenBackendError {
    #[error("io_uring was asked for but is unavailable: {0}")]
    UringUnavailable(String),
    #[error("io_uring setup failed: {0}")]
    Uring(#[source] io::Error),
    #[error("epoll setup failed: {0}")]
    Poll(#[source] io::Error),
}

/// What the host says about io_uring before a ring is tried; injectable so
/// the fallback decision can be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UringPreflight {
    /// `/proc/sys/kernel/io_uring_disabled`: 0 allowed, 1 only for the
    /// io_uring_group, 2 disabled; `None` when the file does not exist.
    pub io_uring_disabled: Option<u32>,
}

impl UringPreflight {
    pub fn from_host() -> Self {
        Self::from_sysctl_file(Path::new("/proc/sys/kernel/io_uring_disabled"))
    }

    pub fn from_sysctl_file(path: &Path) -> Self {
        let io_uring_disabled = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Self { io_uring_disabled }
    }

    /// A reason not to try io_uring at all, if the host gives one. Mode 1
    /// still lets members of kernel.io_uring_group in, so only the attempt
    /// can tell; it is not refused here.
    pub fn refusal(&self) -> Option<String> {
        match self.io_uring_disabled {
            Some(2) => Some("kernel.io_uring_disabled = 2".into()),
            _ => None,
        }
    }
}

/// Whether an io_uring setup error means "this host refuses io_uring" (fall
/// back) rather than a real failure (report).
pub fn is_refusal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::EOPNOTSUPP)
    )
}

/// Opens the backend `kind` over `links`. With `Auto`, io_uring is tried
/// first and any refusal falls back to epoll; the reason is returned so the
/// engine logs it once.
pub fn open_backend(
    kind: BackendKind,
    links: Vec<OpenLink>,
) -> Result<(AnyBackend, Option<String>), OpenBackendError> {
    open_backend_with(
        kind,
        links,
        UringPreflight::from_host(),
        UringOptions::default(),
    )
}

/// [`open_backend`] with the host facts and ring options given.
pub fn open_backend_with(
    kind: BackendKind,
    links: Vec<OpenLink>,
    preflight: UringPreflight,
    options: UringOptions,
) -> Result<(AnyBackend, Option<String>), OpenBackendError> {
    let (links, reason) = match kind {
        BackendKind::Poll => {
            let b = PollBackend::new(links).map_err(OpenBackendError::Poll)?;
            return Ok((AnyBackend::Poll(b), None));
        }
        BackendKind::Uring | BackendKind::Auto => {
            if let Some(reason) = preflight.refusal() {
                if kind == BackendKind::Uring {
                    return Err(OpenBackendError::UringUnavailable(reason));
                }
                return fallback(links, reason);
            }
            match UringBackend::new(links, options) {
                Ok(b) => return Ok((AnyBackend::Uring(Box::new(b)), None)),
                Err(failure) => {
                    let uring::SetupFailure { error, links } = failure;
                    let refused = match &error {
                        uring::SetupError::Os(e) => is_refusal(e),
                        uring::SetupError::MissingOpcodes(_) => true,
                    };
                    if kind == BackendKind::Uring || !refused {
                        return Err(match error {
                            uring::SetupError::Os(e) => OpenBackendError::Uring(e),
                            other => OpenBackendError::UringUnavailable(other.to_string()),
                        });
                    }
                    (links, error.to_string())
                }
            }
        }
    };
    fallback(links, reason)
}

fn fallback(
    links: Vec<OpenLink>,
    reason: String,
) -> Result<(AnyBackend, Option<String>), OpenBackendError> {
    let b = PollBackend::new(links).map_err(OpenBackendError::Poll)?;
    Ok((
        AnyBackend::Poll(b),
        Some(format!("io_uring not used ({reason}); using epoll")),
    ))
}

/// A nonblocking write(2) of a whole frame to a tty. Serial frames are
/// written directly, not through io_uring: a tty has no FMODE_NOWAIT, so a
/// Write SQE would be punted to an io-wq worker thread, and a 32-byte
/// nonblocking write costs less than that hand-off. A short write counts as
/// EAGAIN: the tail is lost, as on a line with no flow control, and the
/// deframer resynchronises on the next frame.
pub(crate) fn write_serial(fd: std::os::fd::RawFd, bytes: &[u8]) -> Result<(), i32> {
    // SAFETY: `bytes` is a valid buffer of its length.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    if (n as usize) < bytes.len() {
        return Err(libc::EAGAIN);
    }
    Ok(())
}

/// A nonblocking sendto(2) of one datagram, to `dest` or, with none, to
/// the socket's connected peer. The errno is the caller's to keep (a link
/// whose sends fail is reported, not retried).
pub(crate) fn send_udp(
    socket: &socket2::Socket,
    dest: Option<&socket2::SockAddr>,
    bytes: &[u8],
) -> Result<(), i32> {
    use std::os::fd::AsRawFd;
    let (addr, len) = match dest {
        Some(d) => (d.as_ptr().cast::<libc::sockaddr>(), d.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: valid buffer; addr is null or a live SockAddr of `len` bytes.
    let n = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            addr,
            len,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

/// Reads CLOCK_REALTIME in ns (only to convert kernel receive stamps).
fn realtime_ns() -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    i128::from(ts.tv_sec) * i128::from(NANOS_PER_SEC) + i128::from(ts.tv_nsec)
}

/// The caller errors both backends refuse a send for: no such link, or a
/// frame longer than [`MAX_DATAGRAM`]; the link to send on otherwise.
pub(crate) fn checked_send<'a>(
    links: &'a [OpenLink],
    link: usize,
    bytes: &[u8],
) -> Result<&'a OpenLink, SendError> {
    let open = links.get(link).ok_or(SendError::NoSuchLink(link))?;
    if bytes.len() > MAX_DATAGRAM {
        return Err(SendError::TooLarge {
            len: bytes.len(),
            max: MAX_DATAGRAM,
        });
    }
    Ok(open)
}

/// Reads a nonblocking tty until it would block, handing each read to
/// `on` stamped with the wake-up time (a tty has no receive timestamps).
/// Returns whether anything was delivered, or the hang-up (EOF as EPIPE,
/// EIO, ...) that ends the line: the caller stops polling it and reports it.
pub(crate) fn drain_tty<F: FnMut(Completion<'_>)>(
    fd: std::os::fd::RawFd,
    buf: &mut [u8],
    link: usize,
    clock: &mut RxClock,
    stats: &mut IoStats,
    on: &mut F,
) -> Result<bool, io::Error> {
    let mut delivered = false;
    loop {
        // SAFETY: reading into a buffer of its own length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            let len = (n as usize).min(buf.len());
            stats.serial_bytes += len as u64;
            delivered = true;
            let rx_time = clock.clamp(link, clock.now());
            on(Completion::SerialBytes {
                link,
                bytes: &buf[..len],
                rx_time,
            });
            continue;
        }
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::EPIPE));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(delivered),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// Converts kernel CLOCK_REALTIME receive stamps to monotonic time.
///
/// The offset realtime − monotonic is sampled once per wake-up (two vDSO
/// reads), so a stamp is off by at most the clock adjustments made during
/// one turn. The result is clamped per link to be non-decreasing and to be
/// no later than the wake-up's monotonic time.
#[derive(Debug)]
pub(crate) struct RxClock {
    now: Nanos,
    real_minus_mono: i128,
    last_rx: Box<[Nanos]>,
}

impl RxClock {
    pub(crate) fn new(links: usize) -> Self {
        Self {
            now: 0,
            real_minus_mono: 0,
            last_rx: vec![0; links].into_boxed_slice(),
        }
    }

    /// Samples both clocks; call once after each wake-up.
    pub(crate) fn sample(&mut self) -> Nanos {
        let mono = crate::time::monotonic_ns();
        let real = realtime_ns();
        self.now = mono;
        self.real_minus_mono = real - i128::from(mono);
        mono
    }

    pub(crate) fn now(&self) -> Nanos {
        self.now
    }

    /// The monotonic receive time of a datagram on `link` whose control
    /// data is `control` (the wake-up time when it carries no stamp).
    pub(crate) fn rx_time(&mut self, link: usize, control: &[u8]) -> Nanos {
        let stamped = realtime_stamp(control)
            .map(|real| real - self.real_minus_mono)
            .and_then(|mono| Nanos::try_from(mono).ok())
            .unwrap_or(self.now);
        self.clamp(link, stamped)
    }

    pub(crate) fn clamp(&mut self, link: usize, t: Nanos) -> Nanos {
        let t = t.min(self.now);
        match self.last_rx.get_mut(link) {
            Some(last) => {
                let t = t.max(*last);
                *last = t;
                t
            }
            None => t,
        }
    }
}

/// Room for one `SCM_TIMESTAMPNS` control message (CMSG_SPACE(16) = 32),
/// with slack for one more the kernel might add.
pub const CONTROL_LEN: usize = 64;

const CMSG_HEADER: usize = std::mem::size_of::<libc::cmsghdr>();
const CMSG_ALIGN: usize = std::mem::size_of::<usize>();

/// Finds the `SCM_TIMESTAMPNS` stamp (CLOCK_REALTIME ns) in raw control
/// data, checking every length before reading.
pub fn realtime_stamp(control: &[u8]) -> Option<i128> {
    let mut offset = 0usize;
    while let Some(header) = control.get(offset..offset.checked_add(CMSG_HEADER)?) {
        // SAFETY: `header` holds exactly one cmsghdr's bytes; read unaligned.
        let cmsg: libc::cmsghdr =
            unsafe { header.as_ptr().cast::<libc::cmsghdr>().read_unaligned() };
        // cmsg_len is usize on glibc but u32 on musl.
        #[allow(clippy::unnecessary_cast)]
        let len = cmsg.cmsg_len as usize;
        if len < CMSG_HEADER {
            return None;
        }
        let data = control.get(offset + CMSG_HEADER..offset.checked_add(len)?)?;
        if cmsg.cmsg_level == libc::SOL_SOCKET
            && cmsg.cmsg_type == SCM_TIMESTAMPNS
            && data.len() >= std::mem::size_of::<libc::timespec>()
        {
            // SAFETY: length checked above; read unaligned.
            let ts: libc::timespec =
                unsafe { data.as_ptr().cast::<libc::timespec>().read_unaligned() };
            return Some(
                i128::from(ts.tv_sec) * i128::from(NANOS_PER_SEC) + i128::from(ts.tv_nsec),
            );
        }
        offset = offset.checked_add(len.checked_add(CMSG_ALIGN - 1)? & !(CMSG_ALIGN - 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; CMSG_HEADER];
        let header = libc::cmsghdr {
            cmsg_len: (CMSG_HEADER + data.len()) as _,
            cmsg_level: level,
            cmsg_type: kind,
        };
        // SAFETY: out has room for one header.
        unsafe {
            out.as_mut_ptr()
                .cast::<libc::cmsghdr>()
                .write_unaligned(header)
        };
        out.extend_from_slice(data);
        while out.len() % CMSG_ALIGN != 0 {
            out.push(0);
        }
        out
    }

    fn timespec_bytes(sec: i64, nsec: i64) -> Vec<u8> {
        let mut v = sec.to_ne_bytes().to_vec();
        v.extend_from_slice(&nsec.to_ne_bytes());
        v
    }

    #[test]
    fn finds_the_stamp_after_another_control_message() {
        let mut control = cmsg(libc::SOL_IP, libc::IP_TOS, &[0xc0]);
        control.extend(cmsg(
            libc::SOL_SOCKET,
            SCM_TIMESTAMPNS,
            &timespec_bytes(7, 42),
        ));
        assert_eq!(realtime_stamp(&control), Some(7_000_000_042));
        assert_eq!(realtime_stamp(&control[..control.len() - 1]), None);
        assert_eq!(realtime_stamp(&[]), None);
    }

    #[test]
    fn rx_time_never_goes_back_nor_beyond_the_wake_up() {
        let mut clock = RxClock::new(1);
        let now = clock.sample();
        let future = realtime_ns() + 10 * i128::from(NANOS_PER_SEC);
        let ts = timespec_bytes(
            (future / 1_000_000_000) as i64,
            (future % 1_000_000_000) as i64,
        );
        let control = cmsg(libc::SOL_SOCKET, SCM_TIMESTAMPNS, &ts);
        assert_eq!(clock.rx_time(0, &control), now);
        let past = cmsg(libc::SOL_SOCKET, SCM_TIMESTAMPNS, &timespec_bytes(1, 0));
        assert_eq!(clock.rx_time(0, &past), now, "clamped to the last rx time");
    }

    #[test]
    fn preflight_reads_the_sysctl_and_refuses_only_mode_2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("io_uring_disabled");
        for (text, refused) in [("0\n", false), ("1\n", false), ("2\n", true)] {
            std::fs::write(&path, text).unwrap();
            let p = UringPreflight::from_sysctl_file(&path);
            assert_eq!(p.refusal().is_some(), refused, "{text:?}");
        }
        assert_eq!(
            UringPreflight::from_sysctl_file(&dir.path().join("absent")),
            UringPreflight::default()
        );
    }

    #[test]
    fn refusals_are_the_errors_seccomp_and_old_kernels_give() {
        for errno in [libc::ENOSYS, libc::EPERM, libc::EACCES] {
            assert!(is_refusal(&io::Error::from_raw_os_error(errno)));
        }
        assert!(!is_refusal(&io::Error::from_raw_os_error(libc::ENOMEM)));
    }

    proptest! {
        #[test]
        fn control_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = realtime_stamp(&bytes);
        }
    }
}
