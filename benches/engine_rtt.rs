//! Keepalive round-trip time through the engine, beside the floor of a
//! plain blocking ping-pong between two threads, measured in the same run;
//! and the CPU one daemon uses at a given keepalive.
//!
//! Run: `cargo bench --bench engine_rtt` (TWINBEAT_BENCH_SECS=N per
//! scenario, default 10). Prints a markdown report on stdout.
//!
//! The engine's RTT is what a running pair reports for each link: the echoed
//! timestamp (see `wire::echo`), so the far side's hold time is excluded and
//! both ends are stamped by the kernel (SO_TIMESTAMPNS) on receive. The
//! floor is `send` → blocking `recv` → `send` → blocking `recv` between two
//! threads, timed in user space with the monotonic clock.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;

use hdrhistogram::Histogram;
use twinbeat::control::client::Client;
use twinbeat::demo::{PairParams, write_configs};
use twinbeat::engine::status::{Percentiles, Snapshot};
use twinbeat::pty::PtyCable;

fn secs() -> u64 {
    std::env::var("TWINBEAT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()
}

fn row(name: &str, p: &Percentiles) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        p.count, p.p50_us, p.p99_us, p.p999_us, p.max_us
    )
}

/// Blocking UDP ping-pong on loopback between two threads.
fn udp_floor(rounds: usize) -> Percentiles {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..rounds {
            let n = b.recv(&mut buf).unwrap();
            b.send(&buf[..n]).unwrap();
        }
    });
    let mut h = hist();
    let msg = [7u8; 30];
    let mut buf = [0u8; 64];
    for i in 0..rounds {
        let t = Instant::now();
        a.send(&msg).unwrap();
        a.recv(&mut buf).unwrap();
        if i >= rounds / 10 {
            h.record(t.elapsed().as_nanos() as u64).unwrap();
        }
    }
    echo.join().unwrap();
    Percentiles::of(&h)
}

/// Blocking ping-pong of 32-byte messages through a pty cable.
fn pty_floor(rounds: usize) -> Percentiles {
    let cable = PtyCable::open().unwrap();
    let open = |p: &Path| {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap();
        raw(&f);
        f
    };
    let (mut a, mut b) = (open(cable.ends()[0]), open(cable.ends()[1]));
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 32];
        for _ in 0..rounds {
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
        }
    });
    let mut h = hist();
    let msg = [7u8; 32];
    let mut buf = [0u8; 32];
    for i in 0..rounds {
        let t = Instant::now();
        a.write_all(&msg).unwrap();
        a.read_exact(&mut buf).unwrap();
        if i >= rounds / 10 {
            h.record(t.elapsed().as_nanos() as u64).unwrap();
        }
    }
    echo.join().unwrap();
    drop(cable);
    Percentiles::of(&h)
}

fn raw(f: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: termios is filled by tcgetattr before use.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(f.as_raw_fd(), &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(f.as_raw_fd(), libc::TCSANOW, &t);
    }
}

/// User + system CPU ticks of a process and its children still running.
fn cpu_ticks(pid: u32) -> u64 {
    let mut total = 0;
    let mut pids = vec![pid];
    // A child is listed under the thread that forked it (the takeover
    // process under the daemon's supervisor thread), so ask every thread.
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for task in tasks.flatten() {
        if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    for p in pids {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            // Fields after the command name (which may hold spaces).
            let rest = stat.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            total += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            total += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    total
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Run {
    alpha: Snapshot,
    cpu_percent: f64,
    rss_kib: u64,
}

/// Starts a pair, lets it run, and reads alpha's status and CPU.
fn engine(keepalive: &str, deadtime: &str, serial: bool, io: &str) -> Run {
    let root = tempfile::tempdir().unwrap();
    let cable = serial.then(|| PtyCable::open().unwrap());
    let ports = twinbeat::demo::free_ports().unwrap();
    let timings = format!("keepalive {keepalive}\ndeadtime {deadtime}\ninitdead 2\n");
    let ends = cable.as_ref().map(|c| c.ends());
    let serial_paths = match &ends {
        Some([a, b]) => [Some(*a), Some(*b)],
        None => [None, None],
    };
    let nodes = write_configs(
        root.path(),
        serial_paths,
        &PairParams {
            timings: &timings,
            ports,
            extra: "",
        },
    )
    .unwrap();
    if serial {
        // Serial alone: drop the ucast line so only the cable carries frames.
        for n in &nodes {
            let p = n.config_dir.join("ha.cf");
            let text = std::fs::read_to_string(&p).unwrap();
            let text: String = text
                .lines()
                .filter(|l| !l.starts_with("ucast"))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&p, text).unwrap();
        }
    }
    let mut children: Vec<Child> = nodes
        .iter()
        .map(|n| common::spawn_daemon(n, &["--io", io], "warn", Stdio::null()))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = children[0].id();
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(secs()));
    let (dt, c1) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid));
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let alpha = Client::connect(&nodes[0].run_dir)
        .unwrap()
        .status()
        .unwrap();
    let rss = rss_kib(pid);
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    Run {
        alpha,
        cpu_percent: (c1 - c0) as f64 / tck / dt * 100.0,
        rss_kib: rss,
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // useful either: this harness always runs its fixed scenarios, shortly
    // under test.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let host = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!("# Keepalive RTT through the engine vs. the floor\n");
    println!(
        "- command: `cargo bench --bench engine_rtt` (TWINBEAT_BENCH_SECS={})",
        secs()
    );
    println!(
        "- machine: {} cores, {host}, kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    println!();
    println!("RTT in µs; the engine's figures are alpha's view of its link to bravo.\n");
    println!("| path | samples | p50 | p99 | p99.9 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "{}",
        row(
            "floor: blocking UDP ping-pong, two threads",
            &udp_floor(20_000)
        )
    );
    let mut cpu_rows = Vec::new();
    for (ka, dt, io) in [
        ("1ms", "10ms", "uring"),
        ("100us", "2ms", "uring"),
        ("1ms", "10ms", "poll"),
    ] {
        let r = engine(ka, dt, false, io);
        println!(
            "{}",
            row(
                &format!("engine, loopback UDP, keepalive {ka}, {io}"),
                &r.alpha.links[0].rtt
            )
        );
        cpu_rows.push(format!(
            "| keepalive {ka}, {io} | {:.1} | {} | {} | {} |",
            r.cpu_percent, r.rss_kib, r.alpha.node.late_sends, r.alpha.node.worst_send_lateness_us
        ));
    }
    println!(
        "{}",
        row(
            "floor: blocking ping-pong through the pty cable",
            &pty_floor(5_000)
        )
    );
    let r = engine("1ms", "10ms", true, "uring");
    println!(
        "{}",
        row(
            "engine, pty cable (460800 baud), keepalive 1ms, uring",
            &r.alpha.links[0].rtt
        )
    );
    println!("\n## CPU and memory of one daemon (beat thread + control + takeover process)\n");
    println!("| scenario | CPU % of one core | RSS KiB | late rounds | worst lateness µs |");
    println!("| --- | --- | --- | --- | --- |");
    for r in cpu_rows {
        println!("{r}");
    }
}
