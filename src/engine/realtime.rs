//! Pinning and real-time scheduling, the one place that does either (and
//! the yield of its polling loops): the
//! beat thread (pinned, SCHED_FIFO), the takeover process's main loop and
//! its group workers (SCHED_FIFO below the beat thread, kept off the beat
//! thread's core; the scripts they fork get every core back), and
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

/// The CPUs the process was allowed before [`keep_off_core`] narrowed them:
/// what the scripts it forks get back.
static SCRIPT_CPUS: std::sync::OnceLock<libc::cpu_set_t> = std::sync::OnceLock::new();

/// The CPU set of thread `pid` (0: the calling thread).
fn affinity_of(pid: libc::pid_t) -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data, written by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(set)
    }
}

fn set_thread_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: set is a valid cpu_set_t; pid 0 is the calling thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET only reads the set, within CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .collect()
}

/// Keeps the calling thread — and the threads it creates afterwards — off
/// `core` (the beat thread's), when another allowed core remains: a woken
/// group worker is then never queued behind the beat thread polling for a
/// verdict. Scripts started through [`with_script_affinity`] get the
/// former set back. Returns the cores now used, or `None` when `core` is
/// the only one (nothing changes).
pub fn keep_off_core(core: usize) -> io::Result<Option<Vec<usize>>> {
    let former = affinity_of(0)?;
    let mut narrowed = former;
    // SAFETY: CPU_CLR writes within the set for core < CPU_SETSIZE.
    if core < libc::CPU_SETSIZE as usize {
        unsafe { libc::CPU_CLR(core, &mut narrowed) };
    }
    let left = cpus_of(&narrowed);
    if left.is_empty() {
        return Ok(None);
    }
    set_thread_affinity(&narrowed)?;
    let _ = SCRIPT_CPUS.set(former);
    Ok(Some(left))
}

/// Runs `spawn` (which forks a script) with the calling thread's affinity
/// widened back to what the process had before [`keep_off_core`]: a
/// resource script (a database, say) must not inherit the takeover
/// process's narrowed set. Restored afterwards.
pub fn with_script_affinity<T>(spawn: impl FnOnce() -> T) -> T {
    let Some(full) = SCRIPT_CPUS.get() else {
        return spawn();
    };
    let mine = affinity_of(0).ok();
    let widened = set_thread_affinity(full).is_ok();
    let out = spawn();
    if let (true, Some(mine)) = (widened, mine) {
        let _ = set_thread_affinity(&mine);
    }
    out
}

/// The cores the calling thread may run on (on the daemon's main thread
/// before it is pinned: the host's cores as far as this process goes).
pub fn current_cores() -> Vec<usize> {
    cores_of(0).unwrap_or_default()
}

/// The cores process (or thread) `pid` may run on (0: the calling thread).
pub fn cores_of(pid: libc::pid_t) -> io::Result<Vec<usize>> {
    affinity_of(pid).map(|s| cpus_of(&s))
}

/// Runs `f` with every signal blocked in the calling thread: threads it
/// creates inherit that mask. For helper threads of a process that takes
/// its signals on one thread of its own.
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: all-zero is a valid sigset_t; sigfillset and pthread_sigmask
    // write only the sets given, which live on this stack.
    let before = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut before: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut before);
        before
    };
    let result = f();
    // SAFETY: `before` is the mask read above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };
    result
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
    fn a_thread_kept_off_a_core_forks_scripts_that_may_use_it() {
        std::thread::spawn(|| {
            let before = current_cores();
            let Some(&core) = before.last() else {
                return;
            };
            match keep_off_core(core).unwrap() {
                None => {
                    assert_eq!(before.len(), 1, "only a lone core is left as it was");
                    eprintln!("skipped: one core here, nothing to keep off");
                }
                Some(now) => {
                    assert!(!now.contains(&core) && !now.is_empty(), "{now:?}");
                    assert_eq!(current_cores(), now);
                    // A thread created afterwards inherits the narrowed set.
                    let child = std::thread::spawn(current_cores).join().unwrap();
                    assert_eq!(child, now);
                    let mut script = with_script_affinity(|| {
                        std::process::Command::new("sleep").arg("5").spawn()
                    })
                    .unwrap();
                    let cores = cores_of(script.id() as libc::pid_t);
                    let _ = script.kill();
                    let _ = script.wait();
                    assert_eq!(cores.unwrap(), before, "a script gets every core back");
                    assert_eq!(current_cores(), now, "and the thread keeps its own set");
                }
            }
        })
        .join()
        .unwrap();
    }

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
