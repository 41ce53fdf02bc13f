//! How Heartbeat reads a `status` action: by its standard output, not its
//! exit code.
//!
//! ResourceManager's `we_own_resource` matches the output against shell
//! globs, first match wins:
//!
//! 1. `*[Nn][Oo][Tt]\ *[Rr]unning*` — not owned;
//! 2. `*[Rr]unning*` or `*OK*` — owned;
//! 3. anything else — not owned.
//!
//! The case rules are Heartbeat's, quirks included: `NOT RUNNING` (all
//! capitals) matches neither "running" pattern, and `OK` is matched
//! anywhere, so `BROKEN` counts as owned. Scripts written for Heartbeat rely
//! on exactly this, so it is kept.

/// What a resource's `status` says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    Running,
    Stopped,
}

/// Judges a `status` action's standard output as Heartbeat does.
pub fn judge_status_output(output: &[u8]) -> ResourceState {
    if says_not_running(output) {
        ResourceState::Stopped
    } else if find_running(output, 0).is_some() || contains(output, b"OK") {
        ResourceState::Running
    } else {
        ResourceState::Stopped
    }
}

/// `[Nn][Oo][Tt]` then a space, with `[Rr]unning` somewhere after it.
fn says_not_running(output: &[u8]) -> bool {
    // The earliest "not " leaves the most room for a "running" after it.
    let first_not = output.windows(4).position(|w| {
        w[0].eq_ignore_ascii_case(&b'n')
            && w[1].eq_ignore_ascii_case(&b'o')
            && w[2].eq_ignore_ascii_case(&b't')
            && w[3] == b' '
    });
    match first_not {
        Some(at) => find_running(output, at + 4).is_some(),
        None => false,
    }
}

/// Position of `[Rr]unning` at or after `from`.
fn find_running(output: &[u8], from: usize) -> Option<usize> {
    let tail = output.get(from..)?;
    tail.windows(7)
        .position(|w| (w[0] == b'R' || w[0] == b'r') && &w[1..] == b"unning")
        .map(|p| p + from)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn judge(text: &str) -> ResourceState {
        judge_status_output(text.as_bytes())
    }

    #[test]
    fn lsb_and_heartbeat_phrasings() {
        assert_eq!(
            judge("httpd (pid 42) is running..."),
            ResourceState::Running
        );
        assert_eq!(judge("INFO:  Running OK"), ResourceState::Running);
        assert_eq!(judge("OK"), ResourceState::Running);
        assert_eq!(judge("httpd is not running"), ResourceState::Stopped);
        assert_eq!(judge("Not currently Running"), ResourceState::Stopped);
        assert_eq!(judge("stopped"), ResourceState::Stopped);
        assert_eq!(judge(""), ResourceState::Stopped);
    }

    #[test]
    fn heartbeat_case_quirks_are_kept() {
        // Neither glob knows an all-capitals RUNNING.
        assert_eq!(judge("NOT RUNNING"), ResourceState::Stopped);
        assert_eq!(judge("RUNNING"), ResourceState::Stopped);
        // `*OK*` is a substring match.
        assert_eq!(judge("BROKEN"), ResourceState::Running);
        assert_eq!(judge("ok"), ResourceState::Stopped);
        // "not" needs the space right after it.
        assert_eq!(judge("notrunning"), ResourceState::Running);
        // The negative glob wins even when OK appears too.
        assert_eq!(judge("OK: daemon not running"), ResourceState::Stopped);
        // The glob spans lines, as the shell's backticks keep them.
        assert_eq!(judge("not \nrunning"), ResourceState::Stopped);
        // "running" before the "not " does not make it negative.
        assert_eq!(judge("running, not stale"), ResourceState::Running);
    }

    proptest! {
        #[test]
        fn any_text_then_not_running_is_stopped(prefix in ".*", middle in "[^\n]*", suffix in ".*") {
            let text = format!("{prefix}not {middle}running{suffix}");
            prop_assert_eq!(judge(&text), ResourceState::Stopped);
        }

        #[test]
        fn running_without_a_preceding_not_is_running(prefix in "[a-mp-z ]*", suffix in "[a-z ]*") {
            // The prefix has no 'n' or 'o', so it cannot spell "not ".
            let text = format!("{prefix}running{suffix}");
            prop_assert_eq!(judge(&text), ResourceState::Running);
        }

        #[test]
        fn text_without_running_or_ok_is_stopped(text in "[^RrOK]*") {
            prop_assert_eq!(judge(&text), ResourceState::Stopped);
        }

        #[test]
        fn judging_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = judge_status_output(&bytes);
        }
    }
}
