//! Pairs in network namespaces the test makes itself (root only; skipped
//! with a message otherwise): UDP cut while the serial cable carries the
//! peer, and two hosts joined by a veth pair with ucast and bcast links.

mod common;

use common::{NetNs, Pair, ip, is_root};

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: needs root to create network namespaces");
            return;
        }
    };
}

#[test]
fn udp_cut_in_a_namespace_while_serial_keeps_the_peer_alive() {
    require_root!();
    let ns = NetNs::new("u");
    let mut pair = Pair::new(true, "uring");
    pair.prefix = vec!["ip".into(), "netns".into(), "exec".into(), ns.0.clone()];
    pair.start_both();
    for i in 0..2 {
        pair.wait_status(i, "has both links up", |s| {
            s.links.len() == 2 && s.links.iter().all(|l| l.state == "up")
        });
    }
    ip(&["-n", &ns.0, "link", "set", "lo", "down"]);
    for i in 0..2 {
        let s = pair.wait_status(i, "sees UDP down and serial up", |s| {
            s.links[0].state == "dead" && s.links[1].state == "up"
        });
        assert_eq!(s.peers[0].liveness, "alive", "serial proves the peer alive");
        pair.expect(i, "link ucast lo", 2);
        assert!(pair.lines(i, "link ucast lo")[1].contains("is down"));
    }
    ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
    for i in 0..2 {
        pair.wait_status(i, "sees UDP back", |s| s.links[0].state == "up");
        assert!(pair.lines(i, "is dead").is_empty(), "{}", pair.log(i));
    }
}

fn write_node(root: &std::path::Path, name: &str, dev: &str, peer: &str) -> std::path::PathBuf {
    common::write_node_files(
        root,
        name,
        &format!(
            "keepalive 20ms\nwarntime 250ms\ndeadtime 500ms\ninitdead 3\nudpport 694\n\
             ucast {dev} {peer}\nbcast {dev}\nauto_failback off\nnode alpha bravo\n"
        ),
        "auth 3\n3 sha256 veth-secret\n",
        "alpha demo-service\n",
        &[],
    )
}

#[test]
fn two_hosts_on_a_veth_pair_with_ucast_and_bcast() {
    require_root!();
    let (na, nb) = (NetNs::new("a"), NetNs::new("b"));
    let (va, vb) = (format!("{}v", na.0), format!("{}v", nb.0));
    ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
    ip(&["link", "set", &va, "netns", &na.0]);
    ip(&["link", "set", &vb, "netns", &nb.0]);
    ip(&[
        "-n",
        &na.0,
        "addr",
        "add",
        "10.213.0.1/24",
        "brd",
        "+",
        "dev",
        &va,
    ]);
    ip(&[
        "-n",
        &nb.0,
        "addr",
        "add",
        "10.213.0.2/24",
        "brd",
        "+",
        "dev",
        &vb,
    ]);
    ip(&["-n", &na.0, "link", "set", &va, "up"]);
    ip(&["-n", &nb.0, "link", "set", &vb, "up"]);

    // Reuse the pair harness for process handling, with our own configs.
    let mut pair = Pair::new(false, "uring");
    let root = pair.root.path().to_path_buf();
    let dirs = [
        write_node(&root, "alpha", &va, "10.213.0.2"),
        write_node(&root, "bravo", &vb, "10.213.0.1"),
    ];
    for (i, base) in dirs.iter().enumerate() {
        pair.nodes[i].dirs.config_dir = base.join("ha.d");
        pair.nodes[i].dirs.run_dir = base.join("run");
        pair.nodes[i].dirs.state_dir = base.join("state");
    }
    // Each node runs in its own namespace: start them one by one.
    for (i, ns) in [&na, &nb].into_iter().enumerate() {
        pair.prefix = vec!["ip".into(), "netns".into(), "exec".into(), ns.0.clone()];
        pair.start(i);
    }
    for i in 0..2 {
        let s = pair.wait_status(i, "has ucast and bcast up", |s| {
            s.links.len() == 2 && s.links.iter().all(|l| l.state == "up" && l.frames_rx > 10)
        });
        assert!(s.links[0].label.starts_with("ucast"));
        assert!(s.links[1].label.starts_with("bcast"));
        // Broadcasts reach only the bcast socket: no copies on the ucast link.
        assert_eq!(s.links[0].duplicates, 0, "{s:#?}");
    }
    pair.kill9(0);
    let s = pair.wait_status(1, "sees alpha dead", |s| s.peers[0].liveness == "dead");
    assert!(s.links.iter().all(|l| l.state == "dead"));
    pair.expect(1, "node alpha is dead", 1);
}
