//! `twinbeat latency`: link latency benchmarking for users.
//!
//! One side reflects ([`session::reflect`]), the other sends probes at a
//! fixed rate and size ([`session::send`]) over UDP or a serial line, on the
//! daemon's own io backends (io_uring or epoll) and framing (COBS on
//! serial), and reports RTT, one-way jitter, loss, reordering and
//! duplicates with HdrHistogram. [`daemon_view`] reads the live per-link
//! figures of a running daemon instead.
//!
//! - [`probe`]: the probe on the wire and the reflector's in-place answer
//!   (sans-IO).
//! - [`stats`]: the sender's bookkeeping, RTT and jitter histograms
//!   (sans-IO).
//! - [`report`]: the progress line, the final table, the `.hgrm` file.
//! - [`session`]: the I/O: links, backends, pacing, the interval log.
//! - [`daemon_view`]: a running daemon's links as a latency table.
//!
//! This module owns its options and their checks ([`SendOptions::check`]):
//! a bad argument is an error that says what is wrong, never a panic.

pub mod daemon_view;
pub mod probe;
pub mod report;
pub mod session;
pub mod stats;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use thiserror::Error;

use crate::engine::io::{BackendKind, MAX_DATAGRAM, OpenBackendError, SendError};
use crate::engine::links::LinkError;
use crate::time::{NANOS_PER_SEC, Nanos};
use crate::wire::frame::MAX_FRAME_LEN;

/// The highest probe rate accepted (one probe per µs).
pub const MAX_RATE_HZ: u32 = 1_000_000;
/// The most probes one run may send (the duplicate window and counters are
/// sized for far more; this bounds a typo like `--count 1e12`).
pub const MAX_PROBES: u64 = 10_000_000_000;

/// The medium a run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// UDP: the reflector's address (send) or the address to listen on
    /// (reflect).
    Udp(SocketAddr),
    /// A serial device (or pty), raw 8N1 at `baud`.
    Serial { path: PathBuf, baud: u32 },
}

impl Medium {
    /// The largest probe this medium carries: a datagram the backends take,
    /// or a frame the serial deframer collects.
    pub fn max_probe_len(&self) -> usize {
        match self {
            Medium::Udp(_) => MAX_DATAGRAM,
            Medium::Serial { .. } => MAX_FRAME_LEN,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Medium::Udp(addr) => format!("udp {addr}"),
            Medium::Serial { path, baud } => format!("serial {} {baud} baud", path.display()),
        }
    }
}

/// What `twinbeat latency send` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOptions {
    pub medium: Medium,
    /// Local UDP address to send from (default: any address, any port).
    pub bind: Option<SocketAddr>,
    pub rate_hz: u32,
    /// Bytes per probe (UDP payload or serial frame before COBS), at least
    /// [`probe::HEADER_LEN`].
    pub size: usize,
    /// How many probes to send.
    pub probes: u64,
    pub io: BackendKind,
    /// Core to pin the sending thread to.
    pub core: Option<usize>,
    pub interval_log: Option<PathBuf>,
    pub percentiles: Option<PathBuf>,
    /// How long to wait for late replies after the last probe.
    pub grace: Nanos,
    /// How long to wait for the reflector to answer the first hello.
    pub connect_timeout: Nanos,
}

/// What `twinbeat latency reflect` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ReflectOptions {
    pub medium: Medium,
    pub io: BackendKind,
    pub core: Option<usize>,
    /// Drop every Nth probe instead of answering it (to test loss reporting).
    pub drop_every: Option<u64>,
    /// Exit after the first session ends instead of waiting for the next.
    pub once: bool,
    /// A UDP session with no traffic for this long ends (a sender killed
    /// before its goodbye).
    pub idle_timeout: Nanos,
}

/// Why a latency run could not be done.
#[derive(Debug, Error)]
pub enum LatencyError {
    #[error("{0}")]
    BadArgument(String),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Backend(#[from] OpenBackendError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "no reflector answered at {target} within {} s (is `twinbeat latency reflect` running there?)",
        *timeout as f64 / NANOS_PER_SEC as f64
    )]
    NoReflector { target: String, timeout: Nanos },
    #[error("sending a probe: {0}")]
    Send(#[from] SendError),
    #[error("writing the interval log: {0}")]
    IntervalLog(String),
    #[error("could not pin to core {core}: {why}")]
    Pin { core: usize, why: String },
    #[error("creating a histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
}

impl LatencyError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> LatencyError {
        let what = what.into();
        move |source| LatencyError::Io { what, source }
    }
}

/// Probes in `seconds` at `rate_hz`, refusing what is not a positive,
/// finite, reasonable duration.
pub fn probes_for(rate_hz: u32, seconds: f64) -> Result<u64, LatencyError> {
    if rate_hz == 0 || rate_hz > MAX_RATE_HZ {
        return Err(LatencyError::BadArgument(format!(
            "--rate {rate_hz} Hz is out of range (1 to {MAX_RATE_HZ})"
        )));
    }
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(LatencyError::BadArgument(format!(
            "--duration must be a positive number of seconds, not {seconds}"
        )));
    }
    let n = (f64::from(rate_hz) * seconds).round();
    if n < 1.0 || n > MAX_PROBES as f64 {
        return Err(LatencyError::BadArgument(format!(
            "--duration {seconds} s at {rate_hz} Hz is {n} probes; between 1 and {MAX_PROBES} are allowed"
        )));
    }
    Ok(n as u64)
}

impl SendOptions {
    /// Refuses options that cannot make a run, with what is wrong.
    pub fn check(&self) -> Result<(), LatencyError> {
        let bad = |s: String| Err(LatencyError::BadArgument(s));
        if self.rate_hz == 0 || self.rate_hz > MAX_RATE_HZ {
            return bad(format!(
                "--rate {} Hz is out of range (1 to {MAX_RATE_HZ})",
                self.rate_hz
            ));
        }
        let max = self.medium.max_probe_len();
        if self.size < probe::HEADER_LEN || self.size > max {
            return bad(format!(
                "--size {} is out of range for {}: a probe takes {} to {max} bytes",
                self.size,
                self.medium.label(),
                probe::HEADER_LEN
            ));
        }
        if self.probes == 0 || self.probes > MAX_PROBES {
            return bad(format!(
                "--count {} is out of range (1 to {MAX_PROBES})",
                self.probes
            ));
        }
        if let Medium::Serial { baud: 0, .. } = self.medium {
            return bad("--baud must be positive".into());
        }
        if self.bind.is_some() && !matches!(self.medium, Medium::Udp(_)) {
            return bad("--bind applies to --udp only".into());
        }
        Ok(())
    }

    /// Things that will make the figures meaningless without being errors:
    /// a serial line asked to carry more than its baud rate allows.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Medium::Serial { baud, .. } = self.medium {
            let framed = crate::wire::serial::max_framed_len(self.size) as u64;
            let bits_per_second = u64::from(self.rate_hz) * framed * 10;
            if bits_per_second > u64::from(baud) {
                out.push(format!(
                    "{} Hz × {framed} bytes needs {bits_per_second} baud at 8N1, more than {baud}: a real line will queue and drop (a pty has no such limit)",
                    self.rate_hz
                ));
            }
        }
        out
    }
}

impl ReflectOptions {
    pub fn check(&self) -> Result<(), LatencyError> {
        if self.drop_every == Some(0) {
            return Err(LatencyError::BadArgument(
                "--drop-every must be at least 1".into(),
            ));
        }
        if let Medium::Serial { baud: 0, .. } = self.medium {
            return Err(LatencyError::BadArgument("--baud must be positive".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> SendOptions {
        SendOptions {
            medium: Medium::Udp("127.0.0.1:7900".parse().unwrap()),
            bind: None,
            rate_hz: 1000,
            size: 64,
            probes: 100,
            io: BackendKind::Auto,
            core: None,
            interval_log: None,
            percentiles: None,
            grace: NANOS_PER_SEC,
            connect_timeout: NANOS_PER_SEC,
        }
    }

    #[test]
    fn sound_options_pass_and_each_bad_one_is_named() {
        assert!(options().check().is_ok());
        type Spoil = fn(&mut SendOptions);
        let cases: [(Spoil, &str); 6] = [
            (|o| o.rate_hz = 0, "--rate"),
            (|o| o.rate_hz = MAX_RATE_HZ + 1, "--rate"),
            (|o| o.size = probe::HEADER_LEN - 1, "--size"),
            (|o| o.size = MAX_DATAGRAM + 1, "--size"),
            (|o| o.probes = 0, "--count"),
            (
                |o| {
                    o.medium = Medium::Serial {
                        path: "/dev/ttyS0".into(),
                        baud: 115_200,
                    };
                    o.size = MAX_FRAME_LEN + 1;
                },
                "--size",
            ),
        ];
        for (spoil, flag) in cases {
            let mut o = options();
            spoil(&mut o);
            let e = o.check().unwrap_err().to_string();
            assert!(e.contains(flag), "{e} should name {flag}");
        }
    }

    #[test]
    fn durations_become_probe_counts_and_nonsense_is_refused() {
        assert_eq!(probes_for(10_000, 10.0).unwrap(), 100_000);
        assert_eq!(probes_for(1_000, 0.0015).unwrap(), 2);
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 1e12] {
            assert!(probes_for(1_000, s).is_err(), "{s}");
        }
    }

    #[test]
    fn a_serial_line_too_slow_for_the_rate_is_warned_about() {
        let mut o = options();
        o.medium = Medium::Serial {
            path: "/dev/ttyS0".into(),
            baud: 115_200,
        };
        assert_eq!(o.warnings().len(), 1, "1 kHz × 66 B needs 660 kbaud");
        o.rate_hz = 100;
        assert!(o.warnings().is_empty());
    }
}
