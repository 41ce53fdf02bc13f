//! What a latency run prints and writes: the live progress line, the final
//! percentile table, and the `.hgrm` percentile distribution file.
//!
//! Pure formatting over histograms and counters; the caller owns the
//! writer (a file, stderr, a `Vec` in tests).

use std::fmt::Write as _;
use std::io;

use hdrhistogram::Histogram;

use super::stats::{Counts, Tracker};
use crate::time::{NANOS_PER_MICRO, NANOS_PER_SEC, Nanos};

/// The quantiles of the final table, in order.
pub const TABLE_QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

/// One histogram's summary, ns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    /// Values at [`TABLE_QUANTILES`], in order.
    pub quantiles: [u64; 5],
    pub max: u64,
    pub mean: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let mut quantiles = [0u64; 5];
        for (slot, (_, q)) in quantiles.iter_mut().zip(TABLE_QUANTILES) {
            *slot = h.value_at_quantile(q);
        }
        Self {
            count: h.len(),
            quantiles,
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// The outcome of a run, as printed at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// What was measured ("udp 127.0.0.1:7900, 64 B at 10000 Hz, io_uring").
    pub what: String,
    pub elapsed: Nanos,
    pub counts: Counts,
    pub rtt: Summary,
    pub jitter_forward: Summary,
    pub jitter_backward: Summary,
    /// RFC 3550 smoothed jitter at the end, forwards and backwards, ns.
    pub rfc3550: (f64, f64),
    /// Kernel errors on the link during the run (ECONNREFUSED, EAGAIN, ...).
    pub link_errors: u64,
    /// The last of them, as text.
    pub last_link_error: Option<String>,
}

impl RunReport {
    pub fn new(what: String, elapsed: Nanos, tracker: &Tracker, link_errors: u64) -> Self {
        Self {
            what,
            elapsed,
            counts: tracker.counts(),
            rtt: Summary::of(tracker.rtt()),
            jitter_forward: Summary::of(tracker.jitter_forward()),
            jitter_backward: Summary::of(tracker.jitter_backward()),
            rfc3550: tracker.rfc3550_jitter(),
            link_errors,
            last_link_error: None,
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / NANOS_PER_MICRO as f64
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The final table: one row per histogram, µs.
pub fn render_table(r: &RunReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", r.what);
    let _ = write!(out, "{:<18}{:>9}", "µs", "count");
    for (name, _) in TABLE_QUANTILES {
        let _ = write!(out, "{name:>10}");
    }
    let _ = writeln!(out, "{:>10}{:>10}", "max", "mean");
    for (name, s) in [
        ("rtt", &r.rtt),
        ("jitter →", &r.jitter_forward),
        ("jitter ←", &r.jitter_backward),
    ] {
        let _ = write!(out, "{name:<18}{:>9}", s.count);
        for v in s.quantiles {
            let _ = write!(out, "{:>10.1}", us(v));
        }
        let _ = writeln!(out, "{:>10.1}{:>10.1}", us(s.max), s.mean / 1_000.0);
    }
    let c = &r.counts;
    let secs = r.elapsed as f64 / NANOS_PER_SEC as f64;
    let _ = writeln!(
        out,
        "sent {} in {:.2} s ({:.0}/s), received {}, lost {} ({:.3}%), reordered {}, duplicates {}, stale {}, foreign {}, link errors {}{}",
        c.sent,
        secs,
        if secs > 0.0 {
            c.sent as f64 / secs
        } else {
            0.0
        },
        c.received,
        c.lost(),
        percent(c.lost(), c.sent),
        c.reordered,
        c.duplicates,
        c.stale,
        c.foreign,
        r.link_errors,
        r.last_link_error
            .as_deref()
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default(),
    );
    let _ = writeln!(
        out,
        "RFC 3550 jitter: → {:.1} µs, ← {:.1} µs",
        r.rfc3550.0 / 1_000.0,
        r.rfc3550.1 / 1_000.0
    );
    out
}

/// The once-a-second progress line: totals so far and the last interval's
/// RTT percentiles (what the link does now, not averaged over the run).
pub fn progress_line(elapsed: Nanos, tracker: &Tracker, sent_in_interval: u64) -> String {
    let c = tracker.counts();
    let (rtt, _) = tracker.interval();
    let (p50, p99) = if rtt.is_empty() {
        (0, 0)
    } else {
        (rtt.value_at_quantile(0.5), rtt.value_at_quantile(0.99))
    };
    format!(
        "{:>6.1} s  sent {} ({}/s)  received {}  lost {}  reordered {}  rtt p50 {:.1} µs  p99 {:.1} µs",
        elapsed as f64 / NANOS_PER_SEC as f64,
        c.sent,
        sent_in_interval,
        c.received,
        tracker.gaps(),
        c.reordered,
        us(p50),
        us(p99),
    )
}

/// Sub-buckets per bucket for `sigfig` (as HdrHistogram sizes them), for
/// the `.hgrm` footer.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let single_unit = 2 * 10u64.pow(u32::from(sigfig));
    single_unit.next_power_of_two()
}

/// Writes `h` as HdrHistogram's percentile distribution (`.hgrm`, as Java's
/// `outputPercentileDistribution` prints it and the HdrHistogram plotter
/// reads it): columns Value, Percentile, TotalCount, 1/(1-Percentile),
/// values divided by `unit_ratio` (1000.0 turns ns into µs), five steps per
/// halving of the remaining distance to 100%.
pub fn write_hgrm(h: &Histogram<u64>, unit_ratio: f64, out: &mut impl io::Write) -> io::Result<()> {
    let ratio = if unit_ratio > 0.0 { unit_ratio } else { 1.0 };
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:>12.3} {q:>2.12} {total:>10}")?;
            }
        }
    }
    writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / ratio,
        h.stdev() / ratio
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / ratio,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::stats::new_histogram;

    #[test]
    fn summary_reads_the_quantiles_in_table_order() {
        let mut h = new_histogram().unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 1_000).unwrap();
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 10_000);
        assert!(h.equivalent(s.quantiles[0], 5_000_000));
        assert!(h.equivalent(s.quantiles[1], 9_000_000));
        assert!(h.equivalent(s.quantiles[4], 9_999_000));
        assert!(s.quantiles.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(Summary::of(&new_histogram().unwrap()), Summary::default());
    }

    #[test]
    fn hgrm_rows_climb_to_the_total_and_the_footer_has_the_count() {
        let mut h = new_histogram().unwrap();
        for v in 1..=1_000u64 {
            h.record(v * 100).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&h, 1_000.0, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 20);
        assert!(
            rows.windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1])
        );
        let last = rows.last().unwrap();
        assert_eq!((last.len(), last[1], last[2]), (3, 1.0, 1_000.0));
        assert!((last[0] - 100.0).abs() < 0.1, "max 100 µs, got {}", last[0]);
        assert!(text.contains("Total count    =         1000]"));
        assert!(text.contains("SubBuckets     =         2048]"));
    }

    #[test]
    fn the_table_reports_loss_and_every_row() {
        let mut t = Tracker::new(1).unwrap();
        t.on_sent();
        t.on_sent();
        let r = RunReport::new("udp test".into(), NANOS_PER_SEC, &t, 0);
        let text = render_table(&r);
        assert!(text.contains("lost 2 (100.000%)"), "{text}");
        for row in ["rtt", "jitter →", "jitter ←", "p99.99"] {
            assert!(text.contains(row), "{row} in {text}");
        }
    }
}
