//! Event ring costs: push+pop on one thread, and a cross-thread ping
//! (push → the other thread pops and answers on a second ring), polling (yield)
//! and with the eventfd wake-up. criterion reports means; tails belong in an
//! hdrhistogram harness.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use twinbeat::ring::{Backing, EventRecord, Next, Reader, Ring, Writer};

fn ring(capacity: u64) -> (Writer<EventRecord>, Reader<EventRecord>) {
    let (w, fds) = Ring::create::<EventRecord>(Backing::Memfd, capacity).unwrap();
    (w, Reader::open(fds).unwrap())
}

fn event(i: u64) -> EventRecord {
    EventRecord {
        at: i,
        value: i,
        kind: 1,
        node: 2,
        link: 3,
        flags: 0,
    }
}

fn push_pop_same_thread(c: &mut Criterion) {
    let (mut w, mut r) = ring(1024);
    let mut i = 0u64;
    c.bench_function("ring/push_pop_same_thread", |b| {
        b.iter(|| {
            i += 1;
            w.push(black_box(&event(i)));
            black_box(r.next().unwrap())
        })
    });
}

/// Echo thread: returns every record it gets on the second ring. With
/// `sleep`, it waits on the eventfd when empty instead of spinning.
fn spawn_echo(
    mut from: Reader<EventRecord>,
    mut to: Writer<EventRecord>,
    stop: Arc<AtomicBool>,
    sleep: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match from.next().unwrap() {
                Next::Record(rec) => {
                    to.push(&rec);
                }
                Next::Empty if sleep => {
                    from.wait(Some(Duration::from_millis(50))).unwrap();
                }
                // Yield rather than spin: on a shared 2-core host a pure spin
                // can hold the core the other side needs for a whole slice.
                _ => thread::yield_now(),
            }
        }
    })
}

fn cross_thread_ping(c: &mut Criterion) {
    for (name, sleep) in [
        ("ring/cross_thread_ping_yield", false),
        ("ring/cross_thread_ping_eventfd", true),
    ] {
        let (mut to_echo, echo_in) = ring(64);
        let (echo_out, mut back) = ring(64);
        let stop = Arc::new(AtomicBool::new(false));
        let echo = spawn_echo(echo_in, echo_out, Arc::clone(&stop), sleep);
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                to_echo.push(&event(i));
                to_echo.notify();
                loop {
                    if let Next::Record(rec) = back.next().unwrap() {
                        break black_box(rec);
                    }
                    thread::yield_now();
                }
            })
        });
        stop.store(true, Ordering::Relaxed);
        to_echo.notify();
        echo.join().unwrap();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = push_pop_same_thread, cross_thread_ping
}
criterion_main!(benches);
