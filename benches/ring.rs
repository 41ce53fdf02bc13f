//! Event ring costs: push+pop on one thread, a cross-thread ping (push →
//! the other thread pops and answers on a second ring) and the same across
//! processes (this binary re-executed as the echo, the ring in shared
//! memory as between the daemon and its takeover process), polling (yield)
//! and with the eventfd wake-up. criterion reports means; tails belong in an
//! hdrhistogram harness.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use std::io::BufRead;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group};
use twinbeat::ring::{
    Backing, EventFd, EventRecord, Next, Reader, Ring, RingFds, Writer, clear_cloexec,
};

/// Set in the re-executed child: `RING_FD WAKE_FD OUT_PATH SLEEP(0|1)`.
const ECHO_ENV: &str = "TWINBEAT_RING_ECHO";
/// A record of this kind tells the echo process to exit.
const STOP_KIND: u16 = u16::MAX;

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

/// Echo thread: [`echo`] until `stop`.
fn spawn_echo(
    mut from: Reader<EventRecord>,
    mut to: Writer<EventRecord>,
    stop: Arc<AtomicBool>,
    sleep: bool,
) -> thread::JoinHandle<()> {
    thread::spawn(move || echo(&mut from, &mut to, sleep, |_| !stop.load(Ordering::Relaxed)))
}

/// Returns every record from `from` on `to` while `go` says so of the last
/// record seen. With `sleep`, waits on the eventfd when empty instead of
/// spinning (yield, not a pure spin: on a shared 2-core host a spin can
/// hold the core the other side needs for a whole slice).
fn echo(
    from: &mut Reader<EventRecord>,
    to: &mut Writer<EventRecord>,
    sleep: bool,
    go: impl Fn(Option<&EventRecord>) -> bool,
) {
    let mut last = None;
    while go(last.as_ref()) {
        match from.next().unwrap() {
            Next::Record(rec) => {
                last = Some(rec);
                if go(Some(&rec)) {
                    to.push(&rec);
                }
            }
            Next::Empty if sleep => {
                from.wait(Some(Duration::from_millis(50))).unwrap();
            }
            _ => thread::yield_now(),
        }
    }
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

/// The echo process: pops from the inherited ring, pushes back on a ring
/// file it creates, until a STOP record.
fn echo_process(spec: &str) {
    let f: Vec<&str> = spec.split_whitespace().collect();
    let (ring_fd, wake_fd): (i32, i32) = (f[0].parse().unwrap(), f[1].parse().unwrap());
    let sleep = f[3] == "1";
    // SAFETY: the parent kept these two fds open across exec for us alone.
    let fds = unsafe { RingFds::from_raw_fds(ring_fd, wake_fd) };
    let mut from: Reader<EventRecord> = Reader::open(fds).unwrap();
    let (mut to, _fds) = Ring::create::<EventRecord>(Backing::File(Path::new(f[2])), 64).unwrap();
    println!("READY");
    echo(&mut from, &mut to, sleep, |last| {
        last.is_none_or(|r| r.kind != STOP_KIND)
    });
}

fn cross_process_ping(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for (name, sleep) in [
        ("ring/cross_process_ping_yield", false),
        ("ring/cross_process_ping_eventfd", true),
    ] {
        let (mut to_echo, fds) = ring_fds(64);
        let out = dir.path().join(format!("{name}.ring").replace('/', "_"));
        let keep = [fds.ring_fd(), fds.wake_fd()];
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(
            ECHO_ENV,
            format!(
                "{} {} {} {}",
                keep[0],
                keep[1],
                out.display(),
                u8::from(sleep)
            ),
        )
        .stdout(Stdio::piped());
        // SAFETY: only fcntl, async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in keep {
                    clear_cloexec(fd)?;
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap();
        drop(fds);
        let mut ready = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        assert_eq!(ready.trim(), "READY", "the echo process started");
        // Nobody signals this eventfd: the parent polls the return ring.
        let wake: OwnedFd = EventFd::new().unwrap().into_owned();
        let mut back: Reader<EventRecord> = Reader::open_path(&out, wake).unwrap();
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
        let mut stop = event(0);
        stop.kind = STOP_KIND;
        to_echo.push(&stop);
        to_echo.notify();
        child.wait().unwrap();
    }
}

fn ring_fds(capacity: u64) -> (Writer<EventRecord>, RingFds) {
    Ring::create::<EventRecord>(Backing::Memfd, capacity).unwrap()
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = push_pop_same_thread, cross_thread_ping, cross_process_ping
}

fn main() {
    if let Ok(spec) = std::env::var(ECHO_ENV) {
        return echo_process(&spec);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
