//! `twinbeat status`: the human view of a canned snapshot.

mod control_common;

use control_common::snapshot;
use twinbeat::control::render::render_status;

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
}

#[test]
fn node_section_names_state_generation_uptime_and_backend() {
    let text = render_status(&snapshot());
    assert!(text.starts_with("Node alpha\n"), "{text}");
    assert!(line_with(&text, "state").ends_with("active"));
    assert!(line_with(&text, "generation").ends_with(" 7"));
    assert!(line_with(&text, "uptime").ends_with("1 h 2 min 3 s"));
    assert!(
        line_with(&text, "io backend")
            .ends_with("epoll (io_uring not used: io_uring_setup: EPERM)")
    );
    assert!(line_with(&text, "timings").contains("keepalive 100 µs"));
}

#[test]
fn peers_show_state_and_last_heard_per_link() {
    let text = render_status(&snapshot());
    let beta = line_with(&text, "beta   active");
    assert!(
        beta.contains("alive") && beta.ends_with("42 µs ago"),
        "{beta}"
    );
    let gamma = line_with(&text, "gamma  dead");
    assert!(gamma.ends_with("never"), "{gamma}");
    assert!(line_with(&text, "beta   serial /dev/ttyS0").ends_with("1.50 ms ago"));
}

#[test]
fn links_show_counters_loss_latency_and_drops() {
    let text = render_status(&snapshot());
    let ucast = line_with(&text, "0  ucast eth0 10.0.0.2:694");
    for field in ["up", "997", "2000", "3 (0.30 %)"] {
        assert!(ucast.contains(field), "{field} missing in {ucast}");
    }
    let timing = text
        .lines()
        .skip_while(|line| *line != "Link timing")
        .nth(2)
        .unwrap();
    for field in ["38.2 µs", "61.5 µs", "1.25 ms", "17.5 µs", "100.4 µs"] {
        assert!(timing.contains(field), "{field} missing in {timing}");
    }
    assert!(line_with(&text, "bad_mac").ends_with(" 2"));
    // A reason that never happened is not listed.
    assert!(!text.contains("replay  "), "{text}");
    assert!(line_with(&text, "1  serial").contains("dead"));
}

#[test]
fn columns_are_aligned() {
    let text = render_status(&snapshot());
    let links: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != "Links")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .collect();
    assert_eq!(links.len(), 4, "{text}");
    // Right-aligned numbers: every row of the table has the same width.
    let widths: Vec<usize> = links.iter().map(|line| line.chars().count()).collect();
    assert!(
        widths.windows(2).all(|w| w[0] == w[1]),
        "{widths:?}\n{text}"
    );
    let state_col = links[0].find("STATE").unwrap();
    for row in &links[1..] {
        let cell = &row[state_col..];
        assert!(cell.starts_with("up") || cell.starts_with("dead"), "{row}");
    }
}

#[test]
fn empty_snapshot_renders_without_panicking() {
    let mut empty = snapshot();
    empty.peers.clear();
    empty.links.clear();
    let text = render_status(&empty);
    assert!(text.contains("Peers\n  none\n"), "{text}");
    assert!(text.contains("Links\n  none\n"), "{text}");
}
