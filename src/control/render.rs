//! The human view of a [`Snapshot`]: what `twinbeat status` prints.
//!
//! Plain text in aligned columns; every duration carries its unit (µs, ms,
//! s) in the cell, so nothing has to be guessed from a header. The JSON view
//! (`--json`) is the snapshot itself through serde and lives in
//! [`status_command`](super::status_command).

use std::fmt::Write as _;

use crate::engine::status::{LinkSnapshot, Percentiles, PingStatus, Snapshot};

/// Renders the whole status: this node, its peers, its links, the io backend.
pub fn render_status(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    render_node(&mut out, snapshot);
    out.push('\n');
    render_peers(&mut out, snapshot);
    out.push('\n');
    render_links(&mut out, &snapshot.links);
    if !snapshot.ping.method.is_empty() {
        out.push('\n');
        render_pings(&mut out, &snapshot.ping);
    }
    out
}

fn render_pings(out: &mut String, ping: &PingStatus) {
    let reached = ping
        .reached
        .map_or_else(|| "not known yet".to_owned(), |n| n.to_string());
    let _ = writeln!(
        out,
        "Ping nodes: {reached} of {} reachable; {}, a probe every {}, dead after {} silent",
        ping.nodes.len(),
        ping.method,
        micros_u64(ping.interval_us),
        micros_u64(ping.deadping_us),
    );
    let rows: Vec<Vec<String>> = ping
        .nodes
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                if p.group { "group" } else { "node" }.to_owned(),
                p.status.clone(),
                ago(p.last_reply_us_ago),
                p.rtt_us
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.1} µs")),
                p.members.join(" "),
            ]
        })
        .collect();
    table(
        out,
        Some(&["NAME", "KIND", "STATUS", "LAST REPLY", "RTT", "MEMBERS"]),
        &rows,
        &[],
    );
}

fn render_node(out: &mut String, snapshot: &Snapshot) {
    let node = &snapshot.node;
    let io = &snapshot.io;
    let _ = writeln!(out, "Node {}", node.name);
    let backend = match &io.fallback_reason {
        Some(reason) => format!("{} (io_uring not used: {reason})", io.backend),
        None => io.backend.clone(),
    };
    let rows = vec![
        vec!["state".to_owned(), node.state.clone()],
        vec!["generation".to_owned(), node.generation.to_string()],
        vec!["pid".to_owned(), node.pid.to_string()],
        vec!["uptime".to_owned(), uptime(node.uptime_us)],
        vec![
            "timings".to_owned(),
            format!(
                "keepalive {}, warntime {}, deadtime {}, initdead {}",
                micros_u64(node.keepalive_us),
                micros_u64(node.warntime_us),
                micros_u64(node.deadtime_us),
                micros_u64(node.initdead_us),
            ),
        ],
        vec![
            "keepalives".to_owned(),
            format!(
                "{} rounds late (worst {} late), {} rounds skipped",
                node.late_sends,
                micros_u64(node.worst_send_lateness_us),
                node.skipped_sends,
            ),
        ],
        vec!["backup sender".to_owned(), backup_sender(&node.backup)],
        vec!["io backend".to_owned(), backend],
        vec!["io".to_owned(), io.describe.clone()],
        vec![
            "io counters".to_owned(),
            format!(
                "{} datagrams, {} serial bytes, {} link errors",
                io.datagrams, io.serial_bytes, io.link_errors
            ),
        ],
        vec![
            "event ring".to_owned(),
            format!("{} overflows", snapshot.ring_overflows),
        ],
    ];
    table(out, None, &rows, &[]);
}

fn backup_sender(b: &crate::engine::status::BackupSnapshot) -> String {
    let Some(core) = b.core else {
        return format!("none ({})", b.note);
    };
    let mut text = format!(
        "core {core}: covered {} hold-ups of the beat thread (longest {}) with {} rounds",
        b.episodes,
        micros_u64(b.longest_held_up_us),
        b.rounds
    );
    if b.gave_up > 0 {
        text.push_str(&format!(", gave up on {} (beat thread stuck)", b.gave_up));
    }
    if b.send_errors > 0 {
        text.push_str(&format!(", {} send errors", b.send_errors));
    }
    text
}

fn render_peers(out: &mut String, snapshot: &Snapshot) {
    out.push_str("Peers\n");
    if snapshot.peers.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let rows: Vec<Vec<String>> = snapshot
        .peers
        .iter()
        .map(|peer| {
            vec![
                peer.name.clone(),
                peer.status.clone(),
                peer.liveness.clone(),
                peer.generation
                    .map_or_else(|| "unknown".to_owned(), |g| g.to_string()),
                ago(peer.last_heard_us_ago),
            ]
        })
        .collect();
    table(
        out,
        Some(&["NAME", "STATUS", "LIVENESS", "GENERATION", "LAST HEARD"]),
        &rows,
        &[3],
    );

    out.push_str("\nLast heard per link\n");
    let mut rows = Vec::new();
    for peer in &snapshot.peers {
        for (index, heard) in peer.last_heard_us_ago_by_link.iter().enumerate() {
            let link = snapshot
                .links
                .iter()
                .find(|link| link.index == index)
                .map_or_else(|| format!("link {index}"), |link| link.label.clone());
            rows.push(vec![peer.name.clone(), link, ago(*heard)]);
        }
    }
    if rows.is_empty() {
        out.push_str("  none\n");
    } else {
        table(out, Some(&["PEER", "LINK", "LAST HEARD"]), &rows, &[]);
    }
}

fn render_links(out: &mut String, links: &[LinkSnapshot]) {
    out.push_str("Links\n");
    if links.is_empty() {
        out.push_str("  none\n");
        return;
    }
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|link| {
            vec![
                link.index.to_string(),
                link.label.clone(),
                format!("ha.cf:{}", link.line),
                link.state.clone(),
                link.frames_rx.to_string(),
                link.frames_tx.to_string(),
                loss(link.lost, link.frames_rx),
                link.reordered.to_string(),
                link.duplicates.to_string(),
                link.send_errors.to_string(),
            ]
        })
        .collect();
    table(
        out,
        Some(&[
            "#",
            "LINK",
            "FROM",
            "STATE",
            "FRAMES RX",
            "FRAMES TX",
            "LOST",
            "REORDERED",
            "DUPLICATES",
            "SEND ERRORS",
        ]),
        &rows,
        &[0, 4, 5, 6, 7, 8, 9],
    );

    out.push_str("\nLink timing\n");
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|link| {
            vec![
                link.index.to_string(),
                quantile(&link.rtt, link.rtt.p50_us),
                quantile(&link.rtt, link.rtt.p99_us),
                quantile(&link.rtt, link.rtt.p999_us),
                link.rtt.count.to_string(),
                quantile(&link.interarrival, link.interarrival.p50_us),
                quantile(&link.jitter, link.jitter.p99_us),
            ]
        })
        .collect();
    table(
        out,
        Some(&[
            "#",
            "RTT P50",
            "RTT P99",
            "RTT P99.9",
            "RTT SAMPLES",
            "INTER-ARRIVAL P50",
            "JITTER P99",
        ]),
        &rows,
        &[0, 1, 2, 3, 4, 5, 6],
    );

    out.push_str("\nDropped frames (auth failures, replays, ...)\n");
    let rows: Vec<Vec<String>> = links
        .iter()
        .flat_map(|link| {
            link.drops
                .iter()
                .filter(|(_, count)| *count > 0)
                .map(|(reason, count)| {
                    vec![link.index.to_string(), reason.clone(), count.to_string()]
                })
        })
        .collect();
    if rows.is_empty() {
        out.push_str("  none\n");
    } else {
        table(out, Some(&["#", "REASON", "FRAMES"]), &rows, &[0, 2]);
    }
}

/// Writes rows in columns two spaces apart, indented by two; the columns
/// listed in `right` are right-aligned (numbers).
fn table(out: &mut String, header: Option<&[&str]>, rows: &[Vec<String>], right: &[usize]) {
    let mut widths: Vec<usize> = Vec::new();
    let mut widen = |cells: &mut dyn Iterator<Item = usize>| {
        for (col, width) in cells.enumerate() {
            match widths.get_mut(col) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    };
    if let Some(header) = header {
        widen(&mut header.iter().map(|h| h.chars().count()));
    }
    for row in rows {
        widen(&mut row.iter().map(|c| c.chars().count()));
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from("  ");
        for (col, cell) in cells.enumerate() {
            let width = widths.get(col).copied().unwrap_or(0);
            let pad = width.saturating_sub(cell.chars().count());
            if col > 0 {
                text.push_str("  ");
            }
            if right.contains(&col) {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    if let Some(header) = header {
        line(&mut header.iter().copied());
    }
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

/// A duration in µs with the unit that keeps it readable.
fn micros(us: f64) -> String {
    if !us.is_finite() {
        "-".to_owned()
    } else if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

fn micros_u64(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else {
        micros(us as f64)
    }
}

fn ago(us: Option<u64>) -> String {
    match us {
        Some(us) => format!("{} ago", micros_u64(us)),
        None => "never".to_owned(),
    }
}

fn quantile(histogram: &Percentiles, value_us: f64) -> String {
    if histogram.count == 0 {
        "no samples".to_owned()
    } else {
        micros(value_us)
    }
}

/// "3 (0.30 %)": lost frames and their share of the frames that should have come.
fn loss(lost: u64, received: u64) -> String {
    let expected = lost.saturating_add(received);
    if lost == 0 || expected == 0 {
        return lost.to_string();
    }
    format!("{lost} ({:.2} %)", lost as f64 * 100.0 / expected as f64)
}

fn uptime(us: u64) -> String {
    let total = us / 1_000_000;
    if total < 60 {
        return format!("{:.1} s", us as f64 / 1_000_000.0);
    }
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days} d {hours} h {minutes} min {seconds} s")
    } else if hours > 0 {
        format!("{hours} h {minutes} min {seconds} s")
    } else {
        format!("{minutes} min {seconds} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_carry_units() {
        assert_eq!(micros(38.25), "38.2 µs");
        assert_eq!(micros(1_500.0), "1.50 ms");
        assert_eq!(micros(2_500_000.0), "2.50 s");
        assert_eq!(micros(f64::NAN), "-");
        assert_eq!(micros_u64(999), "999 µs");
        assert_eq!(ago(None), "never");
        assert_eq!(ago(Some(42)), "42 µs ago");
    }

    #[test]
    fn uptime_reads_like_a_clock() {
        assert_eq!(uptime(12_300_000), "12.3 s");
        assert_eq!(uptime(3_723_000_000), "1 h 2 min 3 s");
        assert_eq!(uptime(90_061_000_000), "1 d 1 h 1 min 1 s");
    }

    #[test]
    fn loss_is_a_share_of_expected_frames() {
        assert_eq!(loss(0, 100), "0");
        assert_eq!(loss(1, 99), "1 (1.00 %)");
        assert_eq!(loss(5, 0), "5 (100.00 %)");
    }

    #[test]
    fn table_aligns_columns() {
        let mut out = String::new();
        let rows = vec![
            vec!["a".to_owned(), "1".to_owned()],
            vec!["long µ".to_owned(), "100".to_owned()],
        ];
        table(&mut out, Some(&["NAME", "N"]), &rows, &[1]);
        assert_eq!(out, "  NAME      N\n  a         1\n  long µ  100\n");
    }
}
