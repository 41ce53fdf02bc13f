//! The daemon's PM QoS request for CPU wake-up latency.
//!
//! An idle CPU halts; waking it (a timer, or a thread woken by another
//! CPU) first takes it out of that idle state. On a virtual machine a
//! halted vCPU is descheduled by the host, and getting it back costs tens
//! of µs: on the 2-core VM this project is measured on, a SCHED_FIFO
//! thread woken on an idle CPU ran 58 µs (p50) after the wake-up, and a
//! 100 µs timer fired 51 µs late (p50, p99 over 500 µs). A 1 ms failover
//! pays that on every hop: the beat thread's timers, the takeover process
//! woken by the verdict, the group worker woken by the takeover process.
//!
//! Writing a bound to `/dev/cpu_dma_latency` asks the kernel's cpuidle
//! governor to use only idle states that exit within it; with 0, idle CPUs
//! poll instead of halting. On the same VM, with the request held, the
//! wake-up took 6 µs (p50) and the timer was 19–29 µs late (p99 under
//! 60 µs). The request lasts while the file stays open and ends when the
//! process does, however it ends (the kernel drops it with the file). Its
//! price: idle CPUs do not sleep (power; on a VM, the host sees the vCPUs
//! busy), so it is held only where the failover is fast enough for
//! microseconds to matter (`cpu_latency auto`, see the config).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

/// The kernel's PM QoS CPU latency interface.
pub const DEVICE: &str = "/dev/cpu_dma_latency";

/// A held request; dropping it ends the request.
#[derive(Debug)]
pub struct CpuLatencyRequest {
    file: File,
    bound: Duration,
}

impl CpuLatencyRequest {
    /// Asks every CPU to wake within `bound` (whole µs; 0 = poll when idle).
    pub fn hold(bound: Duration) -> io::Result<Self> {
        Self::hold_at(Path::new(DEVICE), bound)
    }

    fn hold_at(device: &Path, bound: Duration) -> io::Result<Self> {
        let us = i32::try_from(bound.as_micros()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} µs is beyond what {DEVICE} takes", bound.as_micros()),
            )
        })?;
        let mut file = OpenOptions::new().read(true).write(true).open(device)?;
        // The kernel reads a binary s32 (or its decimal text); one write.
        file.write_all(&us.to_ne_bytes())?;
        Ok(CpuLatencyRequest { file, bound })
    }

    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// The bound the kernel applies now: the smallest of every process's
    /// requests (ours included while held).
    pub fn in_force(&self) -> io::Result<Duration> {
        let mut raw = [0u8; 4];
        self.file.read_exact_at(&mut raw, 0)?;
        let us = i32::from_ne_bytes(raw);
        Ok(Duration::from_micros(u64::try_from(us).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_the_device_cannot_take_is_refused_before_opening_it() {
        let err = CpuLatencyRequest::hold_at(
            Path::new("/nonexistent/cpu_dma_latency"),
            Duration::from_secs(3_000),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_missing_device_is_an_error_not_a_panic() {
        let err =
            CpuLatencyRequest::hold_at(Path::new("/nonexistent/cpu_dma_latency"), Duration::ZERO)
                .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_request_is_written_as_a_binary_s32() {
        let dir = std::env::temp_dir().join(format!("tb-cpu-latency-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("device");
        std::fs::write(&fake, b"").unwrap();
        let held = CpuLatencyRequest::hold_at(&fake, Duration::from_micros(20)).unwrap();
        assert_eq!(held.bound(), Duration::from_micros(20));
        assert_eq!(std::fs::read(&fake).unwrap(), 20i32.to_ne_bytes());
        drop(held);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn while_held_the_kernel_applies_it() {
        if !Path::new(DEVICE).exists() || unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root and {DEVICE}");
            return;
        }
        let held = CpuLatencyRequest::hold(Duration::ZERO).unwrap();
        assert_eq!(held.in_force().unwrap(), Duration::ZERO);
        assert_eq!(held.in_force().unwrap(), Duration::ZERO, "read again");
    }
}
