//! Failover side by side: twinbeat, Linux-HA Heartbeat 3.0.6 and keepalived
//! 2.2.7 run the same scenario in network namespaces this program makes,
//! and the same observer times them.
//!
//! Run it through `tools/compare-failover` (root; installs the peers with
//! apt when missing). Directly: `cargo bench --bench compare_failover --
//! [--rounds N] [--systems twinbeat,heartbeat,keepalived] [--faults
//! kill,stop,link] [--probe-us 50] [--out FILE]`.
//!
//! Test hosts: `tbcmp-a` (10.77.0.1) and `tbcmp-b` (10.77.0.2), each with
//! one interface `ha0`, and the observer `tbcmp-o` (10.77.0.3 on `br0`, the
//! bridge that joins them). The virtual IP is 10.77.0.100/24. Each system's
//! group is the VIP followed by a recording script that writes bash's
//! `$EPOCHREALTIME` (CLOCK_REALTIME, µs, no fork) when it starts:
//! twinbeat `IPaddr2::VIP stamp` (built-in IPaddr2), Heartbeat `IPaddr2::VIP
//! stamp` (Debian's IPaddr2 resource script), keepalived
//! `virtual_ipaddress` + `notify_master` (keepalived adds its VIPs before it
//! runs notify scripts).
//!
//! A round: the active node is faulted — SIGKILL or SIGSTOP to every process
//! in its namespace, or its interface set down with one ioctl — right after
//! this program reads CLOCK_REALTIME. Measured from that stamp: (a) the
//! survivor's kernel adding the VIP (the first resource started), heard on
//! rtnetlink in its namespace, (b) the first ARP reply for the VIP from the
//! survivor's MAC to the observer, which asks every `--probe-us` µs from
//! its own namespace over a packet socket (dated by the observer's kernel
//! on arrival, SO_TIMESTAMPNS; below the systems' realtime threads until
//! (a), above them after), and (c) the survivor's recording
//! script starting. Restore:
//! every process of the faulted node killed, its interface up, its VIP and
//! stamp removed, its daemon started again; it rejoins as the standby and
//! the survivor stays active (auto_failback off / nopreempt), so rounds
//! alternate between the nodes. A round starts only when exactly the
//! active node runs the group.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

const NS: [&str; 2] = ["tbcmp-a", "tbcmp-b"];
const NS_OBSERVER: &str = "tbcmp-o";
const NODE_IP: [[u8; 4]; 2] = [[10, 77, 0, 1], [10, 77, 0, 2]];
const OBSERVER_IP: [u8; 4] = [10, 77, 0, 3];
const VIP: [u8; 4] = [10, 77, 0, 100];
const VIP_TEXT: &str = "10.77.0.100";
const NODE_MAC: [[u8; 6]; 2] = [[2, 0x77, 0, 0, 0, 1], [2, 0x77, 0, 0, 0, 2]];
const OBSERVER_MAC: [u8; 6] = [2, 0x77, 0, 0, 0, 3];
const IFACE: &str = "ha0";
/// A takeover slower than this is a failed round.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(10);
/// Time for a restarted node to rejoin as the standby.
const REJOIN_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- clock, ip

fn realtime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        bail!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<()> {
    run("ip", args).map(drop)
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn ip_text(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn wait_for(limit: Duration, step: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ok() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(step);
    }
}

// ---------------------------------------------------------------- topology

/// Every process whose network namespace is `ns`.
fn pids_in(ns: &str) -> Vec<i32> {
    run("ip", &["netns", "pids", ns])
        .map(|t| {
            t.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn signal_all(pids: &[i32], sig: i32) {
    for &p in pids {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(p, sig) };
    }
}

/// Gives the observer thread `tid` its answering priority (see
/// [`OBSERVER_ANSWER_PRIORITY`]).
fn raise_observer(tid: i32) {
    if tid <= 0 {
        return;
    }
    let param = libc::sched_param {
        sched_priority: OBSERVER_ANSWER_PRIORITY,
    };
    // SAFETY: a valid sched_param; a thread id that has exited makes the
    // call fail with ESRCH, which changes nothing.
    unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param) };
}

/// Back to the normal scheduler (from a SCHED_FIFO priority).
fn run_normal() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; param is a valid sched_param.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
}

/// The signalling thread's priority while it signals a node. A node dies
/// at one instant: at normal priority the signal loop over a node's
/// processes was preempted by the systems' realtime threads and took
/// 0.4-3.4 ms (traced), while the victim's not yet signalled processes
/// ran on, on the cores the survivor needed.
const INJECTOR_PRIORITY: i32 = 99;

/// A socket opened inside a network namespace: it stays bound to that
/// namespace whichever thread uses it later.
fn socket_in(ns: &str, domain: i32, ty: i32, proto: i32) -> Result<OwnedFd> {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| -> Result<OwnedFd> {
            let nsfile = fs::File::open(&path).with_context(|| path.clone())?;
            // SAFETY: setns on a valid namespace fd; it changes only this
            // short-lived thread.
            if unsafe { libc::setns(nsfile.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error()).context("setns");
            }
            // SAFETY: plain socket(2).
            let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
            if fd < 0 {
                return Err(io::Error::last_os_error()).context("socket");
            }
            // SAFETY: fd is a fresh descriptor we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .join()
        .map_err(|_| anyhow!("namespace thread panicked"))?
    })
}

/// Two nodes and an observer on one bridge; everything in them is killed
/// and the namespaces deleted on drop.
struct Topology;

impl Topology {
    fn new() -> Result<Topology> {
        Topology::remove();
        let t = Topology;
        for ns in NS.iter().chain([&NS_OBSERVER]) {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // No IPv6 chatter (DAD, router solicitations) on the segment.
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                ],
            )?;
        }
        let o = NS_OBSERVER;
        ip(&["-n", o, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            o,
            "link",
            "set",
            "br0",
            "address",
            &mac_text(OBSERVER_MAC),
        ])?;
        ip(&[
            "-n",
            o,
            "addr",
            "add",
            &format!("{}/24", ip_text(OBSERVER_IP)),
            "dev",
            "br0",
        ])?;
        ip(&["-n", o, "link", "set", "br0", "up"])?;
        for i in 0..2 {
            let port = format!("tbcmp-p{i}");
            ip(&[
                "link", "add", IFACE, "netns", NS[i], "type", "veth", "peer", "name", &port,
                "netns", o,
            ])?;
            ip(&[
                "-n",
                NS[i],
                "link",
                "set",
                IFACE,
                "address",
                &mac_text(NODE_MAC[i]),
            ])?;
            ip(&[
                "-n",
                NS[i],
                "addr",
                "add",
                &format!("{}/24", ip_text(NODE_IP[i])),
                "dev",
                IFACE,
            ])?;
            ip(&["-n", NS[i], "link", "set", IFACE, "up"])?;
            ip(&["-n", o, "link", "set", &port, "master", "br0", "up"])?;
        }
        Ok(t)
    }

    /// Kills what runs in our namespaces and deletes them (also leftovers
    /// of an earlier run).
    fn remove() {
        for ns in NS.iter().chain([&NS_OBSERVER]) {
            signal_all(&pids_in(ns), libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
        for ns in NS.iter().chain([&NS_OBSERVER]) {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        Topology::remove();
    }
}

// ---------------------------------------------------------------- observer

/// ARP prober in the observer namespace.
struct Observer {
    fd: OwnedFd,
    ifindex: i32,
    interval: Duration,
}

const ETH_P_ARP: u16 = 0x0806;
/// The observer at SCHED_FIFO 1 until the VIP is added: above every
/// normal-priority process (scripts, the bench itself), below the systems'
/// realtime threads. It probes 20,000 times a second; at priority 99 its
/// probes, and the ARP work they cause in every namespace, preempted the
/// systems measured (twinbeat's p50 rose by 0.2–0.5 ms on a noisy host).
const OBSERVER_PRIORITY: i32 = 1;
/// The observer's priority once the survivor's kernel has the VIP (the
/// address listener raises it): the observer stands in for another host,
/// and below the systems' threads its probes waited for whatever the
/// survivor did next (traced: 0.1-0.2 ms after twinbeat's add, 1-4 ms
/// after keepalived's). From here on it sends a probe or two until the
/// answer; nothing it delays is measured before that answer.
const OBSERVER_ANSWER_PRIORITY: i32 = 99;
/// The address listener at SCHED_FIFO 99: it wakes once per round (the
/// VIP's rtnetlink notification), so it perturbs nothing and its time
/// stamp is not delayed by the threads that just added the address.
const LISTENER_PRIORITY: i32 = 99;

impl Observer {
    fn new(interval: Duration) -> Result<Observer> {
        let fd = socket_in(
            NS_OBSERVER,
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            i32::from(ETH_P_ARP.to_be()),
        )?;
        let idx = run(
            "ip",
            &[
                "netns",
                "exec",
                NS_OBSERVER,
                "cat",
                "/sys/class/net/br0/ifindex",
            ],
        )?;
        let ifindex: i32 = idx.trim().parse().context("br0 ifindex")?;
        // SAFETY: zeroed sockaddr_ll is valid; we fill the fields bind needs.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ARP.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("bind packet socket");
        }
        // Answers are dated by the observer's kernel on arrival, not when
        // the observer's thread gets to read them: the observer stands in
        // for another host, and its own wake-up on these shared cores is
        // not the system's failover.
        let on: libc::c_int = 1;
        // SAFETY: a valid int option of its size on our socket.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("SO_TIMESTAMPNS");
        }
        Ok(Observer {
            fd,
            ifindex,
            interval,
        })
    }

    fn request() -> [u8; 42] {
        let mut f = [0u8; 42];
        f[0..6].copy_from_slice(&[0xff; 6]);
        f[6..12].copy_from_slice(&OBSERVER_MAC);
        f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
        f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
        f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
        f[18] = 6;
        f[19] = 4;
        f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
        f[22..28].copy_from_slice(&OBSERVER_MAC);
        f[28..32].copy_from_slice(&OBSERVER_IP);
        f[38..42].copy_from_slice(&VIP);
        f
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: zeroed sockaddr_ll is valid; fields filled below.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_ARP.to_be();
        to.sll_ifindex = self.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: frame and to are valid for the lengths given. A failed
        // send is a lost probe; the next one follows an interval later.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
    }

    /// Whether `f` is an ARP reply to the observer saying the VIP is at
    /// `mac`.
    fn is_answer(f: &[u8], mac: [u8; 6]) -> bool {
        f.len() >= 42
            && f[12..14] == ETH_P_ARP.to_be_bytes()
            && f[20..22] == 2u16.to_be_bytes()
            && f[22..28] == mac
            && f[28..32] == VIP
            && f[38..42] == OBSERVER_IP
    }

    /// One queued frame without waiting: its length and its arrival time
    /// (CLOCK_REALTIME ns, from the kernel's SO_TIMESTAMPNS; the time of
    /// reading if the kernel gave none).
    fn recv_stamped(&self, buf: &mut [u8]) -> Option<(usize, u64)> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u8; twinbeat::engine::io::CONTROL_LEN];
        // SAFETY: all-zero is a valid msghdr; the pointers set below
        // outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: msg describes valid buffers for the call.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n <= 0 {
            return None;
        }
        let control = control.get(..msg.msg_controllen as usize).unwrap_or(&[]);
        let at = twinbeat::engine::io::realtime_stamp(control).and_then(|t| u64::try_from(t).ok());
        Some((n as usize, at.unwrap_or_else(realtime_ns)))
    }

    /// Asks for the VIP every interval until `mac` answers (its receive
    /// time, CLOCK_REALTIME ns), `stop` is set, or `limit` passes. Counts
    /// itself in `ready` once it runs at its priority and probes.
    fn watch(
        &self,
        mac: [u8; 6],
        stop: &AtomicBool,
        limit: Duration,
        ready: &AtomicUsize,
        tid: &AtomicI32,
    ) -> Option<u64> {
        // The observer stands in for another host: a script starting on
        // these shared cores must not delay its probes or its noticing the
        // answer (at normal priority it waited up to 1.5 ms for a starting
        // bash to use up its time slice).
        if let Err(e) = twinbeat::engine::realtime::promote_current_thread(OBSERVER_PRIORITY) {
            eprintln!("observer: SCHED_FIFO refused ({e}); its timing may include scheduler delay");
        }
        let request = Observer::request();
        let mut buf = [0u8; 1600];
        // The socket hears ARP all the time: what it queued before this
        // round (the previous owner's answers) is not an answer now.
        // SAFETY: buf is valid for its length.
        while unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        } > 0
        {}
        let start = Instant::now();
        let mut next_send = Instant::now();
        // SAFETY: gettid has no preconditions.
        tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
        ready.fetch_add(1, Ordering::SeqCst);
        while !stop.load(Ordering::Relaxed) && start.elapsed() < limit {
            let now = Instant::now();
            if now >= next_send {
                self.send(&request);
                next_send = (next_send + self.interval).max(now);
            }
            let wait = next_send.saturating_duration_since(Instant::now());
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: wait.as_nanos().min(999_999_999) as i64,
            };
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, a valid timespec, no signal mask.
            unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
            while let Some((n, at)) = self.recv_stamped(&mut buf) {
                if buf.get(..n).is_some_and(|f| Observer::is_answer(f, mac)) {
                    // This thread's exit must not hold a core at the
                    // priority the listener may have given it.
                    run_normal();
                    return Some(at);
                }
            }
        }
        run_normal();
        None
    }
}

// ------------------------------------------------------- address watcher

/// Hears the survivor's kernel add the VIP: the moment its first resource
/// started, whoever added it (twinbeat's netlink call, Debian's IPaddr2
/// script, keepalived).
struct AddressWatch {
    fd: OwnedFd,
}

/// rtnetlink multicast group of IPv4 address changes.
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTM_NEWADDR: u16 = 20;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// struct ifaddrmsg, before the attributes.
const IFADDRMSG_LEN: usize = 8;

impl AddressWatch {
    /// Subscribes in `ns` now, so nothing added after this call is missed.
    fn subscribe(ns: &str) -> Result<AddressWatch> {
        let fd = socket_in(
            ns,
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            libc::NETLINK_ROUTE,
        )?;
        // SAFETY: all-zero is a valid sockaddr_nl; family and groups set.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = RTMGRP_IPV4_IFADDR;
        // SAFETY: addr is a valid sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("bind rtnetlink socket");
        }
        Ok(AddressWatch { fd })
    }

    fn names_vip(msg: &twinbeat::ipaddr::netlink::Message<'_>) -> bool {
        msg.msg_type == RTM_NEWADDR
            && msg.payload.get(IFADDRMSG_LEN..).is_some_and(|attrs| {
                twinbeat::ipaddr::netlink::attributes(attrs)
                    .any(|(t, v)| (t == IFA_LOCAL || t == IFA_ADDRESS) && v == VIP)
            })
    }

    /// Waits until the VIP is added (its CLOCK_REALTIME ns when this thread
    /// heard it), `stop` is set, or `limit` passes. Counts itself in
    /// `ready` once it runs at its priority: rtnetlink gives no arrival
    /// time, so the listener must already be waiting when the VIP comes.
    fn watch(
        &self,
        stop: &AtomicBool,
        limit: Duration,
        ready: &AtomicUsize,
        observer: &AtomicI32,
    ) -> Option<u64> {
        if let Err(e) = twinbeat::engine::realtime::promote_current_thread(LISTENER_PRIORITY) {
            eprintln!("address watch: SCHED_FIFO refused ({e})");
        }
        ready.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Relaxed) && start.elapsed() < limit {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd. A short timeout so `stop` is seen.
            unsafe { libc::poll(&mut pfd, 1, 5) };
            loop {
                // SAFETY: buf is valid for its length.
                let n = unsafe {
                    libc::recv(
                        self.fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if n <= 0 {
                    break;
                }
                let at = realtime_ns();
                let heard = buf.get(..n as usize).unwrap_or(&[]);
                if twinbeat::ipaddr::netlink::messages(heard)
                    .flatten()
                    .any(|m| AddressWatch::names_vip(&m))
                {
                    raise_observer(observer.load(Ordering::SeqCst));
                    // Dated: the rest (this thread's exit, 60-90 µs
                    // here) must not hold a core at FIFO 99 while the
                    // survivor and the observer need it.
                    run_normal();
                    return Some(at);
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------- faults

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    Kill,
    Stop,
    LinkDown,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill -9 (every process of the node)",
            Fault::Stop => "SIGSTOP (every process of the node)",
            Fault::LinkDown => "interface down",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Stop => "stop",
            Fault::LinkDown => "link",
        }
    }
}

/// Sets `IFACE` down in the namespace the socket was opened in: one ioctl,
/// so the fault lands microseconds after its time stamp.
fn set_link_down(fd: &OwnedFd) -> io::Result<()> {
    #[repr(C)]
    struct IfReqFlags {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..IFACE.len()].copy_from_slice(IFACE.as_bytes());
    // SAFETY: req is a valid ifreq-sized buffer for both ioctls.
    unsafe {
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
        req.flags &= !(libc::IFF_UP as libc::c_short);
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- systems

/// One HA system as run in the namespaces.
trait System {
    fn label(&self) -> String;
    /// Its settings, as the result file states them.
    fn settings(&self) -> String;
    /// Writes node `i`'s configuration under `work`.
    fn configure(&self, work: &Path, i: usize) -> Result<()>;
    /// Starts node `i`'s daemon; its log under `work`.
    fn start(&self, work: &Path, i: usize) -> Result<Child>;
    /// Whether node `i`, just started while `active` runs the group, has
    /// joined as the standby.
    fn joined(&self, work: &Path, i: usize) -> bool;
    /// When node `i` declared its peer dead (CLOCK_REALTIME ns), where the
    /// system says so precisely enough: twinbeat's status does.
    fn verdict_at(&self, _work: &Path, _i: usize) -> Option<u64> {
        None
    }
}

fn stamp_file(work: &Path, i: usize) -> PathBuf {
    work.join(format!("node{i}.started"))
}

fn log_file(work: &Path, i: usize) -> PathBuf {
    work.join(format!("node{i}.log"))
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| path.display().to_string())?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// An LSB-style script that records the moment its start runs.
fn stamp_script(stamp: &Path) -> String {
    format!(
        "#!/bin/bash\ncase \"$1\" in\nstart) echo \"$EPOCHREALTIME\" > '{0}.tmp' && mv '{0}.tmp' '{0}' ;;\n\
         stop) rm -f '{0}' ;;\nstatus) if [ -f '{0}' ]; then echo running; else echo stopped; fi ;;\n\
         esac\nexit 0\n",
        stamp.display()
    )
}

fn log_to(work: &Path, i: usize) -> Result<Stdio> {
    Ok(Stdio::from(fs::File::create(log_file(work, i))?))
}

struct Twinbeat {
    keepalive: &'static str,
    warntime: &'static str,
    deadtime: &'static str,
}

const TWINBEAT_NODES: [&str; 2] = ["alpha", "bravo"];

impl System for Twinbeat {
    fn label(&self) -> String {
        format!("twinbeat {}/{}", self.keepalive, self.deadtime)
    }

    fn settings(&self) -> String {
        format!(
            "keepalive {}, warntime {}, deadtime {}, initdead 2 s, one ucast UDP link, \
             auto_failback off, realtime on (default), beat thread of node a on core 0 and \
             of node b on core 1; group `IPaddr2::{VIP_TEXT}/24/{IFACE} stamp` \
             (built-in IPaddr2: netlink + gratuitous ARP)",
            self.keepalive, self.warntime, self.deadtime
        )
    }

    fn configure(&self, work: &Path, i: usize) -> Result<()> {
        let base = work.join(TWINBEAT_NODES[i]);
        let conf = base.join("ha.d");
        fs::create_dir_all(conf.join("resource.d"))?;
        fs::write(
            conf.join("ha.cf"),
            format!(
                "keepalive {ka}\nwarntime {wt}\ndeadtime {dt}\ninitdead 2\nudpport 694\n\
                 ucast {IFACE} {peer}\nauto_failback off\nnode alpha bravo\nbeat_core {i}\n\
                 state_dir {base}/state\nrun_dir {base}/run\n",
                ka = self.keepalive,
                wt = self.warntime,
                dt = self.deadtime,
                peer = ip_text(NODE_IP[1 - i]),
                base = base.display(),
            ),
        )?;
        let keys = conf.join("authkeys");
        fs::write(&keys, "auth 1\n1 sha1 compare-secret\n")?;
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600))?;
        fs::write(
            conf.join("haresources"),
            format!("alpha IPaddr2::{VIP_TEXT}/24/{IFACE} stamp\n"),
        )?;
        write_exec(
            &conf.join("resource.d/stamp"),
            &stamp_script(&stamp_file(work, i)),
        )
    }

    fn start(&self, work: &Path, i: usize) -> Result<Child> {
        let base = work.join(TWINBEAT_NODES[i]);
        Ok(Command::new("ip")
            .args([
                "netns",
                "exec",
                NS[i],
                env!("CARGO_BIN_EXE_twinbeat"),
                "run",
            ])
            .arg("--dir")
            .arg(base.join("ha.d"))
            .args(["--node", TWINBEAT_NODES[i]])
            .env(
                "TWINBEAT_LOG",
                std::env::var("TWINBEAT_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_to(work, i)?)
            .spawn()?)
    }

    fn verdict_at(&self, work: &Path, i: usize) -> Option<u64> {
        let run_dir = work.join(TWINBEAT_NODES[i]).join("run");
        let snap = twinbeat::control::client::Client::connect(&run_dir)
            .and_then(|mut c| c.status())
            .ok()?;
        let ago_us = snap.peers.first()?.declared_dead_us_ago?;
        let verdict_mono = snap.node.clock_ns.checked_sub(ago_us * 1_000)?;
        // CLOCK_MONOTONIC onto CLOCK_REALTIME, both read now.
        let offset = realtime_ns().checked_sub(twinbeat::time::monotonic_ns())?;
        Some(verdict_mono + offset)
    }

    fn joined(&self, work: &Path, i: usize) -> bool {
        // Both sides see each other alive.
        let sees_peer = |n: usize| {
            twinbeat::control::client::Client::connect(&work.join(TWINBEAT_NODES[n]).join("run"))
                .and_then(|mut c| c.status())
                .is_ok_and(|s| {
                    s.peers
                        .first()
                        .is_some_and(|p| p.status == "active" || p.status == "up")
                })
        };
        sees_peer(i) && sees_peer(1 - i)
    }
}

struct Heartbeat {
    keepalive: &'static str,
    deadtime: &'static str,
}

const HEARTBEAT_NODES: [&str; 2] = ["node1", "node2"];

impl System for Heartbeat {
    fn label(&self) -> String {
        format!("Heartbeat 3.0.6 {}/{}", self.keepalive, self.deadtime)
    }

    fn settings(&self) -> String {
        format!(
            "keepalive {ka}, warntime {dt}, deadtime {dt}, initdead 2 s, one ucast UDP link, \
             auto_failback off, realtime (default); haresources `node1 \
             IPaddr2::{VIP_TEXT}/24/{IFACE} stamp` (Debian's IPaddr2 resource script); each \
             node in its own UTS and mount namespace (hostname, /etc/ha.d, /var/lib/heartbeat, \
             /run bound to its own directories)",
            ka = self.keepalive,
            dt = self.deadtime
        )
    }

    fn configure(&self, work: &Path, i: usize) -> Result<()> {
        let d = work.join(HEARTBEAT_NODES[i]);
        for sub in ["ha.d/resource.d", "lib", "run", "log"] {
            fs::create_dir_all(d.join(sub))?;
        }
        run(
            "cp",
            &["-rn", "/etc/ha.d/.", &format!("{}/ha.d/", d.display())],
        )?;
        let _ = run(
            "cp",
            &[
                "-a",
                "/var/lib/heartbeat/.",
                &format!("{}/lib/", d.display()),
            ],
        );
        // Each node its own identity.
        let _ = fs::remove_file(d.join("lib/hb_uuid"));
        fs::write(
            d.join("ha.d/ha.cf"),
            format!(
                "keepalive {ka}\nwarntime {dt}\ndeadtime {dt}\ninitdead 2\nudpport 694\n\
                 ucast {IFACE} {peer}\nauto_failback off\nnode node1 node2\nlogfile {log}\n",
                ka = self.keepalive,
                dt = self.deadtime,
                peer = ip_text(NODE_IP[1 - i]),
                log = log_file(work, i).display(),
            ),
        )?;
        let keys = d.join("ha.d/authkeys");
        fs::write(&keys, "auth 1\n1 sha1 compare-secret\n")?;
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o600))?;
        fs::write(
            d.join("ha.d/haresources"),
            format!("node1 IPaddr2::{VIP_TEXT}/24/{IFACE} stamp\n"),
        )?;
        write_exec(
            &d.join("ha.d/resource.d/stamp"),
            &stamp_script(&stamp_file(work, i)),
        )?;
        run(
            "chown",
            &["-R", "hacluster:haclient", &format!("{}/run", d.display())],
        )?;
        Ok(())
    }

    fn start(&self, work: &Path, i: usize) -> Result<Child> {
        let d = work.join(HEARTBEAT_NODES[i]);
        let d = d.display();
        let script = format!(
            "hostname {name}; mount --bind {d}/ha.d /etc/ha.d; \
             mount --bind {d}/lib /var/lib/heartbeat; \
             mkdir -p {d}/run/heartbeat/rsctmp {d}/run/lock {d}/run/resource-agents; \
             chown hacluster:haclient {d}/run/heartbeat; mount --bind {d}/run /run; \
             exec /usr/libexec/heartbeat/heartbeat -f",
            name = HEARTBEAT_NODES[i]
        );
        Ok(Command::new("ip")
            .args(["netns", "exec", NS[i], "unshare", "--uts", "--mount"])
            .args(["--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(fs::File::create(
                work.join(format!("node{i}.stderr")),
            )?))
            .spawn()?)
    }

    fn joined(&self, work: &Path, i: usize) -> bool {
        // The survivor has heard the restarted node, and the restarted node
        // has finished its resource negotiation.
        let survivor = fs::read_to_string(log_file(work, 1 - i)).unwrap_or_default();
        let restarted = fs::read_to_string(log_file(work, i)).unwrap_or_default();
        let heard = format!(
            "Status update for node {}: status active",
            HEARTBEAT_NODES[i]
        );
        survivor.matches(&heard).count() > heartbeat_heard_before(work, i)
            && (restarted.contains("remote resource transition completed")
                || restarted.contains("Initial resource acquisition complete"))
    }
}

/// How often the survivor's log said it heard node `i` before `i` was
/// (re)started: kept in a file next to the logs.
fn heartbeat_heard_before(work: &Path, i: usize) -> usize {
    fs::read_to_string(work.join(format!("node{i}.heard-before")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

struct Keepalived {
    advert_int: &'static str,
}

impl System for Keepalived {
    fn label(&self) -> String {
        format!("keepalived 2.2.7 advert_int {}", self.advert_int)
    }

    fn settings(&self) -> String {
        format!(
            "VRRPv3, advert_int {} s, unicast, both `state BACKUP` + `nopreempt`, priority \
             150 (node a) / 100 (node b); `virtual_ipaddress {{ {VIP_TEXT}/24 }}`, \
             `notify_master` = the recording script",
            self.advert_int
        )
    }

    fn configure(&self, work: &Path, i: usize) -> Result<()> {
        let notify = work.join(format!("notify{i}.sh"));
        write_exec(
            &notify,
            &format!(
                "#!/bin/bash\necho \"$EPOCHREALTIME\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
                stamp_file(work, i).display()
            ),
        )?;
        fs::write(
            work.join(format!("node{i}.conf")),
            format!(
                "global_defs {{\n  router_id node{i}\n  script_user root\n  vrrp_version 3\n  \
                 enable_script_security\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  \
                 interface {IFACE}\n  virtual_router_id 51\n  priority {prio}\n  advert_int {adv}\n  \
                 nopreempt\n  unicast_src_ip {me}\n  unicast_peer {{ {peer} }}\n  \
                 virtual_ipaddress {{ {VIP_TEXT}/24 }}\n  notify_master \"{notify}\"\n}}\n",
                prio = if i == 0 { 150 } else { 100 },
                adv = self.advert_int,
                me = ip_text(NODE_IP[i]),
                peer = ip_text(NODE_IP[1 - i]),
                notify = notify.display(),
            ),
        )?;
        Ok(())
    }

    fn start(&self, work: &Path, i: usize) -> Result<Child> {
        let p = |k: &str| work.join(format!("node{i}.{k}.pid"));
        // A pid file left by a killed keepalived makes the new one refuse to
        // start ("daemon is already running").
        for k in ["main", "vrrp", "check"] {
            let _ = fs::remove_file(p(k));
        }
        Ok(Command::new("ip")
            .args(["netns", "exec", NS[i], "keepalived", "-n", "-l", "-D", "-f"])
            .arg(work.join(format!("node{i}.conf")))
            .arg("-p")
            .arg(p("main"))
            .arg("-r")
            .arg(p("vrrp"))
            .arg("-c")
            .arg(p("check"))
            .stdin(Stdio::null())
            .stdout(log_to(work, i)?)
            .stderr(Stdio::from(
                fs::OpenOptions::new()
                    .append(true)
                    .open(log_file(work, i))?,
            ))
            .spawn()?)
    }

    fn joined(&self, work: &Path, i: usize) -> bool {
        fs::read_to_string(log_file(work, i)).is_ok_and(|t| t.contains("Entering BACKUP STATE"))
    }
}

// ---------------------------------------------------------------- the pair

/// A system's two nodes in the namespaces, with the node that runs the
/// group.
struct Pair<'a> {
    system: &'a dyn System,
    work: PathBuf,
    kids: [Option<Child>; 2],
    active: usize,
}

impl<'a> Pair<'a> {
    fn holds(&self, i: usize) -> bool {
        stamp_file(&self.work, i).exists()
    }

    fn has_vip(i: usize) -> bool {
        run("ip", &["-n", NS[i], "-4", "addr", "show", "dev", IFACE])
            .is_ok_and(|t| t.contains(&format!("{VIP_TEXT}/")))
    }

    /// Node `i` back to a clean, stopped host: nothing running, interface
    /// up, no VIP, no stamp.
    fn reset_node(&mut self, i: usize) {
        signal_all(&pids_in(NS[i]), libc::SIGKILL);
        if let Some(mut k) = self.kids[i].take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        // Survivors of SIGKILL (a process between fork and the namespace
        // listing) get another moment.
        let _ = wait_for(Duration::from_secs(2), Duration::from_millis(10), || {
            pids_in(NS[i]).is_empty()
        });
        signal_all(&pids_in(NS[i]), libc::SIGKILL);
        let _ = ip(&["-n", NS[i], "link", "set", IFACE, "up"]);
        let _ = ip(&[
            "-n",
            NS[i],
            "addr",
            "del",
            &format!("{VIP_TEXT}/24"),
            "dev",
            IFACE,
        ]);
        let _ = fs::remove_file(stamp_file(&self.work, i));
    }

    fn start(&mut self, i: usize) -> Result<()> {
        let before = fs::read_to_string(log_file(&self.work, 1 - i))
            .unwrap_or_default()
            .matches(&format!(
                "Status update for node {}: status active",
                HEARTBEAT_NODES[i]
            ))
            .count();
        fs::write(
            self.work.join(format!("node{i}.heard-before")),
            before.to_string(),
        )?;
        self.kids[i] = Some(self.system.start(&self.work, i)?);
        Ok(())
    }

    /// Both nodes from scratch; node 0 takes the group.
    fn fresh(system: &'a dyn System, work: PathBuf) -> Result<Pair<'a>> {
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work)?;
        for i in 0..2 {
            system.configure(&work, i)?;
        }
        let mut pair = Pair {
            system,
            work,
            kids: [None, None],
            active: 0,
        };
        pair.reset_node(0);
        pair.reset_node(1);
        pair.start(0)?;
        std::thread::sleep(Duration::from_millis(300));
        pair.start(1)?;
        if !wait_for(REJOIN_LIMIT, Duration::from_millis(20), || pair.holds(0)) {
            bail!("{}: node a never took the group", system.label());
        }
        pair.settle(1)?;
        Ok(pair)
    }

    /// Waits until `i` (just started) has joined, then until the group has
    /// run on exactly one node, with its VIP, for a quiet moment; that node
    /// is the active one from now on. Returns whether the owner is not the
    /// node that held the group when `i` started (the pair moved it).
    fn settle(&mut self, i: usize) -> Result<bool> {
        if !wait_for(REJOIN_LIMIT, Duration::from_millis(20), || {
            self.system.joined(&self.work, i)
        }) {
            bail!("{}: node {i} did not rejoin", self.system.label());
        }
        let owner = |p: &Self| match (
            p.holds(0) && Pair::has_vip(0),
            p.holds(1) && Pair::has_vip(1),
        ) {
            (true, false) if !p.holds(1) && !Pair::has_vip(1) => Some(0),
            (false, true) if !p.holds(0) && !Pair::has_vip(0) => Some(1),
            _ => None,
        };
        let quiet = Duration::from_millis(700);
        let start = Instant::now();
        let (mut last, mut since) = (owner(self), Instant::now());
        while start.elapsed() < REJOIN_LIMIT {
            std::thread::sleep(Duration::from_millis(50));
            let now = owner(self);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if let Some(o) = now
                && since.elapsed() >= quiet
            {
                let moved = o != 1 - i;
                self.active = o;
                return Ok(moved);
            }
        }
        bail!(
            "{}: the group did not settle on one node after node {i} rejoined",
            self.system.label()
        )
    }

    fn stop_all(&mut self) {
        self.reset_node(0);
        self.reset_node(1);
    }
}

impl Drop for Pair<'_> {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct Round {
    /// CLOCK_REALTIME ns of the fault, to find the round in the logs.
    fault_at: u64,
    /// How long injecting it took (µs): kill(2)/ioctl(2) entry to return.
    injection_us: u64,
    /// The survivor declared the peer dead (twinbeat only).
    verdict_us: Option<u64>,
    /// The survivor's kernel added the VIP: its first resource started.
    added_us: Option<u64>,
    resource_us: Option<u64>,
    vip_us: Option<u64>,
    /// The group moved back to the restarted node while the pair settled.
    moved: bool,
}

fn parse_epochrealtime(text: &str) -> Option<u64> {
    let (s, us) = text.trim().split_once('.')?;
    Some(s.parse::<u64>().ok()? * 1_000_000_000 + us.parse::<u64>().ok()? * 1_000)
}

/// One fault of the active node, measured; then the pair restored with the
/// survivor active.
fn one_round(
    pair: &mut Pair,
    observer: &Arc<Observer>,
    fault: Fault,
    round: usize,
) -> Result<Round> {
    let (victim, survivor) = (pair.active, 1 - pair.active);
    if !pair.holds(victim) || pair.holds(survivor) {
        bail!("the group is not on node {victim} alone before the fault");
    }
    let pids = pids_in(NS[victim]);
    let link_fd = socket_in(NS[victim], libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let address_watch = AddressWatch::subscribe(NS[survivor])?;
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let observer_tid = Arc::new(AtomicI32::new(0));
    let watcher = {
        let (observer, stop, ready, tid) = (
            observer.clone(),
            stop.clone(),
            ready.clone(),
            observer_tid.clone(),
        );
        std::thread::spawn(move || {
            observer.watch(NODE_MAC[survivor], &stop, TAKEOVER_LIMIT, &ready, &tid)
        })
    };
    let adder = {
        let (stop, ready, tid) = (stop.clone(), ready.clone(), observer_tid.clone());
        std::thread::spawn(move || address_watch.watch(&stop, TAKEOVER_LIMIT, &ready, &tid))
    };
    // No fault before both measuring threads run at their priority: a new
    // thread starts at normal priority, and with the systems' realtime
    // threads busy on both cores it waited up to ms for its first turn
    // (a late listener dated the VIP late).
    let waiting = Instant::now();
    while ready.load(Ordering::SeqCst) < 2 {
        if waiting.elapsed() > Duration::from_secs(5) {
            stop.store(true, Ordering::Relaxed);
            bail!("the observer and the address listener did not start within 5 s");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    // Let the prober send a few probes before the fault.
    std::thread::sleep(Duration::from_millis(5));
    let (fault_at, injected) = match fault {
        Fault::Kill | Fault::Stop => {
            let sig = if fault == Fault::Kill {
                libc::SIGKILL
            } else {
                libc::SIGSTOP
            };
            if let Err(e) = twinbeat::engine::realtime::promote_current_thread(INJECTOR_PRIORITY) {
                eprintln!("fault injection: SCHED_FIFO refused ({e}); signalling may take long");
            }
            let at = realtime_ns();
            signal_all(&pids, sig);
            let done = realtime_ns();
            run_normal();
            (at, done)
        }
        // One system call: nothing to hurry. At FIFO 99 its wake-ups
        // inside the kernel would preempt the survivor.
        Fault::LinkDown => {
            let at = realtime_ns();
            set_link_down(&link_fd).context("interface down")?;
            (at, realtime_ns())
        }
    };
    // `injected` is logged per round: an interface-down ioctl takes
    // 0.1-3 ms here, most of it after the interface stopped passing frames
    // (the survivor had sometimes taken over before it returned), so its
    // return does not date the fault; its entry does, as for the signals.
    let stamp = || {
        fs::read_to_string(stamp_file(&pair.work, survivor))
            .ok()
            .and_then(|t| parse_epochrealtime(&t))
    };
    let started = if wait_for(TAKEOVER_LIMIT, Duration::from_micros(500), || {
        stamp().is_some()
    }) {
        stamp()
    } else {
        None
    };
    // The VIP comes before the script in every group: once the script ran,
    // the observer has had its answer or soon will.
    if started.is_none() {
        stop.store(true, Ordering::Relaxed);
    }
    let seen = watcher.join().map_err(|_| anyhow!("observer panicked"))?;
    stop.store(true, Ordering::Relaxed);
    let added = adder
        .join()
        .map_err(|_| anyhow!("address watch panicked"))?;
    let since = |t: u64| t.saturating_sub(fault_at) / 1_000;
    let verdict = pair.system.verdict_at(&pair.work, survivor);
    // The survivor's log of this takeover, kept beside the results so a
    // slow round can be read afterwards (the node's log starts anew when
    // it is restarted).
    let _ = fs::copy(
        log_file(&pair.work, survivor),
        pair.work.join(format!("round{round}-survivor.log")),
    );
    pair.reset_node(victim);
    pair.start(victim)?;
    let moved = pair.settle(victim)?;
    Ok(Round {
        fault_at,
        injection_us: injected.saturating_sub(fault_at) / 1_000,
        verdict_us: verdict.map(since),
        added_us: added.map(since),
        resource_us: started.map(since),
        vip_us: seen.map(since),
        moved,
    })
}

// ---------------------------------------------------------------- results

#[derive(Default)]
struct Cell {
    verdict_us: Vec<u64>,
    added_us: Vec<u64>,
    resource_us: Vec<u64>,
    vip_us: Vec<u64>,
    failed: Vec<String>,
    /// Restores after which the group ended on the restarted node.
    moved: usize,
}

/// Nearest-rank percentile.
fn pct(v: &[u64], q: f64) -> Option<u64> {
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((q * s.len() as f64).ceil() as usize).max(1);
    s.get(rank - 1).copied()
}

fn ms(us: Option<u64>) -> String {
    us.map_or("—".into(), |u| format!("{:.2}", u as f64 / 1_000.0))
}

struct Options {
    rounds: usize,
    systems: Vec<String>,
    faults: Vec<Fault>,
    probe: Duration,
    out: PathBuf,
    load_at_start: String,
    /// Timer wake-up lateness of a SCHED_FIFO thread before the run.
    lateness: String,
    /// /proc/stat steal ticks (all CPUs) at the start.
    steal_at_start: u64,
}

fn options() -> Result<Options> {
    let mut o = Options {
        rounds: 20,
        systems: vec!["twinbeat".into(), "heartbeat".into(), "keepalived".into()],
        faults: vec![Fault::Kill, Fault::Stop, Fault::LinkDown],
        probe: Duration::from_micros(50),
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-results/compare-failover.md"),
        load_at_start: loadavg(),
        lateness: timer_lateness(),
        steal_at_start: steal_ticks(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--rounds" => {
                let v = value()?;
                o.rounds =
                    v.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| {
                        anyhow!("--rounds {v}: a whole number of rounds, 1 or more")
                    })?;
            }
            "--systems" => o.systems = value()?.split(',').map(str::to_string).collect(),
            "--faults" => {
                o.faults = value()?
                    .split(',')
                    .map(|f| match f {
                        "kill" => Ok(Fault::Kill),
                        "stop" => Ok(Fault::Stop),
                        "link" => Ok(Fault::LinkDown),
                        other => Err(anyhow!("unknown fault {other} (kill, stop, link)")),
                    })
                    .collect::<Result<_>>()?
            }
            "--probe-us" => {
                let v = value()?;
                let us: u64 = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    anyhow!("--probe-us {v}: microseconds between probes, 1 or more")
                })?;
                o.probe = Duration::from_micros(us);
            }
            "--out" => o.out = PathBuf::from(value()?),
            other => bail!("unknown argument {other} (see tools/compare-failover --help)"),
        }
    }
    Ok(o)
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Steal ticks summed over the CPUs (/proc/stat's `cpu` line).
fn steal_ticks() -> u64 {
    fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(8)?.parse().ok())
        .unwrap_or(0)
}

/// How late a SCHED_FIFO thread wakes from 100 µs sleeps here (2000 of
/// them), as the systems' realtime threads do: the floor under every hop
/// of a failover that waits for a timer or a sleeping thread.
fn timer_lateness() -> String {
    std::thread::spawn(|| {
        let fifo = twinbeat::engine::realtime::promote_current_thread(50).is_ok();
        let mut late: Vec<u64> = (0..2000)
            .map(|_| {
                let t0 = Instant::now();
                std::thread::sleep(Duration::from_micros(100));
                (t0.elapsed().as_nanos() as u64).saturating_sub(100_000) / 1_000
            })
            .collect();
        late.sort_unstable();
        let at = |q: f64| late[((q * late.len() as f64) as usize).min(late.len() - 1)];
        format!(
            "a {} thread sleeping 100 µs woke late by p50 {} µs, p99 {} µs, p99.9 {} µs \
             (2000 sleeps before the run)",
            if fifo {
                "SCHED_FIFO"
            } else {
                "normal-priority"
            },
            at(0.5),
            at(0.99),
            at(0.999)
        )
    })
    .join()
    .unwrap_or_default()
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{} cores ({}), kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    )
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root (network namespaces); run tools/compare-failover as root");
    }
    let o = options()?;
    let work_root = std::env::temp_dir().join("twinbeat-compare");
    let _ = fs::remove_dir_all(&work_root);
    fs::create_dir_all(&work_root)?;
    let started = Instant::now();
    let date = run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])?
        .trim()
        .to_string();

    let topo = Topology::new()?;
    let observer = Arc::new(Observer::new(o.probe)?);
    let mut systems: Vec<(String, Box<dyn System>)> = Vec::new();
    for s in &o.systems {
        match s.as_str() {
            "twinbeat" => {
                systems.push((
                    s.clone(),
                    Box::new(Twinbeat {
                        keepalive: "100us",
                        warntime: "500us",
                        deadtime: "1ms",
                    }),
                ));
                systems.push((
                    s.clone(),
                    Box::new(Twinbeat {
                        keepalive: "1ms",
                        warntime: "5ms",
                        deadtime: "10ms",
                    }),
                ));
            }
            "heartbeat" => systems.push((
                s.clone(),
                Box::new(Heartbeat {
                    keepalive: "20ms",
                    deadtime: "100ms",
                }),
            )),
            "keepalived" => systems.push((s.clone(), Box::new(Keepalived { advert_int: "0.01" }))),
            other => bail!("unknown system {other} (twinbeat, heartbeat, keepalived)"),
        }
    }

    let mut cells: Vec<(String, Fault, Cell)> = Vec::new();
    for (kind, system) in &systems {
        for &fault in &o.faults {
            let mut cell = Cell::default();
            let work = work_root.join(format!(
                "{}-{}",
                system.label().replace([' ', '/'], "_"),
                fault.short()
            ));
            eprintln!("== {} / {}", system.label(), fault.name());
            let mut pair = None;
            for r in 0..o.rounds {
                if pair.is_none() {
                    match Pair::fresh(system.as_ref(), work.clone()) {
                        Ok(p) => pair = Some(p),
                        Err(e) => {
                            cell.failed
                                .push(format!("round {r}: pair did not start: {e:#}"));
                            continue;
                        }
                    }
                }
                let Some(p) = pair.as_mut() else { continue };
                match one_round(p, &observer, fault, r) {
                    Ok(round) => {
                        cell.moved += usize::from(round.moved);
                        cell.verdict_us.extend(round.verdict_us);
                        eprintln!(
                            "  round {r} (fault at {}.{:06}, injected in {} µs): verdict {} ms, VIP added {} ms, script {} ms, VIP answers {} ms{}",
                            round.fault_at / 1_000_000_000,
                            round.fault_at % 1_000_000_000 / 1_000,
                            round.injection_us,
                            ms(round.verdict_us),
                            ms(round.added_us),
                            ms(round.resource_us),
                            ms(round.vip_us),
                            if round.moved {
                                " (group moved on restore)"
                            } else {
                                ""
                            }
                        );
                        match round.added_us {
                            Some(v) => cell.added_us.push(v),
                            None => cell.failed.push(format!(
                                "round {r}: the survivor did not add the VIP within {TAKEOVER_LIMIT:?}"
                            )),
                        }
                        match round.resource_us {
                            Some(v) => cell.resource_us.push(v),
                            None => cell.failed.push(format!(
                                "round {r}: no resource start within {TAKEOVER_LIMIT:?}"
                            )),
                        }
                        match round.vip_us {
                            Some(v) => cell.vip_us.push(v),
                            None => cell.failed.push(format!("round {r}: the VIP did not answer from the survivor within {TAKEOVER_LIMIT:?}")),
                        }
                    }
                    Err(e) => {
                        eprintln!("  round {r}: {e:#}");
                        cell.failed.push(format!("round {r}: {e:#}"));
                        // Start over from two fresh nodes.
                        pair = None;
                    }
                }
            }
            drop(pair);
            let _ = kind;
            cells.push((system.label(), fault, cell));
        }
    }
    drop(topo);

    let report = render(&o, &systems, &cells, &date, started.elapsed());
    fs::write(&o.out, &report).with_context(|| o.out.display().to_string())?;
    print!("{report}");
    eprintln!("written to {}", o.out.display());
    Ok(())
}

fn render(
    o: &Options,
    systems: &[(String, Box<dyn System>)],
    cells: &[(String, Fault, Cell)],
    date: &str,
    took: Duration,
) -> String {
    let mut s = String::new();
    let command = std::env::var("TWINBEAT_COMPARE_COMMAND").unwrap_or_else(|_| {
        format!(
            "cargo bench --bench compare_failover -- {}",
            std::env::args()
                .skip(1)
                .filter(|a| a != "--bench")
                .collect::<Vec<_>>()
                .join(" ")
        )
    });
    let _ = writeln!(
        s,
        "# Failover side by side: twinbeat, Heartbeat 3.0.6, keepalived 2.2.7\n"
    );
    let _ = writeln!(s, "- command: `{}`", command.trim());
    let _ = writeln!(
        s,
        "- date: {date}; the whole run took {:.0} s",
        took.as_secs_f64()
    );
    let _ = writeln!(s, "- machine: {}", machine());
    let _ = writeln!(
        s,
        "- load average (1 min) at the start / end: {} / {} (other work on the machine \
         shares its cores)",
        o.load_at_start,
        loadavg()
    );
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let _ = writeln!(
        s,
        "- how noisy the host was: {}; the hypervisor stole {} ms of CPU (all vCPUs, \
         /proc/stat) during the run",
        o.lateness,
        steal_ticks().saturating_sub(o.steal_at_start) * 1000 / tck
    );
    let _ = writeln!(
        s,
        "- rounds per system and fault: {}; observer ARP probe every {} µs",
        o.rounds,
        o.probe.as_micros()
    );
    let _ = writeln!(
        s,
        "- test hosts: network namespaces tbcmp-a (10.77.0.1) and tbcmp-b (10.77.0.2), \
         observer tbcmp-o (10.77.0.3) on the bridge joining them; VIP {VIP_TEXT}/24\n"
    );
    let _ = writeln!(s, "## Settings\n");
    for (_, sys) in systems {
        let _ = writeln!(s, "- **{}**: {}", sys.label(), sys.settings());
    }
    let _ = writeln!(
        s,
        "\n## Results (ms from the fault)\n\n\
         \"verdict\": the survivor declared its peer dead (twinbeat's status gives the \
         instant; the other systems do not say it as precisely). \"VIP added\": the survivor's kernel announces the VIP on rtnetlink (heard by a \
         listener in its namespace): its first resource has started. \"VIP answers\": the \
         first ARP reply for the VIP from the survivor's MAC reaches the observer (the observer's kernel dates its arrival). \
         \"script\": the survivor's recording script (the group's second resource, a bash \
         script) starts. The address listener runs SCHED_FIFO 99 (one wake-up per \
         round); the observer SCHED_FIFO 1, above scripts and normal-priority daemons, below \
         the systems' realtime threads (it probes 20,000 times a second), until the listener \
         hears the VIP added and raises it to SCHED_FIFO 99: it stands in for another host, \
         whose probes would not wait for the survivor's threads. \"moved on restore\": rounds after which the group settled on the \
         restarted node rather than staying on the survivor (a peer-dead verdict while both \
         were alive, or the split-brain rule).\n"
    );
    let _ = writeln!(
        s,
        "| system | fault | rounds ok | verdict p50 / p99 / max | VIP added p50 / p99 / max | VIP answers p50 / p99 / max | script p50 / p99 / max | moved on restore |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    let spread = |v: &[u64]| {
        format!(
            "{} / {} / {}",
            ms(pct(v, 0.5)),
            ms(pct(v, 0.99)),
            ms(v.iter().max().copied())
        )
    };
    for (label, fault, c) in cells {
        let _ = writeln!(
            s,
            "| {label} | {} | {}/{} | {} | {} | {} | {} | {} |",
            fault.name(),
            c.added_us
                .len()
                .min(c.resource_us.len())
                .min(c.vip_us.len()),
            o.rounds,
            if c.verdict_us.is_empty() {
                "—".to_string()
            } else {
                spread(&c.verdict_us)
            },
            spread(&c.added_us),
            spread(&c.vip_us),
            spread(&c.resource_us),
            c.moved,
        );
    }
    let _ = writeln!(
        s,
        "\n## Ratios at p50 (peer time / twinbeat time; higher is better for twinbeat)\n"
    );
    let _ = writeln!(
        s,
        "| twinbeat setting | peer | fault | VIP added | VIP answers | script |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    let find = |label: &str, fault: Fault| {
        cells
            .iter()
            .find(|(l, f, _)| l == label && *f == fault)
            .map(|(_, _, c)| c)
    };
    let ratio = |peer: Option<u64>, ours: Option<u64>| match (peer, ours) {
        (Some(p), Some(t)) if t > 0 => format!("{:.1}×", p as f64 / t as f64),
        _ => "—".into(),
    };
    for (_, ours) in systems.iter().filter(|(k, _)| k == "twinbeat") {
        for (_, peer) in systems.iter().filter(|(k, _)| k != "twinbeat") {
            for &fault in &o.faults {
                let (Some(t), Some(p)) = (find(&ours.label(), fault), find(&peer.label(), fault))
                else {
                    continue;
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    ours.label(),
                    peer.label(),
                    fault.name(),
                    ratio(pct(&p.added_us, 0.5), pct(&t.added_us, 0.5)),
                    ratio(pct(&p.vip_us, 0.5), pct(&t.vip_us, 0.5)),
                    ratio(pct(&p.resource_us, 0.5), pct(&t.resource_us, 0.5)),
                );
            }
        }
    }
    let failures: Vec<String> = cells
        .iter()
        .flat_map(|(l, f, c)| {
            c.failed
                .iter()
                .map(move |m| format!("- {l}, {}: {m}", f.name()))
        })
        .collect();
    let _ = writeln!(s, "\n## Rounds that did not give a figure\n");
    if failures.is_empty() {
        let _ = writeln!(s, "None.");
    } else {
        for f in failures {
            let _ = writeln!(s, "{f}");
        }
    }
    s
}
