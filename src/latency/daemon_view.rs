//! `twinbeat latency daemon`: a running daemon's per-link latency, read
//! from its control socket.
//!
//! The daemon keeps RTT (from keepalive echoes), jitter (of keepalive
//! arrival against the keepalive interval) and interarrival histograms per
//! link; its status snapshot carries their p50/p99/p99.9/max, which is what
//! is shown here. The snapshot is not extended: the keepalive stream is the
//! probe, so no extra traffic is sent to a production pair.

use std::fmt::Write as _;
use std::path::Path;

use crate::engine::status::{Percentiles, Snapshot};

use super::LatencyError;

/// Asks the daemon with `run_dir` for its status and renders its links.
pub fn daemon_command(run_dir: &Path) -> Result<String, LatencyError> {
    let snapshot = crate::control::Client::connect(run_dir)?.status()?;
    Ok(render_links(&snapshot))
}

fn row(out: &mut String, what: &str, p: &Percentiles) {
    let _ = writeln!(
        out,
        "  {what:<14}{:>10}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
        p.count, p.p50_us, p.p99_us, p.p999_us, p.max_us
    );
}

/// Every link of `s`: frames, loss, reordering, then RTT, jitter and
/// interarrival percentiles in µs.
pub fn render_links(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node {} ({}), keepalive {} µs, io {}",
        s.node.name, s.node.state, s.node.keepalive_us, s.io.backend
    );
    if s.links.is_empty() {
        let _ = writeln!(out, "no links");
    }
    for l in &s.links {
        let _ = writeln!(
            out,
            "link {} {} [{}]: rx {} tx {} lost {} reordered {} duplicates {} send errors {}",
            l.index,
            l.label,
            l.state,
            l.frames_rx,
            l.frames_tx,
            l.lost,
            l.reordered,
            l.duplicates,
            l.send_errors
        );
        let _ = writeln!(
            out,
            "  {:<14}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "µs", "count", "p50", "p99", "p99.9", "max"
        );
        row(&mut out, "rtt", &l.rtt);
        row(&mut out, "jitter", &l.jitter);
        row(&mut out, "interarrival", &l.interarrival);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::status::{IoSnapshot, LinkSnapshot, NodeSnapshot};

    #[test]
    fn every_link_gets_its_figures() {
        let p = |x: f64| Percentiles {
            count: 10,
            p50_us: x,
            p99_us: 2.0 * x,
            p999_us: 3.0 * x,
            max_us: 4.0 * x,
        };
        let link = |index: usize, label: &str| LinkSnapshot {
            index,
            label: label.into(),
            line: 3,
            state: "up".into(),
            frames_rx: 100,
            frames_tx: 101,
            lost: 2,
            reordered: 1,
            duplicates: 0,
            send_errors: 0,
            rtt: p(21.5),
            interarrival: p(1000.0),
            jitter: p(3.25),
            drops: vec![],
        };
        let s = Snapshot {
            node: NodeSnapshot {
                name: "alpha".into(),
                generation: 1,
                state: "active".into(),
                rscstatus: "local".into(),
                uptime_us: 1,
                clock_ns: 1,
                pid: 1,
                keepalive_us: 1000,
                deadtime_us: 10_000,
                warntime_us: 5000,
                initdead_us: 20_000,
                late_sends: 0,
                worst_send_lateness_us: 0,
                skipped_sends: 0,
                backup: Default::default(),
            },
            peers: vec![],
            links: vec![
                link(0, "ucast lo 127.0.0.1:1"),
                link(1, "serial /dev/pts/3"),
            ],
            io: IoSnapshot {
                backend: "io_uring".into(),
                fallback_reason: None,
                describe: String::new(),
                datagrams: 0,
                serial_bytes: 0,
                link_errors: 0,
            },
            ring_overflows: 0,
            ping: Default::default(),
        };
        let text = render_links(&s);
        assert!(text.contains("link 1 serial /dev/pts/3 [up]: rx 100 tx 101 lost 2"));
        assert_eq!(
            text.lines()
                .filter(|l| l.trim_start().starts_with("rtt"))
                .count(),
            2
        );
        let rtt = text
            .lines()
            .find(|l| l.trim_start().starts_with("rtt"))
            .unwrap();
        let fields: Vec<&str> = rtt.split_whitespace().collect();
        assert_eq!(fields, ["rtt", "10", "21.5", "43.0", "64.5", "86.0"]);
    }
}
