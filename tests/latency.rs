//! `twinbeat latency` end to end: a reflector process and a sender over
//! loopback UDP and a pty cable, on both io backends; exact loss when the
//! reflector drops on purpose; both output files read back; clear errors
//! for bad arguments and a missing reflector; `latency daemon` on a live
//! pair.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use twinbeat::engine::io::BackendKind;
use twinbeat::latency::report::RunReport;
use twinbeat::latency::{LatencyError, Medium, SendOptions, session};
use twinbeat::pty::PtyCable;
use twinbeat::time::{NANOS_PER_MILLI, NANOS_PER_SEC};

const EXE: &str = env!("CARGO_BIN_EXE_twinbeat");

/// A reflector process, killed if the test ends before it does.
struct Reflector(Child);

impl Reflector {
    fn start(args: &[&str]) -> Reflector {
        let child = Command::new(EXE)
            .arg("latency")
            .arg("reflect")
            .args(args)
            .arg("--once")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Reflector(child)
    }

    /// Waits for the reflector to exit after the sender's goodbye; its log.
    fn finish(mut self) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                let mut log = String::new();
                if let Some(mut e) = self.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut log);
                }
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the reflector did not exit after the goodbye");
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp() -> SocketAddr {
    let [port, _] = twinbeat::demo::free_ports().unwrap();
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn options(medium: Medium, io: BackendKind, rate_hz: u32, probes: u64) -> SendOptions {
    SendOptions {
        medium,
        bind: None,
        rate_hz,
        size: 64,
        probes,
        io,
        core: None,
        interval_log: None,
        percentiles: None,
        grace: 2 * NANOS_PER_SEC,
        connect_timeout: 5 * NANOS_PER_SEC,
    }
}

fn send(o: &SendOptions) -> RunReport {
    let mut progress = Vec::new();
    session::send(o, &mut progress)
        .unwrap_or_else(|e| panic!("send failed: {e}\n{}", String::from_utf8_lossy(&progress)))
}

fn io_name(io: BackendKind) -> &'static str {
    match io {
        BackendKind::Poll => "poll",
        BackendKind::Uring => "uring",
        BackendKind::Auto => "auto",
    }
}

/// io_uring where this kernel allows it (the test says when it skips).
fn backends() -> Vec<BackendKind> {
    let mut out = vec![BackendKind::Poll];
    match twinbeat::engine::io::open_backend(BackendKind::Uring, vec![]) {
        Ok(_) => out.push(BackendKind::Uring),
        Err(e) => eprintln!("io_uring unavailable here ({e}); testing epoll only"),
    }
    out
}

#[test]
fn udp_loopback_answers_every_probe_on_both_backends() {
    for io in backends() {
        let addr = free_udp();
        let reflector = Reflector::start(&["--udp", &addr.to_string(), "--io", io_name(io)]);
        let r = send(&options(Medium::Udp(addr), io, 2_000, 2_000));
        let log = reflector.finish();
        assert_eq!(r.counts.sent, 2_000, "{io:?}");
        assert_eq!(r.counts.received, 2_000, "{io:?}: {:?}\n{log}", r.counts);
        assert_eq!(r.counts.lost(), 0);
        assert_eq!((r.counts.duplicates, r.counts.foreign), (0, 0));
        assert_eq!(r.rtt.count, 2_000);
        assert_eq!(r.jitter_forward.count, 1_999, "one variation per pair");
        assert!(r.rtt.quantiles[0] > 0 && r.rtt.quantiles[0] <= r.rtt.max);
        assert!(
            log.contains("answered 2001"),
            "2000 probes and the hello: {log}"
        );
    }
}

#[test]
fn loss_the_reflector_injects_is_reported_exactly() {
    let addr = free_udp();
    let reflector = Reflector::start(&["--udp", &addr.to_string(), "--drop-every", "10"]);
    let r = send(&options(Medium::Udp(addr), BackendKind::Auto, 2_000, 1_000));
    let log = reflector.finish();
    assert_eq!(r.counts.lost(), 100, "{:?}\n{log}", r.counts);
    assert_eq!(r.counts.received, 900);
    assert_eq!(r.counts.reordered, 0, "gaps are loss, not reordering");
    assert!(log.contains("dropped on purpose 100"), "{log}");
}

#[test]
fn a_pty_cable_carries_probes_on_both_backends() {
    for io in backends() {
        let cable = PtyCable::open().unwrap();
        let [a, b] = cable.ends();
        let reflector =
            Reflector::start(&["--serial", &a.display().to_string(), "--io", io_name(io)]);
        let medium = Medium::Serial {
            path: b.to_path_buf(),
            baud: 115_200,
        };
        let mut o = options(medium, io, 500, 500);
        o.size = 48;
        let r = send(&o);
        let log = reflector.finish();
        assert_eq!(r.counts.sent, 500, "{io:?}");
        assert_eq!(r.counts.received, 500, "{io:?}: {:?}\n{log}", r.counts);
        assert_eq!(r.counts.duplicates, 0);
        assert_eq!(r.rtt.count, 500);
    }
}

fn deserialize(encoded: &str) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .unwrap()
}

/// The .hgrm rows (Value, Percentile, TotalCount[, 1/(1-Percentile)]).
fn hgrm_rows(text: &str) -> Vec<Vec<f64>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    lines
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
        .collect()
}

#[test]
fn the_cli_writes_an_interval_log_and_a_percentile_file_that_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("rtt.hlog");
    let hgrm_path = dir.path().join("rtt.hgrm");
    let addr = free_udp();
    let reflector = Reflector::start(&["--udp", &addr.to_string()]);
    let out = Command::new(EXE)
        .args(["latency", "send", "--udp", &addr.to_string()])
        .args(["--rate", "1000", "--duration", "2.5", "--size", "100"])
        .arg("--interval-log")
        .arg(&log_path)
        .arg("--percentiles")
        .arg(&hgrm_path)
        .output()
        .unwrap();
    reflector.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("received 2500, lost 0"), "{stdout}");
    for col in ["p50", "p90", "p99", "p99.9", "p99.99", "max"] {
        assert!(stdout.contains(col), "{col} in {stdout}");
    }
    assert!(
        stderr.lines().filter(|l| l.contains("rtt p50")).count() >= 2,
        "a progress line a second: {stderr}"
    );

    let text = std::fs::read(&log_path).unwrap();
    let mut rtt_total = 0;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&text) {
        if let LogEntry::Interval(i) = entry.unwrap() {
            let h = deserialize(i.encoded_histogram());
            match i.tag().map(|t| t.as_str()) {
                Some("rtt") => {
                    rtt_total += h.len();
                    intervals += 1;
                    assert!(i.duration() <= Duration::from_millis(1_500));
                    assert_eq!(i.max(), h.max() as f64, "every interval's max in ns");
                }
                Some("jitter") => {}
                other => panic!("unexpected tag {other:?}"),
            }
        }
    }
    assert_eq!(rtt_total, 2_500, "every RTT in exactly one interval");
    assert!(
        intervals >= 3,
        "one interval a second plus the last: {intervals}"
    );

    let rows = hgrm_rows(&std::fs::read_to_string(&hgrm_path).unwrap());
    assert!(
        rows.windows(2)
            .all(|w| w[0][1] <= w[1][1] && w[0][2] <= w[1][2])
    );
    let last = rows.last().unwrap();
    assert_eq!((last[1], last[2]), (1.0, 2_500.0));
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(EXE).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.success(), stderr)
}

#[test]
fn bad_arguments_are_refused_with_what_is_wrong() {
    let cases: [(&[&str], &str); 7] = [
        (&["latency", "send"], "--udp"),
        (&["latency", "send", "--udp", "nonsense"], "invalid value"),
        (
            &["latency", "send", "--udp", "127.0.0.1:9", "--rate", "0"],
            "--rate",
        ),
        (
            &["latency", "send", "--udp", "127.0.0.1:9", "--size", "10"],
            "--size",
        ),
        (
            &["latency", "send", "--serial", "/dev/null", "--size", "2000"],
            "--size",
        ),
        (
            &[
                "latency",
                "send",
                "--udp",
                "127.0.0.1:9",
                "--count",
                "5",
                "--duration",
                "1",
            ],
            "cannot be used with",
        ),
        (
            &[
                "latency",
                "reflect",
                "--udp",
                "127.0.0.1:9",
                "--drop-every",
                "0",
            ],
            "--drop-every",
        ),
    ];
    for (args, needle) in cases {
        let (ok, stderr) = cli(args);
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn a_missing_reflector_is_an_error_not_a_hang() {
    let addr = free_udp();
    let mut o = options(Medium::Udp(addr), BackendKind::Auto, 100, 10);
    o.connect_timeout = 300 * NANOS_PER_MILLI;
    let started = Instant::now();
    let e = session::send(&o, &mut Vec::new()).unwrap_err();
    assert!(matches!(e, LatencyError::NoReflector { .. }), "{e}");
    assert!(e.to_string().contains("latency reflect"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn latency_daemon_shows_a_live_pairs_links() {
    let (ok, stderr) = cli(&["latency", "daemon", "--run-dir", "/nonexistent/twinbeat"]);
    assert!(!ok && stderr.contains("no twinbeat daemon"), "{stderr}");

    let mut pair = common::Pair::new(true, "auto");
    pair.start_both();
    pair.wait_status(0, "measuring RTT on both links", |s| {
        s.links.len() == 2 && s.links.iter().all(|l| l.rtt.count > 0)
    });
    let run_dir: &Path = pair.run_dir(0);
    let (code, stdout, stderr) =
        pair.cli(&["latency", "daemon", "--run-dir", run_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("link 0 ucast"), "{stdout}");
    assert!(stdout.contains("link 1 serial"), "{stdout}");
    let rtt_rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("rtt"))
        .collect();
    assert_eq!(rtt_rows.len(), 2, "{stdout}");
    for row in rtt_rows {
        let count: u64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(count > 0, "{row}");
    }
}

#[test]
fn cpu_latency_is_held_while_measuring_or_refused_by_name() {
    use std::io::{BufRead, BufReader};
    let addr = free_udp();
    let mut child = Command::new(EXE)
        .args(["latency", "reflect", "--udp", &addr.to_string()])
        .args(["--cpu-latency", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its first line says whether the request is held (or why not).
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && Path::new("/dev/cpu_dma_latency").exists() {
        assert!(first.contains("CPU wake-ups held within 0 µs"), "{first}");
    } else {
        assert!(
            first.contains("--cpu-latency 0: /dev/cpu_dma_latency"),
            "{first}"
        );
    }
}
