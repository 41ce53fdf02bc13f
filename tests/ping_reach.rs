//! Ping nodes: the prober with each probe method, cl_status and status
//! output, and two live daemons in network namespaces with a ping node
//! namespace on their bridge. A node that cannot reach the ping node gives
//! its group up to the peer and takes nothing while its peer is better
//! connected; when reach returns, auto_failback brings the group home.
//! Namespace tests need root and are skipped with a message otherwise.

mod common;
mod control_common;

use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NetNs, Pair, ip, is_root, wait_until};
use twinbeat::control::cl_status::run_cl_status;
use twinbeat::control::render::render_status;
use twinbeat::engine::status::{PingNodeSnapshot, PingStatus};
use twinbeat::reach::{Method, ProberSetup, ReachReport, ReachView, Target, spawn_prober};
use twinbeat::time::NANOS_PER_MILLI;

fn ping_snapshot() -> twinbeat::engine::status::Snapshot {
    let mut s = control_common::snapshot();
    let node = |name: &str, group: bool, status: &str| PingNodeSnapshot {
        name: name.into(),
        group,
        members: vec![name.into()],
        status: status.into(),
        last_reply_us_ago: (status == "ping").then_some(1_500),
        rtt_us: (status == "ping").then_some(87.5),
        last_member: None,
    };
    s.ping = PingStatus {
        method: "icmp-raw (IPv4)".into(),
        interval_us: 100_000,
        deadping_us: 500_000,
        reached: Some(1),
        nodes: vec![
            node("10.0.0.254", false, "ping"),
            node("routers", true, "dead"),
        ],
    };
    s
}

fn cl(args: &[&str]) -> twinbeat::control::cl_status::ClOutput {
    let argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    run_cl_status(&argv, || Ok(ping_snapshot()))
}

#[test]
fn cl_status_lists_ping_nodes_and_gives_their_heartbeat_status() {
    let out = cl(&["listnodes", "-p"]);
    assert_eq!(
        (out.stdout.as_str(), out.exit),
        ("10.0.0.254\nrouters\n", 0)
    );
    let out = cl(&["listnodes", "-n"]);
    assert!(!out.stdout.contains("routers") && out.stdout.contains("alpha"));
    let out = cl(&["listnodes"]);
    assert!(out.stdout.contains("alpha") && out.stdout.contains("10.0.0.254"));
    let out = cl(&["listnodes", "-p", "-v"]);
    assert!(
        out.stdout.contains("10.0.0.254\tping\t(nodetype: ping)"),
        "{}",
        out.stdout
    );
    let out = cl(&["nodestatus", "10.0.0.254"]);
    assert_eq!((out.stdout.as_str(), out.exit), ("ping\n", 0));
    let out = cl(&["nodestatus", "ROUTERS"]);
    assert_eq!((out.stdout.as_str(), out.exit), ("dead\n", 1));
}

#[test]
fn status_shows_each_ping_node_with_its_reply_and_rtt() {
    let text = render_status(&ping_snapshot());
    assert!(
        text.contains("Ping nodes: 1 of 2 reachable; icmp-raw (IPv4)"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("10.0.0.254"))
        .unwrap();
    assert!(row.contains("ping") && row.contains("87.5 µs"), "{row}");
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("routers"))
        .unwrap();
    assert!(row.contains("group") && row.contains("dead"), "{row}");
    let mut none = ping_snapshot();
    none.ping = PingStatus::default();
    assert!(!render_status(&none).contains("Ping nodes"));
}

/// Runs `f` on a thread inside namespace `ns` (threads it spawns stay there).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = fs::File::open(format!("/run/netns/{ns}")).unwrap();
    std::thread::spawn(move || {
        // SAFETY: setns on this thread with an fd we hold open.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .unwrap()
}

/// Starts a prober in `ns` over `targets`; returns its first report and
/// its view then.
fn probe_in(ns: &str, method: Option<Method>, targets: Vec<Target>) -> (ReachReport, ReachView) {
    let (tx, rx) = crossbeam::channel::bounded(4);
    let view = Arc::new(Mutex::new(ReachView::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let setup = ProberSetup {
        targets,
        deadping: 300 * NANOS_PER_MILLI,
        preferred: method,
    };
    let (v, s) = (view.clone(), stop.clone());
    let handle = in_netns(ns, move || spawn_prober(setup, tx, v, s).unwrap());
    let report = rx.recv_timeout(Duration::from_secs(10));
    let seen = view.lock().unwrap().clone();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    handle.join().unwrap();
    (report.expect("a reach report"), seen)
}

fn targets() -> Vec<Target> {
    let ip = |s: &str| s.parse().unwrap();
    vec![
        Target {
            name: "127.0.0.1".into(),
            members: vec![ip("127.0.0.1")],
            group: false,
        },
        // No route to it in the namespace: silent.
        Target {
            name: "10.216.9.9".into(),
            members: vec![ip("10.216.9.9")],
            group: false,
        },
        Target {
            name: "mixed".into(),
            members: vec![ip("10.216.9.8"), ip("127.0.0.1")],
            group: true,
        },
    ]
}

#[test]
fn each_probe_method_measures_loopback_and_judges_a_silent_address_dead() {
    if !is_root() {
        eprintln!("SKIPPED: needs root for namespaces and raw sockets");
        return;
    }
    let ns = NetNs::new("pm");
    // The default range "1 0" refuses datagram ping sockets to everyone:
    // the prober falls back to a raw socket and says why.
    let (report, view) = probe_in(&ns.0, None, targets());
    assert_eq!((report.reached, report.configured), (2, 3));
    assert!(view.method.starts_with("icmp-raw"), "{}", view.method);
    let status: Vec<_> = view.targets.iter().map(|(_, s)| s.reach).collect();
    use twinbeat::reach::Reach::*;
    assert_eq!(status, [Reachable, Unreachable, Reachable]);
    assert!(view.targets[0].1.rtt.is_some());

    let st = Command::new("ip")
        .args(["netns", "exec", &ns.0, "sysctl", "-qw"])
        .arg("net.ipv4.ping_group_range=0 0")
        .status()
        .unwrap();
    assert!(st.success());
    for method in [Method::IcmpDatagram, Method::IcmpRaw, Method::Udp] {
        let started = Instant::now();
        let (report, view) = probe_in(&ns.0, Some(method), targets());
        assert_eq!(
            (report.reached, report.configured),
            (2, 3),
            "{method:?}: {view:?}"
        );
        assert!(view.method.starts_with(method.name()), "{}", view.method);
        if method == Method::Udp {
            // Port-unreachable errors are rate-limited by the target: the
            // UDP prober paces itself and waits longer for silence.
            assert!(view.interval >= 1_000 * NANOS_PER_MILLI);
            assert!(started.elapsed() >= Duration::from_secs(3));
        }
    }
}

// ----- two daemons and a ping node --------------------------------------

const PINGNODE: &str = "10.215.0.3";
const ALPHA: usize = 0;
const BRAVO: usize = 1;

/// iptables rules added in a namespace, deleted when dropped.
struct Blocked {
    ns: String,
    rule: Vec<String>,
}

impl Blocked {
    /// Drops ICMP from `ns` to the ping node.
    fn icmp_to_pingnode(ns: &str) -> Blocked {
        let rule: Vec<String> = ["OUTPUT", "-p", "icmp", "-d", PINGNODE, "-j", "DROP"]
            .map(String::from)
            .to_vec();
        let st = Command::new("ip")
            .args(["netns", "exec", ns, "iptables", "-A"])
            .args(&rule)
            .status()
            .unwrap();
        assert!(st.success(), "iptables -A in {ns}");
        Blocked {
            ns: ns.to_string(),
            rule,
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.ns, "iptables", "-D"])
            .args(&self.rule)
            .status();
    }
}

fn write_node(root: &Path, name: &str, dev: &str, peer: &str, home: &str) -> PathBuf {
    let base = root.join(name);
    let (stamp, starts) = (base.join("stamp.running"), base.join("stamp.starts"));
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\nstart) touch '{0}'; echo start >> '{1}' ;;\n\
         stop) rm -f '{0}' ;;\nstatus) if [ -f '{0}' ]; then echo running; else echo stopped; fi ;;\n\
         esac\nexit 0\n",
        stamp.display(),
        starts.display()
    );
    common::write_node_files(
        root,
        name,
        &format!(
            "keepalive 20ms\nwarntime 250ms\ndeadtime 500ms\ninitdead 3\nudpport 694\n\
             ucast {dev} {peer}\nauto_failback on\nnode alpha bravo\nrealtime off\n\
             ping {PINGNODE}\n"
        ),
        "auth 1\n1 sha1 ping-secret\n",
        &format!("{home} stamp\n"),
        &[("stamp", &script)],
    )
}

struct Site {
    // Field order: the pair (daemons) goes before the namespaces.
    pair: Pair,
    bases: [PathBuf; 2],
    ns: [NetNs; 3],
}

impl Site {
    fn running(&self, i: usize) -> bool {
        self.bases[i].join("stamp.running").exists()
    }

    fn starts(&self, i: usize) -> usize {
        fs::read_to_string(self.bases[i].join("stamp.starts")).map_or(0, |s| s.lines().count())
    }

    /// The daemon's status, `None` while its socket is not up yet.
    fn try_status(&self, i: usize) -> Option<twinbeat::engine::status::Snapshot> {
        twinbeat::control::client::Client::connect(self.pair.run_dir(i))
            .and_then(|mut c| c.status())
            .ok()
    }

    fn ping_status(&self, i: usize) -> String {
        self.try_status(i)
            .and_then(|s| s.ping.nodes.first().map(|n| n.status.clone()))
            .unwrap_or_default()
    }

    fn cl_status(&self, i: usize, args: &[&str]) -> (i32, String) {
        let run = self.pair.run_dir(i).to_str().unwrap().to_string();
        let mut argv = vec!["cl_status", "--run-dir", &run];
        argv.extend_from_slice(args);
        let (code, out, _) = self.pair.cli(&argv);
        (code, out)
    }
}

/// alpha, bravo and the ping node's namespace holding their bridge.
/// `blocked` namespaces (by node index) cannot ping the ping node from the
/// start.
fn site(tag: &str, home: &str) -> Site {
    let ns = [
        NetNs::new(&format!("{tag}a")),
        NetNs::new(&format!("{tag}b")),
        NetNs::new(&format!("{tag}p")),
    ];
    let pn = &ns[2].0;
    ip(&["-n", pn, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", pn, "link", "set", "br0", "up"]);
    ip(&[
        "-n",
        pn,
        "addr",
        "add",
        &format!("{PINGNODE}/24"),
        "dev",
        "br0",
    ]);
    let mut devs = Vec::new();
    for (n, addr) in [(&ns[0], "10.215.0.1/24"), (&ns[1], "10.215.0.2/24")] {
        let (dev, port) = (format!("{}v", n.0), format!("{}p", n.0));
        ip(&["link", "add", &dev, "type", "veth", "peer", "name", &port]);
        ip(&["link", "set", &dev, "netns", &n.0]);
        ip(&["link", "set", &port, "netns", pn]);
        ip(&["-n", pn, "link", "set", &port, "master", "br0", "up"]);
        ip(&["-n", &n.0, "addr", "add", addr, "dev", &dev]);
        ip(&["-n", &n.0, "link", "set", &dev, "up"]);
        devs.push(dev);
    }
    let mut pair = Pair::new(false, "poll");
    let root = pair.root.path().to_path_buf();
    let bases = [
        write_node(&root, "alpha", &devs[0], "10.215.0.2", home),
        write_node(&root, "bravo", &devs[1], "10.215.0.1", home),
    ];
    for (i, base) in bases.iter().enumerate() {
        pair.nodes[i].dirs.config_dir = base.join("ha.d");
        pair.nodes[i].dirs.run_dir = base.join("run");
        pair.nodes[i].dirs.state_dir = base.join("state");
    }
    Site { pair, bases, ns }
}

fn start(site: &mut Site, i: usize) {
    site.pair.prefix = vec![
        "ip".into(),
        "netns".into(),
        "exec".into(),
        site.ns[i].0.clone(),
    ];
    site.pair.start(i);
}

/// Asserts `ok` holds at every look for `span`.
fn holds_for(what: &str, site: &Site, span: Duration, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < span {
        assert!(
            ok(),
            "{what} broke\n--- alpha ---\n{}\n--- bravo ---\n{}",
            site.pair.log(0),
            site.pair.log(1)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_node_that_loses_the_ping_node_gives_its_group_up_and_gets_it_back_when_reach_returns() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create network namespaces");
        return;
    }
    let mut s = site("pr", "alpha");
    // Alpha first, bravo once alpha holds the group: a loaded machine that
    // starts alpha later than bravo's initdead is another test's matter.
    start(&mut s, ALPHA);
    wait_until("alpha holding its group", &s.pair, || s.running(ALPHA));
    start(&mut s, BRAVO);
    wait_until("both seeing the ping node", &s.pair, || {
        s.ping_status(ALPHA) == "ping" && s.ping_status(BRAVO) == "ping"
    });
    wait_until("alpha alone holding the group", &s.pair, || {
        s.running(ALPHA) && !s.running(BRAVO)
    });
    let ping = s.pair.status(ALPHA).ping;
    assert!(ping.nodes[0].rtt_us.is_some() && ping.reached == Some(1));
    let (code, out) = s.cl_status(ALPHA, &["listnodes", "-p"]);
    assert_eq!((code, out.as_str()), (0, "10.215.0.3\n"));

    let block = Blocked::icmp_to_pingnode(&s.ns[ALPHA].0);
    wait_until("bravo holding the group", &s.pair, || {
        s.running(BRAVO) && !s.running(ALPHA)
    });
    assert_eq!(
        s.cl_status(ALPHA, &["nodestatus", PINGNODE]),
        (1, "dead\n".into())
    );
    assert_eq!(
        s.cl_status(BRAVO, &["nodestatus", PINGNODE]),
        (0, "ping\n".into())
    );
    s.pair
        .expect(ALPHA, "ping node 10.215.0.3 is unreachable", 1);
    // auto_failback is on and alpha is the home node: still it must not
    // take the group back while it cannot reach the ping node.
    let alpha_starts = s.starts(ALPHA);
    holds_for(
        "the group staying on bravo",
        &s,
        Duration::from_secs(3),
        || s.running(BRAVO) && !s.running(ALPHA) && s.starts(ALPHA) == alpha_starts,
    );

    drop(block);
    wait_until("alpha reaching the ping node again", &s.pair, || {
        s.ping_status(ALPHA) == "ping"
    });
    wait_until("the group back home on alpha", &s.pair, || {
        s.running(ALPHA) && !s.running(BRAVO)
    });
}

#[test]
fn a_node_that_cannot_reach_the_ping_node_never_takes_the_group_though_alive() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create network namespaces");
        return;
    }
    // Bravo is the group's home, auto_failback on, and cannot reach the
    // ping node from the start: it must never run the group — not at
    // startup, not by failback — while alpha, better connected, runs it.
    let mut s = site("pm", "bravo");
    let block = Blocked::icmp_to_pingnode(&s.ns[BRAVO].0);
    // Alpha alone takes everything after initdead; then bravo comes.
    start(&mut s, ALPHA);
    wait_until("alpha holding bravo's group", &s.pair, || s.running(ALPHA));
    start(&mut s, BRAVO);
    wait_until("bravo hearing alpha", &s.pair, || {
        s.try_status(BRAVO)
            .is_some_and(|st| st.peers.first().is_some_and(|p| p.liveness == "alive"))
    });
    wait_until("bravo judging the ping node dead", &s.pair, || {
        s.ping_status(BRAVO) == "dead"
    });
    holds_for(
        "bravo never starting the group",
        &s,
        Duration::from_secs(3),
        || s.starts(BRAVO) == 0 && s.running(ALPHA),
    );
    assert_eq!(s.pair.status(BRAVO).peers[0].liveness, "alive");

    drop(block);
    wait_until("the group going home to bravo", &s.pair, || {
        s.running(BRAVO) && !s.running(ALPHA)
    });
}
