//! The `twinbeat` command line: parses arguments and hands off to the
//! library. Errors end here, as `anyhow` reports with their causes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use twinbeat::config;
use twinbeat::engine::daemon::{self, RunOptions};
use twinbeat::engine::io::BackendKind;

mod latency_cli;

/// twinbeat: a high-availability heartbeat engine for a pair of servers.
///
/// Reads Linux-HA Heartbeat's own configuration (ha.cf, authkeys,
/// haresources), sends keepalives to the peer over every UDP and serial link
/// in parallel, and takes over the peer's resource groups when it falls
/// silent on every link for `deadtime`.
#[derive(Parser, Debug)]
#[command(name = "twinbeat", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the effective configuration, as NODE would run it, with every
    /// default filled in.
    ///
    /// Reads ha.cf, authkeys and haresources from DIR. On error, prints
    /// `FILE:LINE: what is wrong` for every error found (not only the first)
    /// and exits with status 1. Warnings (directives twinbeat accepts but does
    /// not act on, deprecated settings) are printed to stderr either way.
    #[command(name = "check-config")]
    CheckConfig {
        /// Directory holding ha.cf, authkeys and haresources.
        #[arg(long, value_name = "DIR", default_value = "/etc/ha.d")]
        dir: PathBuf,
        /// Node name to check as; must be one of ha.cf's `node` names.
        /// Defaults to this host's name (`uname -n`).
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
    },
    /// Run the heartbeat daemon until SIGTERM or SIGINT.
    ///
    /// Reads the configuration (the same checks as check-config), takes a new
    /// generation number (kept in the state dir, fsync'd), opens every link in
    /// ha.cf and sends keepalives on all of them from one pinned thread. The
    /// detector's events go to the takeover process through a shared-memory
    /// ring. SIGHUP re-reads authkeys (new keys take effect at once) and
    /// reports what in ha.cf would need a restart.
    Run {
        /// Directory holding ha.cf, authkeys and haresources.
        #[arg(long, value_name = "DIR", default_value = "/etc/ha.d")]
        dir: PathBuf,
        /// This node's name; one of ha.cf's `node` names. Default: `uname -n`.
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
        /// Where the generation number is kept (overrides ha.cf's state_dir,
        /// default /var/lib/twinbeat).
        #[arg(long, value_name = "D")]
        state_dir: Option<PathBuf>,
        /// Where the control socket, pid file and event ring live (overrides
        /// ha.cf's run_dir, default /run/twinbeat).
        #[arg(long, value_name = "D")]
        run_dir: Option<PathBuf>,
        /// I/O backend: io_uring, the epoll fallback, or auto (io_uring where
        /// the kernel allows it; the reason is logged when it does not).
        #[arg(long, value_name = "KIND", default_value = "auto", value_parser = ["auto", "uring", "poll"])]
        io: String,
        /// Do not start the takeover process (measure the beat path alone).
        #[arg(long)]
        no_agent: bool,
    },
    /// Show a running daemon's status: this node, its peer, every link
    /// (up/down, frames, loss, RTT and jitter percentiles, drops by reason)
    /// and the io backend in use.
    Status {
        /// The daemon's run dir (where its control socket lives).
        #[arg(long, value_name = "D", default_value = "/run/twinbeat")]
        run_dir: PathBuf,
        /// Print the full status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Heartbeat's cl_status: hbstatus, listnodes, nodestatus NODE,
    /// listhblinks NODE, hblinkstatus NODE LINK, with Heartbeat's output and
    /// exit codes (0 ok, 1 normal failure, 11 bad parameters, 12 timeout,
    /// 13 unknown error). `twinbeat cl_status help` lists them.
    #[command(name = "cl_status")]
    ClStatus {
        /// The daemon's run dir (where its control socket lives).
        #[arg(long, value_name = "D", default_value = "/run/twinbeat")]
        run_dir: PathBuf,
        /// The cl_status subcommand and its arguments.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "SUBCOMMAND"
        )]
        args: Vec<String>,
    },
    /// Heartbeat's hb_standby: give resource groups to the peer.
    ///
    /// `all` (the default) gives every group this node holds; `local` the
    /// groups whose home (first word of the haresources line) is this node;
    /// `foreign` the groups whose home is the peer. The node then declines
    /// those groups while the peer can run them. Answers once the peer
    /// acknowledged the offer ("acknowledged by both nodes"); exits 1 when
    /// the request is refused (e.g. the peer is not up, or auto_failback is
    /// legacy) or the peer, the takeover process or the daemon did not
    /// answer in time (the error names which).
    Standby {
        /// all, local or foreign.
        #[arg(value_enum, default_value = "all")]
        scope: CliScope,
        /// The daemon's run dir (where its control socket lives).
        #[arg(long, value_name = "D", default_value = "/run/twinbeat")]
        run_dir: PathBuf,
    },
    /// Heartbeat's hb_takeover: take resource groups from the peer.
    ///
    /// `all` (the default) asks for every group; `local` for the groups
    /// whose home is this node; `foreign` for the groups whose home is the
    /// peer. The peer stops them and this node starts them; groups nobody
    /// holds are started at once. Answers once the peer acknowledged the
    /// request; exits 1 on refusal or when nothing answered in time.
    Takeover {
        /// all, local or foreign.
        #[arg(value_enum, default_value = "all")]
        scope: CliScope,
        /// The daemon's run dir (where its control socket lives).
        #[arg(long, value_name = "D", default_value = "/run/twinbeat")]
        run_dir: PathBuf,
    },
    /// Clear this node's unclean mark.
    ///
    /// A resource that would not stop leaves the node unclean: it claims no
    /// group (and the peer does not start the group while this node may
    /// still run it) until an operator has made sure the resource is gone
    /// and runs this command. Failed starts are forgotten too.
    #[command(name = "clear-unclean")]
    ClearUnclean {
        /// The daemon's run dir (where its control socket lives).
        #[arg(long, value_name = "D", default_value = "/run/twinbeat")]
        run_dir: PathBuf,
    },
    /// The takeover process. Started and supervised by `twinbeat run`, which
    /// hands it the event ring; not meant to be run by hand.
    #[command(hide = true)]
    Agent {
        #[arg(long, value_name = "DIR", default_value = "/etc/ha.d")]
        dir: PathBuf,
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
        #[arg(long, value_name = "D")]
        run_dir: PathBuf,
    },
    /// Run the embedded two-node pair live: alpha and bravo on loopback UDP
    /// and a pty serial cable; show their links and RTT, kill -9 alpha and
    /// time how long bravo takes to declare it dead, then bring alpha back.
    Demo {
        /// Keep the demo's files here instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        workdir: Option<PathBuf>,
    },
    /// Link latency benchmarking: `reflect` on one host, `send` from the
    /// other (UDP or serial; RTT, one-way jitter, loss, reordering), or
    /// `daemon` to read a running daemon's per-link figures.
    #[command(subcommand)]
    Latency(latency_cli::LatencyCommand),
}

/// Which groups a standby / takeover is about.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CliScope {
    All,
    Local,
    Foreign,
}

impl From<CliScope> for twinbeat::control::Scope {
    fn from(s: CliScope) -> Self {
        match s {
            CliScope::All => Self::All,
            CliScope::Local => Self::Local,
            CliScope::Foreign => Self::Foreign,
        }
    }
}

fn main() -> ExitCode {
    let log_writer = init_logging();
    let cli = Cli::parse();
    let result = run(cli);
    // Every queued log line is out before the error (or the exit).
    if let Some(writer) = log_writer {
        // A stuck stderr takes no last word either: writing one would block
        // the exit.
        let finished = writer.finish();
        if finished.dropped > 0 && finished.written_out {
            eprintln!(
                "twinbeat: {} log lines were dropped: stderr did not take them as fast as \
                 they came",
                finished.dropped
            );
        }
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("twinbeat: {}", error_report(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: library errors often carry
/// their cause's text already, and repeating it helps nobody.
fn error_report(e: &anyhow::Error) -> String {
    let mut report = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !report.contains(&text) {
            report.push_str(": ");
            report.push_str(&text);
        }
    }
    report
}

/// Logs go to stderr through [`twinbeat::logging`]: formatted by the
/// thread that logs, written by a thread at normal priority. Started here,
/// before any thread turns realtime.
fn init_logging() -> Option<twinbeat::logging::LogWriter> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = EnvFilter::try_from_env("TWINBEAT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let started =
        twinbeat::logging::start(std::io::stderr(), twinbeat::logging::DEFAULT_QUEUE_LINES);
    let (make_writer, log_writer, refused) = match started {
        Ok((queue, writer)) => (BoxMakeWriter::new(queue), Some(writer), None),
        // No thread to be had: write from the logging thread itself.
        Err(e) => (BoxMakeWriter::new(std::io::stderr), None, Some(e)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make_writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(e) = refused {
        tracing::warn!("no log writer thread ({e}): log lines are written where they are logged");
    }
    log_writer
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { dir, node } => {
            let node = node_or_host(node)?;
            Ok(check_config(&dir, &node))
        }
        Command::Run {
            dir,
            node,
            state_dir,
            run_dir,
            io,
            no_agent,
        } => {
            let node = node_or_host(node)?;
            let io = match io.as_str() {
                "uring" => BackendKind::Uring,
                "poll" => BackendKind::Poll,
                _ => BackendKind::Auto,
            };
            daemon::run(RunOptions {
                dir,
                node,
                state_dir,
                run_dir,
                io,
                no_agent,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { run_dir, json } => {
            print!("{}", twinbeat::control::status_command(&run_dir, json)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::ClStatus { run_dir, args } => {
            let out = twinbeat::control::cl_status::cl_status_command(&run_dir, &args);
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            Ok(ExitCode::from(u8::try_from(out.exit).unwrap_or(13)))
        }
        Command::Standby { scope, run_dir } => operator(
            &run_dir,
            &twinbeat::control::Request::Standby {
                scope: scope.into(),
            },
        ),
        Command::Takeover { scope, run_dir } => operator(
            &run_dir,
            &twinbeat::control::Request::Takeover {
                scope: scope.into(),
            },
        ),
        Command::ClearUnclean { run_dir } => {
            operator(&run_dir, &twinbeat::control::Request::ClearUnclean)
        }
        Command::Agent { dir, node, run_dir } => {
            let node = node_or_host(node)?;
            twinbeat::takeover::run_agent(&twinbeat::takeover::AgentOptions {
                dir,
                node,
                run_dir,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { workdir } => demo(workdir),
        Command::Latency(command) => latency_cli::run(command),
    }
}

/// Sends an operator request; prints what was done, or the error (exit 1).
fn operator(
    run_dir: &std::path::Path,
    request: &twinbeat::control::Request,
) -> anyhow::Result<ExitCode> {
    let text = twinbeat::control::operator_command(run_dir, request)
        .with_context(|| format!("{} not done", request.name()))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn node_or_host(node: Option<String>) -> anyhow::Result<String> {
    match node {
        Some(n) => Ok(n),
        None => twinbeat::host::node_name().context("reading this host's name"),
    }
}

/// Prints the effective config (stdout) and warnings (stderr); on errors
/// prints them all and returns 1.
fn check_config(dir: &std::path::Path, node: &str) -> ExitCode {
    match config::load_dir(dir, node) {
        Ok(cfg) => {
            for w in cfg.warnings.iter() {
                eprintln!("{w}");
            }
            print!("{}", config::render_effective(&cfg));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(workdir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let root = match workdir {
        Some(d) => d,
        None => tempdir()?,
    };
    let exe = std::env::current_exe().context("locating the twinbeat binary")?;
    twinbeat::demo::live::run(&exe, &root, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("twinbeat-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
