//! What an idle CPU costs a wake-up, with and without the PM QoS request
//! the daemon holds (`cpu_latency`, see `engine::cpu_latency`).
//!
//! Two measures, each run without a request and then with 0 µs held:
//! - **thread wake-up**: a SCHED_FIFO 50 thread on core 0 unparks a
//!   SCHED_FIFO 49 thread parked on core 1 (a futex wake-up, as the beat
//!   thread wakes the takeover process); the time from the unpark to the
//!   woken thread running. 3000 rounds, 1 ms apart so core 1 goes idle.
//! - **timer**: a SCHED_FIFO 50 thread on core 1 sleeps to an absolute
//!   CLOCK_MONOTONIC deadline 100 µs ahead; how late it runs. 3000 times.
//!
//! `cargo bench --bench wakeup` (root: SCHED_FIFO and /dev/cpu_dma_latency;
//! two cores or more). Prints a markdown table.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use twinbeat::engine::cpu_latency::CpuLatencyRequest;
use twinbeat::engine::realtime::{pin_current_thread, promote_current_thread};
use twinbeat::time::{monotonic_ns, sleep_until};

const ROUNDS: usize = 3000;

fn percentiles(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let at = |q: f64| v[((q * v.len() as f64) as usize).min(v.len() - 1)] as f64 / 1_000.0;
    format!(
        "{:.1} / {:.1} / {:.1} / {:.1} / {:.1}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    )
}

fn thread_wakeup() -> Vec<u64> {
    let woke_at = Arc::new(AtomicU64::new(0));
    let pending = Arc::new(AtomicBool::new(false));
    let (w, p) = (woke_at.clone(), pending.clone());
    let waiter = std::thread::spawn(move || {
        let _ = pin_current_thread(1);
        let _ = promote_current_thread(49);
        let mut lat = Vec::with_capacity(ROUNDS);
        while lat.len() < ROUNDS {
            while !p.load(Ordering::Acquire) {
                std::thread::park();
            }
            lat.push(monotonic_ns().saturating_sub(w.load(Ordering::Acquire)));
            p.store(false, Ordering::Release);
        }
        lat
    });
    let _ = pin_current_thread(0);
    let _ = promote_current_thread(50);
    for _ in 0..ROUNDS {
        std::thread::sleep(Duration::from_millis(1));
        woke_at.store(monotonic_ns(), Ordering::Release);
        pending.store(true, Ordering::Release);
        waiter.thread().unpark();
        while pending.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
    }
    waiter.join().unwrap()
}

fn timer_lateness() -> Vec<u64> {
    std::thread::spawn(|| {
        let _ = pin_current_thread(1);
        let _ = promote_current_thread(50);
        (0..ROUNDS)
            .map(|_| {
                let target = monotonic_ns() + 100_000;
                sleep_until(target);
                monotonic_ns().saturating_sub(target)
            })
            .collect()
    })
    .join()
    .unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("wakeup: needs two cores");
        return;
    }
    println!(
        "| request | thread wake-up µs p50 / p90 / p99 / p99.9 / max | 100 µs timer late µs p50 / p90 / p99 / p99.9 / max |"
    );
    println!("| --- | --- | --- |");
    for held in [false, true] {
        let request = if held {
            match CpuLatencyRequest::hold(Duration::ZERO) {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("wakeup: /dev/cpu_dma_latency: {e} (run as root)");
                    return;
                }
            }
        } else {
            None
        };
        // Each measure on a thread of its own, so the main thread's
        // pinning and priority do not leak between rows.
        let wake = std::thread::spawn(thread_wakeup).join().unwrap();
        let timer = timer_lateness();
        println!(
            "| {} | {} | {} |",
            if held { "0 µs held" } else { "none" },
            percentiles(wake),
            percentiles(timer)
        );
        drop(request);
    }
}
