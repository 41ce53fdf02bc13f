//! Heartbeat's `cl_status`, answered from a twinbeat daemon's snapshot:
//! `hbstatus`, `listnodes`, `nodestatus`, `listhblinks`, `hblinkstatus`,
//! with Heartbeat 3.0.6's output strings, options (`-m` for sentences,
//! `-v` verbose, `-p`/`-n` node filters) and exit codes, so scripts written
//! for Heartbeat keep working.
//!
//! [`run_cl_status`] is pure over a way to get the snapshot, so every
//! answer is testable with a canned one; [`cl_status_command`] connects.
//!
//! `rscstatus` prints what this node announces it holds (none, local,
//! foreign, all), from the hold state the takeover process sets.
//! Not provided: `clientstatus`, `nodeweight`, `nodesite`,
//! `nodetype`, `hbparameter`; they fail with exit 11 and say so.
//!
//! Where the snapshot decides what Heartbeat's API decided:
//! - The nodes are this node and its peers, sorted by name, then the ping
//!   nodes in ha.cf order: a `ping` node is named by its address, a
//!   `ping_group` by its name (as Heartbeat named them). A ping node's
//!   status is `ping` while it answers, `dead` after `deadping` of silence,
//!   `init` before it was judged.
//! - A link's name is what Heartbeat's `listhblinks` printed: the device for
//!   `ucast`/`bcast`/`mcast` (the peer address for a ucast without one), the
//!   tty path for `serial`. Its status (`up` / `dead`) is the link's, the
//!   same for every node (twinbeat runs pairs: one peer per link).
//! - Heartbeat logged errors through cl_log with a pid and a timestamp; here
//!   they read `cl_status: ERROR: <message>`, deterministic for scripts.

use std::fmt::Write as _;
use std::path::Path;

use super::{Client, ControlError};
use crate::engine::status::{LinkSnapshot, Snapshot};

pub const EXIT_OK: i32 = 0;
/// A "normal" failure: node or link not up, daemon not running.
pub const EXIT_NORMAL_FAIL: i32 = 1;
pub const EXIT_PARAMETER_ERROR: i32 = 11;
pub const EXIT_TIMEOUT: i32 = 12;
pub const EXIT_UNKNOWN_ERROR: i32 = 13;

/// What a `cl_status` run prints and how it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit: i32,
}

impl ClOutput {
    fn with_exit(mut self, exit: i32) -> Self {
        self.exit = exit;
        self
    }

    fn error(&mut self, message: &str) {
        let _ = writeln!(self.stderr, "cl_status: ERROR: {message}");
    }
}

/// The subcommands twinbeat answers, with the options Heartbeat accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    HbStatus,
    ListNodes,
    NodeStatus,
    ListHbLinks,
    HbLinkStatus,
    RscStatus,
}

impl Sub {
    fn parse(name: &str) -> Option<Sub> {
        Some(match name {
            "hbstatus" => Sub::HbStatus,
            "listnodes" => Sub::ListNodes,
            "nodestatus" => Sub::NodeStatus,
            "listhblinks" => Sub::ListHbLinks,
            "hblinkstatus" => Sub::HbLinkStatus,
            "rscstatus" => Sub::RscStatus,
            _ => return None,
        })
    }

    fn options(self) -> &'static str {
        match self {
            Sub::HbStatus | Sub::ListHbLinks => "mv",
            Sub::ListNodes => "mpnv",
            Sub::NodeStatus | Sub::HbLinkStatus | Sub::RscStatus => "m",
        }
    }
}

/// Heartbeat subcommands twinbeat knows of but does not answer.
const NOT_PROVIDED: &[(&str, &str)] = &[
    ("clientstatus", "twinbeat has no API clients"),
    ("nodeweight", "twinbeat nodes have no weight"),
    ("nodesite", "twinbeat nodes have no site"),
    (
        "nodetype",
        "nodes are \"normal\", ping nodes and groups \"ping\"",
    ),
    ("hbparameter", "use `twinbeat status --json`"),
];

const HELP: &str = "\
Usage: twinbeat cl_status [--run-dir D] <sub-command> [<options>] [<parameters>]

Heartbeat-compatible status queries against a running twinbeat daemon.

Sub-commands:
  hbstatus [-v] [-m]
      Whether the daemon runs on this machine (exit 0) or not (exit 1).
  listnodes [-p|-n] [-v] [-m]
      The cluster's nodes, one a line; -p ping nodes only, -n normal nodes
      only, -v with each node's status and links.
  nodestatus <node-name> [-m]
      init, up, active or dead (ping or dead for a ping node); exit 0 for
      up, active and ping.
  listhblinks <node-name> [-v] [-m]
      The node's heartbeat links (device or tty path); -v with their status.
  hblinkstatus <node-name> <link-name> [-m]
      up or dead; exit 0 for up.

  -m prints a sentence instead of a bare word.

Exit codes: 0 ok, 1 not running / not up, 11 bad parameters, 12 timeout,
13 other errors.
";

/// Options and positional parameters of one subcommand, getopt-style
/// (options may follow parameters; `--` ends options).
struct Parsed<'a> {
    flags: Vec<char>,
    params: Vec<&'a str>,
}

impl Parsed<'_> {
    fn has(&self, flag: char) -> bool {
        self.flags.contains(&flag)
    }
}

/// Returns the parsed arguments, or the output for a bad option.
fn parse_options<'a>(sub_name: &str, args: &'a [String], allowed: &str) -> (Parsed<'a>, ClOutput) {
    let mut parsed = Parsed {
        flags: Vec::new(),
        params: Vec::new(),
    };
    let mut out = ClOutput::default();
    let mut options_done = false;
    for arg in args {
        if !options_done && arg == "--" {
            options_done = true;
            continue;
        }
        match arg.strip_prefix('-') {
            Some(flags) if !options_done && !flags.is_empty() => {
                for flag in flags.chars() {
                    if allowed.contains(flag) {
                        parsed.flags.push(flag);
                    } else {
                        // What GNU getopt prints; the subcommand is its argv[0].
                        let _ = writeln!(out.stderr, "{sub_name}: invalid option -- '{flag}'");
                        out.exit = EXIT_PARAMETER_ERROR;
                    }
                }
            }
            _ => parsed.params.push(arg),
        }
    }
    (parsed, out)
}

/// Runs `cl_status` with `argv` (the words after `cl_status`), asking
/// `snapshot` for the daemon's state only when the subcommand needs it.
pub fn run_cl_status<F>(argv: &[String], snapshot: F) -> ClOutput
where
    F: FnOnce() -> Result<Snapshot, ControlError>,
{
    let Some((name, args)) = argv.split_first() else {
        return help();
    };
    if name == "-h" && args.is_empty() {
        return help();
    }
    let Some(sub) = Sub::parse(name) else {
        let mut out = ClOutput::default();
        match NOT_PROVIDED.iter().find(|(known, _)| known == name) {
            Some((_, why)) => out.error(&format!(
                "{name}: sub-command not provided by twinbeat ({why})."
            )),
            None => out.error(&format!("{name}: invalid sub-command.")),
        }
        return out.with_exit(EXIT_PARAMETER_ERROR);
    };

    let daemon = snapshot();
    let (parsed, mut out) = parse_options(name, args, sub.options());
    if sub == Sub::HbStatus {
        // Heartbeat's hbstatus ignored unknown options (getopt still
        // complained on stderr).
        out.exit = EXIT_OK;
        return hbstatus(&parsed, daemon, out);
    }
    let snapshot = match daemon {
        Ok(snapshot) => snapshot,
        Err(err) => return signon_failed(&err, ClOutput::default()),
    };
    if out.exit != EXIT_OK {
        return out;
    }
    let human = parsed.has('m');
    match sub {
        Sub::HbStatus => out,
        Sub::ListNodes => {
            // Both filters together mean no filter, as in Heartbeat.
            let list_normal = parsed.has('n') || !parsed.has('p');
            let list_ping = parsed.has('p') || !parsed.has('n');
            list_nodes(&snapshot, list_normal, parsed.has('v'), human, &mut out);
            if list_ping {
                for (name, status) in ping_nodes(&snapshot) {
                    if parsed.has('v') {
                        let _ = writeln!(out.stdout, "\n{name}\t{status}\t(nodetype: ping)");
                    } else {
                        let _ = writeln!(out.stdout, "{name}");
                    }
                }
            }
            out
        }
        Sub::NodeStatus => nodestatus(&snapshot, &parsed, out),
        Sub::ListHbLinks => listhblinks(&snapshot, &parsed, out),
        Sub::HbLinkStatus => hblinkstatus(&snapshot, &parsed, out),
        Sub::RscStatus => {
            // What this node announces in its keepalives: none, local
            // (its home groups), foreign (the peer's), all.
            let held = match snapshot.node.rscstatus.as_str() {
                "" => "none",
                s => s,
            };
            let _ = writeln!(out.stdout, "{held}");
            out
        }
    }
}

/// `cl_status` against the daemon using `run_dir`.
pub fn cl_status_command(run_dir: &Path, argv: &[String]) -> ClOutput {
    run_cl_status(argv, || Client::connect(run_dir)?.status())
}

fn help() -> ClOutput {
    ClOutput {
        stdout: HELP.to_owned(),
        ..ClOutput::default()
    }
}

fn signon_failed(err: &ControlError, mut out: ClOutput) -> ClOutput {
    if let ControlError::Timeout { .. } = err {
        // Heartbeat's cl_status died of SIGALRM with exit 12.
        out.error(&err.to_string());
        return out.with_exit(EXIT_TIMEOUT);
    }
    out.error("Cannot signon with heartbeat");
    out.error(&format!("REASON: {err}"));
    out.with_exit(EXIT_NORMAL_FAIL)
}

fn hbstatus(
    parsed: &Parsed,
    daemon: Result<Snapshot, ControlError>,
    mut out: ClOutput,
) -> ClOutput {
    let verbose = parsed.has('v');
    let human = parsed.has('m');
    let snapshot = match daemon {
        Ok(snapshot) => snapshot,
        Err(ControlError::NoDaemon { .. }) => {
            out.stdout
                .push_str("Heartbeat is stopped on this machine.\n");
            return out.with_exit(EXIT_NORMAL_FAIL);
        }
        Err(err @ ControlError::Timeout { .. }) => return signon_failed(&err, out),
        Err(err) => {
            // Something listens but does not answer properly.
            out.stdout.push_str(
                "Heartbeat is apparently running on this machine, but refuses my connection\n",
            );
            if verbose {
                let _ = writeln!(out.stdout, "({err})");
            }
            return out.with_exit(EXIT_OK);
        }
    };
    if !verbose {
        out.stdout
            .push_str("Heartbeat is running on this machine.\n");
        return out.with_exit(EXIT_OK);
    }
    let version = env!("CARGO_PKG_VERSION");
    if human {
        let _ = writeln!(out.stdout, "twinbeat version {version}");
        out.stdout
            .push_str("Resources controlled by \"haresources\"\n");
    } else {
        let _ = writeln!(out.stdout, "version:\t{version}");
        out.stdout.push_str("managed by:\t\"haresources\"\n");
    }
    list_nodes(&snapshot, true, true, human, &mut out);
    out.with_exit(EXIT_OK)
}

/// This node and its peers with their Heartbeat status words, by name.
fn nodes(snapshot: &Snapshot) -> Vec<(&str, &str)> {
    let mut nodes: Vec<(&str, &str)> =
        std::iter::once((snapshot.node.name.as_str(), snapshot.node.state.as_str()))
            .chain(
                snapshot
                    .peers
                    .iter()
                    .map(|peer| (peer.name.as_str(), peer.status.as_str())),
            )
            .collect();
    nodes.sort_unstable();
    nodes.dedup_by(|a, b| a.0 == b.0);
    nodes
}

/// Ping nodes and groups with their status words, in ha.cf order.
fn ping_nodes(snapshot: &Snapshot) -> Vec<(&str, &str)> {
    snapshot
        .ping
        .nodes
        .iter()
        .map(|p| (p.name.as_str(), p.status.as_str()))
        .collect()
}

/// Heartbeat lowercases node names, so a lookup ignores case.
fn find_node<'a>(snapshot: &'a Snapshot, name: &str) -> Option<(&'a str, &'a str)> {
    nodes(snapshot)
        .into_iter()
        .find(|(node, _)| node.eq_ignore_ascii_case(name))
}

fn list_nodes(
    snapshot: &Snapshot,
    list_normal: bool,
    verbose: bool,
    human: bool,
    out: &mut ClOutput,
) {
    if human {
        out.stdout.push_str("The nodes are as follow:\n");
    }
    if !list_normal {
        return;
    }
    for (node, status) in nodes(snapshot) {
        if verbose {
            let _ = writeln!(out.stdout, "\n{node}\t{status}\t(nodetype: normal)");
            list_links(snapshot, true, human, out);
        } else {
            let _ = writeln!(out.stdout, "{node}");
        }
    }
}

fn nodestatus(snapshot: &Snapshot, parsed: &Parsed, mut out: ClOutput) -> ClOutput {
    let Some(name) = parsed.params.first() else {
        out.stderr.push_str("Not enough parameters.\n");
        return out.with_exit(EXIT_PARAMETER_ERROR);
    };
    let ping = || {
        ping_nodes(snapshot)
            .into_iter()
            .find(|(node, _)| node.eq_ignore_ascii_case(name))
    };
    let Some((_, status)) = find_node(snapshot, name).or_else(ping) else {
        out.stderr
            .push_str("Error. May be due to incorrect node name\n");
        return out.with_exit(EXIT_PARAMETER_ERROR);
    };
    if parsed.has('m') {
        let _ = writeln!(out.stdout, "The cluster node {name} is {status}");
    } else {
        let _ = writeln!(out.stdout, "{status}");
    }
    let exit = if matches!(status, "active" | "up" | "ping") {
        EXIT_OK
    } else {
        EXIT_NORMAL_FAIL
    };
    out.with_exit(exit)
}

/// The name Heartbeat gave a medium: its device, or its tty path.
pub fn link_name(label: &str) -> &str {
    let mut words = label.split_whitespace().skip(1);
    match (words.next(), words.next()) {
        (Some("-"), Some(address)) => address,
        (Some(device), _) => device,
        (None, _) => label,
    }
}

/// Link names in link order, each once, with the best status among the
/// links of that name ("up" wins).
fn links(snapshot: &Snapshot) -> Vec<(&str, &str)> {
    let mut named: Vec<(&str, &str)> = Vec::new();
    let mut sorted: Vec<&LinkSnapshot> = snapshot.links.iter().collect();
    sorted.sort_by_key(|link| link.index);
    for link in sorted {
        let name = link_name(&link.label);
        match named.iter_mut().find(|(known, _)| *known == name) {
            Some(entry) => {
                if link.state == "up" {
                    entry.1 = "up";
                }
            }
            None => named.push((name, link.state.as_str())),
        }
    }
    named
}

fn list_links(snapshot: &Snapshot, verbose: bool, human: bool, out: &mut ClOutput) {
    if human {
        out.stdout
            .push_str("\tthis node has the following heartbeat links:\n");
    }
    for (name, status) in links(snapshot) {
        if verbose {
            let _ = writeln!(out.stdout, "\t{name}\t{status}");
        } else {
            let _ = writeln!(out.stdout, "\t{name}");
        }
    }
}

fn listhblinks(snapshot: &Snapshot, parsed: &Parsed, mut out: ClOutput) -> ClOutput {
    let Some(name) = parsed.params.first() else {
        out.stderr.push_str("No enough parameter.\n");
        return out.with_exit(EXIT_PARAMETER_ERROR);
    };
    if find_node(snapshot, name).is_none() {
        out.error("Cannot start heartbeat link interface walk.");
        out.error(&format!("REASON: unknown node {name}"));
        return out.with_exit(EXIT_UNKNOWN_ERROR);
    }
    list_links(snapshot, parsed.has('v'), parsed.has('m'), &mut out);
    out.with_exit(EXIT_OK)
}

fn hblinkstatus(snapshot: &Snapshot, parsed: &Parsed, mut out: ClOutput) -> ClOutput {
    let (Some(node), Some(link)) = (parsed.params.first(), parsed.params.get(1)) else {
        out.stderr.push_str("No enough parameter.\n");
        return out.with_exit(EXIT_PARAMETER_ERROR);
    };
    let status = match find_node(snapshot, node) {
        None => Err(format!("unknown node {node}")),
        Some(_) => links(snapshot)
            .into_iter()
            .find(|(name, _)| name == link)
            .map(|(_, status)| status)
            .ok_or_else(|| format!("node {node} has no heartbeat link {link}")),
    };
    let status = match status {
        Ok(status) => status,
        Err(reason) => {
            out.error("Cannot get heartbeat link status");
            out.error(&format!("REASON: {reason}"));
            return out.with_exit(EXIT_UNKNOWN_ERROR);
        }
    };
    if parsed.has('m') {
        let _ = writeln!(
            out.stdout,
            "The node {node}'s heartbeat link {link} is {status}"
        );
    } else {
        let _ = writeln!(out.stdout, "{status}");
    }
    out.with_exit(if status == "up" {
        EXIT_OK
    } else {
        EXIT_NORMAL_FAIL
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_heartbeat_interface_names() {
        assert_eq!(link_name("ucast eth0 10.0.0.2:694"), "eth0");
        assert_eq!(link_name("ucast - 10.0.0.2:694"), "10.0.0.2:694");
        assert_eq!(link_name("bcast eth1 :694"), "eth1");
        assert_eq!(link_name("mcast eth2 225.0.0.1:694"), "eth2");
        assert_eq!(link_name("serial /dev/ttyS0 19200"), "/dev/ttyS0");
        assert_eq!(link_name(""), "");
    }

    #[test]
    fn no_arguments_prints_help_without_asking_the_daemon() {
        let out = run_cl_status(&[], || panic!("must not connect"));
        assert_eq!(out.exit, EXIT_OK);
        assert!(out.stdout.starts_with("Usage:"));
        let out = run_cl_status(&["-h".to_owned()], || panic!("must not connect"));
        assert_eq!(out.exit, EXIT_OK);
    }

    #[test]
    fn unknown_subcommand_is_a_parameter_error_without_asking_the_daemon() {
        let out = run_cl_status(&["frobnicate".to_owned()], || panic!("must not connect"));
        assert_eq!(out.exit, EXIT_PARAMETER_ERROR);
        assert_eq!(
            out.stderr,
            "cl_status: ERROR: frobnicate: invalid sub-command.\n"
        );
        let out = run_cl_status(&["clientstatus".to_owned()], || panic!("must not connect"));
        assert_eq!(out.exit, EXIT_PARAMETER_ERROR);
        assert!(
            out.stderr.contains("not provided by twinbeat"),
            "{}",
            out.stderr
        );
    }
}
