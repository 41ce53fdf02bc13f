//! A node whose stderr nobody reads (a logger that hung, a pipe left full)
//! still takes over when its peer dies, and still stops on SIGTERM. Its
//! daemon and takeover process log as they go (the verdict, the decisions,
//! the script's output); before log lines were written by a thread of
//! their own, the first of those writes into the full pipe blocked the
//! realtime thread making it, and the group stayed down.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{PATIENCE, Pair, wait_until};

/// A pipe whose buffer holds one page.
fn small_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 just created both; nobody else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETPIPE_SZ on our own pipe; the kernel rounds up to a page.
    let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(size > 0, "F_SETPIPE_SZ");
    (read, write)
}

/// Bytes waiting in the pipe.
fn queued(read: &OwnedFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(read.as_raw_fd(), libc::FIONREAD, &mut n) };
    n
}

/// Whether a thread of process `pid` sleeps in a pipe write (the kernel's
/// `pipe_write` / `anon_pipe_write`): its stderr takes nothing more.
fn writer_stuck(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w.contains("pipe_write"))
    })
}

#[test]
fn a_node_whose_stderr_is_never_read_still_takes_over_and_stops() {
    let mut pair = Pair::new(false, "uring");
    pair.start(0);
    let markers: Vec<std::path::PathBuf> = (0..2)
        .map(|i| pair.nodes[i].dirs.state_dir.join("demo-service.running"))
        .collect();
    let marker = |i: usize| markers[i].clone();
    wait_until("alpha runs its group", &pair, || marker(0).exists());

    let (read, write) = small_pipe();
    // SAFETY: F_GETPIPE_SZ on our own pipe.
    let pipe_size = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_GETPIPE_SZ) };
    pair.start_with(1, Stdio::null(), Stdio::from(write), "debug");
    let bravo = pair.nodes[1].child.as_ref().unwrap().id();
    pair.wait_status(1, "hearing alpha", |s| {
        s.peers.first().is_some_and(|p| p.liveness == "alive")
    });
    // SIGHUP makes it log what it re-read: repeat until the pipe is full
    // and a thread waits on it.
    let start = Instant::now();
    while !writer_stuck(bravo) {
        assert!(
            start.elapsed() < PATIENCE,
            "bravo's stderr never got stuck: {} of {pipe_size} bytes in its pipe",
            queued(&read)
        );
        pair.signal(1, libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(20));
    }

    pair.kill9(0);
    wait_until(
        "bravo takes the group over, its stderr stuck",
        &pair,
        || marker(1).exists(),
    );
    assert!(writer_stuck(bravo), "the pipe stayed full");

    assert!(
        pair.stop(1),
        "bravo did not stop cleanly on SIGTERM with its stderr stuck"
    );
    // It released its group on the way out.
    wait_until("bravo's group released", &pair, || !marker(1).exists());
    drop(read);
}
