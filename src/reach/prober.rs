//! The prober: the I/O around the [`Tracker`], on its own thread of the
//! daemon (never the beat thread). It sends a probe to every ping address
//! each round, reads the replies, and hands the reach count to the beat
//! thread over a channel whenever it changes.
//!
//! How it probes, chosen once per address family, first that works:
//! 1. ICMP echo over a datagram "ping socket" (`SOCK_DGRAM`/`IPPROTO_ICMP`),
//!    allowed when `net.ipv4.ping_group_range` covers our gid; the kernel
//!    picks the identifier and hands us only our replies.
//! 2. ICMP echo over a raw socket (needs `CAP_NET_RAW`).
//! 3. UDP to port [`UDP_PROBE_PORT`] with `IP_RECVERR`: the target's ICMP
//!    "port unreachable" proves it is there. Slower (see
//!    [`UDP_MIN_INTERVAL`](super::tracker::UDP_MIN_INTERVAL)).
//!
//! The choice and why are logged once and shown by `twinbeat status`.
//! Even with no socket at all the tracker runs: every target then goes
//! unreachable after `deadping`, so the pair never waits on a reach that
//! cannot come.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Sender, TrySendError};

use super::ReachReport;
use super::probe::{self, PAYLOAD_LEN};
use super::tracker::{Pace, Reach, ReachConfig, Target, TargetState, Tracker};
use crate::engine::status::{PingNodeSnapshot, PingStatus};
use crate::time::{NANOS_PER_MILLI, Nanos, monotonic_ns};

/// Where UDP probes go: traceroute's first port, which nothing listens on
/// by convention.
pub const UDP_PROBE_PORT: u16 = 33434;
/// Names a method to try first (`icmp-dgram`, `icmp-raw`, `udp`): tests
/// use it to exercise each one.
pub const ENV_PING_METHOD: &str = "TWINBEAT_PING_METHOD";
/// Longest the prober sleeps, so a stop request is seen promptly.
const MAX_WAIT: Nanos = 100 * NANOS_PER_MILLI;

/// How probes are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    IcmpDatagram,
    IcmpRaw,
    Udp,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::IcmpDatagram, Method::IcmpRaw, Method::Udp];

    pub fn name(self) -> &'static str {
        match self {
            Method::IcmpDatagram => "icmp-dgram",
            Method::IcmpRaw => "icmp-raw",
            Method::Udp => "udp",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }

    fn describe(self) -> &'static str {
        match self {
            Method::IcmpDatagram => "ICMP echo over a datagram ping socket",
            Method::IcmpRaw => "ICMP echo over a raw socket",
            Method::Udp => "UDP probes to a closed port (ICMP port-unreachable as proof)",
        }
    }
}

/// One open probe socket.
struct ProbeSocket {
    fd: OwnedFd,
    method: Method,
    v6: bool,
    ident: u16,
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn open_socket(v6: bool, method: Method, ident: u16) -> io::Result<ProbeSocket> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let icmp = if v6 {
        libc::IPPROTO_ICMPV6
    } else {
        libc::IPPROTO_ICMP
    };
    let (ty, proto) = match method {
        Method::IcmpDatagram => (libc::SOCK_DGRAM, icmp),
        Method::IcmpRaw => (libc::SOCK_RAW, icmp),
        Method::Udp => (libc::SOCK_DGRAM, libc::IPPROTO_UDP),
    };
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) };
    if raw < 0 {
        return Err(last_err());
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if method == Method::Udp {
        let (level, opt) = if v6 {
            (libc::SOL_IPV6, libc::IPV6_RECVERR)
        } else {
            (libc::SOL_IP, libc::IP_RECVERR)
        };
        let on: libc::c_int = 1;
        // SAFETY: setsockopt with a c_int on our socket.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                opt,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(last_err());
        }
    }
    Ok(ProbeSocket {
        fd,
        method,
        v6,
        ident,
    })
}

/// The first method that opens, with what was refused on the way.
fn choose(v6: bool, preferred: Option<Method>, ident: u16) -> (Option<ProbeSocket>, String) {
    let mut order: Vec<Method> = preferred.into_iter().collect();
    order.extend(Method::ALL.iter().filter(|m| Some(**m) != preferred));
    let mut refused = Vec::new();
    for m in order {
        match open_socket(v6, m, ident) {
            Ok(s) => {
                let why = if refused.is_empty() {
                    m.describe().to_string()
                } else {
                    format!("{} ({})", m.describe(), refused.join("; "))
                };
                return (Some(s), why);
            }
            Err(e) => {
                let hint = match m {
                    Method::IcmpDatagram if !v6 => {
                        // SAFETY: getgid has no preconditions.
                        let gid = unsafe { libc::getgid() };
                        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                            .unwrap_or_default();
                        format!(
                            ", net.ipv4.ping_group_range is {:?}, our gid {gid}",
                            range.trim()
                        )
                    }
                    Method::IcmpRaw => ", needs CAP_NET_RAW".into(),
                    _ => String::new(),
                };
                refused.push(format!("{} refused: {e}{hint}", m.name()));
            }
        }
    }
    (None, refused.join("; "))
}

fn sockaddr(addr: IpAddr, port: u16) -> socket2::SockAddr {
    socket2::SockAddr::from(SocketAddr::new(addr, port))
}

/// The IP address in a `sockaddr_storage` filled by the kernel.
fn ip_of(ss: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in; storage is large enough.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

impl ProbeSocket {
    fn send(&self, to: IpAddr, seq: u16, token: u64, now: Nanos) -> io::Result<()> {
        let echo;
        let udp;
        let (bytes, port): (&[u8], u16) = match self.method {
            Method::Udp => {
                udp = probe::payload(token, now);
                (&udp, UDP_PROBE_PORT)
            }
            _ => {
                echo = probe::echo_request(self.v6, self.ident, seq, token, now);
                (&echo, 0)
            }
        };
        let addr = sockaddr(to, port);
        // SAFETY: sendto from a valid buffer to a valid sockaddr.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                addr.as_ptr().cast(),
                addr.len(),
            )
        };
        if n < 0 { Err(last_err()) } else { Ok(()) }
    }

    /// Reads everything that has arrived; `on_reply(from, sent_at)` for each
    /// reply to one of our probes.
    fn drain(&self, token: u64, on_reply: &mut impl FnMut(IpAddr, Nanos)) {
        let mut buf = [0u8; 2048];
        // Bounded: a flood of foreign ICMP cannot hold the prober here.
        for _ in 0..256 {
            // SAFETY: zeroed sockaddr_storage is valid.
            let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
            let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: recvfrom into our buffer and storage.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut ss as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                )
            };
            let Ok(n) = usize::try_from(n) else {
                break;
            };
            let bytes = buf.get(..n).unwrap_or_default();
            let Some(from) = ip_of(&ss) else {
                continue;
            };
            let sent = match self.method {
                Method::IcmpDatagram => probe::parse_echo_reply(bytes, self.v6, None, token),
                Method::IcmpRaw if self.v6 => {
                    probe::parse_echo_reply(bytes, true, Some(self.ident), token)
                }
                Method::IcmpRaw => probe::ipv4_payload(bytes)
                    .and_then(|icmp| probe::parse_echo_reply(icmp, false, Some(self.ident), token)),
                // Something answered on the probe port with our payload.
                Method::Udp => probe::parse_payload(bytes, token),
            };
            if let Some(sent) = sent {
                on_reply(from, sent);
            }
        }
        if self.method == Method::Udp {
            self.drain_errors(token, on_reply);
        }
    }

    /// UDP: errors queued by IP_RECVERR; a port-unreachable from the very
    /// host we probed proves it is there.
    fn drain_errors(&self, token: u64, on_reply: &mut impl FnMut(IpAddr, Nanos)) {
        for _ in 0..256 {
            let mut data = [0u8; PAYLOAD_LEN + 64];
            let mut control = [0u64; 64];
            // SAFETY: zeroed sockaddr_storage / msghdr are valid.
            let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: data.len(),
            };
            let mut msg: libc::msghdr = unsafe { zeroed() };
            msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
            msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of::<[u64; 64]>() as _;
            // SAFETY: recvmsg with buffers that outlive the call.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_ERRQUEUE) };
            let Ok(n) = usize::try_from(n) else {
                break;
            };
            let Some(dest) = ip_of(&ss) else {
                continue;
            };
            let Some(sent) = probe::parse_payload(data.get(..n).unwrap_or_default(), token) else {
                continue;
            };
            // SAFETY: walking the control messages the kernel wrote into
            // `control`, within msg_controllen.
            let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !cmsg.is_null() {
                let (level, ty) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
                let ours = (level == libc::SOL_IP && ty == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR);
                if ours {
                    // SAFETY: the kernel puts a sock_extended_err here,
                    // followed by the offender's address.
                    let ee = unsafe {
                        libc::CMSG_DATA(cmsg)
                            .cast::<libc::sock_extended_err>()
                            .read_unaligned()
                    };
                    let port_unreachable = (ee.ee_origin == libc::SO_EE_ORIGIN_ICMP
                        && ee.ee_type == 3
                        && ee.ee_code == 3)
                        || (ee.ee_origin == libc::SO_EE_ORIGIN_ICMP6
                            && ee.ee_type == 1
                            && ee.ee_code == 4);
                    let offender = unsafe {
                        let p = libc::CMSG_DATA(cmsg).add(size_of::<libc::sock_extended_err>());
                        let mut off: libc::sockaddr_storage = zeroed();
                        let len = size_of::<libc::sockaddr_in6>();
                        std::ptr::copy_nonoverlapping(
                            p,
                            (&mut off as *mut libc::sockaddr_storage).cast::<u8>(),
                            len,
                        );
                        ip_of(&off)
                    };
                    if port_unreachable && offender.is_none_or(|o| o == dest) {
                        on_reply(dest, sent);
                    }
                }
                cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
            }
        }
    }
}

/// What `twinbeat status` shows of the prober, shared with the control
/// thread (the beat thread never touches it).
#[derive(Debug, Clone, Default)]
pub struct ReachView {
    pub method: String,
    pub interval: Nanos,
    pub deadping: Nanos,
    pub reached: Option<u16>,
    pub targets: Vec<(Target, TargetState)>,
}

impl ReachView {
    fn of(tracker: &Tracker, method: &str) -> ReachView {
        ReachView {
            method: method.to_string(),
            interval: tracker.config().interval,
            deadping: tracker.config().deadping,
            reached: tracker.reached(),
            targets: tracker
                .targets()
                .map(|(t, s)| (t.clone(), s.clone()))
                .collect(),
        }
    }

    /// The status form, with times relative to `now`.
    pub fn status(&self, now: Nanos) -> PingStatus {
        PingStatus {
            method: self.method.clone(),
            interval_us: self.interval / 1_000,
            deadping_us: self.deadping / 1_000,
            reached: self.reached,
            nodes: self
                .targets
                .iter()
                .map(|(t, s)| PingNodeSnapshot {
                    name: t.name.clone(),
                    group: t.group,
                    members: t.members.iter().map(IpAddr::to_string).collect(),
                    status: s.reach.status_word().into(),
                    last_reply_us_ago: s.last_reply.map(|l| now.saturating_sub(l) / 1_000),
                    rtt_us: s.rtt.map(|r| r as f64 / 1_000.0),
                    last_member: s.last_member.map(|m| m.to_string()),
                })
                .collect(),
        }
    }
}

/// What the prober thread needs.
pub struct ProberSetup {
    pub targets: Vec<Target>,
    /// ha.cf's deadping.
    pub deadping: Nanos,
    /// A method to try first (from [`ENV_PING_METHOD`]).
    pub preferred: Option<Method>,
}

/// A weak per-process token: it only tells our replies from other
/// pingers' on a raw socket, it authenticates nothing.
fn token() -> u64 {
    let pid = u64::from(std::process::id());
    let t = monotonic_ns();
    (t.rotate_left(17) ^ pid.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

/// Opens the probe sockets and starts the prober thread. It sends a
/// [`ReachReport`] on `reports` whenever the reach count changes (the first
/// once it is known), keeps `view` current for status, and stops when
/// `stop` is set.
pub fn spawn_prober(
    setup: ProberSetup,
    reports: Sender<ReachReport>,
    view: Arc<Mutex<ReachView>>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let ident = (std::process::id() & 0xffff) as u16;
    let wants = |v6: bool| {
        setup
            .targets
            .iter()
            .flat_map(|t| t.members.iter())
            .any(|a| a.is_ipv6() == v6)
    };
    let mut sockets = Vec::new();
    let mut methods = Vec::new();
    for v6 in [false, true] {
        if !wants(v6) {
            continue;
        }
        let family = if v6 { "IPv6" } else { "IPv4" };
        match choose(v6, setup.preferred, ident) {
            (Some(s), why) => {
                tracing::info!("ping nodes ({family}): probing with {why}");
                methods.push(format!("{} ({family})", s.method.name()));
                sockets.push(s);
            }
            (None, why) => {
                tracing::error!(
                    "ping nodes ({family}): no way to probe ({why}); they will be judged unreachable"
                );
                methods.push(format!("none ({family})"));
            }
        }
    }
    let pace = if sockets.iter().any(|s| s.method == Method::Udp) {
        Pace::UdpErrors
    } else {
        Pace::Echo
    };
    let cfg = ReachConfig::timed(setup.targets, setup.deadping, pace);
    if cfg.deadping != cfg.configured_deadping {
        tracing::warn!(
            "deadping {} ms raised to {} ms: {} probes {} ms apart must fit in it",
            cfg.configured_deadping / NANOS_PER_MILLI,
            cfg.deadping / NANOS_PER_MILLI,
            super::tracker::PROBES_PER_DEADPING,
            cfg.interval / NANOS_PER_MILLI
        );
    }
    tracing::info!(
        "ping nodes: {} targets, a probe every {} ms, unreachable after {} ms of silence",
        cfg.targets.len(),
        cfg.interval / NANOS_PER_MILLI,
        cfg.deadping / NANOS_PER_MILLI
    );
    let method = methods.join(", ");
    crate::engine::realtime::thread_named("reach")
        .spawn(move || run(cfg, sockets, &method, &reports, &view, &stop))
}

fn run(
    cfg: ReachConfig,
    sockets: Vec<ProbeSocket>,
    method: &str,
    reports: &Sender<ReachReport>,
    view: &Mutex<ReachView>,
    stop: &AtomicBool,
) {
    let addresses = cfg.addresses();
    let configured = u16::try_from(cfg.targets.len()).unwrap_or(u16::MAX);
    let token = token();
    let mut tracker = Tracker::new(cfg, monotonic_ns());
    let mut seq: u16 = 0;
    let mut unsent: Option<ReachReport> = None;
    let mut send_errors_logged = false;
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        let now = monotonic_ns();
        if tracker.poll_probe(now) {
            seq = seq.wrapping_add(1);
            for a in &addresses {
                let Some(s) = sockets.iter().find(|s| s.v6 == a.is_ipv6()) else {
                    continue;
                };
                if let Err(e) = s.send(*a, seq, token, monotonic_ns())
                    && !send_errors_logged
                {
                    // Often "network unreachable": the silence will say it.
                    tracing::warn!("ping node {a}: probe not sent: {e} (said once)");
                    send_errors_logged = true;
                }
            }
        }
        let mut on_reply = |from: IpAddr, sent: Nanos| tracker.on_reply(monotonic_ns(), from, sent);
        for s in &sockets {
            s.drain(token, &mut on_reply);
        }
        let now = monotonic_ns();
        tracker.on_tick(now);
        while let Some(c) = tracker.poll_change() {
            let Some((t, s)) = tracker.targets().nth(c.target) else {
                continue;
            };
            let kind = if t.group { "ping group" } else { "ping node" };
            match c.reach {
                Reach::Reachable => tracing::info!(
                    "{kind} {} is reachable (rtt {} µs)",
                    t.name,
                    s.rtt.unwrap_or(0) / 1_000
                ),
                _ => tracing::warn!(
                    "{kind} {} is unreachable: silent for {} ms",
                    t.name,
                    tracker.config().deadping / NANOS_PER_MILLI
                ),
            }
        }
        if let Some(reached) = tracker.poll_report() {
            tracing::info!("ping reach: {reached} of {configured} ping nodes reachable");
            unsent = Some(ReachReport {
                at: now,
                reached,
                configured,
            });
        }
        // The view first: whoever has a report sees a status at least as new.
        if let Ok(mut v) = view.lock() {
            // Replies change RTT and last-reply times every round.
            *v = ReachView::of(&tracker, method);
        }
        if let Some(r) = unsent {
            match reports.try_send(r) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => unsent = None,
                Err(TrySendError::Full(_)) => {} // the beat thread is behind: next round
            }
        }
        let wait = tracker
            .next_deadline()
            .saturating_sub(monotonic_ns())
            .min(MAX_WAIT);
        let ms = Duration::from_nanos(wait).as_millis().max(1);
        for f in fds.iter_mut() {
            f.revents = 0;
        }
        // SAFETY: poll on our own fds for a bounded time.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                i32::try_from(ms).unwrap_or(100),
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.name()), Some(m));
        }
        assert_eq!(Method::parse("carrier-pigeon"), None);
    }

    #[test]
    fn the_udp_method_always_opens() {
        let (s, why) = choose(false, Some(Method::Udp), 1);
        assert_eq!(s.map(|s| s.method), Some(Method::Udp));
        assert!(why.contains("UDP"), "{why}");
    }

    #[test]
    fn loopback_answers_whichever_method_is_chosen() {
        let (s, why) = choose(false, None, 0x4242);
        let s = s.expect("some method opens");
        let token = 77;
        let sent = monotonic_ns();
        s.send(IpAddr::V4(Ipv4Addr::LOCALHOST), 1, token, sent)
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..200 {
            s.drain(token, &mut |from, at| got.push((from, at)));
            if !got.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            got,
            [(IpAddr::V4(Ipv4Addr::LOCALHOST), sent)],
            "method: {why}"
        );
    }
}
