//! A live pair seen through its control socket: `status`, `cl_status`,
//! replayed frames, a second daemon on the same run dir, and SIGHUP key
//! rotation.

mod common;

use common::Pair;

fn drops(s: &twinbeat::engine::status::Snapshot, link: usize, reason: &str) -> u64 {
    s.links[link]
        .drops
        .iter()
        .find(|(r, _)| r == reason)
        .map_or(0, |(_, n)| *n)
}

#[test]
fn status_and_cl_status_describe_the_live_pair() {
    let mut pair = Pair::new(true, "uring");
    pair.start_both();
    let s = pair.wait_status(0, "sees bravo up on both links", |s| {
        s.peers.first().is_some_and(|p| p.liveness == "alive")
            && s.links.iter().all(|l| l.state == "up" && l.rtt.count > 0)
    });
    assert_eq!(s.node.name, "alpha");
    assert_eq!(s.peers[0].name, "bravo");
    assert_eq!(s.links.len(), 2);
    assert!(s.links[0].label.starts_with("ucast lo 127.0.0.1:"));
    assert!(s.links[1].label.starts_with("serial /dev/pts/"));
    assert!(s.links.iter().all(|l| l.frames_rx > 0 && l.frames_tx > 0));
    assert_eq!(s.io.backend, "io_uring");

    let run = pair.run_dir(0).to_str().unwrap().to_string();
    let (code, out, _) = pair.cli(&["cl_status", "--run-dir", &run, "hbstatus"]);
    assert_eq!(
        (code, out.trim()),
        (0, "Heartbeat is running on this machine.")
    );
    let (code, out, _) = pair.cli(&["cl_status", "--run-dir", &run, "listhblinks", "bravo"]);
    assert_eq!(code, 0);
    let tty = pair.cable.as_ref().unwrap().ends()[0].display().to_string();
    let links: Vec<&str> = out.split_whitespace().collect();
    assert!(
        links.contains(&"lo") && links.contains(&tty.as_str()),
        "{out}"
    );
    let (code, out, _) = pair.cli(&[
        "cl_status",
        "--run-dir",
        &run,
        "hblinkstatus",
        "bravo",
        &tty,
    ]);
    assert_eq!((code, out.trim()), (0, "up"));
    let (code, out, _) = pair.cli(&["cl_status", "--run-dir", &run, "nodestatus", "bravo"]);
    assert_eq!(code, 0, "{out}");
    assert!(["up", "active"].contains(&out.trim()), "{out}");
    let (code, _, _) = pair.cli(&["cl_status", "--run-dir", &run, "nodestatus"]);
    assert_eq!(code, 11, "missing NODE is a parameter error");

    let (code, json, _) = pair.cli(&["status", "--run-dir", &run, "--json"]);
    assert_eq!(code, 0);
    let parsed: twinbeat::engine::status::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.node.name, "alpha");

    pair.kill9(1);
    pair.wait_status(0, "sees bravo dead", |s| s.peers[0].liveness == "dead");
    let (code, out, _) = pair.cli(&["cl_status", "--run-dir", &run, "nodestatus", "bravo"]);
    assert_eq!(out.trim(), "dead", "exit {code}");
    let (_, out, _) = pair.cli(&[
        "cl_status",
        "--run-dir",
        &run,
        "hblinkstatus",
        "bravo",
        "lo",
    ]);
    assert_eq!(out.trim(), "dead");

    assert!(pair.stop(0));
    let (code, out, _) = pair.cli(&["cl_status", "--run-dir", &run, "hbstatus"]);
    assert_eq!(
        (code, out.trim()),
        (1, "Heartbeat is stopped on this machine.")
    );
}

#[test]
fn replayed_frames_of_a_previous_generation_are_dropped() {
    let mut pair = Pair::new(true, "uring");
    pair.start_both();
    pair.wait_status(1, "sees alpha on both links", |s| {
        s.links.iter().all(|l| l.state == "up")
    });
    // Tape what alpha sends down the cable, then restart alpha.
    let cable = pair.cable.as_ref().unwrap();
    cable.start_recording();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let tape = pair.cable.as_ref().unwrap().take_recording();
    assert!(tape.len() > 100, "captured {} bytes", tape.len());
    pair.kill9(0);
    pair.expect(1, "node alpha is dead", 1);
    pair.start(0);
    pair.expect(1, "node alpha restarted", 1);
    let before = pair.status(1);
    let serial = 1;
    let replay_before = drops(&before, serial, "replay");

    pair.cable.as_ref().unwrap().inject(1, &tape).unwrap();
    let after = pair.wait_status(1, "counts the replayed frames", |s| {
        drops(s, serial, "replay") > replay_before
    });
    // The replay neither revived an old generation nor disturbed the link.
    assert_eq!(after.peers[0].liveness, "alive");
    assert!(after.peers[0].generation > Some(1));
    assert!(
        pair.lines(1, "node alpha restarted").len() == 1,
        "{}",
        pair.log(1)
    );
    assert!(pair.lines(1, "is alive (generation 1)").len() == 1);
}

#[test]
fn a_second_daemon_on_the_same_run_dir_is_refused() {
    let mut pair = Pair::new(false, "poll");
    pair.start(0);
    pair.wait_status(0, "answers", |_| true);
    let dir = pair.nodes[0].dirs.config_dir.to_str().unwrap().to_string();
    let (code, _, err) = pair.cli(&["run", "--dir", &dir, "--node", "alpha"]);
    assert_eq!(code, 1);
    assert!(err.contains("another twinbeat daemon is running"), "{err}");
    assert!(
        pair.status(0).node.name == "alpha",
        "the first one still runs"
    );
}

#[test]
fn sighup_rotates_keys_without_a_restart() {
    let mut pair = Pair::new(false, "uring");
    pair.start_both();
    pair.wait_status(1, "sees alpha", |s| s.links[0].state == "up");
    // alpha signs with a key bravo does not know yet: bravo drops its frames.
    pair.write_authkeys(
        0,
        "auth 2\n1 sha1 twinbeat-demo-secret\n2 sha256 rotated-secret\n",
    );
    pair.signal(0, libc::SIGHUP);
    pair.expect(0, "key 2 now signs", 1);
    pair.wait_status(1, "drops alpha's frames as unknown_key", |s| {
        drops(s, 0, "unknown_key") > 0
    });
    pair.expect(1, "link ucast lo", 2); // down
    // bravo learns key 2 (and keeps signing with 1): the link comes back.
    pair.write_authkeys(
        1,
        "auth 1\n1 sha1 twinbeat-demo-secret\n2 sha256 rotated-secret\n",
    );
    pair.signal(1, libc::SIGHUP);
    pair.expect(1, "SIGHUP: authkeys re-read", 1);
    pair.expect(1, "link ucast lo", 3);
    assert!(pair.lines(1, "link ucast lo")[2].contains("is up"));
    // A change to ha.cf is reported as needing a restart, not applied.
    let hacf = pair.nodes[0].dirs.config_dir.join("ha.cf");
    let text = std::fs::read_to_string(&hacf).unwrap();
    std::fs::write(&hacf, text.replace("deadtime 500ms", "deadtime 700ms")).unwrap();
    pair.signal(0, libc::SIGHUP);
    pair.expect(
        0,
        "ha.cf changed, needs a restart to take effect: deadtime 700ms",
        1,
    );
    assert_eq!(pair.status(0).node.deadtime_us, 500_000);
    // A bad authkeys on SIGHUP keeps the old keys and says so.
    pair.write_authkeys(0, "auth 9\n");
    pair.signal(0, libc::SIGHUP);
    pair.expect(0, "authkeys not reloaded, the old keys stay", 1);
    assert_eq!(pair.status(1).links[0].state, "up");
}
