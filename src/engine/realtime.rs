//! Pinning and real-time scheduling, the one place that does either (and
//! the yield of its polling loops): the
//! beat thread (pinned, SCHED_FIFO), the takeover process's main loop and
//! its group workers (SCHED_FIFO below the beat thread), and
//! `twinbeat latency`'s pinned threads.
//!
//! SCHED_FIFO is always set with SCHED_RESET_ON_FORK, so a CPU hog at
//! normal priority cannot delay a keepalive or a takeover by a scheduler
//! slice, while every script forked — and every thread created — starts
//! back at normal priority: a looping resource script can never starve the
//! machine.

use std::io;

/// Stack of every thread the daemon and the takeover process create. With
/// realtime on, `mlockall(MCL_FUTURE)` faults in and locks a new thread's
/// whole stack at creation: at Rust's default of 2 MiB the stacks were most
/// of a node's resident memory. Their loops keep a few KiB on the stack.
pub const THREAD_STACK: usize = 256 * 1024;

/// A builder for one of our threads: named (it shows in `top -H` and in
/// /proc) and with [`THREAD_STACK`].
pub fn thread_named(name: &str) -> std::thread::Builder {
    std::thread::Builder::new()
        .name(name.to_string())
        .stack_size(THREAD_STACK)
}

/// Makes the calling thread SCHED_FIFO at `priority` with
/// SCHED_RESET_ON_FORK. Fails without privilege (CAP_SYS_NICE).
pub fn promote_current_thread(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority.clamp(1, 99),
    };
    // SAFETY: pid 0 is the calling thread; param is a valid sched_param.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pins the calling thread to core `core`; the error says why not.
pub fn pin_current_thread(core: usize) -> Result<(), String> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let Some(id) = cores.iter().find(|c| c.id == core) else {
        return Err(format!(
            "no such core (this host has {:?})",
            cores.iter().map(|c| c.id).collect::<Vec<_>>()
        ));
    };
    if core_affinity::set_for_current(*id) {
        Ok(())
    } else {
        Err("sched_setaffinity refused".into())
    }
}

/// Gives the core to another runnable thread of the same realtime
/// priority, if one waits: the polling loops that stand by for a verdict
/// use it instead of a bare spin, so they never hold a core a peer poller
/// or a worker with its job is waiting for.
pub fn yield_now() {
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
}

/// The calling thread's scheduling policy, without the reset-on-fork flag.
pub fn current_policy() -> i32 {
    // SAFETY: pid 0 is the calling thread.
    unsafe { libc::sched_getscheduler(0) & !libc::SCHED_RESET_ON_FORK }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_a_promoted_thread_run_at_normal_priority() {
        // Run in a thread of our own so the test harness's thread is untouched.
        std::thread::spawn(|| {
            if promote_current_thread(10).is_err() {
                eprintln!("skipped: SCHED_FIFO refused (needs root or CAP_SYS_NICE)");
                return;
            }
            assert_eq!(current_policy(), libc::SCHED_FIFO);
            let child = std::thread::spawn(current_policy).join().unwrap();
            assert_eq!(
                child,
                libc::SCHED_OTHER,
                "a new thread starts at normal priority"
            );
            let out = std::process::Command::new("sh")
                .args(["-c", "cat /proc/self/sched | grep -m1 '^policy'"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                text.split_whitespace().last(),
                Some("0"),
                "a forked script runs SCHED_OTHER: {text}"
            );
        })
        .join()
        .unwrap();
    }
}
