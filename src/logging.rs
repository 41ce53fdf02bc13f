//! Log lines written by a thread of their own, off the realtime threads.
//!
//! The beat thread and the takeover process's loop run SCHED_FIFO. A
//! write(2) of a log line to a file took 7-70 µs of their core here, and a
//! stuck sink (a full pipe to a logger that stopped reading) would hold
//! them for as long as it stays stuck: keepalives would stop and the peer
//! would take over from a healthy node. So a logging thread only queues
//! the formatted line ([`LogQueue`] is the `tracing_subscriber` writer) and
//! a writer thread, started before any thread turns realtime and so at
//! normal priority, writes it out. The queue is bounded: past its capacity
//! a line is dropped, never waited for, and counted; [`LogWriter::finish`]
//! writes out what is queued and says how many were dropped.
//!
//! Why not `tracing-appender`: its writer thread gets the default 2 MiB
//! stack, which `mlockall` makes resident in the daemon, and it cannot be
//! given another.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, bounded};

/// Lines that may wait for the writer thread by default.
pub const DEFAULT_QUEUE_LINES: usize = 8192;

/// How long [`LogWriter::finish`] waits for a sink that takes nothing: a
/// process must be able to exit past a stuck log pipe.
pub const FINISH_WAIT: Duration = Duration::from_secs(2);

enum Msg {
    Line(Vec<u8>),
    /// Everything sent before this is written: the thread ends.
    Finish,
}

/// The writer handed to `tracing_subscriber`: each `write` queues one
/// formatted line (the fmt layer writes an event in one call) and never
/// blocks.
#[derive(Clone)]
pub struct LogQueue {
    tx: Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Write for LogQueue {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Full or finished: the line is lost and counted. A realtime
        // thread kept waiting for a log sink would be a false takeover.
        if self.tx.try_send(Msg::Line(buf.to_vec())).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogQueue {
    type Writer = LogQueue;

    fn make_writer(&'a self) -> LogQueue {
        self.clone()
    }
}

/// The writer thread's handle.
pub struct LogWriter {
    tx: Sender<Msg>,
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread has written everything and ended.
    done: Receiver<()>,
}

/// Starts the writer thread over `sink` (stderr for the daemon), with room
/// for `capacity` waiting lines. The thread blocks every signal: a process
/// that takes its signals on one thread of its own must not have them
/// land here (SIGTERM's default action on it would end the process).
pub fn start<W: Write + Send + 'static>(
    sink: W,
    capacity: usize,
) -> io::Result<(LogQueue, LogWriter)> {
    let (tx, rx) = bounded(capacity.max(1));
    let (done_tx, done) = bounded::<()>(0);
    let thread = crate::engine::realtime::with_signals_blocked(|| {
        crate::engine::realtime::thread_named("log-writer").spawn(move || {
            write_out(rx, sink);
            drop(done_tx);
        })
    })?;
    let dropped = Arc::new(AtomicU64::new(0));
    Ok((
        LogQueue {
            tx: tx.clone(),
            dropped: dropped.clone(),
        },
        LogWriter {
            tx,
            dropped,
            thread: Some(thread),
            done,
        },
    ))
}

fn write_out<W: Write>(rx: Receiver<Msg>, mut sink: W) {
    while let Ok(msg) = rx.recv() {
        match msg {
            // Nowhere to report a failed log write: the line is lost.
            Msg::Line(line) => {
                let _ = sink.write_all(&line);
            }
            Msg::Finish => break,
        }
    }
    let _ = sink.flush();
}

impl LogWriter {
    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes out every line queued before this call and stops the thread.
    /// Waits at most about [`FINISH_WAIT`] for a sink that takes nothing,
    /// then leaves the thread to the process's exit.
    pub fn finish(mut self) -> Finished {
        let written_out = self.stop();
        Finished {
            dropped: self.dropped(),
            written_out,
        }
    }

    /// True when the thread wrote out the queue and ended.
    fn stop(&mut self) -> bool {
        let Some(thread) = self.thread.take() else {
            return true;
        };
        if self.tx.send_timeout(Msg::Finish, FINISH_WAIT).is_err() {
            return false;
        }
        // `done` never carries a value: it disconnects once the thread has
        // written everything out, just before it returns.
        let written_out = matches!(
            self.done.recv_timeout(FINISH_WAIT),
            Err(RecvTimeoutError::Disconnected)
        );
        if written_out {
            let _ = thread.join();
        }
        written_out
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How [`LogWriter::finish`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Lines dropped over the writer's life because the queue was full.
    pub dropped: u64,
    /// The sink took every queued line: it is not stuck, and a last word
    /// on stderr will not block.
    pub written_out: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    /// A sink shared with the test, which can hold writes up.
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        held: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Sink {
        fn hold(&self, on: bool) {
            let (lock, cv) = &*self.held;
            *lock.lock().unwrap() = on;
            cv.notify_all();
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.held;
            let mut held = lock.lock().unwrap();
            while *held {
                held = cv.wait(held).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_finish() {
        let sink = Sink::default();
        let (mut queue, writer) = start(sink.clone(), 64).unwrap();
        let mut expected = Vec::new();
        for i in 0..1000 {
            let line = format!("line {i}\n");
            // A full queue drops rather than waits: pace the writer here.
            while writer.dropped() == 0 && queue.tx.is_full() {
                std::thread::yield_now();
            }
            queue.write_all(line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        assert_eq!(
            writer.finish(),
            Finished {
                dropped: 0,
                written_out: true
            }
        );
        assert_eq!(*sink.written.lock().unwrap(), expected);
    }

    #[test]
    fn a_stuck_sink_drops_and_counts_lines_but_never_blocks_the_logger() {
        let sink = Sink::default();
        sink.hold(true);
        let (mut queue, writer) = start(sink.clone(), 8).unwrap();
        let began = Instant::now();
        for i in 0..100 {
            queue.write_all(format!("{i}\n").as_bytes()).unwrap();
        }
        // Without waiting for the sink at all (it writes nothing while
        // held); a generous bound, not a timing claim.
        assert!(began.elapsed() < Duration::from_secs(5));
        // 8 queued, at most 1 taken by the writer thread and stuck in the
        // sink: the rest were dropped.
        let dropped = writer.dropped();
        assert!((91..=92).contains(&dropped), "dropped {dropped}");
        sink.hold(false);
        assert_eq!(
            writer.finish(),
            Finished {
                dropped,
                written_out: true
            }
        );
        let written = String::from_utf8(sink.written.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len() as u64, 100 - dropped);
        // What got through is the oldest lines, in order.
        let first: Vec<String> = (0..lines.len()).map(|i| i.to_string()).collect();
        assert_eq!(lines, first);
    }

    #[test]
    fn finish_returns_past_a_sink_that_takes_nothing() {
        let sink = Sink::default();
        sink.hold(true);
        let (mut queue, writer) = start(sink.clone(), 2).unwrap();
        for i in 0..10 {
            queue.write_all(format!("{i}\n").as_bytes()).unwrap();
        }
        // Returns (after about FINISH_WAIT, the sink still held) with the
        // lines it could not queue counted, and says the sink is stuck.
        let finished = writer.finish();
        assert!(finished.dropped >= 7, "{finished:?}");
        assert!(!finished.written_out);
        sink.hold(false);
    }

    #[test]
    fn the_writer_thread_takes_no_signal() {
        let sink = Sink::default();
        let (_queue, writer) = start(sink, 4).unwrap();
        // Find the thread by name in /proc (it names itself once it runs)
        // and read its blocked mask.
        let find = || {
            let tasks = std::fs::read_dir("/proc/self/task").ok()?;
            tasks.flatten().find_map(|t| {
                let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
                if comm.trim() != "log-writer" {
                    return None;
                }
                let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("SigBlk:"))
                    .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            })
        };
        let began = Instant::now();
        let mask = loop {
            if let Some(mask) = find() {
                break mask;
            }
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "the log-writer thread is in /proc/self/task"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let bit = |sig: i32| 1u64 << (sig - 1);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            assert_ne!(mask & bit(sig), 0, "signal {sig} not blocked: {mask:x}");
        }
        drop(writer);
    }
}
