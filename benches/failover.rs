//! Failover time: `kill -9` of the active daemon to the first start script
//! running on the survivor, over many rounds, on a loopback pair.
//!
//! Run: `cargo bench --bench failover` (TWINBEAT_FAILOVER_ROUNDS=N, default
//! 20). Prints a markdown report on stdout.
//!
//! The group is one script resource; its start records bash's
//! `$EPOCHREALTIME` (no fork) into a file, so the figure is the moment the
//! start script runs, on the same wall clock the kill was stamped with.
//! Before a start the takeover process runs the resource's `status` (as
//! Heartbeat does, to skip what already runs): that fork is part of the
//! figure. Detection is also reported: the survivor's verdict time, from
//! its status snapshot.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use hdrhistogram::Histogram;
use twinbeat::control::client::Client;
use twinbeat::demo::{NodeDirs, PairParams, write_configs};
use twinbeat::time::monotonic_ns;

fn rounds() -> usize {
    std::env::var("TWINBEAT_FAILOVER_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn marker(n: &NodeDirs) -> std::path::PathBuf {
    n.state_dir.join("started-at")
}

/// The demo-service script replaced by one that stamps its start without
/// forking.
fn install_stamp_script(n: &NodeDirs) {
    let script = n.config_dir.join("resource.d/demo-service");
    let m = marker(n);
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\ncase \"$1\" in\nstart) echo \"$EPOCHREALTIME\" > '{0}' ;;\n\
             stop) rm -f '{0}' ;;\nstatus) if [ -f '{0}' ]; then echo running; else echo stopped; fi ;;\n\
             esac\nexit 0\n",
            m.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn spawn(n: &NodeDirs, log: &Path) -> Child {
    common::spawn_daemon(n, &[], "warn", std::fs::File::create(log).unwrap().into())
}

fn wait(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

struct Round {
    takeover_us: u64,
    detect_us: u64,
}

fn one_round(timings: &str) -> Option<Round> {
    let root = tempfile::tempdir().unwrap();
    let params = PairParams {
        timings,
        ports: twinbeat::demo::free_ports().unwrap(),
        extra: "",
    };
    let nodes = write_configs(root.path(), [None, None], &params).unwrap();
    nodes.iter().for_each(install_stamp_script);
    let mut kids: Vec<Child> = nodes
        .iter()
        .map(|n| spawn(n, &root.path().join(format!("{}.log", n.name))))
        .collect();
    let status = |n: &NodeDirs| {
        Client::connect(&n.run_dir)
            .and_then(|mut c| c.status())
            .ok()
    };
    let ready = wait(Duration::from_secs(10), || {
        marker(&nodes[0]).exists()
            && status(&nodes[1])
                .is_some_and(|s| s.peers.first().is_some_and(|p| p.status == "active"))
    });
    let result = if ready {
        std::thread::sleep(Duration::from_millis(200));
        let killed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let killed_mono = monotonic_ns();
        let _ = kids[0].kill();
        let _ = kids[0].wait();
        // The shell creates the file before it writes the stamp: wait for
        // the stamp itself.
        let stamp = || {
            std::fs::read_to_string(marker(&nodes[1]))
                .ok()
                .and_then(|t| t.trim().parse::<f64>().ok())
        };
        let took = wait(Duration::from_secs(10), || stamp().is_some());
        let started = stamp();
        let dead = status(&nodes[1]).and_then(|s| {
            let p = s.peers.first()?;
            let ago = p.declared_dead_us_ago?;
            Some(s.node.clock_ns.saturating_sub(ago * 1_000))
        });
        match (took, started, dead) {
            (true, Some(started), Some(dead_at)) => Some(Round {
                takeover_us: ((started - killed.as_secs_f64()) * 1e6).max(0.0) as u64,
                detect_us: dead_at.saturating_sub(killed_mono) / 1_000,
            }),
            other => {
                eprintln!(
                    "round incomplete (took, started, declared dead): {other:?}; logs kept in {}",
                    root.path().display()
                );
                for k in &mut kids {
                    let _ = k.kill();
                    let _ = k.wait();
                }
                std::mem::forget(root);
                return None;
            }
        }
    } else {
        eprintln!(
            "pair never settled (alpha running its group, bravo seeing it active); logs kept in {}",
            root.path().display()
        );
        std::mem::forget(root);
        for k in &mut kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        return None;
    };
    for k in &mut kids {
        let _ = k.kill();
        let _ = k.wait();
    }
    // The takeover processes release and exit on their own; give them a
    // moment so rounds do not overlap.
    std::thread::sleep(Duration::from_millis(300));
    result
}

fn line(name: &str, h: &Histogram<u64>) -> String {
    let ms = |v: u64| v as f64 / 1_000.0;
    format!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} |",
        h.len(),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = rounds();
    println!(
        "# Failover time: kill -9 of the active daemon → first start script on the survivor\n"
    );
    println!("- command: `cargo bench --bench failover` (TWINBEAT_FAILOVER_ROUNDS={n})");
    println!(
        "- machine: {} cores, kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "- pair on loopback UDP, one group (a bash script stamping `$EPOCHREALTIME` at start)\n"
    );
    println!("| settings | what | rounds | p50 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, timings) in [
        (
            "keepalive 100 µs, deadtime 1 ms",
            "keepalive 100us\nwarntime 500us\ndeadtime 1ms\ninitdead 2\n",
        ),
        (
            "keepalive 1 ms, deadtime 10 ms",
            "keepalive 1ms\nwarntime 5ms\ndeadtime 10ms\ninitdead 2\n",
        ),
    ] {
        let (mut takeover, mut detect) = (
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
        );
        let mut failed = 0;
        for _ in 0..n {
            match one_round(timings) {
                Some(r) => {
                    takeover.record(r.takeover_us.max(1)).unwrap();
                    detect.record(r.detect_us.max(1)).unwrap();
                }
                None => failed += 1,
            }
        }
        println!("{}", line(&format!("{name} | declared dead"), &detect));
        println!(
            "{}",
            line(&format!("{name} | start script runs"), &takeover)
        );
        if failed > 0 {
            println!("| {name} | rounds that did not complete | {failed} | | | |");
        }
    }
}
