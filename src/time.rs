//! Time as the core sees it: plain `u64` nanoseconds on the monotonic clock.
//!
//! The sans-IO modules never read a clock; they are handed `now` by the
//! engine (or by a test driving virtual time). Only [`monotonic_ns`] reads
//! the real clock, and only the engine calls it.

/// Nanoseconds on `CLOCK_MONOTONIC` (or a test's virtual clock).
pub type Nanos = u64;

pub const NANOS_PER_MICRO: u64 = 1_000;
pub const NANOS_PER_MILLI: u64 = 1_000_000;
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Reads `CLOCK_MONOTONIC`, the clock the kernel also uses for timers.
pub fn monotonic_ns() -> Nanos {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * NANOS_PER_SEC + ts.tv_nsec as u64
}

/// Sleeps until the absolute monotonic time `t` (at once if past).
pub fn sleep_until(t: Nanos) {
    let ts = libc::timespec {
        tv_sec: (t / NANOS_PER_SEC) as libc::time_t,
        tv_nsec: (t % NANOS_PER_SEC) as libc::c_long,
    };
    // SAFETY: a valid timespec; the remainder pointer may be null with
    // TIMER_ABSTIME. An EINTR just ends the sleep early: the caller looks again.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_does_not_go_back() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a);
        assert!(a > 0);
    }
}
