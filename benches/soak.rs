//! Soak: no false failovers. Two live daemons on loopback, each holding the
//! keepalive rate for a long time while every core is kept busy by a CPU
//! load, then a count of what went wrong: peer-dead verdicts, takeovers,
//! late heartbeat warnings, the worst gap between two frames seen on each
//! link, late and skipped keepalive rounds.
//!
//! Run: `tools/soak [SECONDS]` (writes bench-results/soak.md), or
//! `cargo bench --bench soak -- --secs N` (markdown on stdout, progress on
//! stderr). Default 600 s per setting; settings: keepalive 100 µs /
//! deadtime 1 ms, then 200 µs / 2 ms.
//!
//! `--no-backup` runs the daemons with `beat_backup_core off`, to compare
//! with what the backup sender changes.
//!
//! The load is one busy shell loop per core at normal priority. The daemons
//! run as configured by default: `realtime on`, so their beat threads are
//! SCHED_FIFO when the user may do that (root) — which is what a production
//! pair runs with; the report says whether it was granted.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use twinbeat::control::client::Client;
use twinbeat::demo::{NodeDirs, PairParams, write_configs};
use twinbeat::engine::status::Snapshot;

struct Args {
    secs: u64,
    load: bool,
    /// `--no-backup`: run with `beat_backup_core off` (as before the
    /// backup sender existed), to compare.
    backup: bool,
    /// `--keep`: keep each setting's configs and daemon logs and print
    /// where they are.
    keep: bool,
    /// `--only N`: run only the Nth setting (0: 100 µs / 1 ms, 1: 200 µs / 2 ms).
    only: Option<usize>,
}

fn args() -> Args {
    let mut a = Args {
        secs: 600,
        load: true,
        backup: true,
        keep: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--secs" => {
                a.secs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--secs takes a number of seconds")
            }
            "--no-load" => a.load = false,
            "--no-backup" => a.backup = false,
            "--keep" => a.keep = true,
            "--only" => a.only = it.next().and_then(|v| v.parse().ok()),
            _ => {} // cargo bench passes --bench and filters
        }
    }
    a
}

/// Children killed when dropped, also on a panic.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for k in &mut self.0 {
            let _ = k.kill();
            let _ = k.wait();
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn cpu_load() -> Kids {
    Kids(
        (0..cores())
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("starting a CPU load process")
            })
            .collect(),
    )
}

/// The daemons log at `TWINBEAT_LOG` when set, else at info with every
/// hold-up the backup sender covered (quoted beside each verdict).
fn spawn(n: &NodeDirs, log: &Path) -> Child {
    let filter = std::env::var("TWINBEAT_LOG")
        .unwrap_or_else(|_| "info,twinbeat::engine::backup=debug".into());
    common::spawn_daemon(n, &[], &filter, std::fs::File::create(log).unwrap().into())
}

fn status(n: &NodeDirs) -> Option<Snapshot> {
    Client::connect(&n.run_dir)
        .and_then(|mut c| c.status())
        .ok()
}

/// Steal ticks per CPU (/proc/stat): time the hypervisor ran something
/// else while this guest's vCPU had work. A stolen vCPU stops every thread
/// on it, SCHED_FIFO or not.
fn steal_ticks() -> Vec<u64> {
    std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .nth(8)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// The µs of the day of a log line's RFC 3339 time stamp
/// (`2026-12-01T08:07:03.271721Z ...`).
fn micros_of_day(line: &str) -> Option<u64> {
    let t = line.get(11..26)?;
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<u64>().ok();
    Some(((num(0..2)? * 60 + num(3..5)?) * 60 + num(6..8)?) * 1_000_000 + num(9..15)?)
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// A setting's directory: removed at the end unless `--keep`.
enum KeptOrTemp {
    Temp(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

impl KeptOrTemp {
    fn path(&self) -> &Path {
        match self {
            KeptOrTemp::Temp(t) => t.path(),
            KeptOrTemp::Kept(p) => p,
        }
    }
}

struct Outcome {
    rows: Vec<String>,
    /// Stolen ms per CPU during the soak.
    stolen_ms: Vec<u64>,
    false_takeovers: usize,
    /// The log lines of every verdict and takeover, to say what happened.
    evidence: Vec<String>,
}

fn soak(name: &str, timings: &str, secs: u64, backup: bool, keep: bool) -> Outcome {
    let root = tempfile::tempdir().unwrap();
    let root = if keep {
        let path = root.keep();
        eprintln!("{name}: configs and logs kept in {}", path.display());
        KeptOrTemp::Kept(path)
    } else {
        KeptOrTemp::Temp(root)
    };
    let params = PairParams {
        timings,
        ports: twinbeat::demo::free_ports().unwrap(),
        extra: "",
    };
    let nodes = write_configs(root.path(), [None, None], &params).unwrap();
    // Each beat thread on its own core, as on two machines: a stall of one
    // core then shows as silence to the other node only.
    for (i, n) in nodes.iter().enumerate() {
        let hacf = n.config_dir.join("ha.cf");
        let mut text = std::fs::read_to_string(&hacf).unwrap();
        text.push_str(&format!("beat_core {}\n", i % cores()));
        if !backup {
            text.push_str("beat_backup_core off\n");
        }
        std::fs::write(&hacf, text).unwrap();
    }
    let logs: Vec<_> = nodes
        .iter()
        .map(|n| root.path().join(format!("{}.log", n.name)))
        .collect();
    let _kids = Kids(nodes.iter().zip(&logs).map(|(n, l)| spawn(n, l)).collect());
    // Settled: alpha holds its group and bravo sees it active.
    let t0 = Instant::now();
    let settled = loop {
        let ok = status(&nodes[1])
            .is_some_and(|s| s.peers.first().is_some_and(|p| p.status == "active"))
            && status(&nodes[0]).is_some_and(|s| s.node.rscstatus != "none");
        if ok {
            break true;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        settled,
        "{name}: the pair never settled; logs in {}",
        root.path().display()
    );
    let before: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap_or_default())
        .collect();
    let steal_before = steal_ticks();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        let snaps: Vec<_> = nodes.iter().map(status).collect();
        let line: Vec<String> = snaps
            .iter()
            .zip(&nodes)
            .map(|(s, n)| match s {
                Some(s) => format!(
                    "{} peer {} late {} worst gap {:.0} µs",
                    n.name,
                    s.peers.first().map_or("?", |p| p.liveness.as_str()),
                    s.node.late_sends,
                    s.links
                        .iter()
                        .map(|l| l.interarrival.max_us)
                        .fold(0.0, f64::max)
                ),
                None => format!("{} no status", n.name),
            })
            .collect();
        eprintln!(
            "{name}: {:>4} s / {secs}: {}",
            start.elapsed().as_secs(),
            line.join(" | ")
        );
    }
    let snaps: Vec<Option<Snapshot>> = nodes.iter().map(status).collect();
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let stolen_ms = steal_ticks()
        .iter()
        .zip(steal_before.iter().chain(std::iter::repeat(&0)))
        .map(|(a, b)| a.saturating_sub(*b) * 1000 / tck)
        .collect();
    let after: Vec<String> = logs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap_or_default())
        .collect();
    let mut rows = Vec::new();
    let mut false_takeovers = 0;
    let mut evidence = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let log = after[i].get(before[i].len()..).unwrap_or("");
        let peer_log = after[1 - i].get(before[1 - i].len()..).unwrap_or("");
        for l in log
            .lines()
            .filter(|l| l.contains("is dead:") || l.contains("taking over from the dead peer"))
        {
            evidence.push(format!("{name} {}: {}", n.name, l.trim()));
            // What the silent node's backup sender said around then.
            if let Some(t) = micros_of_day(l) {
                evidence.extend(
                    peer_log
                        .lines()
                        .filter(|p| p.contains("backup"))
                        .filter(|p| micros_of_day(p).is_some_and(|u| u.abs_diff(t) <= 50_000))
                        .map(|p| format!("{name} {}:   {}", nodes[1 - i].name, p.trim())),
                );
            }
        }
        let dead = count(log, "is dead:");
        let takeovers = count(log, "taking over from the dead peer");
        let warns = count(log, "late heartbeat");
        let rt = if count(&after[i], "beat thread runs SCHED_FIFO") > 0 {
            "SCHED_FIFO"
        } else {
            "normal"
        };
        false_takeovers += takeovers;
        match &snaps[i] {
            Some(s) => {
                for l in &s.links {
                    let b = &s.node.backup;
                    let backup = match b.core {
                        Some(core) => format!(
                            "core {core}: {} / {} / {}",
                            b.episodes, b.rounds, b.longest_held_up_us
                        ),
                        None => "off".to_string(),
                    };
                    rows.push(format!(
                        "| {name} | {} ({rt}) | {} | {} | {dead} | {takeovers} | {warns} | {:.0} | {:.1} | {} | {} / {} µs | {backup} |",
                        n.name,
                        l.label,
                        l.frames_rx,
                        l.interarrival.max_us,
                        l.interarrival.p999_us,
                        l.lost,
                        s.node.late_sends,
                        s.node.worst_send_lateness_us
                    ));
                }
            }
            None => rows.push(format!(
                "| {name} | {} | no status at the end | | {dead} | {takeovers} | {warns} | | | | | |",
                n.name
            )),
        }
    }
    Outcome {
        rows,
        stolen_ms,
        false_takeovers,
        evidence,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let a = args();
    let host = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let load = a.load.then(cpu_load);
    let mut rows = Vec::new();
    let mut total_false = 0;
    let mut evidence = Vec::new();
    let mut steal = Vec::new();
    for (i, (name, timings)) in [
        (
            "100 µs / 1 ms",
            "keepalive 100us\nwarntime 500us\ndeadtime 1ms\ninitdead 2\n",
        ),
        (
            "200 µs / 2 ms",
            "keepalive 200us\nwarntime 1ms\ndeadtime 2ms\ninitdead 2\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        if a.only.is_some_and(|only| only != i) {
            continue;
        }
        let out = soak(name, timings, a.secs, a.backup, a.keep);
        total_false += out.false_takeovers;
        evidence.extend(out.evidence);
        steal.push(format!("{name}: {:?} ms", out.stolen_ms));
        rows.extend(out.rows);
    }
    drop(load);
    println!("# Soak: no false failovers\n");
    let flags = format!(
        "{}{}{}",
        if a.load { "" } else { " --no-load" },
        if a.backup { "" } else { " --no-backup" },
        a.only.map(|i| format!(" --only {i}")).unwrap_or_default()
    );
    println!(
        "- command: `tools/soak {}{flags}` (= `cargo bench --bench soak -- --secs {}{flags}`)",
        a.secs, a.secs,
    );
    println!(
        "- date: {date}; machine: {} cores, {host}, kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "- two daemons on loopback UDP (one link each), each beat thread pinned to its own core \
         ({}), one resource group held by alpha; {} s per setting{}\n",
        if a.backup {
            "each node's backup sender on the other core"
        } else {
            "no backup sender"
        },
        a.secs,
        if a.load {
            ", with one busy-loop process per core at normal priority the whole time"
        } else {
            ", no extra load"
        }
    );
    println!(
        "| keepalive / deadtime | node (beat thread) | link | frames received | peer-dead verdicts | takeovers | late-heartbeat warnings | worst gap µs | gap p99.9 µs | lost | late rounds / worst lateness | backup sender: hold-ups covered / rounds / longest µs |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    println!("\nFalse takeovers in total: {total_false}.");
    println!(
        "\nTime the hypervisor stole from each vCPU during the soak (/proc/stat steal): {}.",
        steal.join("; ")
    );
    if !evidence.is_empty() {
        println!("\nEvery peer-dead verdict and takeover, as logged:\n\n```");
        for e in evidence {
            println!("{e}");
        }
        println!("```");
    }
}
