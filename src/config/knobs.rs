//! twinbeat's ha.cf extensions for the takeover process: how long resource
//! actions may take, how a failed stop is retried, how many gratuitous ARPs
//! the built-in IPaddr sends, and the fencing command. A plain Heartbeat
//! file sets none of them and gets Heartbeat's behaviour.
//!
//! - `resource_timeout start|stop|status DURATION`: time limit of one
//!   script action (defaults 60 s, 60 s, 20 s). The process group of an
//!   action still running at the limit is killed.
//! - `stop_retries N` (10) and `stop_retry_interval DURATION` (1 s): a
//!   failed stop is tried N more times, this far apart (Heartbeat's
//!   `HA_STOPRETRYMAX`), before the node is marked unclean.
//! - `arp_count N` (5) and `arp_interval DURATION` (200 ms): gratuitous ARPs
//!   sent when the built-in IPaddr/IPaddr2 adds an address.
//! - `fence_command PATH [ARGS...]`: run when a stop failed and the resource
//!   still runs (the node is unclean). Its environment carries
//!   `TWINBEAT_FENCE_NODE` (the node where the resource still runs: this
//!   one), `TWINBEAT_FENCE_PEER`, `TWINBEAT_FENCE_GROUP` (the group's first
//!   resource) and `TWINBEAT_FENCE_REASON`. Heartbeat's `stonith` and
//!   `stonith_host` stay ignored with a warning.
//! - `fence_timeout DURATION` (60 s): the fence command's time limit.
//! - `resource_probe_interval DURATION` (15 s; `0` = off): how often the
//!   takeover process asks `status` of the resources of groups it does not
//!   run. A takeover then starts at once, trusting a probe up to twice this
//!   old that said "stopped", instead of forking `status` first (the first
//!   start script runs within a fork of the verdict). `0` asks `status`
//!   right before each start, as Heartbeat does.
//!
//! Durations take Heartbeat's syntax (`30`, `1.5`, `500ms`, `100us`).

use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::diag::shown;
use super::duration::{format_duration, parse_duration};
use super::hacf::Setting;
use crate::ipaddr::ArpConfig;
use crate::resources::{StopRetry, Timeouts};

/// The directives this module owns; each takes the rest of its line.
pub const DIRECTIVES: &[&str] = &[
    "resource_timeout",
    "stop_retries",
    "stop_retry_interval",
    "arp_count",
    "arp_interval",
    "fence_command",
    "fence_timeout",
    "resource_probe_interval",
];

/// Default of `resource_probe_interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(15);

pub const DEFAULT_FENCE_TIMEOUT: Duration = Duration::from_secs(60);
/// More retries than this is a typo, not a policy (an hour at 1 s apart).
pub const MAX_STOP_RETRIES: u32 = 3600;
/// A burst of more gratuitous ARPs than this floods the segment for nothing.
pub const MAX_ARP_COUNT: u32 = 100;

/// `fence_command PATH [ARGS...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// The takeover process's tunables, each with where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeoverKnobs {
    pub start_timeout: Setting<Duration>,
    pub stop_timeout: Setting<Duration>,
    pub status_timeout: Setting<Duration>,
    pub stop_retries: Setting<u32>,
    pub stop_retry_interval: Setting<Duration>,
    pub arp_count: Setting<u32>,
    pub arp_interval: Setting<Duration>,
    pub fence_command: Option<Setting<FenceCommand>>,
    pub fence_timeout: Setting<Duration>,
    /// Zero: no probes, status right before each start.
    pub probe_interval: Setting<Duration>,
}

impl Default for TakeoverKnobs {
    fn default() -> Self {
        let t = Timeouts::default();
        let r = StopRetry::default();
        let a = ArpConfig::default();
        TakeoverKnobs {
            start_timeout: Setting::default_value(t.start),
            stop_timeout: Setting::default_value(t.stop),
            status_timeout: Setting::default_value(t.status),
            stop_retries: Setting::default_value(r.retries),
            stop_retry_interval: Setting::default_value(r.interval),
            arp_count: Setting::default_value(a.count),
            arp_interval: Setting::default_value(a.interval),
            fence_command: None,
            fence_timeout: Setting::default_value(DEFAULT_FENCE_TIMEOUT),
            probe_interval: Setting::default_value(DEFAULT_PROBE_INTERVAL),
        }
    }
}

/// What setting one directive came to: an error message, or an optional
/// warning (the value was set again on a later line).
pub type SetResult = Result<Option<String>, String>;

impl TakeoverKnobs {
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            start: self.start_timeout.value,
            stop: self.stop_timeout.value,
            status: self.status_timeout.value,
        }
    }

    pub fn stop_retry(&self) -> StopRetry {
        StopRetry {
            retries: self.stop_retries.value,
            interval: self.stop_retry_interval.value,
        }
    }

    pub fn arp(&self) -> ArpConfig {
        ArpConfig {
            count: self.arp_count.value,
            interval: self.arp_interval.value,
        }
    }

    /// Applies `directive` (one of [`DIRECTIVES`]) with the rest of its
    /// line, from line `line`.
    pub fn set(&mut self, directive: &str, rest: &str, line: usize) -> SetResult {
        let rest = rest.trim();
        if rest.is_empty() {
            return Err(format!("`{directive}` needs a value"));
        }
        match directive {
            "resource_timeout" => {
                let (action, value) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
                let d = duration(directive, value.trim())?;
                let slot = match action {
                    "start" => &mut self.start_timeout,
                    "stop" => &mut self.stop_timeout,
                    "status" | "monitor" => &mut self.status_timeout,
                    other => {
                        return Err(format!(
                            "resource_timeout: `{}` is not an action (start, stop or status)",
                            shown(other)
                        ));
                    }
                };
                if d.is_zero() {
                    return Err(format!(
                        "resource_timeout {action}: a zero timeout would kill every {action} at once"
                    ));
                }
                Ok(replace(
                    slot,
                    d,
                    line,
                    &format!("resource_timeout {action}"),
                ))
            }
            "stop_retries" => {
                let n = count(directive, rest, MAX_STOP_RETRIES)?;
                Ok(replace(&mut self.stop_retries, n, line, directive))
            }
            "stop_retry_interval" => {
                let d = duration(directive, rest)?;
                Ok(replace(&mut self.stop_retry_interval, d, line, directive))
            }
            "arp_count" => {
                let n = count(directive, rest, MAX_ARP_COUNT)?;
                Ok(replace(&mut self.arp_count, n, line, directive))
            }
            "arp_interval" => {
                let d = duration(directive, rest)?;
                Ok(replace(&mut self.arp_interval, d, line, directive))
            }
            "fence_timeout" => {
                let d = duration(directive, rest)?;
                if d.is_zero() {
                    return Err(
                        "fence_timeout: a zero timeout would kill the fence command at once"
                            .to_string(),
                    );
                }
                Ok(replace(&mut self.fence_timeout, d, line, directive))
            }
            "resource_probe_interval" => {
                let d = duration(directive, rest)?;
                Ok(replace(&mut self.probe_interval, d, line, directive))
            }
            "fence_command" => {
                let mut words = rest.split_whitespace();
                let program = PathBuf::from(words.next().unwrap_or(""));
                if !program.is_absolute() {
                    return Err(format!(
                        "fence_command: `{}` is not an absolute path",
                        shown(&program.to_string_lossy())
                    ));
                }
                let cmd = FenceCommand {
                    program,
                    args: words.map(str::to_string).collect(),
                };
                let warning = self
                    .fence_command
                    .as_ref()
                    .map(|old| again("fence_command", old.line));
                self.fence_command = Some(Setting {
                    value: cmd,
                    line: Some(line),
                });
                Ok(warning.flatten())
            }
            other => Err(format!("unknown directive `{}`", shown(other))),
        }
    }

    /// The effective values, ha.cf-like, defaults marked with `mark`.
    pub fn render(&self, out: &mut String, mark: &str) -> std::fmt::Result {
        let m = |default: bool| if default { mark } else { "" };
        for (action, s) in [
            ("start", &self.start_timeout),
            ("stop", &self.stop_timeout),
            ("status", &self.status_timeout),
        ] {
            writeln!(
                out,
                "resource_timeout {action} {}{}",
                format_duration(s.value),
                m(s.is_default())
            )?;
        }
        let s = &self.stop_retries;
        writeln!(out, "stop_retries {}{}", s.value, m(s.is_default()))?;
        for (name, s) in [
            ("stop_retry_interval", &self.stop_retry_interval),
            ("arp_interval", &self.arp_interval),
            ("fence_timeout", &self.fence_timeout),
            ("resource_probe_interval", &self.probe_interval),
        ] {
            writeln!(
                out,
                "{name} {}{}",
                format_duration(s.value),
                m(s.is_default())
            )?;
        }
        let s = &self.arp_count;
        writeln!(out, "arp_count {}{}", s.value, m(s.is_default()))?;
        match &self.fence_command {
            Some(f) => {
                let mut line = format!("fence_command {}", f.value.program.display());
                for a in &f.value.args {
                    line.push(' ');
                    line.push_str(a);
                }
                writeln!(out, "{line}")?;
            }
            None => writeln!(out, "# fence_command: none{mark}")?,
        }
        Ok(())
    }
}

fn again(directive: &str, previous: Option<usize>) -> Option<String> {
    previous
        .map(|earlier| format!("`{directive}` set again (also on line {earlier}); this line wins"))
}

fn replace<T>(slot: &mut Setting<T>, value: T, line: usize, directive: &str) -> Option<String> {
    let warning = again(directive, slot.line);
    *slot = Setting {
        value,
        line: Some(line),
    };
    warning
}

fn duration(directive: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{directive}: {e}"))
}

fn count(directive: &str, text: &str, max: u32) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n <= max => Ok(n),
        Ok(n) => Err(format!("{directive} {n} is more than {max}")),
        Err(_) => Err(format!(
            "{directive}: `{}` is not a whole number",
            shown(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_directive_sets_its_value_and_marks_it_set() {
        let mut k = TakeoverKnobs::default();
        assert_eq!(k.set("resource_timeout", "start 90", 3), Ok(None));
        assert_eq!(k.set("resource_timeout", "stop\t2500ms", 4), Ok(None));
        assert_eq!(k.set("resource_timeout", "status 5", 5), Ok(None));
        assert_eq!(k.set("stop_retries", "3", 6), Ok(None));
        assert_eq!(k.set("stop_retry_interval", "250ms", 7), Ok(None));
        assert_eq!(k.set("arp_count", "0", 8), Ok(None));
        assert_eq!(k.set("arp_interval", "50 ms", 9), Ok(None));
        assert_eq!(k.set("fence_timeout", "10", 10), Ok(None));
        assert_eq!(k.set("fence_command", "/usr/sbin/fence -x a", 11), Ok(None));
        assert_eq!(k.set("resource_probe_interval", "0", 12), Ok(None));
        assert_eq!(k.probe_interval.value, Duration::ZERO);
        assert_eq!(k.timeouts().start, Duration::from_secs(90));
        assert_eq!(k.timeouts().stop, Duration::from_millis(2500));
        assert_eq!(k.timeouts().status, Duration::from_secs(5));
        assert_eq!(k.stop_retry().retries, 3);
        assert_eq!(k.stop_retry().interval, Duration::from_millis(250));
        assert_eq!(k.arp().count, 0);
        assert_eq!(k.arp().interval, Duration::from_millis(50));
        assert_eq!(k.fence_timeout.value, Duration::from_secs(10));
        let f = k.fence_command.as_ref().unwrap();
        assert_eq!(f.value.program, PathBuf::from("/usr/sbin/fence"));
        assert_eq!(f.value.args, ["-x", "a"]);
        assert_eq!(f.line, Some(11));
        let mut text = String::new();
        k.render(&mut text, "  # default").unwrap();
        assert!(!text.contains("# default"), "{text}");
        assert!(text.contains("resource_timeout stop 2500ms\n"), "{text}");
        assert!(
            text.contains("fence_command /usr/sbin/fence -x a\n"),
            "{text}"
        );
    }

    #[test]
    fn defaults_are_the_runtime_defaults_and_render_marked() {
        let k = TakeoverKnobs::default();
        assert_eq!(k.timeouts(), Timeouts::default());
        assert_eq!(k.stop_retry(), StopRetry::default());
        assert_eq!(k.arp(), ArpConfig::default());
        let mut text = String::new();
        k.render(&mut text, "  # default").unwrap();
        for line in text.lines() {
            assert!(line.ends_with("# default"), "{line}");
        }
        assert!(text.contains("arp_count 5  # default"), "{text}");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let mut k = TakeoverKnobs::default();
        let err = |k: &mut TakeoverKnobs, d: &str, v: &str| k.set(d, v, 1).unwrap_err();
        assert!(
            err(&mut k, "resource_timeout", "restart 5").contains("`restart` is not an action")
        );
        assert!(err(&mut k, "resource_timeout", "start").contains("empty time value"));
        assert!(err(&mut k, "resource_timeout", "stop 0").contains("zero timeout"));
        assert!(err(&mut k, "stop_retries", "-1").contains("not a whole number"));
        assert!(err(&mut k, "arp_count", "1000").contains("more than 100"));
        assert!(err(&mut k, "arp_interval", "5 minutes").contains("unknown time unit"));
        assert!(err(&mut k, "fence_command", "fence.sh").contains("not an absolute path"));
        assert!(err(&mut k, "fence_timeout", "").contains("needs a value"));
        assert_eq!(k, TakeoverKnobs::default(), "errors change nothing");
    }

    #[test]
    fn a_repeat_wins_with_a_warning() {
        let mut k = TakeoverKnobs::default();
        assert_eq!(k.set("arp_count", "2", 4), Ok(None));
        let w = k.set("arp_count", "3", 9).unwrap().unwrap();
        assert!(w.contains("also on line 4"), "{w}");
        assert_eq!(k.arp().count, 3);
    }
}
