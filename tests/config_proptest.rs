//! The three parsers and the time parser never panic, whatever they read.

use std::path::Path;

use proptest::prelude::*;
use twinbeat::config::{Diagnostics, authkeys, duration, hacf, haresources};

/// Words the parsers give meaning to, so random lines reach deep paths.
const WORDS: &[&str] = &[
    "keepalive",
    "deadtime",
    "warntime",
    "initdead",
    "deadping",
    "udpport",
    "baud",
    "bcast",
    "mcast",
    "ucast",
    "serial",
    "node",
    "auto_failback",
    "nice_failback",
    "ping",
    "ping_group",
    "respawn",
    "apiauth",
    "crm",
    "cluster",
    "beat_core",
    "beat_backup_core",
    "auth",
    "1",
    "15",
    "16",
    "crc",
    "md5",
    "sha1",
    "sha256",
    "IPaddr::",
    "IPaddr2::10.0.0.1/",
    "/",
    "::",
    "\\",
    "#",
    ",",
    "{{",
    "}}",
    "1.5",
    "100us",
    "ms",
    "-1",
    "eth0",
    "239.0.0.1",
    "10.0.0.1:",
    "[::1]:",
    "/dev/ttyS0",
    " ",
    "\t",
    "\n",
    "\r",
    "é",
    "\u{0}",
    "\u{1b}[31m",
    "\u{202e}",
    "watchdog",
    "rtprio",
    "use_logd",
    "logfile",
    "${X}",
];

fn wordy_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..60).prop_map(|w| w.concat())
}

fn all_parsers(text: &str) {
    let mut d = Diagnostics::new();
    let cfg = hacf::parse(text, Path::new("ha.cf"), &mut d);
    let _ = cfg.cluster_name();
    let _ = authkeys::parse(text, Path::new("authkeys"), &mut d);
    let _ = haresources::parse(text, Path::new("haresources"), &mut d);
    // Whatever a file holds, no control character reaches the terminal.
    for diag in d.iter() {
        let shown = diag.to_string();
        assert!(
            !shown.chars().any(char::is_control) && !shown.contains('\u{202e}'),
            "raw control character in {shown:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic_on_arbitrary_strings(text in any::<String>()) {
        all_parsers(&text);
        let _ = duration::parse_duration(&text);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        all_parsers(&text);
    }

    #[test]
    fn parsers_never_panic_on_near_valid_text(text in wordy_text()) {
        all_parsers(&text);
        let _ = duration::parse_duration(&text);
    }

    #[test]
    fn durations_in_microseconds_read_back_exactly(us in 0u64..=u64::MAX / 1_000_000) {
        let d = std::time::Duration::from_micros(us);
        prop_assert_eq!(duration::parse_duration(&format!("{us}us")), Ok(d));
        prop_assert_eq!(duration::parse_duration(&duration::format_duration(d)), Ok(d));
    }
}
