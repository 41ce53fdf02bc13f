//! The `twinbeat` command line: parses arguments and hands off to the
//! library. Errors end here, as `anyhow` reports with their causes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use twinbeat::config;

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
    /// Show the embedded two-node demo pair (alpha and bravo on loopback UDP
    /// and a pty pair) and its effective configuration.
    Demo {
        /// Keep the demo's files here instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        workdir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("twinbeat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TWINBEAT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::CheckConfig { dir, node } => {
            let node = match node {
                Some(n) => n,
                None => twinbeat::host::node_name().context("reading this host's name")?,
            };
            Ok(check_config(&dir, &node))
        }
        Command::Demo { workdir } => demo(workdir),
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
    let tmp;
    let root = match workdir {
        Some(d) => d,
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
    let cable = twinbeat::pty::PtyCable::open()
        .context("opening the pty pair that stands in for a serial cable")?;
    let ends = cable.ends();
    let nodes = twinbeat::demo::write_configs(&root, [Some(ends[0]), Some(ends[1])])
        .with_context(|| format!("writing demo configuration under {}", root.display()))?;
    println!(
        "twinbeat demo: two nodes on loopback UDP and a pty serial pair ({} <-> {})",
        ends[0].display(),
        ends[1].display()
    );
    let mut code = ExitCode::SUCCESS;
    for n in &nodes {
        println!(
            "\n=== node {} (config in {}) ===",
            n.name,
            n.config_dir.display()
        );
        if check_config(&n.config_dir, n.name) != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    println!(
        "\n(the beat engine arrives with `twinbeat run`; this demo shows the configuration it will run)"
    );
    Ok(code)
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("twinbeat-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
