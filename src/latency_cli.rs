//! The `twinbeat latency` command line: arguments to [`twinbeat::latency`]
//! options, results to stdout, progress and errors to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use twinbeat::engine::io::BackendKind;
use twinbeat::latency::{self, Medium, ReflectOptions, SendOptions, session};
use twinbeat::time::{NANOS_PER_MILLI, NANOS_PER_SEC};

#[derive(Subcommand, Debug)]
pub enum LatencyCommand {
    /// Answer probes from `twinbeat latency send` (run this on the far host
    /// first). Over UDP it listens on ADDR:PORT and serves one sender at a
    /// time; over serial it answers on the line.
    Reflect {
        #[command(flatten)]
        medium: MediumArgs,
        #[command(flatten)]
        engine: EngineArgs,
        /// Drop every Nth probe instead of answering it (tests loss reporting).
        #[arg(long, value_name = "N")]
        drop_every: Option<u64>,
        /// Exit when the first sender says goodbye.
        #[arg(long)]
        once: bool,
        /// End a UDP session after this many seconds without traffic.
        #[arg(long, value_name = "S", default_value_t = 5.0)]
        idle: f64,
    },
    /// Send probes to a reflector at a fixed rate and size; prints progress
    /// once a second on stderr and a percentile table of RTT and one-way
    /// jitter (p50/p90/p99/p99.9/p99.99/max), loss and reordering at the end.
    Send {
        #[command(flatten)]
        medium: MediumArgs,
        #[command(flatten)]
        engine: EngineArgs,
        /// Probes per second.
        #[arg(long, value_name = "HZ", default_value_t = 1000)]
        rate: u32,
        /// Bytes per probe: UDP payload or serial frame (44 at least).
        #[arg(long, value_name = "BYTES", default_value_t = 64)]
        size: usize,
        /// How long to send, in seconds (default 10).
        #[arg(long, value_name = "S", conflicts_with = "count")]
        duration: Option<f64>,
        /// How many probes to send (instead of --duration).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Send from this UDP address (default: any).
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<SocketAddr>,
        /// Write an HdrHistogram interval log (one RTT and one jitter
        /// histogram per second, tags rtt and jitter, ns).
        #[arg(long, value_name = "FILE")]
        interval_log: Option<PathBuf>,
        /// Write the RTT percentile distribution in HdrHistogram's .hgrm
        /// format (µs), ready for the HdrHistogram plotter.
        #[arg(long, value_name = "FILE")]
        percentiles: Option<PathBuf>,
        /// Seconds to wait for late replies after the last probe.
        #[arg(long, value_name = "S", default_value_t = 1.0)]
        grace: f64,
    },
    /// Show a running daemon's per-link RTT, jitter and interarrival
    /// percentiles, loss and reordering (from its control socket).
    Daemon {
        /// The daemon's run dir (where its control socket lives).
        #[arg(long, value_name = "D", default_value = "/run/twinbeat")]
        run_dir: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct MediumArgs {
    /// UDP: the reflector's address (send) or the address to listen on (reflect).
    #[arg(
        long,
        value_name = "ADDR:PORT",
        conflicts_with = "serial",
        required_unless_present = "serial"
    )]
    udp: Option<SocketAddr>,
    /// A serial device (or pty), raw 8N1.
    #[arg(long, value_name = "DEV")]
    serial: Option<PathBuf>,
    /// Baud rate of --serial.
    #[arg(long, value_name = "N", default_value_t = 115_200)]
    baud: u32,
}

#[derive(Args, Debug)]
pub struct EngineArgs {
    /// I/O backend, as the daemon's: io_uring, epoll, or auto.
    #[arg(long, value_name = "KIND", default_value = "auto", value_parser = ["auto", "uring", "poll"])]
    io: String,
    /// Pin to this core (default: not pinned).
    #[arg(long, value_name = "N")]
    core: Option<usize>,
    /// Hold a CPU wake-up latency request of US µs while measuring (PM QoS,
    /// /dev/cpu_dma_latency; 0 = idle CPUs poll instead of halting), as the
    /// daemon does with ha.cf's `cpu_latency`: measure with the setting the
    /// daemon will run with (default: no request).
    #[arg(long, value_name = "US")]
    cpu_latency: Option<u32>,
}

impl EngineArgs {
    /// The request, held until the returned value is dropped.
    fn hold_cpu_latency(
        &self,
    ) -> anyhow::Result<Option<twinbeat::engine::cpu_latency::CpuLatencyRequest>> {
        use twinbeat::engine::cpu_latency::{CpuLatencyRequest, DEVICE};
        let Some(us) = self.cpu_latency else {
            return Ok(None);
        };
        let held = CpuLatencyRequest::hold(std::time::Duration::from_micros(u64::from(us)))
            .map_err(|e| anyhow::anyhow!("--cpu-latency {us}: {DEVICE}: {e}"))?;
        eprintln!("twinbeat latency: CPU wake-ups held within {us} µs ({DEVICE}) while measuring");
        Ok(Some(held))
    }
}

impl MediumArgs {
    fn medium(self) -> anyhow::Result<Medium> {
        match (self.udp, self.serial) {
            (Some(addr), None) => Ok(Medium::Udp(addr)),
            (None, Some(path)) => Ok(Medium::Serial {
                path,
                baud: self.baud,
            }),
            _ => anyhow::bail!("give exactly one of --udp ADDR:PORT or --serial DEV"),
        }
    }
}

fn backend(io: &str) -> BackendKind {
    match io {
        "uring" => BackendKind::Uring,
        "poll" => BackendKind::Poll,
        _ => BackendKind::Auto,
    }
}

fn seconds(what: &str, s: f64) -> anyhow::Result<u64> {
    if !(0.0..=1e6).contains(&s) {
        anyhow::bail!("{what} must be a number of seconds between 0 and 1000000, not {s}");
    }
    Ok((s * NANOS_PER_SEC as f64) as u64)
}

pub fn run(command: LatencyCommand) -> anyhow::Result<ExitCode> {
    match command {
        LatencyCommand::Reflect {
            medium,
            engine,
            drop_every,
            once,
            idle,
        } => {
            let _cpu_latency = engine.hold_cpu_latency()?;
            let o = ReflectOptions {
                medium: medium.medium()?,
                io: backend(&engine.io),
                core: engine.core,
                drop_every,
                once,
                idle_timeout: seconds("--idle", idle)?,
            };
            session::reflect(&o, &mut std::io::stderr().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        LatencyCommand::Send {
            medium,
            engine,
            rate,
            size,
            duration,
            count,
            bind,
            interval_log,
            percentiles,
            grace,
        } => {
            let _cpu_latency = engine.hold_cpu_latency()?;
            let probes = match count {
                Some(n) => n,
                None => latency::probes_for(rate, duration.unwrap_or(10.0))?,
            };
            let o = SendOptions {
                medium: medium.medium()?,
                bind,
                rate_hz: rate,
                size,
                probes,
                io: backend(&engine.io),
                core: engine.core,
                interval_log,
                percentiles,
                grace: seconds("--grace", grace)?,
                connect_timeout: 5_000 * NANOS_PER_MILLI,
            };
            o.check()?;
            for w in o.warnings() {
                eprintln!("twinbeat latency: warning: {w}");
            }
            let (_, table) = session::send_and_render(&o)?;
            print!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        LatencyCommand::Daemon { run_dir } => {
            print!("{}", latency::daemon_view::daemon_command(&run_dir)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
