//! The takeover extensions of ha.cf through the whole loader and
//! `twinbeat check-config`: values, defaults marked, errors at FILE:LINE.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use twinbeat::config;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/takeover_knobs")
}

/// The fixture in a temporary dir (authkeys must be 0600), ha.cf replaced
/// when `hacf` is given.
fn install(hacf: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ha.cf", "authkeys", "haresources"] {
        fs::copy(fixture().join(name), dir.path().join(name)).unwrap();
    }
    fs::set_permissions(
        dir.path().join("authkeys"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    if let Some(text) = hacf {
        fs::write(dir.path().join("ha.cf"), text).unwrap();
    }
    dir
}

fn check_config(dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_twinbeat"))
        .args([
            "check-config",
            "--dir",
            dir.to_str().unwrap(),
            "--node",
            "alpha",
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_knob_is_read_and_shown_as_set() {
    let dir = install(None);
    let cfg = config::load_dir(dir.path(), "alpha").unwrap();
    let k = &cfg.hacf.takeover;
    assert_eq!(k.timeouts().start, Duration::from_secs(90));
    assert_eq!(k.timeouts().stop, Duration::from_millis(2500));
    assert_eq!(k.timeouts().status, Duration::from_secs(5));
    assert_eq!(k.stop_retry().retries, 3);
    assert_eq!(k.stop_retry().interval, Duration::from_millis(250));
    assert_eq!(k.arp().count, 8);
    assert_eq!(k.arp().interval, Duration::from_millis(100));
    assert_eq!(k.fence_timeout.value, Duration::from_secs(30));
    let fence = &k.fence_command.as_ref().unwrap();
    assert_eq!(fence.line, Some(14));
    assert_eq!(fence.value.args, ["--hard", "now"]);

    let (code, out, err) = check_config(dir.path());
    assert_eq!(code, 0, "{err}");
    for line in [
        "resource_timeout start 90\n",
        "resource_timeout stop 2500ms\n",
        "resource_timeout status 5\n",
        "stop_retries 3\n",
        "stop_retry_interval 250ms\n",
        "arp_count 8\n",
        "arp_interval 100ms\n",
        "fence_timeout 30\n",
        "fence_command /usr/local/sbin/fence-me --hard now\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn unset_knobs_show_their_defaults_marked() {
    let dir = install(Some(
        "keepalive 1\ndeadtime 10\nbcast eth0\nnode alpha bravo\n",
    ));
    let (code, out, err) = check_config(dir.path());
    assert_eq!(code, 0, "{err}");
    for line in [
        "resource_timeout start 60  # default\n",
        "resource_timeout stop 60  # default\n",
        "resource_timeout status 20  # default\n",
        "stop_retries 10  # default\n",
        "stop_retry_interval 1  # default\n",
        "arp_count 5  # default\n",
        "arp_interval 200ms  # default\n",
        "fence_timeout 60  # default\n",
        "# fence_command: none  # default\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn bad_knobs_are_errors_at_file_and_line() {
    let dir = install(Some(
        "bcast eth0\nnode alpha bravo\nresource_timeout reload 5\narp_count many\n\
         fence_command fence.sh\nstop_retry_interval\n",
    ));
    let (code, _, err) = check_config(dir.path());
    assert_eq!(code, 1);
    let hacf = dir.path().join("ha.cf");
    let at = |line: usize| format!("{}:{line}: ", hacf.display());
    for (line, text) in [
        (
            3,
            "resource_timeout: `reload` is not an action (start, stop or status)",
        ),
        (4, "arp_count: `many` is not a whole number"),
        (5, "fence_command: `fence.sh` is not an absolute path"),
        (6, "`stop_retry_interval` needs a value"),
    ] {
        let want = format!("{}{text}", at(line));
        assert!(err.contains(&want), "missing {want:?} in\n{err}");
    }
}
