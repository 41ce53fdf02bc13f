//! Cross-process: a child process (this test binary, re-executed) maps the
//! ring through inherited fds or by path, and is woken through the eventfd.

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use twinbeat::ring::{Backing, Next, Reader, Ring, RingFds, clear_cloexec};

const CHILD_ENV: &str = "TWINBEAT_RING_CHILD";
const BATCHES: u64 = 20;
const BATCH: u64 = 50;

fn value_for(seq: u64) -> u64 {
    seq * 3 + 1
}

/// Runs `child_entry` in a fresh process that inherits `keep` fds.
fn spawn_child(spec: String, keep: [RawFd; 2]) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_entry",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, spec)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    // SAFETY: only fcntl, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for fd in keep {
                clear_cloexec(fd)?;
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

fn child_report(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("REPORT ").map(|(_, report)| report))
        .unwrap_or_else(|| panic!("no report from child:\n{stdout}"))
        .to_string()
}

#[test]
fn a_child_consumer_gets_every_record_through_inherited_fds_and_eventfd_wakeups() {
    let (mut writer, fds) = Ring::create::<u64>(Backing::Memfd, 64).unwrap();
    let spec = format!("stream {} {}", fds.ring_fd(), fds.wake_fd());
    let child = spawn_child(spec, [fds.ring_fd(), fds.wake_fd()]);
    drop(fds); // the child has its own copies now

    let mut seq = 0;
    for _ in 0..BATCHES {
        // Wait until the child is asleep on the eventfd, so that each batch
        // has to wake it (and each batch fits: it only sleeps when empty).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !writer.consumer_waiting() {
            assert!(Instant::now() < deadline, "child never went to sleep");
            std::thread::sleep(Duration::from_micros(100));
        }
        for _ in 0..BATCH {
            assert!(writer.push(&value_for(seq)));
            seq += 1;
        }
        assert!(writer.notify(), "a sleeping consumer must be signalled");
    }
    let out = child.wait_with_output().unwrap();
    let report = child_report(&out);
    assert_eq!(report, format!("received={} missed=0", BATCHES * BATCH));
}

#[test]
fn a_child_restarted_on_the_path_resumes_and_learns_of_misses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (mut writer, fds) = Ring::create::<u64>(Backing::File(&path), 4).unwrap();
    let wake = fds.wake_fd();
    for seq in 0..3 {
        assert!(writer.push(&value_for(seq)));
    }
    // First consumer: reads two records and exits.
    let first = spawn_child(format!("path {wake} 2 {}", path.display()), [wake, wake]);
    assert_eq!(child_report(&first.wait_with_output().unwrap()), "R1 R4");

    for seq in 3..10 {
        writer.push(&value_for(seq)); // 3, 4, 5 fit next to 2; 6..=9 do not
    }
    // Second consumer: sees what the first left, then the gap.
    let second = spawn_child(format!("path {wake} 100 {}", path.display()), [wake, wake]);
    assert_eq!(
        child_report(&second.wait_with_output().unwrap()),
        "R7 R10 R13 R16 M4"
    );
    assert_eq!(writer.stats().overflowed, 4);
}

/// Not a test on its own: the body of the child processes above.
#[test]
#[ignore = "run by the cross-process tests as a child"]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        panic!("{CHILD_ENV} not set: this entry only runs as a child");
    };
    let words: Vec<&str> = spec.splitn(4, ' ').collect();
    let fd = |i: usize| -> RawFd { words[i].parse().unwrap() };
    match words[0] {
        "stream" => stream_consumer(fd(1), fd(2)),
        "path" => path_consumer(fd(1), words[2].parse().unwrap(), Path::new(words[3])),
        other => panic!("unknown child mode {other}"),
    }
}

fn stream_consumer(ring: RawFd, wake: RawFd) {
    // SAFETY: both fds were inherited for us and nothing else owns them.
    let fds = unsafe { RingFds::from_raw_fds(ring, wake) };
    let mut reader = Reader::<u64>::open(fds).unwrap();
    let total = BATCHES * BATCH;
    let (mut received, mut missed) = (0, 0);
    while received + missed < total {
        match reader.next().unwrap() {
            Next::Record(v) => {
                assert_eq!(v, value_for(received + missed));
                received += 1;
            }
            Next::Missed(n) => missed += n,
            Next::Empty => {
                let started = Instant::now();
                reader.wait(Some(Duration::from_secs(20))).unwrap();
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "no wake-up came"
                );
            }
            Next::Restarted { .. } => panic!("producer did not restart"),
        }
    }
    println!("REPORT received={received} missed={missed}");
}

fn path_consumer(wake: RawFd, limit: usize, path: &Path) {
    // The parent keeps its eventfd open; dup ours so we own a copy.
    // SAFETY: `wake` is open (inherited) for the whole call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(wake) };
    let wake = borrowed.try_clone_to_owned().unwrap();
    let mut reader = Reader::<u64>::open_path(path, wake).unwrap();
    let mut items = Vec::new();
    while items.len() < limit {
        match reader.next().unwrap() {
            Next::Record(v) => items.push(format!("R{v}")),
            Next::Missed(n) => items.push(format!("M{n}")),
            Next::Restarted { epoch } => items.push(format!("E{epoch}")),
            Next::Empty => break,
        }
    }
    println!("REPORT {}", items.join(" "));
}
