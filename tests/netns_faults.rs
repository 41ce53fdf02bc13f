//! Faults of a live pair in network namespaces, seen from a third host:
//! alpha, bravo and an observer on one bridge (in the observer's namespace),
//! UDP ucast on the veths and a pty serial cable between the two daemons
//! (the ptys live in the root namespace; a network namespace does not hide
//! `/dev/pts`, so both daemons open their end by path). Each node's
//! interface is called `hbnet0` inside its namespace, so both nodes share
//! one haresources as a real pair does. The group is a virtual IP then a
//! script that records its calls; the observer checks which MAC answers ARP
//! for the VIP and pings it.
//!
//! - SIGSTOP of alpha's daemon (the hung daemon: its beat thread stops, so
//!   its keepalives stop; its takeover process is a separate process and is
//!   left running, holding the group, as it would when only the daemon
//!   hangs — a frozen host would be kill -9 seen from outside, covered by
//!   tests/netns_failover.rs). bravo takes over; this is a split brain for
//!   as long as the stop lasts. SIGCONT: the pair resolves to one owner by
//!   the rule in the `cluster` module doc (home node keeps it).
//! - alpha's interface down with serial up: no failover, the link-down
//!   reported on both sides; then the serial cut too: failover, both
//!   active, logged loudly; links back: one owner, the loser stops.
//! - `builtin_ipaddr off` with Debian Heartbeat's own IPaddr2 script in
//!   resource.d: the VIP moves on kill -9 through the real script.
//!
//! Root only: skipped with a message otherwise.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NetNs, Pair, ip, is_root, wait_until};

/// The interface name inside both nodes' namespaces.
const DEV: &str = "hbnet0";
const NODES: [&str; 2] = ["alpha", "bravo"];

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: needs root to create network namespaces");
            return;
        }
    };
}

fn output(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two node namespaces and an observer joined by a bridge on `net.0/24`
/// (`net` like "10.215.0"): alpha is .1, bravo .2, the observer .3.
struct Site {
    nodes: [NetNs; 2],
    obs: NetNs,
    net: &'static str,
    macs: [String; 2],
}

impl Site {
    fn new(tag: &str, net: &'static str) -> Site {
        let nodes = [
            NetNs::new(&format!("{tag}a")),
            NetNs::new(&format!("{tag}b")),
        ];
        let obs = NetNs::new(&format!("{tag}o"));
        ip(&["-n", &obs.0, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &obs.0, "link", "set", "br0", "up"]);
        ip(&[
            "-n",
            &obs.0,
            "addr",
            "add",
            &format!("{net}.3/24"),
            "dev",
            "br0",
        ]);
        for (i, ns) in nodes.iter().enumerate() {
            let (dev, port) = (format!("{}v", ns.0), format!("{}p", ns.0));
            ip(&["link", "add", &dev, "type", "veth", "peer", "name", &port]);
            ip(&["link", "set", &dev, "netns", &ns.0]);
            ip(&["link", "set", &port, "netns", &obs.0]);
            ip(&["-n", &obs.0, "link", "set", &port, "master", "br0", "up"]);
            ip(&["-n", &ns.0, "link", "set", &dev, "name", DEV]);
            let addr = format!("{net}.{}/24", i + 1);
            ip(&["-n", &ns.0, "addr", "add", &addr, "dev", DEV]);
            ip(&["-n", &ns.0, "link", "set", DEV, "up"]);
        }
        let mac = |ns: &NetNs| {
            output(&["ip", "-n", &ns.0, "link", "show", DEV])
                .split("link/ether ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .expect("an ethernet address")
                .to_string()
        };
        let macs = [mac(&nodes[0]), mac(&nodes[1])];
        Site {
            nodes,
            obs,
            net,
            macs,
        }
    }

    fn addr(&self, i: usize) -> String {
        format!("{}.{}", self.net, i + 1)
    }

    /// Whether node `i` has `vip` on its interface.
    fn has(&self, i: usize, vip: &str) -> bool {
        output(&["ip", "-n", &self.nodes[i].0, "-br", "addr", "show", DEV])
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(vip))
    }

    /// The observer's neighbour entry for `vip`: its MAC, if any.
    fn observer_sees(&self, vip: &str) -> Option<String> {
        output(&["ip", "-n", &self.obs.0, "neigh", "show", vip])
            .split("lladdr ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .map(str::to_string)
    }

    fn ping(&self, vip: &str) -> bool {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.obs.0,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                vip,
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The observer reaches `vip` and its ARP entry names node `i`'s MAC.
    fn observer_reaches_on(&self, i: usize, vip: &str) -> bool {
        self.ping(vip) && self.observer_sees(vip).as_deref() == Some(self.macs[i].as_str())
    }

    fn set_link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.nodes[i].0, "link", "set", DEV, state]);
    }
}

/// How a node's resource.d is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scripts {
    /// Only the recording script (the VIP is the built-in).
    Recorder,
    /// Every script of Debian's heartbeat package, linked, plus the recorder.
    Debian,
}

/// The recording script: appends `ACTION` to `calls`, keeps `running`.
fn recorder(base: &Path) -> String {
    let (calls, running) = (base.join("calls"), base.join("running"));
    format!(
        "#!/bin/sh\necho \"$1\" >> '{calls}'\ncase \"$1\" in\n\
         start) touch '{running}' ;;\nstop) rm -f '{running}' ;;\n\
         status) if [ -f '{running}' ]; then echo running; else echo stopped; fi ;;\nesac\nexit 0\n",
        calls = calls.display(),
        running = running.display()
    )
}

/// Writes node `name`'s config under `root/name` and returns that base dir.
fn write_node(
    root: &Path,
    name: &str,
    peer_addr: &str,
    serial: Option<&Path>,
    extra: &str,
    haresources: &str,
    scripts: Scripts,
) -> PathBuf {
    let serial = serial.map_or(String::new(), |p| {
        format!("baud 460800\nserial {}\n", p.display())
    });
    let recording = recorder(&root.join(name));
    let base = common::write_node_files(
        root,
        name,
        &format!(
            "{}udpport 694\nucast {DEV} {peer_addr}\n{serial}auto_failback off\n\
             node alpha bravo\nrealtime off\n{extra}",
            common::TEST_TIMINGS
        ),
        "auth 1\n1 sha1 faults-secret\n",
        haresources,
        &[("record", &recording)],
    );
    if scripts == Scripts::Debian {
        // Heartbeat's scripts find their helpers by absolute paths
        // (/etc/ha.d/resource.d/hto-mapfuncs, /etc/ha.d/shellfuncs,
        // /usr/lib/ocf): linking them is enough. `shellfuncs` is linked too
        // because HA_FUNCS points into the config dir.
        let conf = base.join("ha.d");
        for entry in fs::read_dir(DEBIAN_RESOURCE_D).unwrap() {
            let entry = entry.unwrap();
            std::os::unix::fs::symlink(
                entry.path(),
                conf.join("resource.d").join(entry.file_name()),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink("/etc/ha.d/shellfuncs", conf.join("shellfuncs")).unwrap();
    }
    base
}

const DEBIAN_RESOURCE_D: &str = "/etc/ha.d/resource.d";

/// A pair of daemons on `site`, each in its namespace, with a serial cable
/// when `serial`.
fn start_pair(
    site: &Site,
    serial: bool,
    extra: &str,
    haresources: &str,
    scripts: Scripts,
) -> (Pair, [PathBuf; 2]) {
    let mut pair = Pair::new(serial, "uring");
    let root = pair.root.path().to_path_buf();
    let ends = pair.cable.as_ref().map(|c| c.ends().map(Path::to_path_buf));
    let bases = [0, 1].map(|i| {
        write_node(
            &root,
            NODES[i],
            &site.addr(1 - i),
            ends.as_ref().map(|e| e[i].as_path()),
            extra,
            haresources,
            scripts,
        )
    });
    for (i, base) in bases.iter().enumerate() {
        pair.nodes[i].dirs.config_dir = base.join("ha.d");
        pair.nodes[i].dirs.run_dir = base.join("run");
        pair.nodes[i].dirs.state_dir = base.join("state");
        pair.prefix = vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            site.nodes[i].0.clone(),
        ];
        pair.start(i);
    }
    (pair, bases)
}

fn running(base: &Path) -> bool {
    base.join("running").exists()
}

fn calls(base: &Path) -> Vec<String> {
    fs::read_to_string(base.join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn starts(base: &Path) -> usize {
    calls(base).iter().filter(|c| *c == "start").count()
}

/// The daemon's own pid (the `ip netns exec` prefix execs it in place).
fn daemon_pid(pair: &Pair, i: usize) -> i32 {
    let child = pair.nodes[i].child.as_ref().expect("node runs");
    child.id() as i32
}

/// Waits until the pair has settled with node `owner` alone holding the
/// group: the VIP on it only, the recorder running there only.
fn settle_on(pair: &Pair, site: &Site, bases: &[PathBuf; 2], owner: usize, vip: &str) {
    let other = 1 - owner;
    wait_until(
        &format!("the group on {} alone", NODES[owner]),
        pair,
        || {
            running(&bases[owner])
                && !running(&bases[other])
                && site.has(owner, vip)
                && !site.has(other, vip)
        },
    );
}

#[test]
fn sigstop_of_the_active_daemon_fails_over_and_sigcont_resolves_to_one_owner() {
    require_root!();
    let site = Site::new("fs", "10.215.0");
    let vip = "10.215.0.100";
    let haresources = format!("alpha IPaddr2::{vip}/24 record\n");
    let (pair, bases) = start_pair(&site, true, "", &haresources, Scripts::Recorder);
    settle_on(&pair, &site, &bases, 0, vip);
    wait_until("the observer reaching the VIP on alpha", &pair, || {
        site.observer_reaches_on(0, vip)
    });

    // SAFETY: signalling the daemon this test started.
    unsafe { libc::kill(daemon_pid(&pair, 0), libc::SIGSTOP) };
    let cont = Resume(daemon_pid(&pair, 0));
    wait_until("bravo taking the group", &pair, || {
        running(&bases[1]) && site.has(1, vip)
    });
    wait_until("the observer reaching the VIP on bravo", &pair, || {
        site.observer_reaches_on(1, vip)
    });
    pair.expect(1, "node alpha is dead", 1);
    pair.expect(1, "PEER DEAD", 1);
    // Only the daemon hangs: alpha's takeover process still holds it.
    assert!(site.has(0, vip), "alpha's takeover process kept its VIP");

    drop(cont);
    // The split-brain rule: the home node (alpha) keeps it, bravo stops.
    settle_on(&pair, &site, &bases, 0, vip);
    pair.expect(1, "SPLIT BRAIN: both nodes held group 0; we stop it", 1);
    pair.expect(0, "SPLIT BRAIN: both nodes held group 0; we keep it", 1);
    // bravo's gratuitous ARPs moved the segment; alpha takes it back.
    pair.expect(0, "announced again", 1);
    assert_eq!(calls(&bases[1]).last().map(String::as_str), Some("stop"));
    assert_eq!(starts(&bases[0]), 1, "alpha never restarted the group");
    wait_until(
        "the observer reaching the VIP on alpha again",
        &pair,
        || site.observer_reaches_on(0, vip),
    );
    for i in 0..2 {
        let s = pair.status(i);
        assert_eq!(s.peers[0].liveness, "alive", "{s:#?}");
    }
    assert_eq!(pair.status(0).node.rscstatus, "all");
    assert_eq!(pair.status(1).node.rscstatus, "none");
}

/// SIGCONT on drop, so a failing test never leaves a stopped daemon.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        // SAFETY: signalling the daemon this test started.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

#[test]
fn link_down_with_serial_up_keeps_the_group_and_both_links_down_fail_over() {
    require_root!();
    let site = Site::new("fl", "10.216.0");
    let vip = "10.216.0.100";
    let haresources = format!("alpha IPaddr2::{vip}/24 record\n");
    let (pair, bases) = start_pair(&site, true, "", &haresources, Scripts::Recorder);
    settle_on(&pair, &site, &bases, 0, vip);
    for i in 0..2 {
        pair.wait_status(i, "has both links up", |s| {
            s.links.len() == 2 && s.links.iter().all(|l| l.state == "up")
        });
    }

    site.set_link(0, false);
    let ucast_down = |i: usize| {
        let label = format!("link ucast {DEV} {}", site.addr(1 - i));
        pair.lines(i, &label)
            .iter()
            .any(|l| l.contains("is down: silent"))
    };
    for i in 0..2 {
        let s = pair.wait_status(i, "sees UDP down and serial up", |s| {
            s.links[0].state == "dead" && s.links[1].state == "up"
        });
        assert_eq!(s.peers[0].liveness, "alive", "serial proves the peer alive");
        wait_until("the ucast link-down logged", &pair, || ucast_down(i));
    }
    // Well past deadtime: still no failover.
    std::thread::sleep(std::time::Duration::from_micros(3 * common::DEADTIME_US));
    assert!(!running(&bases[1]) && !site.has(1, vip), "bravo took over");
    assert_eq!(starts(&bases[1]), 0);
    assert!(pair.lines(1, "is dead").is_empty(), "{}", pair.log(1));

    // Both links cut: each side declares the other dead and holds the group.
    pair.cable.as_ref().unwrap().cut();
    wait_until("bravo taking the group", &pair, || {
        running(&bases[1]) && site.has(1, vip)
    });
    wait_until("the observer reaching the VIP on bravo", &pair, || {
        site.observer_reaches_on(1, vip)
    });
    for i in 0..2 {
        pair.expect(i, "PEER DEAD", 1);
        pair.expect(i, "split brain", 1);
    }
    assert!(running(&bases[0]) && site.has(0, vip), "alpha holds it too");

    site.set_link(0, true);
    pair.cable.as_ref().unwrap().restore();
    settle_on(&pair, &site, &bases, 0, vip);
    pair.expect(1, "SPLIT BRAIN: both nodes held group 0; we stop it", 1);
    pair.expect(0, "SPLIT BRAIN: both nodes held group 0; we keep it", 1);
    // bravo's gratuitous ARPs moved the segment; alpha takes it back.
    pair.expect(0, "announced again", 1);
    wait_until(
        "the observer reaching the VIP on alpha again",
        &pair,
        || site.observer_reaches_on(0, vip),
    );
    for i in 0..2 {
        pair.wait_status(i, "has both links up again", |s| {
            s.links.iter().all(|l| l.state == "up") && s.peers[0].liveness == "alive"
        });
    }
}

#[test]
fn debian_heartbeat_ipaddr2_script_moves_the_vip_on_kill_9() {
    require_root!();
    let script = Path::new(DEBIAN_RESOURCE_D).join("IPaddr2");
    if !script.exists() {
        eprintln!(
            "SKIPPED: {} missing: apt-get install heartbeat",
            script.display()
        );
        return;
    }
    let site = Site::new("fd", "10.77.0");
    let vip = "10.77.0.100";
    let haresources = format!("alpha IPaddr2::{vip}/24/{DEV} record\n");
    let (mut pair, bases) = start_pair(
        &site,
        true,
        "builtin_ipaddr off\n",
        &haresources,
        Scripts::Debian,
    );
    settle_on(&pair, &site, &bases, 0, vip);
    // The script ran, not the built-in: its OCF agent logs through ha_log.
    pair.expect(0, "Adding inet address", 1);
    wait_until("the observer reaching the VIP on alpha", &pair, || {
        site.observer_reaches_on(0, vip)
    });

    pair.kill9(0);
    wait_until("bravo adding the VIP with the script", &pair, || {
        site.has(1, vip) && running(&bases[1])
    });
    pair.expect(1, "Adding inet address", 1);
    wait_until("the observer reaching the VIP on bravo", &pair, || {
        site.observer_reaches_on(1, vip)
    });
    // alpha's orphaned takeover process released the VIP with the script.
    wait_until("alpha releasing the VIP", &pair, || !site.has(0, vip));
}
