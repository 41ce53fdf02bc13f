//! The built-in IPaddr against a real kernel, in network namespaces the
//! tests make and always delete (root only; skipped with a message
//! otherwise): a node namespace and an observer joined by a veth pair.
//! The library runs on a thread moved into the node namespace; `ip(8)` is
//! used only by the tests, to build the hosts and to look at them.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use twinbeat::config::IpAddrSpec;
use twinbeat::ipaddr::arp::parse_gratuitous;
use twinbeat::ipaddr::{ArpConfig, ArpStart, IpAddrController, IpAddrError, IpStatus};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: needs root to create network namespaces");
            return;
        }
    };
}

/// A network namespace that is deleted when dropped (with its veths).
struct NetNs(String);

impl NetNs {
    fn new(tag: &str) -> NetNs {
        let name = format!("tbip{}{tag}", std::process::id());
        // A namespace left by a killed run of the same pid would clash.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = NetNs(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a thread whose network namespace is this one.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = File::open(&path).expect("netns file opens");
            // SAFETY: a valid namespace fd; CLONE_NEWNET changes only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip(8) runs");
    assert!(st.success(), "ip {args:?} failed");
}

fn ip_out(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip(8) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// node (a0 = 10.77.0.1/24) <-veth-> observer (o0 = 10.77.0.2/24).
struct Hosts {
    node: NetNs,
    obs: NetNs,
}

impl Hosts {
    fn new(tag: &str) -> Hosts {
        let node = NetNs::new(&format!("{tag}n"));
        let obs = NetNs::new(&format!("{tag}o"));
        ip(&[
            "-n", &node.0, "link", "add", "a0", "type", "veth", "peer", "name", "o0", "netns",
            &obs.0,
        ]);
        ip(&["-n", &node.0, "addr", "add", "10.77.0.1/24", "dev", "a0"]);
        ip(&["-n", &obs.0, "addr", "add", "10.77.0.2/24", "dev", "o0"]);
        ip(&["-n", &node.0, "link", "set", "a0", "up"]);
        ip(&["-n", &obs.0, "link", "set", "o0", "up"]);
        Hosts { node, obs }
    }

    fn node_addrs(&self, dev: &str) -> String {
        ip_out(&["-n", &self.node.0, "-4", "-o", "addr", "show", "dev", dev])
    }

    fn mac(&self) -> [u8; 6] {
        let text = ip_out(&["-n", &self.node.0, "-o", "link", "show", "a0"]);
        let hex = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("a0 has a MAC");
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(hex.split(':')) {
            *byte = u8::from_str_radix(part, 16).expect("hex MAC");
        }
        mac
    }

    fn ping_from_observer(&self, addr: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.obs.0, "ping", "-c1", "-W1", addr])
            .output()
            .expect("ping runs")
            .status
            .success()
    }
}

fn spec(text: &str) -> IpAddrSpec {
    twinbeat::config::haresources::parse_ip_spec(text).expect("valid spec")
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn add_status_remove_are_idempotent_and_fast() {
    require_root!();
    let hosts = Hosts::new("a");
    let vip = spec("10.77.0.100/24/a0");
    let (first, second, removed, removed_again, states, add_us) = hosts.node.run(move || {
        let mut c = IpAddrController::open().unwrap();
        let before = c.status(&vip).unwrap();
        let first = c.add(&vip).unwrap();
        let during = c.status(&vip).unwrap();
        let second = c.add(&vip).unwrap();
        let removed = c.remove(&vip).unwrap();
        let after = c.status(&vip).unwrap();
        let removed_again = c.remove(&vip).unwrap();
        // Cost of one add as the takeover pays it: 200 add/remove rounds.
        let mut add_us = Vec::new();
        for _ in 0..200 {
            let r = c.add(&vip).unwrap();
            assert!(!r.already_present);
            add_us.push(r.took().as_nanos() as u64 / 1000);
            c.remove(&vip).unwrap();
        }
        add_us.sort_unstable();
        (
            first,
            second,
            removed,
            removed_again,
            [before, during, after],
            add_us,
        )
    });
    assert_eq!(
        states,
        [IpStatus::Stopped, IpStatus::Running, IpStatus::Stopped]
    );
    assert!(!first.already_present);
    assert!(second.already_present);
    assert_eq!(first.resolved.prefix, 24);
    assert_eq!(
        first.resolved.broadcast,
        Some(Ipv4Addr::new(10, 77, 0, 255))
    );
    assert_eq!(removed.removed, 1);
    assert_eq!(removed_again.removed, 0);
    let p = |q: usize| add_us[(add_us.len() * q / 100).min(add_us.len() - 1)];
    eprintln!(
        "add: first {:?} (resolve {:?}, netlink {:?}); over 200 adds p50 {} us, p99 {} us, max {} us; remove {:?}",
        first.took(),
        first.resolve_took,
        first.netlink_took,
        p(50),
        p(99),
        p(100),
        removed.took
    );
    // A sanity bound far above the microseconds measured, not a benchmark.
    assert!(p(50) < 20_000, "add p50 {} us", p(50));
    assert!(!hosts.node_addrs("a0").contains("10.77.0.100"));
}

#[test]
fn the_address_is_really_on_the_interface_with_its_broadcast_and_label() {
    require_root!();
    let hosts = Hosts::new("l");
    let vip = spec("10.77.0.100/24/a0");
    let labelled = spec("10.77.0.101/24/a0/10.77.0.254");
    hosts.node.run(move || {
        let mut c = IpAddrController::open().unwrap();
        c.add(&vip).unwrap();
        c.add_labelled(&labelled, "a0:vip").unwrap();
    });
    let shown = hosts.node_addrs("a0");
    assert!(
        shown.contains("inet 10.77.0.100/24 brd 10.77.0.255 scope global secondary a0"),
        "{shown}"
    );
    assert!(
        shown.contains("inet 10.77.0.101/24 brd 10.77.0.254 scope global secondary a0:vip"),
        "{shown}"
    );
}

#[test]
fn interface_and_prefix_are_found_by_subnet() {
    require_root!();
    let hosts = Hosts::new("s");
    // A second interface with a wider subnet that also covers 10.77.0.0/24,
    // and one with an unrelated subnet.
    let n = &hosts.node.0;
    ip(&[
        "-n", n, "link", "add", "b0", "type", "veth", "peer", "name", "b1",
    ]);
    ip(&["-n", n, "addr", "add", "10.0.0.1/8", "dev", "b0"]);
    ip(&[
        "-n", n, "link", "add", "c0", "type", "veth", "peer", "name", "c1",
    ]);
    ip(&["-n", n, "addr", "add", "192.168.9.1/20", "dev", "c0"]);
    let (on_a0, on_c0, wide, nowhere) = hosts.node.run(|| {
        let mut c = IpAddrController::open().unwrap();
        let on_a0 = c.add(&spec("10.77.0.100")).unwrap().resolved;
        let on_c0 = c.add(&spec("192.168.10.7")).unwrap().resolved;
        let wide = c.resolve(&spec("10.200.0.1/16")).unwrap();
        let nowhere = c.add(&spec("172.31.0.1"));
        // Status and remove without an interface find it wherever it is.
        assert_eq!(c.status(&spec("10.77.0.100")).unwrap(), IpStatus::Running);
        assert_eq!(
            c.status(&spec("10.77.0.100/16")).unwrap(),
            IpStatus::Stopped
        );
        (on_a0, on_c0, wide, nowhere)
    });
    assert_eq!((on_a0.iface.as_str(), on_a0.prefix), ("a0", 24));
    assert_eq!((on_c0.iface.as_str(), on_c0.prefix), ("c0", 20));
    assert_eq!(on_c0.broadcast, Some(Ipv4Addr::new(192, 168, 15, 255)));
    assert_eq!((wide.iface.as_str(), wide.prefix), ("b0", 16));
    assert!(hosts.node_addrs("a0").contains("10.77.0.100/24"));
    assert!(hosts.node_addrs("c0").contains("192.168.10.7/20"));
    match nowhere {
        Err(e @ IpAddrError::NoCoveringSubnet { .. }) => {
            assert!(e.to_string().contains("172.31.0.1"), "{e}")
        }
        other => panic!("expected NoCoveringSubnet, got {other:?}"),
    }
}

#[test]
fn a_bad_interface_is_a_clear_error() {
    require_root!();
    let hosts = Hosts::new("b");
    let results = hosts.node.run(|| {
        let mut c = IpAddrController::open().unwrap();
        let missing = spec("10.77.0.100/24/nosuch0");
        let no_subnet_on_lo = spec("10.77.0.100//lo");
        vec![
            c.add(&missing).unwrap_err().to_string(),
            c.status(&missing).unwrap_err().to_string(),
            c.remove(&missing).unwrap_err().to_string(),
            c.add(&no_subnet_on_lo).unwrap_err().to_string(),
        ]
    });
    for message in &results[..3] {
        assert_eq!(message, "no interface `nosuch0` in this network namespace");
    }
    assert!(
        results[3].contains("no address on `lo` has a subnet containing 10.77.0.100"),
        "{}",
        results[3]
    );
    assert!(!hosts.node_addrs("a0").contains("10.77.0.100"));
}

/// Arrival time and sender MAC of each gratuitous ARP seen.
type Sightings = Vec<(Instant, [u8; 6])>;

/// Gratuitous ARPs for `vip` seen on o0 within `window`, with their arrival times.
fn listen_for_garp(
    obs: &NetNs,
    vip: Ipv4Addr,
    want: usize,
    window: Duration,
) -> (mpsc::Receiver<()>, std::thread::JoinHandle<Sightings>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let path = format!("/run/netns/{}", obs.0);
    let handle = std::thread::spawn(move || {
        let file = File::open(&path).unwrap();
        // SAFETY: a valid namespace fd; only this thread moves.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let proto = (libc::ETH_P_ARP as u16).to_be();
        // SAFETY: plain socket(2), checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
        assert!(raw >= 0, "{}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all-zero sockaddr_ll is valid.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        // SAFETY: NUL-terminated name.
        sll.sll_ifindex = unsafe { libc::if_nametoindex(c"o0".as_ptr()) } as i32;
        // SAFETY: valid sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0);
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: valid timeval.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const tv).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        ready_tx.send(()).unwrap();
        let deadline = Instant::now() + window;
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while seen.len() < want && Instant::now() < deadline {
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                continue;
            }
            match parse_gratuitous(&buf[..n as usize]) {
                Some((mac, ip)) if ip == vip => seen.push((Instant::now(), mac)),
                _ => {}
            }
        }
        seen
    });
    (ready_rx, handle)
}

#[test]
fn gratuitous_arp_moves_the_observer_and_the_vip_answers_only_while_added() {
    require_root!();
    let hosts = Hosts::new("g");
    let mac = hosts.mac();
    let vip_ip = Ipv4Addr::new(10, 77, 0, 100);
    // The observer still believes an old owner holds the VIP.
    ip(&[
        "-n",
        &hosts.obs.0,
        "neigh",
        "replace",
        "10.77.0.100",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "o0",
        "nud",
        "stale",
    ]);
    let (ready, listener) = listen_for_garp(&hosts.obs, vip_ip, 5, Duration::from_secs(4));
    ready.recv().unwrap();
    let started = Instant::now();
    let (report, arp_report, first_send) = hosts.node.run(|| {
        let mut c = IpAddrController::open().unwrap();
        let report = c
            .start(&spec("10.77.0.100/24/a0"), ArpConfig::default())
            .unwrap();
        let returned_after = report.add.took();
        match report.arp {
            ArpStart::Started {
                first_send_took,
                rest,
            } => {
                let arp_report = rest.join().unwrap();
                (returned_after, arp_report, first_send_took)
            }
            ArpStart::NotNeeded(why) => panic!("no ARP: {why}"),
        }
    });
    let seen = listener.join().unwrap();
    eprintln!(
        "start: add {report:?}, first gratuitous ARP sent in {first_send:?}; observer saw {} at {:?}",
        seen.len(),
        seen.iter()
            .map(|(t, _)| t.duration_since(started))
            .collect::<Vec<_>>()
    );
    assert_eq!(arp_report.sent, 5, "{arp_report:?}");
    assert_eq!(arp_report.failed, 0);
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|(_, m)| *m == mac));
    // Spread over about the first second, not in one burst.
    let span = seen[4].0.duration_since(seen[0].0);
    assert!(
        span >= Duration::from_millis(700) && span < Duration::from_millis(2500),
        "{span:?}"
    );
    let neigh = ip_out(&["-n", &hosts.obs.0, "neigh", "show", "10.77.0.100"]);
    assert!(neigh.contains(&mac_text(mac)), "observer's entry: {neigh}");

    assert!(hosts.ping_from_observer("10.77.0.100"));

    let removed = hosts.node.run(|| {
        IpAddrController::open()
            .unwrap()
            .remove(&spec("10.77.0.100/24/a0"))
            .unwrap()
    });
    assert_eq!(removed.removed, 1);
    ip(&["-n", &hosts.obs.0, "neigh", "flush", "dev", "o0"]);
    assert!(!hosts.ping_from_observer("10.77.0.100"));
    let neigh = ip_out(&["-n", &hosts.obs.0, "neigh", "show", "10.77.0.100"]);
    assert!(
        !neigh.contains(&mac_text(mac)),
        "nobody should answer ARP for the VIP: {neigh}"
    );
    // The node's own address still answers: the veth itself is fine.
    assert!(hosts.ping_from_observer("10.77.0.1"));
}
