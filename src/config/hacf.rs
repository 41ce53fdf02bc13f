//! ha.cf: timings, nodes, media (links), ping nodes and flags, read with
//! Heartbeat 3's syntax and semantics.
//!
//! Syntax: `#` starts a comment anywhere; the first word is the directive;
//! its values are split on spaces, tabs and commas and each applies on its
//! own (`node a b`, `bcast eth0 eth1`). `ucast`, `ucast6`, `mcast`,
//! `respawn`, `apiauth`, `stonith`, `stonith_host`, `ping_group` and
//! `failfast` take the whole line. Time directives take the rest of the line
//! as one time value, so `keepalive 500 ms` means 500 ms. Unknown directives
//! are errors; directives Heartbeat knows but twinbeat does not act on
//! (`apiauth`, `compression`, `crm`, `stonith`, ...) are warnings saying why.
//!
//! twinbeat extensions (a plain Heartbeat file needs none of them):
//! - `ucast DEV IP:PORT` (or `[IPv6]:PORT`): the peer's port when it differs
//!   from `udpport`, e.g. two nodes on one host; `udpport` is the port THIS
//!   node listens on.
//! - `bind_address IP`: the local address UDP sockets bind to (0.0.0.0).
//! - `state_dir DIR` (/var/lib/twinbeat), `run_dir DIR` (/run/twinbeat).
//! - `cluster NAME`: the cluster's identity on the wire (default: the sorted
//!   node names joined by `,`). Heartbeat 3 also reads `cluster`.
//! - `beat_core N`: the core the beat thread is pinned to (default: last).
//! - `beat_backup_core N|off`: the core of the backup sender, which sends
//!   the keepalives while the beat thread's core is not run (default: the
//!   first core that is not the beat thread's; see `engine::backup`).
//! - `realtime_priority N`: SCHED_FIFO priority of the beat thread, 1..99
//!   (default 50). Heartbeat's `rtprio N` sets the same value.
//! - `cpu_latency auto|off|TIME`: the CPU wake-up latency the daemon asks
//!   of the kernel while it runs (PM QoS, `/dev/cpu_dma_latency`; `0` =
//!   idle CPUs poll rather than halt). `auto` (default): 0 when `realtime`
//!   is on and `deadtime` is at most 10 ms, otherwise no request. See
//!   `engine::cpu_latency` for what it buys and costs.
//! - `builtin_ipaddr on|off` (default on): `IPaddr`, `IPaddr2` and bare IPs
//!   in haresources use the built-in netlink implementation; `off` runs the
//!   scripts found in resource.d like any other resource (e.g. Debian's
//!   Heartbeat scripts, to compare or when their extra options are needed).
//! - The takeover process's tunables (`resource_timeout`, `stop_retries`,
//!   `stop_retry_interval`, `arp_count`, `arp_interval`, `fence_command`,
//!   `fence_timeout`): see [`super::knobs`].
//!
//! Every value is checked for an unfilled template placeholder
//! (`{{ ... }}`, `${...}`, `<...>`, `%...%`); node and interface names
//! for a sane character set. Values are echoed in messages through
//! [`shown`], so control characters in a bad file are escaped.
//!
//! Media become an ordered list of [`Link`]s; a link's index in
//! [`HaCf::links`] is its LinkId everywhere.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diag::{Diagnostics, shown};
use super::duration::{format_duration, parse_duration};

pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(1);
pub const DEFAULT_DEADTIME: Duration = Duration::from_secs(30);
pub const DEFAULT_UDPPORT: u16 = 694;
pub const DEFAULT_BAUD: u32 = 19_200;
/// The rates Heartbeat's `baud` accepts.
pub const STANDARD_BAUD_RATES: [u32; 7] =
    [9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800];
pub const DEFAULT_STATE_DIR: &str = "/var/lib/twinbeat";
pub const DEFAULT_RUN_DIR: &str = "/run/twinbeat";
pub const DEFAULT_REALTIME_PRIORITY: u8 = 50;
/// Highest multicast TTL Heartbeat's `mcast` accepts.
pub const MAX_MCAST_TTL: u8 = 4;
/// twinbeat runs pairs.
pub const MAX_NODES: usize = 2;
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub(crate) const MAX_IFACE_LEN: usize = 15;
/// Longest node name: `uname -n` on Linux is at most 64 bytes
/// (`__NEW_UTS_LEN`).
const MAX_NODE_NAME_LEN: usize = 64;
/// Below this initdead Heartbeat warns that slow network startup may be
/// mistaken for a dead peer.
const INITDEAD_WARN_BELOW: Duration = Duration::from_secs(10);

/// A value and where it came from: `line` is `None` when it is a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub line: Option<usize>,
}

impl<T> Setting<T> {
    pub fn default_value(value: T) -> Self {
        Self { value, line: None }
    }

    pub fn is_default(&self) -> bool {
        self.line.is_none()
    }
}

impl<T> std::ops::Deref for Setting<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Where the backup sender runs (`beat_backup_core`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupCore {
    Core(usize),
    Off,
}

/// The CPU wake-up latency to request (`cpu_latency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuLatency {
    /// 0 where failover is fast enough for µs to matter, else nothing.
    Auto,
    Off,
    Bound(Duration),
}

/// `cpu_latency auto` requests 0 at this deadtime and below.
pub const CPU_LATENCY_AUTO_DEADTIME: Duration = Duration::from_millis(10);

/// The largest bound the kernel takes (an s32 of µs).
const CPU_LATENCY_MAX: Duration = Duration::from_micros(i32::MAX as u64);

impl CpuLatency {
    /// The bound to hold, if any, for a node with these settings.
    pub fn requested(self, deadtime: Duration, realtime: bool) -> Option<Duration> {
        match self {
            CpuLatency::Auto => {
                (realtime && deadtime <= CPU_LATENCY_AUTO_DEADTIME).then_some(Duration::ZERO)
            }
            CpuLatency::Off => None,
            CpuLatency::Bound(bound) => Some(bound),
        }
    }
}

/// Whether resource groups go back to their home node when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    On,
    Off,
    /// Heartbeat's default: the home node always asks for its groups back;
    /// standby is not supported.
    Legacy,
}

impl AutoFailback {
    pub fn name(self) -> &'static str {
        match self {
            AutoFailback::On => "on",
            AutoFailback::Off => "off",
            AutoFailback::Legacy => "legacy",
        }
    }
}

/// One heartbeat medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSpec {
    /// Unicast to `peer`; `port` is the peer's port, `None` = `udpport`.
    Ucast {
        dev: String,
        peer: IpAddr,
        port: Option<u16>,
    },
    /// Broadcast on `dev` to `udpport`.
    Bcast { dev: String },
    Mcast {
        dev: String,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        loop_: bool,
    },
    /// RS-232 at `baud`.
    Serial { device: PathBuf },
}

impl LinkSpec {
    /// The medium's directive name, as in ha.cf.
    pub fn kind(&self) -> &'static str {
        match self {
            LinkSpec::Ucast { .. } => "ucast",
            LinkSpec::Bcast { .. } => "bcast",
            LinkSpec::Mcast { .. } => "mcast",
            LinkSpec::Serial { .. } => "serial",
        }
    }
}

/// A link and the ha.cf line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub spec: LinkSpec,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDecl {
    /// Lowercased, as Heartbeat compares node names.
    pub name: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingNode {
    pub addr: IpAddr,
    pub line: usize,
}

/// Alive while any member answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingGroup {
    pub name: String,
    pub members: Vec<IpAddr>,
    pub line: usize,
}

/// `respawn USER PROGRAM [ARGS...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respawn {
    pub user: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub line: usize,
}

/// The parsed ha.cf with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaCf {
    pub keepalive: Setting<Duration>,
    pub deadtime: Setting<Duration>,
    /// Default: deadtime / 2.
    pub warntime: Setting<Duration>,
    /// Default: deadtime when > 10 s, 12 s when < 6 s, else 2 × deadtime.
    pub initdead: Setting<Duration>,
    /// Default: deadtime.
    pub deadping: Setting<Duration>,
    /// The port this node listens on, and the peer's unless a ucast says.
    pub udpport: Setting<u16>,
    pub baud: Setting<u32>,
    /// In file order; the index is the LinkId.
    pub links: Vec<Link>,
    /// In file order, lowercased, at most [`MAX_NODES`].
    pub nodes: Vec<NodeDecl>,
    pub auto_failback: Setting<AutoFailback>,
    pub pings: Vec<PingNode>,
    pub ping_groups: Vec<PingGroup>,
    pub watchdog: Option<Setting<PathBuf>>,
    pub realtime: Setting<bool>,
    pub logfile: Option<Setting<PathBuf>>,
    pub debugfile: Option<Setting<PathBuf>>,
    /// A syslog facility name or `none`; `None` when not set.
    pub logfacility: Option<Setting<String>>,
    pub use_logd: Setting<bool>,
    pub respawn: Vec<Respawn>,
    pub bind_address: Setting<IpAddr>,
    pub state_dir: Setting<PathBuf>,
    pub run_dir: Setting<PathBuf>,
    /// `None` = derived from the node names, see [`HaCf::cluster_name`].
    pub cluster: Option<Setting<String>>,
    /// `None` = the last core.
    pub beat_core: Option<Setting<usize>>,
    /// `None` = the first core that is not the beat thread's.
    pub beat_backup_core: Option<Setting<BackupCore>>,
    pub realtime_priority: Setting<u8>,
    pub cpu_latency: Setting<CpuLatency>,
    /// `IPaddr`/`IPaddr2` handled in-process (netlink) rather than by the
    /// resource.d scripts.
    pub builtin_ipaddr: Setting<bool>,
    /// Resource action timeouts, stop retries, ARP, fencing.
    pub takeover: super::knobs::TakeoverKnobs,
}

impl HaCf {
    /// The cluster's name: `cluster NAME`, else the sorted node names
    /// joined by `,` (the same on both nodes without any setting).
    pub fn cluster_name(&self) -> String {
        if let Some(name) = &self.cluster {
            return name.value.clone();
        }
        let mut names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        names.sort_unstable();
        names.join(",")
    }

    /// The cluster's 16-bit identity on the wire.
    pub fn cluster_id(&self) -> u16 {
        crate::wire::cluster_id(&self.cluster_name())
    }

    /// Whether `name` (any case) is one of the declared nodes.
    pub fn has_node(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.nodes.iter().any(|n| n.name == name)
    }

    /// The line of the first serial link, if any.
    pub fn first_serial_line(&self) -> Option<usize> {
        self.links
            .iter()
            .find(|l| matches!(l.spec, LinkSpec::Serial { .. }))
            .map(|l| l.line)
    }
}

impl Default for HaCf {
    fn default() -> Self {
        Self {
            keepalive: Setting::default_value(DEFAULT_KEEPALIVE),
            deadtime: Setting::default_value(DEFAULT_DEADTIME),
            warntime: Setting::default_value(DEFAULT_DEADTIME / 2),
            initdead: Setting::default_value(DEFAULT_DEADTIME),
            deadping: Setting::default_value(DEFAULT_DEADTIME),
            udpport: Setting::default_value(DEFAULT_UDPPORT),
            baud: Setting::default_value(DEFAULT_BAUD),
            links: Vec::new(),
            nodes: Vec::new(),
            auto_failback: Setting::default_value(AutoFailback::Legacy),
            pings: Vec::new(),
            ping_groups: Vec::new(),
            watchdog: None,
            realtime: Setting::default_value(true),
            logfile: None,
            debugfile: None,
            logfacility: None,
            use_logd: Setting::default_value(false),
            respawn: Vec::new(),
            bind_address: Setting::default_value(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            state_dir: Setting::default_value(PathBuf::from(DEFAULT_STATE_DIR)),
            run_dir: Setting::default_value(PathBuf::from(DEFAULT_RUN_DIR)),
            cluster: None,
            beat_core: None,
            beat_backup_core: None,
            realtime_priority: Setting::default_value(DEFAULT_REALTIME_PRIORITY),
            cpu_latency: Setting::default_value(CpuLatency::Auto),
            builtin_ipaddr: Setting::default_value(true),
            takeover: super::knobs::TakeoverKnobs::default(),
        }
    }
}

/// Heartbeat directives twinbeat accepts but does not act on, with why.
const IGNORED: &[(&str, &str)] = &[
    (
        "apiauth",
        "twinbeat has no Heartbeat API clients to authorize; `twinbeat status`/`cl_status` use the control socket in run_dir",
    ),
    (
        "stonith",
        "twinbeat runs no STONITH plugins; a dead peer's groups are taken over without fencing (`fence_command` runs a command when a local stop fails)",
    ),
    (
        "stonith_host",
        "twinbeat runs no STONITH plugins; a dead peer's groups are taken over without fencing (`fence_command` runs a command when a local stop fails)",
    ),
    ("failfast", "twinbeat does not run failfast children"),
    (
        "compression",
        "twinbeat keepalives are fixed-size binary frames and are never compressed",
    ),
    (
        "compression_threshold",
        "twinbeat keepalives are fixed-size binary frames and are never compressed",
    ),
    (
        "traditional_compression",
        "twinbeat keepalives are fixed-size binary frames and are never compressed",
    ),
    (
        "conn_logd_time",
        "twinbeat does not connect to Heartbeat's logd",
    ),
    ("msgfmt", "twinbeat uses its own binary wire format"),
    ("hopfudge", "twinbeat never forwards messages between links"),
    (
        "hbgenmethod",
        "twinbeat always keeps its generation number in a file in state_dir",
    ),
    (
        "coredumps",
        "twinbeat leaves core dumps to the system settings",
    ),
    (
        "coreroot",
        "twinbeat leaves core dumps to the system settings",
    ),
    (
        "autojoin",
        "a twinbeat pair is exactly the two `node` names; nodes never join automatically",
    ),
    ("uuidfrom", "twinbeat identifies nodes by name"),
    (
        "crm_daemon_dir",
        "twinbeat has no CRM (Pacemaker); it manages resources from haresources",
    ),
    (
        "crmd_spawns_pengine",
        "twinbeat has no CRM (Pacemaker); it manages resources from haresources",
    ),
    (
        "debug",
        "twinbeat's log level is set with the RUST_LOG environment variable",
    ),
    (
        "max_rexmit_delay",
        "twinbeat never retransmits: every keepalive is fresh",
    ),
    (
        "env",
        "twinbeat does not pass environment settings to respawned programs",
    ),
    (
        "log_badpack",
        "twinbeat counts bad packets per link in `twinbeat status`",
    ),
    ("use_apphbd", "twinbeat does not register with apphbd"),
    ("syslogmsgfmt", "twinbeat's log format is its own"),
    ("record_config_changes", "twinbeat has no CIB"),
    ("record_pengine_inputs", "twinbeat has no CIB"),
    ("enable_config_writes", "twinbeat has no CIB"),
    (
        "memreserve",
        "twinbeat does not preallocate a memory reserve",
    ),
    ("quorum_server", "a twinbeat pair has no quorum server"),
    (
        "normalpoll",
        "twinbeat's beat loop uses io_uring or poll by itself",
    ),
    ("hbaping", "twinbeat has no fibre-channel ping nodes"),
];

/// Directives whose values are the whole rest of the line.
const WHOLE_LINE: &[&str] = &[
    "ucast",
    "ucast6",
    "mcast",
    "mcast6",
    "respawn",
    "apiauth",
    "stonith",
    "stonith_host",
    "ping_group",
    "failfast",
];

/// Parses ha.cf text. Always returns the best reading it could make (so the
/// other files can still be checked against it); `diags` says whether it
/// is valid. Checks that need the node name or authkeys are done by the
/// directory loader.
pub fn parse(text: &str, file: &Path, diags: &mut Diagnostics) -> HaCf {
    let mut parser = Parser {
        file,
        diags,
        cfg: HaCf::default(),
        warntime_set: false,
        initdead_set: false,
        deadping_set: false,
        watchdog_first_line: None,
        baud_first_line: None,
    };
    for (index, raw) in text.lines().enumerate() {
        parser.line(index + 1, raw);
    }
    parser.finish()
}

struct Parser<'a> {
    file: &'a Path,
    diags: &'a mut Diagnostics,
    cfg: HaCf,
    warntime_set: bool,
    initdead_set: bool,
    deadping_set: bool,
    /// The first `watchdog` line, valid or not: Heartbeat refuses a second.
    watchdog_first_line: Option<usize>,
    /// The first `baud` line, valid or not: Heartbeat refuses a second.
    baud_first_line: Option<usize>,
}

fn is_value_delim(c: char) -> bool {
    c == ' ' || c == '\t' || c == ','
}

/// Heartbeat's booleans.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

const SYSLOG_FACILITIES: &[&str] = &[
    "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news", "syslog", "user",
    "uucp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7", "none",
];

/// The first template variable nobody filled in (`{{ peer_ip }}`,
/// `${PEER}`, `<peer-ip>`, `%PEER%`) in a line's text, if any: the whole
/// `{{ ... }}` span (it may hold spaces), else the word that holds one.
pub(crate) fn find_placeholder(text: &str) -> Option<&str> {
    if let Some(start) = text.find("{{") {
        let tail = text.get(start..).unwrap_or("");
        let end = tail.find("}}").map_or(tail.len(), |e| e + 2);
        return tail.get(..end);
    }
    text.split([' ', '\t', ','])
        .find(|word| placeholder_word(word))
}

/// Whether one word is, or holds, a template variable.
pub(crate) fn placeholder_word(word: &str) -> bool {
    word.contains("{{")
        || word.contains("}}")
        || word.contains("${")
        || (word.len() > 1 && word.starts_with('<') && word.ends_with('>'))
        || (word.len() > 1 && word.starts_with('%') && word.ends_with('%'))
}

/// A node name as `uname -n` gives it: 1 to 64 bytes, no spaces, commas or
/// control characters.
fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NODE_NAME_LEN
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == ',')
}

/// A Linux interface name: 1 to IFNAMSIZ-1 bytes, no `/`, no spaces, no
/// control characters (NUL included).
pub(crate) fn valid_interface_name(dev: &str) -> bool {
    !dev.is_empty()
        && dev.len() <= MAX_IFACE_LEN
        && !dev
            .chars()
            .any(|c| c == '/' || c.is_control() || c.is_whitespace())
}

impl Parser<'_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.diags.error(self.file, line, message);
    }

    fn warning(&mut self, line: usize, message: impl Into<String>) {
        self.diags.warning(self.file, line, message);
    }

    fn line(&mut self, line_no: usize, raw: &str) {
        let without_comment = raw.split('#').next().unwrap_or("");
        let content = without_comment.trim_matches([' ', '\t', '\r', '\n', '\x0c', '\x0b']);
        if content.is_empty() {
            return;
        }
        let directive_end = content.find([' ', '\t']).unwrap_or(content.len());
        let (directive, rest) = content.split_at(directive_end);
        let rest = rest.trim_start_matches(is_value_delim);
        if let Some(placeholder) = find_placeholder(directive) {
            self.error(
                line_no,
                format!(
                    "`{}` looks like an unfilled template placeholder where a directive belongs",
                    shown(placeholder)
                ),
            );
            return;
        }
        if let Some(placeholder) = find_placeholder(rest) {
            self.placeholder(line_no, directive, placeholder);
            return;
        }
        if WHOLE_LINE.contains(&directive) {
            self.whole_line(line_no, directive, rest);
            return;
        }
        if super::knobs::DIRECTIVES.contains(&directive) {
            match self.cfg.takeover.set(directive, rest, line_no) {
                Ok(Some(warning)) => self.warning(line_no, warning),
                Ok(None) => {}
                Err(error) => self.error(line_no, error),
            }
            return;
        }
        if matches!(
            directive,
            "keepalive" | "deadtime" | "warntime" | "initdead" | "deadping"
        ) {
            self.time(line_no, directive, rest);
            return;
        }
        let values: Vec<&str> = rest
            .split(is_value_delim)
            .filter(|v| !v.is_empty())
            .collect();
        if let Some((_, why)) = IGNORED.iter().find(|(name, _)| *name == directive) {
            self.warning(line_no, format!("`{directive}` is ignored: {why}"));
            return;
        }
        if !is_known(directive) {
            self.unknown(line_no, directive);
            return;
        }
        let Some(&first) = values.first() else {
            self.error(line_no, format!("`{directive}` needs a value"));
            return;
        };
        match directive {
            "node" => values.iter().for_each(|v| self.node(line_no, v)),
            "bcast" => values.iter().for_each(|v| self.bcast(line_no, v)),
            "udp" => {
                self.warning(line_no, "`udp` is an old name for `bcast`; write `bcast`");
                values.iter().for_each(|v| self.bcast(line_no, v));
            }
            "serial" => values.iter().for_each(|v| self.serial(line_no, v)),
            "ping" => values.iter().for_each(|v| self.ping(line_no, v)),
            _ => {
                if values.len() > 1 {
                    self.error(
                        line_no,
                        format!("`{directive}` takes one value, found {}", values.len()),
                    );
                    return;
                }
                self.single(line_no, directive, first);
            }
        }
    }

    fn unknown(&mut self, line_no: usize, directive: &str) {
        self.error(line_no, format!("unknown directive `{}`", shown(directive)));
    }

    fn placeholder(&mut self, line_no: usize, directive: &str, placeholder: &str) {
        let what = match directive {
            "ucast" | "ucast6" => {
                "is not an IP address; it looks like an unfilled template placeholder: put the peer's IP address there"
            }
            _ => "looks like an unfilled template placeholder: put the real value there",
        };
        self.error(
            line_no,
            format!("{}: `{}` {what}", shown(directive), shown(placeholder)),
        );
    }

    /// A scalar set again: last wins, as in Heartbeat, but say so.
    fn note_repeat(&mut self, line_no: usize, directive: &str, previous: Option<usize>) {
        if let Some(earlier) = previous {
            self.warning(
                line_no,
                format!("`{directive}` set again (also on line {earlier}); this line wins"),
            );
        }
    }

    fn time(&mut self, line_no: usize, directive: &str, rest: &str) {
        let value = match parse_duration(rest) {
            Ok(v) => v,
            Err(e) => {
                self.error(line_no, format!("{directive}: {e}"));
                return;
            }
        };
        let slot = match directive {
            "keepalive" => &self.cfg.keepalive,
            "deadtime" => &self.cfg.deadtime,
            "warntime" => &self.cfg.warntime,
            "initdead" => &self.cfg.initdead,
            _ => &self.cfg.deadping,
        };
        let previous = slot.line;
        self.note_repeat(line_no, directive, previous);
        let setting = Setting {
            value,
            line: Some(line_no),
        };
        match directive {
            "keepalive" => self.cfg.keepalive = setting,
            "deadtime" => self.cfg.deadtime = setting,
            "warntime" => {
                self.cfg.warntime = setting;
                self.warntime_set = true;
            }
            "initdead" => {
                self.cfg.initdead = setting;
                self.initdead_set = true;
            }
            _ => {
                self.cfg.deadping = setting;
                self.deadping_set = true;
            }
        }
    }

    fn single(&mut self, line_no: usize, directive: &str, value: &str) {
        match directive {
            "udpport" => self.udpport(line_no, value),
            "baud" => self.baud(line_no, value),
            "auto_failback" => {
                let mode = match value.to_ascii_lowercase().as_str() {
                    "legacy" => Some(AutoFailback::Legacy),
                    other => parse_bool(other).map(|on| if on { AutoFailback::On } else { AutoFailback::Off }),
                };
                match mode {
                    Some(mode) => self.set_auto_failback(line_no, mode),
                    None => self.error(line_no, format!("auto_failback `{}`: expected on, off or legacy", shown(value))),
                }
            }
            // Heartbeat's set_nice_failback: `on` becomes `auto_failback
            // off`, `off` is "strictly interpreted" as `auto_failback legacy`.
            "nice_failback" => match parse_bool(value) {
                Some(true) => {
                    self.warning(
                        line_no,
                        "`nice_failback` is deprecated: read as `auto_failback off`; write that instead",
                    );
                    self.set_auto_failback(line_no, AutoFailback::Off);
                }
                Some(false) => {
                    self.warning(
                        line_no,
                        "`nice_failback` is deprecated: read as `auto_failback legacy`, as Heartbeat does; consider `auto_failback on`",
                    );
                    self.set_auto_failback(line_no, AutoFailback::Legacy);
                }
                None => self.error(line_no, format!("nice_failback `{}`: expected on or off", shown(value))),
            },
            // Heartbeat's set_release2mode also takes minimal, manual,
            // respawn and valgrind as ways of turning the CRM on.
            "crm" | "pacemaker" => match parse_bool(value).or(
                matches!(value.to_ascii_lowercase().as_str(), "respawn" | "minimal" | "manual" | "valgrind")
                    .then_some(true),
            ) {
                Some(true) => self.warning(
                    line_no,
                    format!(
                        "`{directive} {}` is ignored: twinbeat has no CRM (Pacemaker); it manages resources from haresources",
                        shown(value)
                    ),
                ),
                Some(false) => self.warning(
                    line_no,
                    format!("`{directive} off` is ignored: twinbeat always manages resources from haresources"),
                ),
                None => self.error(
                    line_no,
                    format!("{directive} `{}`: expected on, off, respawn, minimal, manual or valgrind", shown(value)),
                ),
            },
            "watchdog" => {
                if let Some(first) = self.watchdog_first_line {
                    self.error(line_no, format!("watchdog device given twice: first at line {first}"));
                    return;
                }
                self.watchdog_first_line = Some(line_no);
                if let Some(path) = self.absolute_path(line_no, "watchdog", value) {
                    self.cfg.watchdog = Some(Setting { value: path, line: Some(line_no) });
                }
            }
            "realtime" => {
                if let Some(on) = self.bool_value(line_no, "realtime", value) {
                    let previous = self.cfg.realtime.line;
                    self.note_repeat(line_no, "realtime", previous);
                    self.cfg.realtime = Setting { value: on, line: Some(line_no) };
                }
            }
            "builtin_ipaddr" => {
                if let Some(on) = self.bool_value(line_no, "builtin_ipaddr", value) {
                    let previous = self.cfg.builtin_ipaddr.line;
                    self.note_repeat(line_no, "builtin_ipaddr", previous);
                    self.cfg.builtin_ipaddr = Setting { value: on, line: Some(line_no) };
                }
            }
            "use_logd" => {
                if let Some(on) = self.bool_value(line_no, "use_logd", value) {
                    let previous = self.cfg.use_logd.line;
                    self.note_repeat(line_no, "use_logd", previous);
                    self.cfg.use_logd = Setting { value: on, line: Some(line_no) };
                }
            }
            "logfile" => self.cfg.logfile = Some(Setting { value: PathBuf::from(value), line: Some(line_no) }),
            "debugfile" => self.cfg.debugfile = Some(Setting { value: PathBuf::from(value), line: Some(line_no) }),
            "logfacility" => {
                let lower = value.to_ascii_lowercase();
                if SYSLOG_FACILITIES.contains(&lower.as_str()) {
                    self.cfg.logfacility = Some(Setting { value: lower, line: Some(line_no) });
                } else {
                    self.error(
                        line_no,
                        format!("logfacility `{}` is not a syslog facility (e.g. daemon, local0..local7, none)", shown(value)),
                    );
                }
            }
            "bind_address" => match value.parse::<IpAddr>() {
                Ok(addr) => self.cfg.bind_address = Setting { value: addr, line: Some(line_no) },
                Err(_) => self.error(line_no, format!("bind_address `{}` is not an IP address", shown(value))),
            },
            "state_dir" => {
                if let Some(path) = self.absolute_path(line_no, "state_dir", value) {
                    self.cfg.state_dir = Setting { value: path, line: Some(line_no) };
                }
            }
            "run_dir" => {
                if let Some(path) = self.absolute_path(line_no, "run_dir", value) {
                    self.cfg.run_dir = Setting { value: path, line: Some(line_no) };
                }
            }
            "cluster" => self.cfg.cluster = Some(Setting { value: value.to_string(), line: Some(line_no) }),
            "beat_core" => match value.parse::<usize>() {
                Ok(core) => self.cfg.beat_core = Some(Setting { value: core, line: Some(line_no) }),
                Err(_) => self.error(line_no, format!("beat_core `{}` is not a core number (0, 1, ...)", shown(value))),
            },
            "beat_backup_core" => match (value.parse::<usize>(), parse_bool(value)) {
                (Ok(core), _) => self.cfg.beat_backup_core = Some(Setting { value: BackupCore::Core(core), line: Some(line_no) }),
                (_, Some(false)) => self.cfg.beat_backup_core = Some(Setting { value: BackupCore::Off, line: Some(line_no) }),
                _ => self.error(line_no, format!("beat_backup_core `{}` is not a core number (0, 1, ...) or off", shown(value))),
            },
            "cpu_latency" => {
                // A number is a time (`0` = 0 µs), so `off` is spelled out.
                let parsed = match value.to_ascii_lowercase().as_str() {
                    "auto" => Ok(CpuLatency::Auto),
                    "off" | "no" | "false" => Ok(CpuLatency::Off),
                    _ => match parse_duration(value) {
                        Ok(d) if d <= CPU_LATENCY_MAX => Ok(CpuLatency::Bound(d)),
                        Ok(_) => Err(format!(
                            "cpu_latency `{}` is beyond the kernel's limit ({} µs)",
                            shown(value),
                            CPU_LATENCY_MAX.as_micros()
                        )),
                        Err(e) => Err(format!("cpu_latency `{}`: {e}; use auto, off or a time such as 0 or 20us", shown(value))),
                    },
                };
                match parsed {
                    Ok(v) => {
                        let previous = self.cfg.cpu_latency.line;
                        self.note_repeat(line_no, "cpu_latency", previous);
                        self.cfg.cpu_latency = Setting { value: v, line: Some(line_no) };
                    }
                    Err(message) => self.error(line_no, message),
                }
            }
            // `rtprio` is Heartbeat's name for the same thing: its range is
            // SCHED_FIFO's, 1..99 on Linux.
            "realtime_priority" | "rtprio" => match value.parse::<u8>() {
                Ok(p) if (1..=99).contains(&p) => {
                    if let Some(earlier) = self.cfg.realtime_priority.line {
                        self.warning(
                            line_no,
                            format!("`{directive}` sets realtime_priority again (also on line {earlier}); this line wins"),
                        );
                    }
                    self.cfg.realtime_priority = Setting { value: p, line: Some(line_no) }
                }
                _ => self.error(line_no, format!("{directive} `{}` must be a number from 1 to 99", shown(value))),
            },
            other => self.unknown(line_no, other),
        }
    }

    fn set_auto_failback(&mut self, line_no: usize, mode: AutoFailback) {
        let previous = self.cfg.auto_failback.line;
        self.note_repeat(line_no, "auto_failback", previous);
        self.cfg.auto_failback = Setting {
            value: mode,
            line: Some(line_no),
        };
    }

    fn bool_value(&mut self, line_no: usize, directive: &str, value: &str) -> Option<bool> {
        let parsed = parse_bool(value);
        if parsed.is_none() {
            self.error(
                line_no,
                format!(
                    "{directive} `{}`: expected on or off (yes/no, true/false, 1/0)",
                    shown(value)
                ),
            );
        }
        parsed
    }

    fn absolute_path(&mut self, line_no: usize, directive: &str, value: &str) -> Option<PathBuf> {
        if value.starts_with('/') {
            Some(PathBuf::from(value))
        } else {
            self.error(
                line_no,
                format!("{directive} `{}` must be an absolute path", shown(value)),
            );
            None
        }
    }

    fn udpport(&mut self, line_no: usize, value: &str) {
        let Some(port) = value.parse::<u16>().ok().filter(|p| *p > 0) else {
            self.error(
                line_no,
                format!(
                    "udpport `{}` must be a port number from 1 to 65535",
                    shown(value)
                ),
            );
            return;
        };
        let users = self
            .cfg
            .links
            .iter()
            .find(|l| matches!(l.spec, LinkSpec::Bcast { .. } | LinkSpec::Ucast { .. }));
        if let Some(link) = users {
            let (kind, line) = (link.spec.kind(), link.line);
            self.error(
                line_no,
                format!(
                    "udpport must come before the media lines that use it ({kind} on line {line})"
                ),
            );
            return;
        }
        let previous = self.cfg.udpport.line;
        self.note_repeat(line_no, "udpport", previous);
        self.cfg.udpport = Setting {
            value: port,
            line: Some(line_no),
        };
    }

    fn baud(&mut self, line_no: usize, value: &str) {
        // Heartbeat's set_baudrate counts a `baud` line before validating
        // it, so a second one is refused even when the first was invalid.
        if let Some(first) = self.baud_first_line {
            self.error(
                line_no,
                format!("baudrate multiply specified: first at line {first}"),
            );
            return;
        }
        self.baud_first_line = Some(line_no);
        let Some(rate) = value
            .parse::<u32>()
            .ok()
            .filter(|r| STANDARD_BAUD_RATES.contains(r))
        else {
            self.error(
                line_no,
                format!("baud `{}` is not a standard rate (9600, 19200, 38400, 57600, 115200, 230400, 460800)", shown(value)),
            );
            return;
        };
        if let Some(line) = self.cfg.first_serial_line() {
            self.error(
                line_no,
                format!(
                    "baud must come before the serial lines that use it (serial on line {line})"
                ),
            );
            return;
        }
        self.cfg.baud = Setting {
            value: rate,
            line: Some(line_no),
        };
    }

    fn node(&mut self, line_no: usize, value: &str) {
        if !valid_node_name(value) {
            self.error(
                line_no,
                format!(
                    "node `{}` is not a node name (as `uname -n` gives it: 1 to {MAX_NODE_NAME_LEN} bytes, no spaces or control characters)",
                    shown(value)
                ),
            );
            return;
        }
        let name = value.to_ascii_lowercase();
        if let Some(earlier) = self.cfg.nodes.iter().find(|n| n.name == name) {
            let earlier = earlier.line;
            self.warning(
                line_no,
                format!(
                    "node `{}` is already declared on line {earlier}",
                    shown(&name)
                ),
            );
            return;
        }
        self.cfg.nodes.push(NodeDecl {
            name,
            line: line_no,
        });
    }

    fn interface(&mut self, line_no: usize, directive: &str, dev: &str) -> bool {
        if !valid_interface_name(dev) {
            self.error(
                line_no,
                format!("{directive}: `{}` is not a network interface name (1 to {MAX_IFACE_LEN} bytes, no `/`, spaces or control characters)", shown(dev)),
            );
            return false;
        }
        true
    }

    fn bcast(&mut self, line_no: usize, dev: &str) {
        if self.interface(line_no, "bcast", dev) {
            self.push_link(
                line_no,
                LinkSpec::Bcast {
                    dev: dev.to_string(),
                },
            );
        }
    }

    fn serial(&mut self, line_no: usize, device: &str) {
        if let Some(path) = self.absolute_path(line_no, "serial", device) {
            self.push_link(line_no, LinkSpec::Serial { device: path });
        }
    }

    fn ping(&mut self, line_no: usize, value: &str) {
        match value.parse::<IpAddr>() {
            Ok(addr) => self.cfg.pings.push(PingNode {
                addr,
                line: line_no,
            }),
            Err(_) => self.error(
                line_no,
                format!(
                    "ping `{}` is not an IP address (twinbeat does not resolve host names)",
                    shown(value)
                ),
            ),
        }
    }

    fn push_link(&mut self, line_no: usize, spec: LinkSpec) {
        if let Some(same) = self.cfg.links.iter().find(|l| l.spec == spec) {
            let line = same.line;
            self.warning(
                line_no,
                format!(
                    "the same {} link is already declared on line {line}",
                    spec.kind()
                ),
            );
        }
        self.cfg.links.push(Link {
            spec,
            line: line_no,
        });
    }

    fn whole_line(&mut self, line_no: usize, directive: &str, rest: &str) {
        match directive {
            "ucast" | "ucast6" => self.ucast(line_no, directive, rest),
            "mcast" => self.mcast(line_no, rest),
            "mcast6" => self.error(
                line_no,
                "`mcast6` (IPv6 multicast) is not supported by twinbeat; use `mcast` or `ucast` with an IPv6 address",
            ),
            "respawn" => self.respawn(line_no, rest),
            "ping_group" => self.ping_group(line_no, rest),
            other => {
                if let Some((_, why)) = IGNORED.iter().find(|(name, _)| *name == other) {
                    self.warning(line_no, format!("`{other}` is ignored: {why}"));
                }
            }
        }
    }

    fn ucast(&mut self, line_no: usize, directive: &str, rest: &str) {
        let mut fields = rest.split_whitespace();
        let Some(dev) = fields.next() else {
            self.error(
                line_no,
                format!(
                    "{directive} needs an interface and the peer's address: {directive} DEV IP"
                ),
            );
            return;
        };
        let addr_text = fields.next();
        if fields.next().is_some() {
            self.error(
                line_no,
                format!(
                    "{directive} takes an interface and one address: {directive} DEV IP[:PORT]"
                ),
            );
            return;
        }
        let Some(addr_text) = addr_text else {
            self.error(
                line_no,
                format!(
                    "{directive} needs the peer's address: {directive} {} IP[:PORT]",
                    shown(dev)
                ),
            );
            return;
        };
        if !self.interface(line_no, directive, dev) {
            return;
        }
        let (peer, port) = if let Ok(ip) = addr_text.parse::<IpAddr>() {
            (ip, None)
        } else if let Ok(sock) = addr_text.parse::<SocketAddr>() {
            (sock.ip(), Some(sock.port()))
        } else {
            self.error(
                line_no,
                format!("{directive}: `{}` is not an IP address or IP:PORT (twinbeat does not resolve host names)", shown(addr_text)),
            );
            return;
        };
        if port == Some(0) {
            self.error(line_no, format!("{directive}: port 0 is not a port"));
            return;
        }
        if directive == "ucast6" && !peer.is_ipv6() {
            self.error(
                line_no,
                format!("ucast6: `{}` is not an IPv6 address", shown(addr_text)),
            );
            return;
        }
        if peer.is_multicast() || peer.is_unspecified() {
            self.error(
                line_no,
                format!(
                    "{directive}: `{}` is not a unicast address",
                    shown(addr_text)
                ),
            );
            return;
        }
        self.push_link(
            line_no,
            LinkSpec::Ucast {
                dev: dev.to_string(),
                peer,
                port,
            },
        );
    }

    fn mcast(&mut self, line_no: usize, rest: &str) {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let [dev, group, port, ttl, loop_] = fields[..] else {
            self.error(
                line_no,
                format!(
                    "mcast needs five fields: mcast DEV GROUP PORT TTL LOOP (found {})",
                    fields.len()
                ),
            );
            return;
        };
        let mut ok = self.interface(line_no, "mcast", dev);
        let group = match group.parse::<Ipv4Addr>() {
            Ok(g) if g.is_multicast() => Some(g),
            _ => {
                self.error(
                    line_no,
                    format!(
                        "mcast: `{}` is not an IPv4 multicast group (224.0.0.0 to 239.255.255.255)",
                        shown(group)
                    ),
                );
                None
            }
        };
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.error(
                    line_no,
                    format!(
                        "mcast: port `{}` must be a number from 1 to 65535",
                        shown(port)
                    ),
                );
                None
            }
        };
        let ttl = match ttl.parse::<u8>() {
            Ok(t) if t <= MAX_MCAST_TTL => Some(t),
            _ => {
                self.error(
                    line_no,
                    format!(
                        "mcast: ttl `{}` must be a number from 0 to {MAX_MCAST_TTL}",
                        shown(ttl)
                    ),
                );
                None
            }
        };
        let loop_ = match loop_ {
            "0" => Some(false),
            "1" => Some(true),
            _ => {
                self.error(
                    line_no,
                    format!("mcast: loop `{}` must be 0 or 1", shown(loop_)),
                );
                None
            }
        };
        ok &= group.is_some() && port.is_some() && ttl.is_some() && loop_.is_some();
        if let (true, Some(group), Some(port), Some(ttl), Some(loop_)) =
            (ok, group, port, ttl, loop_)
        {
            self.push_link(
                line_no,
                LinkSpec::Mcast {
                    dev: dev.to_string(),
                    group,
                    port,
                    ttl,
                    loop_,
                },
            );
        }
    }

    fn respawn(&mut self, line_no: usize, rest: &str) {
        let mut fields = rest.split_whitespace();
        let (Some(user), Some(program)) = (fields.next(), fields.next()) else {
            self.error(
                line_no,
                "respawn needs a user and a program: respawn USER /PATH [ARGS...]",
            );
            return;
        };
        let Some(program) = self.absolute_path(line_no, "respawn", program) else {
            return;
        };
        let args = fields.map(str::to_string).collect();
        self.cfg.respawn.push(Respawn {
            user: user.to_string(),
            program,
            args,
            line: line_no,
        });
    }

    fn ping_group(&mut self, line_no: usize, rest: &str) {
        let mut fields = rest.split_whitespace();
        let Some(name) = fields.next() else {
            self.error(
                line_no,
                "ping_group needs a name and addresses: ping_group NAME IP...",
            );
            return;
        };
        let mut members = Vec::new();
        for value in fields {
            match value.parse::<IpAddr>() {
                Ok(addr) => members.push(addr),
                Err(_) => {
                    self.error(
                        line_no,
                        format!("ping_group {}: `{}` is not an IP address (twinbeat does not resolve host names)", shown(name), shown(value)),
                    );
                    return;
                }
            }
        }
        if members.is_empty() {
            self.error(
                line_no,
                format!(
                    "ping_group {} has no addresses: ping_group NAME IP...",
                    shown(name)
                ),
            );
            return;
        }
        if let Some(earlier) = self.cfg.ping_groups.iter().find(|g| g.name == name) {
            let line = earlier.line;
            self.error(
                line_no,
                format!(
                    "ping_group `{}` is already declared on line {line}",
                    shown(name)
                ),
            );
            return;
        }
        self.cfg.ping_groups.push(PingGroup {
            name: name.to_string(),
            members,
            line: line_no,
        });
    }

    /// Defaults that depend on other values, then the checks across
    /// directives, as Heartbeat's init_config does them.
    fn finish(mut self) -> HaCf {
        let keepalive = self.cfg.keepalive.value;
        let deadtime = self.cfg.deadtime.value;
        if !self.warntime_set {
            self.cfg.warntime = Setting::default_value(deadtime / 2);
        }
        if !self.initdead_set {
            let initdead = if deadtime > Duration::from_secs(10) {
                deadtime
            } else if deadtime < Duration::from_secs(6) {
                Duration::from_secs(12)
            } else {
                deadtime * 2
            };
            self.cfg.initdead = Setting::default_value(initdead);
        }
        if !self.deadping_set {
            self.cfg.deadping = Setting::default_value(deadtime);
        }
        if keepalive.is_zero() {
            let line = self.cfg.keepalive.line.unwrap_or(0);
            self.error(line, "keepalive must be more than zero");
        }
        if deadtime <= keepalive * 2 {
            let line = self
                .cfg
                .deadtime
                .line
                .or(self.cfg.keepalive.line)
                .unwrap_or(0);
            self.error(
                line,
                format!(
                    "deadtime ({}) must be more than twice keepalive ({})",
                    format_duration(deadtime),
                    format_duration(keepalive)
                ),
            );
        }
        let initdead = self.cfg.initdead.value;
        if self.initdead_set && initdead < deadtime {
            let line = self.cfg.initdead.line.unwrap_or(0);
            self.error(
                line,
                format!(
                    "initdead ({}) must not be less than deadtime ({})",
                    format_duration(initdead),
                    format_duration(deadtime)
                ),
            );
        } else if initdead < INITDEAD_WARN_BELOW && keepalive >= Duration::from_secs(1) {
            // Heartbeat warns whenever initdead < 10 s (its defaults never
            // are). twinbeat only warns at Heartbeat's own second-scale
            // timings: with sub-second keepalives the operator has chosen
            // millisecond detection on a network known to be up, and a
            // warning on every such file would bury the ones that matter.
            let line = self.cfg.initdead.line.unwrap_or(0);
            self.warning(
                line,
                format!(
                    "initdead ({}) may be too small: it allows for slow network startup and should be at least deadtime and at least 10 seconds",
                    format_duration(initdead)
                ),
            );
        }
        if self.deadping_set && self.cfg.deadping.value <= keepalive * 2 {
            let line = self.cfg.deadping.line.unwrap_or(0);
            self.error(
                line,
                format!(
                    "deadping ({}) must be more than twice keepalive ({})",
                    format_duration(self.cfg.deadping.value),
                    format_duration(keepalive)
                ),
            );
        }
        if self.warntime_set && self.cfg.warntime.value >= deadtime {
            let line = self.cfg.warntime.line.unwrap_or(0);
            self.warning(
                line,
                format!(
                    "warntime ({}) is not less than deadtime ({}): no late-keepalive warning will come before the peer is declared dead",
                    format_duration(self.cfg.warntime.value),
                    format_duration(deadtime)
                ),
            );
        }
        if self.cfg.links.is_empty() {
            self.error(
                0,
                "no heartbeat media: add at least one of bcast, mcast, ucast or serial",
            );
        }
        self.check_nodes();
        self.check_logging();
        if let (Some(beat), Some(backup)) = (&self.cfg.beat_core, &self.cfg.beat_backup_core)
            && backup.value == BackupCore::Core(beat.value)
        {
            let (core, line, beat_line) =
                (beat.value, backup.line.unwrap_or(0), beat.line.unwrap_or(0));
            self.error(
                line,
                format!(
                    "beat_backup_core {core} is beat_core's core (line {beat_line}): the backup sender must run on another core to cover for the beat thread; name another core or `off`"
                ),
            );
        }
        if self.cfg.auto_failback.is_default() {
            self.warning(
                0,
                "auto_failback not set: using Heartbeat's deprecated `legacy` mode (no standby); set `auto_failback on` or `off`",
            );
        }
        self.cfg
    }

    /// Heartbeat's check_logd_usage: with no logfile, debugfile or
    /// logfacility, use_logd defaults to on, and `use_logd off` is an
    /// error (Heartbeat would have nowhere to log). A facility of `none`
    /// or `kern` counts as no facility, as in Heartbeat, where both map to
    /// 0 and only a facility above 0 counts. Heartbeat's two warnings
    /// recommending logd are not repeated: twinbeat has no logd to
    /// recommend.
    fn check_logging(&mut self) {
        let facility_set = self
            .cfg
            .logfacility
            .as_ref()
            .is_some_and(|f| f.value != "none" && f.value != "kern");
        if self.cfg.logfile.is_some() || self.cfg.debugfile.is_some() || facility_set {
            return;
        }
        match self.cfg.use_logd.line {
            None => self.cfg.use_logd = Setting::default_value(true),
            Some(line) if !self.cfg.use_logd.value => self.error(
                line,
                "no log entry found in ha.cf (logfile, debugfile or logfacility) and use_logd is set to off: Heartbeat refuses this; twinbeat itself always logs to stderr (RUST_LOG sets the level), so remove `use_logd off` or add the logfile or logfacility Heartbeat would use",
            ),
            Some(_) => {}
        }
    }

    fn check_nodes(&mut self) {
        if self.cfg.nodes.is_empty() {
            self.error(
                0,
                "no nodes: add `node NAME1 NAME2` with both nodes' `uname -n`",
            );
            return;
        }
        if self.cfg.nodes.len() > MAX_NODES {
            let extra = &self.cfg.nodes[MAX_NODES..];
            let line = extra.first().map_or(0, |n| n.line);
            let names: Vec<String> = self.cfg.nodes.iter().map(|n| n.name.clone()).collect();
            self.error(
                line,
                format!(
                    "twinbeat runs pairs: at most {MAX_NODES} nodes, found {} ({})",
                    names.len(),
                    names.join(", ")
                ),
            );
        }
        let nodes = self.cfg.nodes.clone();
        for (i, a) in nodes.iter().enumerate() {
            for b in nodes.iter().skip(i + 1) {
                if crate::wire::node_id(&a.name) == crate::wire::node_id(&b.name) {
                    self.error(
                        b.line,
                        format!(
                            "nodes `{}` and `{}` have the same wire id {:#06x}: rename one of them",
                            a.name,
                            b.name,
                            crate::wire::node_id(&a.name)
                        ),
                    );
                }
            }
        }
    }
}

/// Every directive name this parser understands (acted on or ignored).
fn is_known(directive: &str) -> bool {
    const ACTED_ON: &[&str] = &[
        "keepalive",
        "deadtime",
        "warntime",
        "initdead",
        "deadping",
        "udpport",
        "baud",
        "bcast",
        "udp",
        "mcast",
        "mcast6",
        "ucast",
        "ucast6",
        "serial",
        "node",
        "auto_failback",
        "nice_failback",
        "ping",
        "ping_group",
        "watchdog",
        "realtime",
        "logfile",
        "debugfile",
        "logfacility",
        "use_logd",
        "respawn",
        "crm",
        "pacemaker",
        "bind_address",
        "state_dir",
        "run_dir",
        "cluster",
        "beat_core",
        "beat_backup_core",
        "realtime_priority",
        "rtprio",
        "cpu_latency",
        "builtin_ipaddr",
    ];
    ACTED_ON.contains(&directive)
        || super::knobs::DIRECTIVES.contains(&directive)
        || IGNORED.iter().any(|(name, _)| *name == directive)
}
