//! Both I/O backends against real sockets and ptys: every behavioural test
//! runs once with io_uring (skipped with a message when the host refuses it)
//! and once with epoll.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;

use twinbeat::engine::io::{
    AnyBackend, Backend, BackendKind, Completion, OpenBackendError, SendError, UringOptions,
    UringPreflight, open_backend_with,
};
use twinbeat::engine::links::{LinkSetup, OpenLink, open_links};
use twinbeat::pty::PtyCable;
use twinbeat::time::{NANOS_PER_MILLI, NANOS_PER_SEC, Nanos, monotonic_ns};

/// A small buffer ring so that bursts run it dry and the ENOBUFS re-arm path runs.
fn small_ring() -> UringOptions {
    UringOptions {
        recv_buffers: 8,
        ..UringOptions::default()
    }
}

fn open(kind: BackendKind, links: Vec<OpenLink>) -> Option<AnyBackend> {
    match open_backend_with(kind, links, UringPreflight::from_host(), small_ring()) {
        Ok((backend, _)) => Some(backend),
        Err(e @ (OpenBackendError::UringUnavailable(_) | OpenBackendError::Uring(_)))
            if kind == BackendKind::Uring =>
        {
            eprintln!("SKIP: io_uring unavailable on this host: {e}");
            None
        }
        Err(e) => panic!("{kind:?}: {e}"),
    }
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ucast(bind: u16, peer: u16) -> LinkSetup {
    LinkSetup::Ucast {
        dev: None,
        bind: SocketAddr::from(([127, 0, 0, 1], bind)),
        peer: SocketAddr::from(([127, 0, 0, 1], peer)),
    }
}

/// What one side received, by kind.
#[derive(Default)]
struct Received {
    datagrams: Vec<(usize, Vec<u8>, Nanos)>,
    serial: Vec<u8>,
    errors: Vec<(usize, std::io::Error)>,
    timers: usize,
}

impl Received {
    /// Records one completion.
    fn record(&mut self, c: Completion<'_>) {
        match c {
            Completion::Datagram {
                link,
                bytes,
                rx_time,
            } => self.datagrams.push((link, bytes.to_vec(), rx_time)),
            Completion::SerialBytes { bytes, .. } => self.serial.extend_from_slice(bytes),
            Completion::LinkError { link, error } => self.errors.push((link, error)),
            Completion::Timer => self.timers += 1,
        }
    }
}

/// One wait turn, recording everything and checking rx_time against the
/// clock read when the turn ends.
fn turn(backend: &mut AnyBackend, deadline: Nanos, into: &mut Received) {
    backend.wait(deadline, |c| into.record(c)).unwrap();
    let now = monotonic_ns();
    for (_, _, rx_time) in &into.datagrams {
        assert!(*rx_time <= now, "rx_time {rx_time} after now {now}");
    }
}

/// One poll_ready, recording what it hands over.
fn poll(backend: &mut AnyBackend, deadline: Nanos, into: &mut Received) {
    backend.poll_ready(deadline, |c| into.record(c)).unwrap();
}

/// Turns both backends until `done` holds or 5 s pass.
fn pump_until(
    a: &mut AnyBackend,
    ra: &mut Received,
    b: &mut AnyBackend,
    rb: &mut Received,
    done: impl Fn(&Received, &Received) -> bool,
) {
    let limit = monotonic_ns() + 5 * NANOS_PER_SEC;
    while !done(ra, rb) {
        assert!(monotonic_ns() < limit, "timed out waiting");
        turn(a, monotonic_ns() + NANOS_PER_MILLI, ra);
        turn(b, monotonic_ns() + NANOS_PER_MILLI, rb);
    }
}

fn payload(from: u8, i: u32) -> Vec<u8> {
    let mut p = vec![from];
    p.extend_from_slice(&i.to_le_bytes());
    p.extend((0..(i % 64) as u8).map(|k| k ^ from));
    p
}

macro_rules! for_both_backends {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $( #[test] fn $name() { super::$name(twinbeat::engine::io::BackendKind::Uring) } )*
        }
        mod poll {
            $( #[test] fn $name() { super::$name(twinbeat::engine::io::BackendKind::Poll) } )*
        }
    };
}

for_both_backends!(
    thousand_datagrams_each_way_arrive_intact_and_in_order,
    the_deadline_wakes_an_idle_wait,
    a_deadline_already_past_still_hands_over_what_has_arrived,
    poll_ready_never_blocks_and_hands_over_what_has_arrived,
    serial_bytes_cross_a_pty_cable,
    a_refused_peer_is_a_link_error_and_receiving_goes_on,
    bcast_and_mcast_work_between_namespaces,
);

fn thousand_datagrams_each_way_arrive_intact_and_in_order(kind: BackendKind) {
    let (pa, pb) = (free_port(), free_port());
    let Some(mut a) = open(kind, open_links(&[ucast(pa, pb)]).unwrap()) else {
        return;
    };
    let Some(mut b) = open(kind, open_links(&[ucast(pb, pa)]).unwrap()) else {
        return;
    };
    let (mut ra, mut rb) = (Received::default(), Received::default());
    const N: u32 = 1000;
    const BATCH: u32 = 50;
    for start in (0..N).step_by(BATCH as usize) {
        for i in start..start + BATCH {
            a.send(0, &payload(b'a', i)).unwrap();
            b.send(0, &payload(b'b', i)).unwrap();
        }
        let want = (start + BATCH) as usize;
        pump_until(&mut a, &mut ra, &mut b, &mut rb, |ra, rb| {
            ra.datagrams.len() >= want && rb.datagrams.len() >= want
        });
    }
    for (got, from) in [(&rb, b'a'), (&ra, b'b')] {
        assert!(got.errors.is_empty(), "{:?}", got.errors);
        assert_eq!(
            got.datagrams.len(),
            N as usize,
            "nothing lost, nothing duplicated"
        );
        let mut last = 0;
        for (i, (link, bytes, rx_time)) in got.datagrams.iter().enumerate() {
            assert_eq!(*link, 0);
            assert_eq!(bytes, &payload(from, i as u32), "datagram {i}");
            assert!(*rx_time >= last, "rx_time went back at {i}");
            last = *rx_time;
        }
    }
    if b.name() == "io_uring" {
        // 50-datagram bursts into 8 provided buffers: the multishot ran dry
        // and was re-armed, and still nothing was lost.
        assert!(b.stats().enobufs > 0, "{:?}", b.stats());
        assert!(b.stats().recv_rearms >= b.stats().enobufs);
    }
    assert_eq!(a.stats().datagrams, u64::from(N));
    assert_eq!(a.stats().sends, u64::from(N));
}

fn the_deadline_wakes_an_idle_wait(kind: BackendKind) {
    let (pa, pb) = (free_port(), free_port());
    let Some(mut a) = open(kind, open_links(&[ucast(pa, pb)]).unwrap()) else {
        return;
    };
    let mut got = Received::default();
    for delay_ms in [20, 5, 1] {
        let deadline = monotonic_ns() + delay_ms * NANOS_PER_MILLI;
        while got.timers == 0 {
            turn(&mut a, deadline, &mut got);
        }
        let woke = monotonic_ns();
        assert!(woke >= deadline, "woke {} ns early", deadline - woke);
        assert!(
            woke < deadline + 200 * NANOS_PER_MILLI,
            "woke {} ms late",
            (woke - deadline) / NANOS_PER_MILLI
        );
        got.timers = 0;
    }
    // A deadline already past returns at once with the timer.
    turn(
        &mut a,
        monotonic_ns().saturating_sub(NANOS_PER_MILLI),
        &mut got,
    );
    assert_eq!(got.timers, 1);
    assert!(got.datagrams.is_empty() && got.errors.is_empty());
}

/// The beat loop's drain-first rule at the backend: after a stall the
/// deadline has passed when the loop waits again, and what arrived in the
/// meantime must come out of that very wait, before the detector ticks.
fn a_deadline_already_past_still_hands_over_what_has_arrived(kind: BackendKind) {
    let (pa, pb) = (free_port(), free_port());
    let Some(mut a) = open(kind, open_links(&[ucast(pa, pb)]).unwrap()) else {
        return;
    };
    let peer = UdpSocket::bind(("127.0.0.1", pb)).unwrap();
    let mut got = Received::default();
    // One idle turn arms the receives.
    turn(&mut a, monotonic_ns() + NANOS_PER_MILLI, &mut got);
    got.timers = 0;
    for i in 0..3 {
        peer.send_to(&payload(9, i), ("127.0.0.1", pa)).unwrap();
    }
    // The loop is "stalled" while they arrive.
    std::thread::sleep(std::time::Duration::from_millis(5));
    turn(
        &mut a,
        monotonic_ns().saturating_sub(NANOS_PER_MILLI),
        &mut got,
    );
    assert_eq!(got.timers, 1, "the passed deadline is reported");
    assert_eq!(
        got.datagrams.len(),
        3,
        "every datagram that arrived during the stall comes out of the same wait"
    );
}

/// What the beat loop polls with while a verdict is near: never blocks,
/// hands over what has arrived, reports the deadline only once it passed.
fn poll_ready_never_blocks_and_hands_over_what_has_arrived(kind: BackendKind) {
    let (pa, pb) = (free_port(), free_port());
    let Some(mut a) = open(kind, open_links(&[ucast(pa, pb)]).unwrap()) else {
        return;
    };
    let peer = UdpSocket::bind(("127.0.0.1", pb)).unwrap();
    let mut got = Received::default();
    let deadline = monotonic_ns() + 10 * NANOS_PER_SEC;
    let t0 = monotonic_ns();
    poll(&mut a, deadline, &mut got);
    assert!(
        monotonic_ns() - t0 < NANOS_PER_SEC,
        "poll_ready returned at once with nothing to hand over"
    );
    assert_eq!((got.timers, got.datagrams.len()), (0, 0));
    peer.send_to(&payload(7, 1), ("127.0.0.1", pa)).unwrap();
    let limit = monotonic_ns() + 5 * NANOS_PER_SEC;
    while got.datagrams.is_empty() {
        assert!(
            monotonic_ns() < limit,
            "the datagram never came out of poll_ready"
        );
        poll(&mut a, deadline, &mut got);
    }
    assert_eq!(got.datagrams[0].1, payload(7, 1));
    assert_eq!(got.timers, 0, "the deadline has not passed");
    poll(&mut a, monotonic_ns().saturating_sub(1), &mut got);
    assert_eq!(got.timers, 1, "a passed deadline is reported");
}

fn serial_bytes_cross_a_pty_cable(kind: BackendKind) {
    let cable = PtyCable::open().unwrap();
    let [end_a, end_b] = cable.ends();
    let serial = |path: &std::path::Path| LinkSetup::Serial {
        path: path.to_path_buf(),
        baud: 115_200,
    };
    let Some(mut a) = open(kind, open_links(&[serial(end_a)]).unwrap()) else {
        return;
    };
    let Some(mut b) = open(kind, open_links(&[serial(end_b)]).unwrap()) else {
        return;
    };
    let (mut ra, mut rb) = (Received::default(), Received::default());
    let ping: Vec<u8> = (0..200u8).collect();
    for chunk in ping.chunks(32) {
        a.send(0, chunk).unwrap();
    }
    b.send(0, b"pong").unwrap();
    pump_until(&mut a, &mut ra, &mut b, &mut rb, |ra, rb| {
        rb.serial.len() >= ping.len() && ra.serial.len() >= 4
    });
    assert_eq!(rb.serial, ping);
    assert_eq!(ra.serial, b"pong");
    assert!(ra.errors.is_empty() && rb.errors.is_empty());
    assert_eq!(b.stats().serial_bytes, ping.len() as u64);
}

fn a_refused_peer_is_a_link_error_and_receiving_goes_on(kind: BackendKind) {
    let (pa, pb) = (free_port(), free_port());
    let Some(mut a) = open(kind, open_links(&[ucast(pa, pb)]).unwrap()) else {
        return;
    };
    let mut ra = Received::default();
    let limit = monotonic_ns() + 5 * NANOS_PER_SEC;
    // Nobody listens on pb: the ICMP port unreachable comes back as
    // ECONNREFUSED on the connected socket.
    while ra.errors.is_empty() {
        assert!(monotonic_ns() < limit, "no link error reported");
        a.send(0, b"anyone?").unwrap();
        turn(&mut a, monotonic_ns() + 10 * NANOS_PER_MILLI, &mut ra);
    }
    assert!(
        ra.errors
            .iter()
            .all(|(link, e)| *link == 0 && e.raw_os_error() == Some(libc::ECONNREFUSED)),
        "{:?}",
        ra.errors
    );
    // The peer comes up: the same backend still receives.
    let peer = UdpSocket::bind(("127.0.0.1", pb)).unwrap();
    peer.connect(("127.0.0.1", pa)).unwrap();
    let limit = monotonic_ns() + 5 * NANOS_PER_SEC;
    while ra.datagrams.is_empty() {
        assert!(monotonic_ns() < limit, "receiving stopped after the error");
        peer.send(b"back").unwrap();
        turn(&mut a, monotonic_ns() + 10 * NANOS_PER_MILLI, &mut ra);
    }
    assert_eq!(ra.datagrams[0].1, b"back");
    assert!(peer.as_raw_fd() >= 0);
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_is_disabled() {
    let (pa, pb) = (free_port(), free_port());
    let disabled = UringPreflight {
        io_uring_disabled: Some(2),
    };
    let links = open_links(&[ucast(pa, pb)]).unwrap();
    let (backend, reason) =
        open_backend_with(BackendKind::Auto, links, disabled, UringOptions::default()).unwrap();
    assert_eq!(backend.name(), "epoll");
    let reason = reason.expect("a fallback says why");
    assert!(reason.contains("io_uring_disabled"), "{reason}");

    let links = open_links(&[ucast(free_port(), pb)]).unwrap();
    let err = open_backend_with(BackendKind::Uring, links, disabled, UringOptions::default())
        .err()
        .expect("a forced io_uring must not fall back silently");
    assert!(
        matches!(err, OpenBackendError::UringUnavailable(_)),
        "{err}"
    );

    let links = open_links(&[ucast(free_port(), pb)]).unwrap();
    let (backend, reason) = open_backend_with(
        BackendKind::Poll,
        links,
        UringPreflight::default(),
        UringOptions::default(),
    )
    .unwrap();
    assert_eq!((backend.name(), reason), ("epoll", None));
}

#[test]
fn one_shot_receive_fallback_also_delivers() {
    let (pa, pb) = (free_port(), free_port());
    let options = UringOptions {
        force_oneshot_recv: true,
        ..UringOptions::default()
    };
    let open_one = |bind, peer| {
        let links = open_links(&[ucast(bind, peer)]).unwrap();
        open_backend_with(
            BackendKind::Uring,
            links,
            UringPreflight::from_host(),
            options,
        )
    };
    let (Ok((mut a, _)), Ok((mut b, _))) = (open_one(pa, pb), open_one(pb, pa)) else {
        eprintln!("SKIP: io_uring unavailable on this host");
        return;
    };
    assert!(a.describe().contains("one-shot"), "{}", a.describe());
    let (mut ra, mut rb) = (Received::default(), Received::default());
    for batch in 0..2u32 {
        for i in batch * 50..batch * 50 + 50 {
            a.send(0, &payload(b'a', i)).unwrap();
        }
        let want = (batch as usize + 1) * 50;
        pump_until(&mut a, &mut ra, &mut b, &mut rb, |_, rb| {
            rb.datagrams.len() >= want
        });
    }
    // The send pool is fixed: queuing more than it holds before a wait is
    // refused, not allocated for.
    let slots = UringOptions::default().send_slots;
    for i in 0..u32::from(slots) {
        a.send(0, &payload(b'a', i)).unwrap();
    }
    assert!(
        matches!(a.send(0, b"one too many"), Err(SendError::SlotsExhausted(n)) if n == usize::from(slots))
    );
    for (i, (_, bytes, _)) in rb.datagrams.iter().enumerate() {
        assert_eq!(bytes, &payload(b'a', i as u32));
    }
}

/// Two network namespaces joined by a veth pair, deleted on drop.
struct NetnsPair {
    names: [String; 2],
}

impl NetnsPair {
    fn create(tag: &str) -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: bcast/mcast test needs root for ip netns");
            return None;
        }
        let id = std::process::id();
        let names = [format!("tbio{tag}a{id}"), format!("tbio{tag}b{id}")];
        let pair = Self { names };
        let [na, nb] = &pair.names;
        let (va, vb) = (
            format!("tv{tag}a{}", id % 100000),
            format!("tv{tag}b{}", id % 100000),
        );
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), na.clone()],
            vec!["netns".into(), "add".into(), nb.clone()],
            [
                "link", "add", &va, "netns", na, "type", "veth", "peer", "name", &vb, "netns", nb,
            ]
            .map(String::from)
            .to_vec(),
            [
                "-n",
                na,
                "addr",
                "add",
                "10.213.7.1/24",
                "brd",
                "+",
                "dev",
                &va,
            ]
            .map(String::from)
            .to_vec(),
            [
                "-n",
                nb,
                "addr",
                "add",
                "10.213.7.2/24",
                "brd",
                "+",
                "dev",
                &vb,
            ]
            .map(String::from)
            .to_vec(),
            ["-n", na, "link", "set", &va, "up"]
                .map(String::from)
                .to_vec(),
            ["-n", nb, "link", "set", &vb, "up"]
                .map(String::from)
                .to_vec(),
        ];
        for step in steps {
            let ok = Command::new("ip")
                .args(&step)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                eprintln!("SKIP: `ip {}` failed", step.join(" "));
                return None;
            }
        }
        Some(pair)
    }

    /// Runs `f` on a thread that has entered namespace `which`; sockets it
    /// opens stay in that namespace.
    fn inside<T: Send + 'static>(&self, which: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.names[which]);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on this thread only, with a namespace fd.
            assert_eq!(
                unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn bcast_and_mcast_work_between_namespaces(kind: BackendKind) {
    let tag = if kind == BackendKind::Uring { "u" } else { "p" };
    let Some(pair) = NetnsPair::create(tag) else {
        return;
    };
    let id = std::process::id() % 100000;
    let setups = |dev: String| {
        vec![
            LinkSetup::Bcast {
                dev: dev.clone(),
                port: 6940,
            },
            LinkSetup::Mcast {
                dev,
                group: "239.0.0.94".parse().unwrap(),
                port: 6941,
                ttl: 1,
                loop_: false,
            },
        ]
    };
    let (sa, sb) = (
        setups(format!("tv{tag}a{id}")),
        setups(format!("tv{tag}b{id}")),
    );
    let links_a = pair.inside(0, move || open_links(&sa).unwrap());
    let links_b = pair.inside(1, move || open_links(&sb).unwrap());
    let Some(mut a) = open(kind, links_a) else {
        return;
    };
    let Some(mut b) = open(kind, links_b) else {
        return;
    };
    let (mut ra, mut rb) = (Received::default(), Received::default());
    let limit = monotonic_ns() + 5 * NANOS_PER_SEC;
    let seen = |r: &Received, link: usize, what: &[u8]| {
        r.datagrams.iter().any(|(l, d, _)| *l == link && d == what)
    };
    while !(seen(&rb, 0, b"bcast") && seen(&rb, 1, b"mcast")) {
        assert!(
            monotonic_ns() < limit,
            "bcast/mcast did not arrive: {:?}",
            rb.datagrams
        );
        a.send(0, b"bcast").unwrap();
        a.send(1, b"mcast").unwrap();
        turn(&mut a, monotonic_ns() + 10 * NANOS_PER_MILLI, &mut ra);
        turn(&mut b, monotonic_ns() + 10 * NANOS_PER_MILLI, &mut rb);
    }
    assert!(rb.errors.is_empty(), "{:?}", rb.errors);
}
