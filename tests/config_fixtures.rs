//! Configuration fixtures: the seed document's files, a file with every
//! directive, and one bad input per rule with the exact message expected.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use twinbeat::config::{
    self, AuthMethod, AutoFailback, ConfigError, Diagnostics, LinkSpec, authkeys, hacf, haresources,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn read(rel: &str) -> String {
    fs::read_to_string(fixture(rel)).expect("fixture exists")
}

/// Copies a fixture directory to a temporary one with authkeys at 0600, as
/// an operator installs it (git checks files out 0644).
fn install(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in fs::read_dir(fixture(rel)).expect("fixture dir") {
        let entry = entry.expect("entry");
        let to = dir.path().join(entry.file_name());
        fs::copy(entry.path(), &to).expect("copy");
        let mode = if entry.file_name() == "authkeys" {
            0o600
        } else {
            0o644
        };
        fs::set_permissions(&to, fs::Permissions::from_mode(mode)).expect("chmod");
    }
    dir
}

fn errors(d: &Diagnostics) -> Vec<String> {
    d.errors().map(ToString::to_string).collect()
}

fn warnings(d: &Diagnostics) -> Vec<String> {
    d.warnings().map(ToString::to_string).collect()
}

/// Errors of a failed load, with the temporary directory replaced by `DIR`.
fn load_errors(dir: &Path, node: &str) -> Vec<String> {
    match config::load_dir(dir, node) {
        Ok(_) => panic!("expected {} to be refused", dir.display()),
        Err(ConfigError::Invalid(d)) => {
            let prefix = format!("{}/", dir.display());
            errors(&d)
                .iter()
                .map(|e| e.replace(&prefix, "DIR/"))
                .collect()
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

// ---------------------------------------------------------------- seed

#[test]
fn seed_with_template_placeholder_is_refused_naming_the_line() {
    let dir = install("seed_placeholder");
    assert_eq!(
        load_errors(dir.path(), "host41"),
        vec![
            "DIR/ha.cf:8: ucast: `{{ slave的IP地址 }}` is not an IP address; it looks like an unfilled template placeholder: put the peer's IP address there",
            // The seed's haresources names `node1`, a node its ha.cf does
            // not have; errors from every file come together.
            "DIR/haresources:1: node `node1` is not a node in ha.cf (host41, host42)",
        ]
    );
}

#[test]
fn seed_with_real_address_is_valid_with_its_values() {
    let dir = install("seed_filled");
    let cfg = config::load_dir(dir.path(), "HOST41").expect("valid");
    assert_eq!(cfg.node, "host41");
    assert_eq!(cfg.peer.as_deref(), Some("host42"));
    let h = &cfg.hacf;
    assert_eq!(h.keepalive.value, Duration::from_secs(2));
    assert_eq!(h.warntime.value, Duration::from_secs(5));
    assert_eq!(h.deadtime.value, Duration::from_secs(30));
    assert_eq!(h.initdead.value, Duration::from_secs(120));
    assert_eq!(h.deadping.value, Duration::from_secs(30));
    assert!(h.deadping.is_default());
    assert_eq!(h.udpport.value, 6942);
    assert_eq!(h.baud.value, 19_200);
    assert!(h.baud.is_default());
    assert_eq!(h.auto_failback.value, AutoFailback::Off);
    assert_eq!(
        h.watchdog.as_ref().map(|w| w.value.clone()),
        Some(PathBuf::from("/dev/watchdog"))
    );
    assert!(h.use_logd.value);
    assert_eq!(h.respawn.len(), 2);
    assert_eq!(
        h.respawn[1].program,
        PathBuf::from("/usr/lib64/heartbeat/dopd")
    );
    assert_eq!(
        h.links
            .iter()
            .map(|l| (l.spec.clone(), l.line))
            .collect::<Vec<_>>(),
        vec![
            (LinkSpec::Bcast { dev: "eth0".into() }, 6),
            (
                LinkSpec::Ucast {
                    dev: "eth1".into(),
                    peer: IpAddr::V4(Ipv4Addr::new(192, 168, 10, 42)),
                    port: None
                },
                8
            ),
        ]
    );
    assert_eq!(cfg.cluster_name(), "host41,host42");
    assert_eq!(cfg.auth.active_index(), 2);
    assert!(matches!(cfg.auth.active(), AuthMethod::Sha1 { key } if key == b"somewords"));
    assert_eq!(cfg.groups.len(), 1);
    let g = &cfg.groups[0];
    assert_eq!(g.home_node, "host41");
    assert_eq!(
        g.resources
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec![
            "IPaddr::192.168.60.200/24/eth0/",
            "Filesystem::/dev/sdb5::/webdata::ext3",
            "httpd",
            "tomcat"
        ]
    );
    assert_eq!(
        warnings(&cfg.warnings)
            .iter()
            .map(|w| w.replace(&format!("{}/", dir.path().display()), "DIR/"))
            .collect::<Vec<_>>(),
        vec![
            "DIR/ha.cf:15: warning: `apiauth` is ignored: twinbeat has no Heartbeat API clients to authorize; `twinbeat status`/`cl_status` use the control socket in run_dir"
        ]
    );
}

#[test]
fn effective_config_of_the_seed_fills_defaults_and_hides_keys() {
    let dir = install("seed_filled");
    let cfg = config::load_dir(dir.path(), "host41").expect("valid");
    let text = config::render_effective(&cfg);
    for expected in [
        "node host41  # this node",
        "node host42  # peer",
        "keepalive 2\n",
        "deadping 30  # default\n",
        "udpport 6942\n",
        "baud 19200  # default\n",
        "bind_address 0.0.0.0  # default\n",
        "state_dir /var/lib/twinbeat  # default\n",
        "run_dir /run/twinbeat  # default\n",
        "realtime_priority 50  # default\n",
        "bcast eth0  # link 0: port 6942, ha.cf line 6\n",
        "ucast eth1 192.168.10.42  # link 1: peer port 6942 (udpport), ha.cf line 8\n",
        "auth 2  # sha1 signs outgoing frames\n2 sha1\n",
        "host41 IPaddr::192.168.60.200/24/eth0/ Filesystem::/dev/sdb5::/webdata::ext3 httpd tomcat  # group 0, haresources line 1\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("somewords"), "a key was printed:\n{text}");
}

// ------------------------------------------------------- every directive

#[test]
fn every_directive_file_is_valid_and_acted_on() {
    let dir = install("every_directive");
    let cfg = config::load_dir(dir.path(), "alpha").expect("valid");
    let h = &cfg.hacf;
    assert_eq!(cfg.peer.as_deref(), Some("beta"));
    assert_eq!(h.keepalive.value, Duration::from_millis(3));
    assert_eq!(h.deadtime.value, Duration::from_millis(10));
    assert_eq!(h.warntime.value, Duration::from_millis(6));
    assert_eq!(h.initdead.value, Duration::from_secs(10));
    assert_eq!(h.deadping.value, Duration::from_millis(1500));
    assert_eq!(h.udpport.value, 7000);
    assert_eq!(h.baud.value, 115_200);
    let kinds: Vec<&str> = h.links.iter().map(|l| l.spec.kind()).collect();
    assert_eq!(
        kinds,
        [
            "bcast", "bcast", "bcast", "mcast", "ucast", "ucast", "ucast", "serial"
        ]
    );
    assert_eq!(h.links[2].spec, LinkSpec::Bcast { dev: "eth5".into() });
    assert_eq!(
        h.links[3].spec,
        LinkSpec::Mcast {
            dev: "eth2".into(),
            group: Ipv4Addr::new(239, 192, 0, 42),
            port: 694,
            ttl: 1,
            loop_: false
        }
    );
    assert!(matches!(
        &h.links[5].spec,
        LinkSpec::Ucast {
            port: Some(7001),
            ..
        }
    ));
    assert!(matches!(
        &h.links[6].spec,
        LinkSpec::Ucast {
            peer: IpAddr::V6(_),
            port: None,
            ..
        }
    ));
    assert_eq!(
        h.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    assert_eq!(h.auto_failback.value, AutoFailback::On);
    assert_eq!(h.pings.len(), 2);
    assert_eq!(h.ping_groups[0].members.len(), 2);
    assert_eq!(
        h.logfacility.as_ref().map(|f| f.value.as_str()),
        Some("local0")
    );
    assert!(!h.use_logd.value);
    assert_eq!(h.respawn[0].args, ["-d"]);
    assert_eq!(h.bind_address.value, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(h.state_dir.value, PathBuf::from("/var/lib/twinbeat-a"));
    assert_eq!(h.run_dir.value, PathBuf::from("/run/twinbeat-a"));
    assert_eq!(cfg.cluster_name(), "pair1");
    assert_eq!(cfg.cluster_id(), twinbeat::wire::cluster_id("pair1"));
    assert_eq!(h.beat_core.as_ref().map(|c| c.value), Some(1));
    assert_eq!(
        h.beat_backup_core.as_ref().map(|c| c.value),
        Some(twinbeat::config::BackupCore::Core(0))
    );
    assert_eq!(h.realtime_priority.value, 70);
    assert_eq!(cfg.auth.active_index(), 3);
    assert_eq!(cfg.auth.defined().count(), 3);
    assert_eq!(cfg.groups.len(), 2);
    assert_eq!(cfg.groups[0].line, 2);
    assert_eq!(cfg.groups[0].resources.len(), 4);
    assert_eq!(cfg.groups[0].resources[0].script, "IPaddr");
    assert_eq!(
        cfg.groups[0].resources[1]
            .ip
            .as_ref()
            .and_then(|ip| ip.broadcast),
        Some(Ipv4Addr::new(10, 0, 0, 255))
    );
    // Every accepted-but-ignored or deprecated directive is a warning
    // naming its line.
    let prefix = format!("{}/", dir.path().display());
    let got: Vec<String> = warnings(&cfg.warnings)
        .iter()
        .map(|w| w.replace(&prefix, "DIR/"))
        .collect();
    assert_eq!(got, EVERY_DIRECTIVE_WARNINGS);
}

const EVERY_DIRECTIVE_WARNINGS: &[&str] = &[
    "DIR/ha.cf:10: warning: `udp` is an old name for `bcast`; write `bcast`",
    "DIR/ha.cf:18: warning: `nice_failback` is deprecated: read as `auto_failback off`; write that instead",
    "DIR/ha.cf:19: warning: `auto_failback` set again (also on line 18); this line wins",
    "DIR/ha.cf:22: warning: `hbaping` is ignored: twinbeat has no fibre-channel ping nodes",
    "DIR/ha.cf:36: warning: `realtime_priority` sets realtime_priority again (also on line 25); this line wins",
    "DIR/ha.cf:37: warning: `apiauth` is ignored: twinbeat has no Heartbeat API clients to authorize; `twinbeat status`/`cl_status` use the control socket in run_dir",
    "DIR/ha.cf:38: warning: `stonith` is ignored: twinbeat runs no STONITH plugins; a dead peer's groups are taken over without fencing (`fence_command` runs a command when a local stop fails)",
    "DIR/ha.cf:39: warning: `stonith_host` is ignored: twinbeat runs no STONITH plugins; a dead peer's groups are taken over without fencing (`fence_command` runs a command when a local stop fails)",
    "DIR/ha.cf:40: warning: `failfast` is ignored: twinbeat does not run failfast children",
    "DIR/ha.cf:41: warning: `compression` is ignored: twinbeat keepalives are fixed-size binary frames and are never compressed",
    "DIR/ha.cf:42: warning: `compression_threshold` is ignored: twinbeat keepalives are fixed-size binary frames and are never compressed",
    "DIR/ha.cf:43: warning: `traditional_compression` is ignored: twinbeat keepalives are fixed-size binary frames and are never compressed",
    "DIR/ha.cf:44: warning: `conn_logd_time` is ignored: twinbeat does not connect to Heartbeat's logd",
    "DIR/ha.cf:45: warning: `msgfmt` is ignored: twinbeat uses its own binary wire format",
    "DIR/ha.cf:46: warning: `hopfudge` is ignored: twinbeat never forwards messages between links",
    "DIR/ha.cf:47: warning: `hbgenmethod` is ignored: twinbeat always keeps its generation number in a file in state_dir",
    "DIR/ha.cf:48: warning: `coredumps` is ignored: twinbeat leaves core dumps to the system settings",
    "DIR/ha.cf:49: warning: `coreroot` is ignored: twinbeat leaves core dumps to the system settings",
    "DIR/ha.cf:50: warning: `autojoin` is ignored: a twinbeat pair is exactly the two `node` names; nodes never join automatically",
    "DIR/ha.cf:51: warning: `uuidfrom` is ignored: twinbeat identifies nodes by name",
    "DIR/ha.cf:52: warning: `crm off` is ignored: twinbeat always manages resources from haresources",
    "DIR/ha.cf:53: warning: `pacemaker respawn` is ignored: twinbeat has no CRM (Pacemaker); it manages resources from haresources",
    "DIR/ha.cf:54: warning: `crm_daemon_dir` is ignored: twinbeat has no CRM (Pacemaker); it manages resources from haresources",
    "DIR/ha.cf:55: warning: `crmd_spawns_pengine` is ignored: twinbeat has no CRM (Pacemaker); it manages resources from haresources",
    "DIR/ha.cf:56: warning: `debug` is ignored: twinbeat's log level is set with the RUST_LOG environment variable",
    "DIR/ha.cf:57: warning: `max_rexmit_delay` is ignored: twinbeat never retransmits: every keepalive is fresh",
    "DIR/ha.cf:58: warning: `env` is ignored: twinbeat does not pass environment settings to respawned programs",
    "DIR/ha.cf:59: warning: `log_badpack` is ignored: twinbeat counts bad packets per link in `twinbeat status`",
    "DIR/ha.cf:60: warning: `use_apphbd` is ignored: twinbeat does not register with apphbd",
    "DIR/ha.cf:61: warning: `syslogmsgfmt` is ignored: twinbeat's log format is its own",
    "DIR/ha.cf:62: warning: `record_config_changes` is ignored: twinbeat has no CIB",
    "DIR/ha.cf:63: warning: `record_pengine_inputs` is ignored: twinbeat has no CIB",
    "DIR/ha.cf:64: warning: `enable_config_writes` is ignored: twinbeat has no CIB",
    "DIR/ha.cf:65: warning: `memreserve` is ignored: twinbeat does not preallocate a memory reserve",
    "DIR/ha.cf:66: warning: `quorum_server` is ignored: a twinbeat pair has no quorum server",
    "DIR/ha.cf:67: warning: `normalpoll` is ignored: twinbeat's beat loop uses io_uring or poll by itself",
];

// ------------------------------------------------ one bad input per rule

fn hacf_errors(rel: &str) -> Vec<String> {
    let mut d = Diagnostics::new();
    hacf::parse(&read(rel), Path::new("ha.cf"), &mut d);
    errors(&d)
}

#[test]
fn each_hacf_rule_has_its_exact_message() {
    let cases: &[(&str, &str)] = &[
        (
            "unknown_directive.cf",
            "ha.cf:4: unknown directive `frobnicate`",
        ),
        (
            "bad_time_unit.cf",
            "ha.cf:4: keepalive: unknown time unit `minutes` in `2 minutes` (expected none for seconds, ms or us)",
        ),
        (
            "negative_time.cf",
            "ha.cf:4: deadtime: negative time value `-5`: times must be zero or more",
        ),
        (
            "sub_microsecond.cf",
            "ha.cf:4: keepalive: time value `0.5us` is not a whole number of microseconds",
        ),
        (
            "deadtime_not_twice_keepalive.cf",
            "ha.cf:2: deadtime (2) must be more than twice keepalive (1)",
        ),
        (
            "initdead_below_deadtime.cf",
            "ha.cf:2: initdead (20) must not be less than deadtime (30)",
        ),
        (
            "deadping_too_small.cf",
            "ha.cf:2: deadping (2) must be more than twice keepalive (1)",
        ),
        (
            "udpport_after_media.cf",
            "ha.cf:2: udpport must come before the media lines that use it (bcast on line 1)",
        ),
        (
            "baud_after_serial.cf",
            "ha.cf:2: baud must come before the serial lines that use it (serial on line 1)",
        ),
        (
            "baud_not_standard.cf",
            "ha.cf:1: baud `12345` is not a standard rate (9600, 19200, 38400, 57600, 115200, 230400, 460800)",
        ),
        (
            "mcast_missing_field.cf",
            "ha.cf:1: mcast needs five fields: mcast DEV GROUP PORT TTL LOOP (found 4)",
        ),
        (
            "mcast_ttl.cf",
            "ha.cf:1: mcast: ttl `5` must be a number from 0 to 4",
        ),
        (
            "mcast_not_multicast.cf",
            "ha.cf:1: mcast: `10.0.0.1` is not an IPv4 multicast group (224.0.0.0 to 239.255.255.255)",
        ),
        (
            "serial_not_absolute.cf",
            "ha.cf:1: serial `ttyS0` must be an absolute path",
        ),
        (
            "ucast_not_ip.cf",
            "ha.cf:1: ucast: `peer.example.com` is not an IP address or IP:PORT (twinbeat does not resolve host names)",
        ),
        (
            "no_media.cf",
            "ha.cf: no heartbeat media: add at least one of bcast, mcast, ucast or serial",
        ),
        (
            "no_nodes.cf",
            "ha.cf: no nodes: add `node NAME1 NAME2` with both nodes' `uname -n`",
        ),
        (
            "three_nodes.cf",
            "ha.cf:3: twinbeat runs pairs: at most 2 nodes, found 3 (a, b, c)",
        ),
        (
            "node_id_collision.cf",
            "ha.cf:3: nodes `node97` and `node179` have the same wire id 0x9804: rename one of them",
        ),
        (
            "bad_boolean.cf",
            "ha.cf:4: realtime `maybe`: expected on or off (yes/no, true/false, 1/0)",
        ),
        (
            "realtime_priority_range.cf",
            "ha.cf:4: realtime_priority `100` must be a number from 1 to 99",
        ),
        (
            "backup_core_is_beat_core.cf",
            "ha.cf:5: beat_backup_core 1 is beat_core's core (line 4): the backup sender must run on another core to cover for the beat thread; name another core or `off`",
        ),
        (
            "backup_core_bad.cf",
            "ha.cf:4: beat_backup_core `first` is not a core number (0, 1, ...) or off",
        ),
        (
            "udpport_range.cf",
            "ha.cf:1: udpport `70000` must be a port number from 1 to 65535",
        ),
        (
            "mcast6.cf",
            "ha.cf:4: `mcast6` (IPv6 multicast) is not supported by twinbeat; use `mcast` or `ucast` with an IPv6 address",
        ),
        (
            "watchdog_twice.cf",
            "ha.cf:5: watchdog device given twice: first at line 4",
        ),
        (
            "baud_twice.cf",
            "ha.cf:2: baudrate multiply specified: first at line 1",
        ),
        (
            "rtprio_range.cf",
            "ha.cf:4: rtprio `0` must be a number from 1 to 99",
        ),
        (
            "use_logd_off_without_log.cf",
            "ha.cf:4: no log entry found in ha.cf (logfile, debugfile or logfacility) and use_logd is set to off: Heartbeat refuses this; twinbeat itself always logs to stderr (RUST_LOG sets the level), so remove `use_logd off` or add the logfile or logfacility Heartbeat would use",
        ),
        (
            "nice_failback_bad.cf",
            "ha.cf:4: nice_failback `maybe`: expected on or off",
        ),
        (
            "placeholder_bcast.cf",
            "ha.cf:4: bcast: `{{ heartbeat_iface }}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_watchdog.cf",
            "ha.cf:4: watchdog: `${WATCHDOG}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_node.cf",
            "ha.cf:3: node: `{{ peer_name }}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_serial.cf",
            "ha.cf:4: serial: `<serial-device>` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_ping.cf",
            "ha.cf:4: ping: `%GATEWAY%` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_mcast.cf",
            "ha.cf:4: mcast: `{{ group }}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_logfile.cf",
            "ha.cf:4: logfile: `{{ log_dir }}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "placeholder_keepalive.cf",
            "ha.cf:4: keepalive: `{{ keepalive }}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "iface_too_long.cf",
            "ha.cf:4: bcast: `eth0.veryverylong1` is not a network interface name (1 to 15 bytes, no `/`, spaces or control characters)",
        ),
        (
            "iface_control_char.cf",
            "ha.cf:4: bcast: `eth\\u{1}x` is not a network interface name (1 to 15 bytes, no `/`, spaces or control characters)",
        ),
        (
            "iface_slash.cf",
            "ha.cf:4: mcast: `../eth0` is not a network interface name (1 to 15 bytes, no `/`, spaces or control characters)",
        ),
        (
            "node_control_char.cf",
            "ha.cf:2: node `b\\u{1b}[2J` is not a node name (as `uname -n` gives it: 1 to 64 bytes, no spaces or control characters)",
        ),
        (
            "escape_in_directive.cf",
            "ha.cf:4: unknown directive `frob\\u{1b}]0;pwned\\u{7}`",
        ),
        (
            "escape_in_value.cf",
            "ha.cf:4: baud `9600\\u{1b}[31m` is not a standard rate (9600, 19200, 38400, 57600, 115200, 230400, 460800)",
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(
            hacf_errors(&format!("bad/hacf/{file}")),
            vec![expected.to_string()],
            "{file}"
        );
    }
}

#[test]
fn all_errors_of_one_file_are_reported() {
    assert_eq!(
        hacf_errors("bad/hacf/many_errors.cf"),
        vec![
            "ha.cf:1: keepalive: `fast` is not a time value (expected a number with an optional unit: 2, 1.5, 500ms, 100us)",
            "ha.cf:2: unknown directive `frobnicate`",
            "ha.cf:3: mcast needs five fields: mcast DEV GROUP PORT TTL LOOP (found 2)",
            "ha.cf:5: serial `dev/ttyS0` must be an absolute path",
            "ha.cf: no heartbeat media: add at least one of bcast, mcast, ucast or serial",
            "ha.cf:4: twinbeat runs pairs: at most 2 nodes, found 3 (a, b, c)",
        ]
    );
}

#[test]
fn hacf_warnings_for_defaults_and_deprecated_directives() {
    let mut d = Diagnostics::new();
    let cfg = hacf::parse(
        "bcast eth0\nnode a b\nnice_failback on\ncrm on\nudp eth1\n",
        Path::new("ha.cf"),
        &mut d,
    );
    assert!(!d.has_errors(), "{d}");
    assert_eq!(cfg.auto_failback.value, AutoFailback::Off);
    assert_eq!(cfg.links.len(), 2);
    assert_eq!(
        warnings(&d),
        vec![
            "ha.cf:3: warning: `nice_failback` is deprecated: read as `auto_failback off`; write that instead",
            "ha.cf:4: warning: `crm on` is ignored: twinbeat has no CRM (Pacemaker); it manages resources from haresources",
            "ha.cf:5: warning: `udp` is an old name for `bcast`; write `bcast`",
        ]
    );
    let mut d = Diagnostics::new();
    let cfg = hacf::parse("bcast eth0\nnode a b\n", Path::new("ha.cf"), &mut d);
    assert_eq!(cfg.auto_failback.value, AutoFailback::Legacy);
    assert_eq!(
        warnings(&d),
        vec![
            "ha.cf: warning: auto_failback not set: using Heartbeat's deprecated `legacy` mode (no standby); set `auto_failback on` or `off`"
        ]
    );
}

#[test]
fn timing_defaults_follow_heartbeat() {
    let parse = |text: &str| {
        let mut d = Diagnostics::new();
        let cfg = hacf::parse(text, Path::new("ha.cf"), &mut d);
        assert!(!d.has_errors(), "{d}");
        cfg
    };
    let base = "bcast eth0\nnode a b\nauto_failback on\n";
    let cfg = parse(base);
    assert_eq!(cfg.keepalive.value, Duration::from_secs(1));
    assert_eq!(cfg.deadtime.value, Duration::from_secs(30));
    assert_eq!(cfg.warntime.value, Duration::from_secs(15));
    assert_eq!(cfg.initdead.value, Duration::from_secs(30));
    let cfg = parse(&format!("{base}keepalive 100us\ndeadtime 1ms\n"));
    assert_eq!(cfg.initdead.value, Duration::from_secs(12));
    assert_eq!(cfg.warntime.value, Duration::from_micros(500));
    let cfg = parse(&format!("{base}deadtime 8\n"));
    assert_eq!(cfg.initdead.value, Duration::from_secs(16));
    let cfg = parse(&format!(
        "{base}keepalive 500 ms # spaces before the unit\n"
    ));
    assert_eq!(cfg.keepalive.value, Duration::from_millis(500));
}

#[test]
fn each_authkeys_rule_has_its_exact_message() {
    let cases: &[(&str, &str)] = &[
        (
            "no_auth",
            "authkeys: no `auth N` line: name the key that signs outgoing messages",
        ),
        (
            "auth_undefined",
            "authkeys:1: `auth 3` names key 3, which is not defined",
        ),
        (
            "index_range",
            "authkeys:1: key index `16` must be a number from 1 to 15",
        ),
        (
            "crc_with_key",
            "authkeys:2: crc takes no key (it only detects corruption): write `N crc`",
        ),
        (
            "sha1_without_key",
            "authkeys:2: sha1 needs a key: N sha1 KEY",
        ),
        (
            "duplicate_index",
            "authkeys:3: key 1 is defined twice (first on line 2)",
        ),
        (
            "unknown_method",
            "authkeys:2: unknown auth method `sha512` (expected crc, md5, sha1 or sha256)",
        ),
        (
            "placeholder_key",
            "authkeys:2: this line holds an unfilled template placeholder (such as `{{ ... }}` or `${...}`): put the real value there",
        ),
        (
            "placeholder_index",
            "authkeys:1: this line holds an unfilled template placeholder (such as `{{ ... }}` or `${...}`): put the real value there",
        ),
        (
            "method_escape",
            "authkeys:2: unknown auth method `sha1\\u{1b}[5m` (expected crc, md5, sha1 or sha256)",
        ),
    ];
    for (file, expected) in cases {
        let mut d = Diagnostics::new();
        let keys = authkeys::parse(
            &read(&format!("bad/authkeys/{file}")),
            Path::new("authkeys"),
            &mut d,
        );
        assert!(keys.is_none(), "{file}");
        let mut got = errors(&d);
        // index_range reports both the auth line and the key line.
        got.truncate(1);
        assert_eq!(got, vec![expected.to_string()], "{file}");
    }
}

#[test]
fn authkeys_readable_by_others_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("authkeys");
    fs::write(&path, "auth 1\n1 sha1 secret\n").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let Err(ConfigError::Invalid(d)) = authkeys::load(&path) else {
        panic!("a 0644 authkeys was accepted");
    };
    assert_eq!(
        errors(&d),
        vec![format!(
            "{0}: permissions 0644 let group or others read the keys; run `chmod 600 {0}`",
            path.display()
        )]
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let (keys, _) = authkeys::load(&path).expect("0600 is accepted");
    assert_eq!(keys.active_index(), 1);
}

#[test]
fn each_haresources_rule_has_its_exact_message() {
    let cases: &[(&str, &str)] = &[
        (
            "duplicate_first",
            "haresources:2: resource `IPaddr::10.0.0.1` already starts the group on line 1: a group's first resource must be unique",
        ),
        (
            "bad_cidr",
            "haresources:1: `IPaddr::10.0.0.1/33/eth0`: netmask bits `33` must be a number from 0 to 32",
        ),
        (
            "bad_broadcast",
            "haresources:1: `IPaddr2::10.0.0.1/24/eth0/10.0.0`: broadcast `10.0.0` is not an IPv4 address",
        ),
        (
            "continued_line",
            "haresources:2: `IPaddr::10.0.0.300`: `10.0.0.300` is not an IPv4 address",
        ),
        (
            "no_resources",
            "haresources:1: group for node `a` lists no resources",
        ),
        (
            "placeholder",
            "haresources:1: `{{ vip }}` looks like an unfilled template placeholder: put the real value there",
        ),
        (
            "iface_escape",
            "haresources:1: `IPaddr::10.0.0.1/24/eth0\\u{1b}[1m`: `eth0\\u{1b}[1m` is not a network interface name (1 to 15 bytes, no `/`, spaces or control characters)",
        ),
    ];
    for (file, expected) in cases {
        let mut d = Diagnostics::new();
        haresources::parse(
            &read(&format!("bad/haresources/{file}")),
            Path::new("haresources"),
            &mut d,
        );
        assert_eq!(errors(&d), vec![expected.to_string()], "{file}");
    }
}

// ------------------------------------------------------ cross-file rules

fn dir_with(hacf: &str, authkeys: &str, haresources: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("ha.cf"), hacf).expect("write");
    let keys = dir.path().join("authkeys");
    fs::write(&keys, authkeys).expect("write");
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o600)).expect("chmod");
    if let Some(text) = haresources {
        fs::write(dir.path().join("haresources"), text).expect("write");
    }
    dir
}

const PAIR: &str = "auto_failback on\nbcast eth0\nnode a b\n";
const KEYS: &str = "auth 1\n1 sha1 k\n";

#[test]
fn this_node_must_be_declared() {
    let dir = dir_with(PAIR, KEYS, Some("a httpd\n"));
    assert_eq!(
        load_errors(dir.path(), "c"),
        vec![
            "DIR/ha.cf:3: this node `c` is not among the nodes (a, b): add it to a `node` line or pass the right --node"
        ]
    );
}

#[test]
fn serial_keepalive_must_fit_on_the_wire() {
    let hacf = "auto_failback on\nkeepalive 100us\ndeadtime 1ms\nserial /dev/ttyS0\nnode a b\n";
    let dir = dir_with(hacf, KEYS, Some(""));
    // 32 bytes × 10 bits at 19200 baud = 16666.67 µs.
    assert_eq!(
        load_errors(dir.path(), "a"),
        vec![
            "DIR/ha.cf:2: keepalive 100us is shorter than one serial keepalive takes on the wire at 19200 baud with sha1 auth: keepalive must be at least 16667us with a serial link (line 4), or raise baud"
        ]
    );
    let fast =
        "auto_failback on\nbaud 460800\nkeepalive 1ms\ndeadtime 3ms\nserial /dev/ttyS0\nnode a b\n";
    let dir = dir_with(fast, KEYS, Some(""));
    assert!(config::load_dir(dir.path(), "a").is_ok());
}

#[test]
fn missing_files_and_all_files_errors_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let errs = load_errors(dir.path(), "a");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("DIR/ha.cf: cannot read: "), "{errs:?}");
    assert!(
        errs[1].starts_with("DIR/authkeys: cannot read: "),
        "{errs:?}"
    );

    let dir = dir_with(
        "frobnicate\nbcast eth0\nnode a b\n",
        "auth 2\n1 crc\n",
        Some("a 10.0.0.1/40\n"),
    );
    assert_eq!(
        load_errors(dir.path(), "a"),
        vec![
            "DIR/ha.cf:1: unknown directive `frobnicate`",
            "DIR/authkeys:1: `auth 2` names key 2, which is not defined",
            "DIR/haresources:1: `10.0.0.1/40`: netmask bits `40` must be a number from 0 to 32",
        ]
    );
}

#[test]
fn missing_haresources_is_a_warning() {
    let dir = dir_with(PAIR, KEYS, None);
    let cfg = config::load_dir(dir.path(), "b").expect("valid");
    assert!(cfg.groups.is_empty());
    assert_eq!(cfg.peer.as_deref(), Some("a"));
    assert!(
        cfg.warnings
            .warnings()
            .any(|w| w.message == "no haresources file: this node manages no resource groups")
    );
}

#[test]
fn seed_haresources_line_verbatim_runs_with_its_node_declared() {
    // The seed's haresources line, untouched, beside the seed's ha.cf with
    // `node1` among the nodes: the group, its order and its arguments.
    let dir = install("seed_node1");
    let cfg = config::load_dir(dir.path(), "node2").expect("valid");
    assert_eq!(cfg.groups.len(), 1);
    let g = &cfg.groups[0];
    assert_eq!(g.home_node, "node1");
    let shown: Vec<String> = g.resources.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "IPaddr::192.168.60.200/24/eth0/",
            "Filesystem::/dev/sdb5::/webdata::ext3",
            "httpd",
            "tomcat"
        ]
    );
    let ip = g.resources[0].ip.as_ref().expect("IPaddr is parsed");
    assert_eq!(ip.addr, Ipv4Addr::new(192, 168, 60, 200));
    assert_eq!(ip.cidr, Some(24));
    assert_eq!(ip.iface.as_deref(), Some("eth0"));
    assert_eq!(ip.broadcast, None);
    assert_eq!(g.resources[1].script, "Filesystem");
    assert_eq!(g.resources[1].args, ["/dev/sdb5", "/webdata", "ext3"]);
}

// ------------------------------------------------ Heartbeat semantics

fn parse_ok(text: &str) -> (hacf::HaCf, Vec<String>) {
    let mut d = Diagnostics::new();
    let cfg = hacf::parse(text, Path::new("ha.cf"), &mut d);
    assert!(!d.has_errors(), "{d}");
    (cfg, warnings(&d))
}

#[test]
fn nice_failback_maps_as_heartbeat_does() {
    let (cfg, w) = parse_ok("bcast eth0\nnode a b\nnice_failback on\n");
    assert_eq!(cfg.auto_failback.value, AutoFailback::Off);
    assert_eq!(
        w,
        [
            "ha.cf:3: warning: `nice_failback` is deprecated: read as `auto_failback off`; write that instead"
        ]
    );
    // Heartbeat: "nice_failback off has been strictly interpreted as
    // 'auto_failback legacy'".
    let (cfg, w) = parse_ok("bcast eth0\nnode a b\nnice_failback off\n");
    assert_eq!(cfg.auto_failback.value, AutoFailback::Legacy);
    assert!(!cfg.auto_failback.is_default());
    assert_eq!(
        w,
        [
            "ha.cf:3: warning: `nice_failback` is deprecated: read as `auto_failback legacy`, as Heartbeat does; consider `auto_failback on`"
        ]
    );
}

#[test]
fn use_logd_defaults_on_only_without_any_log_entry() {
    let base = "bcast eth0\nnode a b\nauto_failback on\n";
    let (cfg, _) = parse_ok(base);
    assert!(cfg.use_logd.value);
    assert!(cfg.use_logd.is_default());
    for entry in [
        "logfile /var/log/ha-log\n",
        "debugfile /var/log/ha-debug\n",
        "logfacility daemon\n",
    ] {
        let (cfg, _) = parse_ok(&format!("{base}{entry}"));
        assert!(!cfg.use_logd.value, "{entry}");
        let (cfg, _) = parse_ok(&format!("{base}{entry}use_logd off\n"));
        assert!(!cfg.use_logd.value, "{entry}");
    }
    // Heartbeat counts only a facility above 0: `none` and `kern` (both 0)
    // are no log entry.
    for facility in ["none", "kern"] {
        let (cfg, _) = parse_ok(&format!("{base}logfacility {facility}\n"));
        assert!(cfg.use_logd.value, "{facility}");
        let mut d = Diagnostics::new();
        hacf::parse(
            &format!("{base}logfacility {facility}\nuse_logd no\n"),
            Path::new("ha.cf"),
            &mut d,
        );
        assert_eq!(errors(&d).len(), 1, "{facility}: {d}");
        assert_eq!(d.errors().next().map(|e| e.line), Some(5));
    }
}

#[test]
fn initdead_below_ten_seconds_warns_only_at_second_scale_keepalives() {
    let base = "bcast eth0\nnode a b\nauto_failback on\n";
    let (_, w) = parse_ok(&format!("{base}keepalive 1\ndeadtime 5\ninitdead 8\n"));
    assert_eq!(
        w,
        [
            "ha.cf:6: warning: initdead (8) may be too small: it allows for slow network startup and should be at least deadtime and at least 10 seconds"
        ]
    );
    let (_, w) = parse_ok(&format!("{base}keepalive 1\ndeadtime 5\ninitdead 10\n"));
    assert!(w.is_empty(), "{w:?}");
    // Heartbeat's defaults never fall below 10 s.
    let (_, w) = parse_ok(&format!("{base}keepalive 1\ndeadtime 5\n"));
    assert!(w.is_empty(), "{w:?}");
    let (_, w) = parse_ok(&format!("{base}keepalive 100ms\ndeadtime 1\ninitdead 2\n"));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn rtprio_is_the_realtime_priority() {
    let (cfg, w) = parse_ok("bcast eth0\nnode a b\nauto_failback on\nrtprio 7\n");
    assert_eq!(cfg.realtime_priority.value, 7);
    assert_eq!(cfg.realtime_priority.line, Some(4));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn crm_takes_heartbeats_release2_modes() {
    for mode in ["minimal", "manual", "respawn", "valgrind", "yes"] {
        let (_, w) = parse_ok(&format!(
            "bcast eth0\nnode a b\nauto_failback on\ncrm {mode}\n"
        ));
        assert_eq!(w.len(), 1, "{mode}: {w:?}");
    }
}

#[test]
fn normal_values_stay_readable_in_messages() {
    let mut d = Diagnostics::new();
    hacf::parse(
        "bcast eth0\nnode a b\nauto_failback on\nping 网关\n",
        Path::new("ha.cf"),
        &mut d,
    );
    assert_eq!(
        errors(&d),
        ["ha.cf:4: ping `网关` is not an IP address (twinbeat does not resolve host names)"]
    );
}

#[test]
fn authkeys_permissions_are_those_of_the_file_read() {
    // The path is swapped for a 0600 file after the 0644 one was opened:
    // the check must judge the open file, not what the path names now.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("authkeys");
    fs::write(&path, "auth 1\n1 sha1 secret\n").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let opened = fs::File::open(&path).expect("open");
    let private = dir.path().join("authkeys.new");
    fs::write(&private, "auth 1\n1 sha1 other\n").expect("write");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::rename(&private, &path).expect("rename");
    let Err(ConfigError::Invalid(d)) = authkeys::load_file(opened, &path) else {
        panic!("the 0644 file that was read was accepted");
    };
    assert!(errors(&d)[0].contains("permissions 0644"), "{d}");
    assert!(authkeys::load(&path).is_ok());
}
