//! Failover of a virtual IP between two test hosts, seen from a third:
//! alpha, bravo and an observer in network namespaces on one bridge. The
//! group is `IPaddr::VIP/24` (the built-in, netlink + gratuitous ARP) and a
//! script. kill -9 of alpha's daemon: bravo adds the VIP, announces it, and
//! the observer's neighbour entry for the VIP moves to bravo's MAC; the VIP
//! answers there. Root only: skipped with a message otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NetNs, Pair, ip, is_root, wait_until};

const VIP: &str = "10.214.0.100";

fn output(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mac_of(ns: &str, dev: &str) -> String {
    let text = output(&["ip", "-n", ns, "link", "show", dev]);
    text.split("link/ether ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("an ethernet address")
        .to_string()
}

/// The observer's neighbour entry for the VIP: its MAC, if any.
fn observer_sees(ns: &str) -> Option<String> {
    let text = output(&["ip", "-n", ns, "neigh", "show", VIP]);
    text.split("lladdr ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .map(str::to_string)
}

fn ping(ns: &str) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-c", "1", "-W", "1", VIP])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn write_node(root: &Path, name: &str, dev: &str, peer: &str) -> PathBuf {
    let stamp = root.join(name).join("stamp.running");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\nstart) date +%s%N > '{0}' ;;\nstop) rm -f '{0}' ;;\n\
         status) if [ -f '{0}' ]; then echo running; else echo stopped; fi ;;\nesac\nexit 0\n",
        stamp.display()
    );
    common::write_node_files(
        root,
        name,
        &format!(
            "keepalive 10ms\nwarntime 100ms\ndeadtime 200ms\ninitdead 3\nudpport 694\n\
             ucast {dev} {peer}\nauto_failback off\nnode alpha bravo\nrealtime off\n"
        ),
        "auth 1\n1 sha1 failover-secret\n",
        &format!("alpha IPaddr::{VIP}/24 stamp\n"),
        &[("stamp", &script)],
    )
}

#[test]
fn kill_9_of_the_active_node_moves_the_virtual_ip_to_the_standby() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to create network namespaces");
        return;
    }
    let (na, nb, obs) = (NetNs::new("fa"), NetNs::new("fb"), NetNs::new("fo"));
    ip(&["-n", &obs.0, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &obs.0, "link", "set", "br0", "up"]);
    ip(&["-n", &obs.0, "addr", "add", "10.214.0.3/24", "dev", "br0"]);
    let mut devs = Vec::new();
    for (ns, addr) in [(&na, "10.214.0.1/24"), (&nb, "10.214.0.2/24")] {
        let (dev, port) = (format!("{}v", ns.0), format!("{}p", ns.0));
        ip(&["link", "add", &dev, "type", "veth", "peer", "name", &port]);
        ip(&["link", "set", &dev, "netns", &ns.0]);
        ip(&["link", "set", &port, "netns", &obs.0]);
        ip(&["-n", &obs.0, "link", "set", &port, "master", "br0", "up"]);
        ip(&["-n", &ns.0, "addr", "add", addr, "dev", &dev]);
        ip(&["-n", &ns.0, "link", "set", &dev, "up"]);
        devs.push(dev);
    }

    let mut pair = Pair::new(false, "uring");
    let root = pair.root.path().to_path_buf();
    let bases = [
        write_node(&root, "alpha", &devs[0], "10.214.0.2"),
        write_node(&root, "bravo", &devs[1], "10.214.0.1"),
    ];
    for (i, base) in bases.iter().enumerate() {
        pair.nodes[i].dirs.config_dir = base.join("ha.d");
        pair.nodes[i].dirs.run_dir = base.join("run");
        pair.nodes[i].dirs.state_dir = base.join("state");
    }
    for (i, ns) in [&na, &nb].into_iter().enumerate() {
        pair.prefix = vec!["ip".into(), "netns".into(), "exec".into(), ns.0.clone()];
        pair.start(i);
    }
    let running = |i: usize| bases[i].join("stamp.running").exists();
    wait_until("alpha holding its group", &pair, || running(0));
    let (mac_a, mac_b) = (mac_of(&na.0, &devs[0]), mac_of(&nb.0, &devs[1]));
    wait_until("the observer reaching the VIP on alpha", &pair, || {
        ping(&obs.0) && observer_sees(&obs.0).as_deref() == Some(mac_a.as_str())
    });
    assert!(!running(1), "one owner: bravo does not run the group");

    pair.kill9(0);
    wait_until("bravo taking the group", &pair, || running(1));
    wait_until(
        "the observer's entry for the VIP moving to bravo",
        &pair,
        || observer_sees(&obs.0).as_deref() == Some(mac_b.as_str()),
    );
    assert!(ping(&obs.0), "the VIP answers on bravo");
    assert!(
        output(&["ip", "-n", &nb.0, "addr", "show", &devs[1]]).contains(VIP),
        "bravo has the VIP"
    );
}
