//! The README's first command: `twinbeat demo` runs the embedded pair live,
//! fails one node over and reports the timing.

use std::process::Command;

#[test]
fn demo_runs_a_live_failover_and_reports_its_timing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_twinbeat"))
        .args(["demo", "--workdir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("both nodes up"), "{stdout}");
    assert!(stdout.contains("ucast lo 127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("serial /dev/pts/"), "{stdout}");
    let verdict = stdout
        .lines()
        .find(|l| l.starts_with("kill -9 alpha: bravo declared it dead "))
        .unwrap_or_else(|| panic!("no failover timing:\n{stdout}"));
    let ms: f64 = verdict
        .trim_start_matches("kill -9 alpha: bravo declared it dead ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms > 0.0, "{verdict}");
    assert!(
        stdout.contains("alpha restarted: bravo sees it alive again"),
        "{stdout}"
    );
    // Both daemons wrote their logs where the demo said.
    assert!(dir.path().join("alpha.log").exists() && dir.path().join("bravo.log").exists());
}
