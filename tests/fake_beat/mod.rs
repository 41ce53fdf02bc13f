//! Two beat loops joined by an in-memory network: the real loop code (the
//! detector, framing, the outbox) with a fake I/O backend that never
//! blocks and counts how it was asked to wait.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io;
use std::path::Path;
use std::rc::Rc;

use twinbeat::demo::{NodeDirs, PairParams, write_configs};
use twinbeat::engine::beat::{BeatLoop, LoopInfo};
use twinbeat::engine::io::{Backend, Completion, IoStats, SendError};
use twinbeat::engine::plan::BeatPlan;
use twinbeat::time::{Nanos, monotonic_ns};
use twinbeat::wire::KeyRing;

/// A fixed-size datagram queue: the fake network allocates nothing.
pub struct Queue {
    frames: [[u8; 64]; 64],
    lens: [usize; 64],
    head: usize,
    len: usize,
}

impl Queue {
    pub fn new() -> Rc<RefCell<Queue>> {
        Rc::new(RefCell::new(Queue {
            frames: [[0; 64]; 64],
            lens: [0; 64],
            head: 0,
            len: 0,
        }))
    }
}

/// One end of an in-memory link between two beat loops.
pub struct FakeBackend {
    pub inbox: Rc<RefCell<Queue>>,
    pub outbox: Rc<RefCell<Queue>>,
    pub sent: u64,
    /// Calls that asked to poll (not to block until the deadline).
    pub polls: u64,
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn describe(&self) -> String {
        "in-memory".into()
    }
    fn stats(&self) -> IoStats {
        IoStats::default()
    }
    fn link_count(&self) -> usize {
        1
    }
    fn send(&mut self, _link: usize, bytes: &[u8]) -> Result<(), SendError> {
        let mut q = self.outbox.borrow_mut();
        if q.len == 64 || bytes.len() > 64 {
            return Err(SendError::SlotsExhausted(64));
        }
        let slot = (q.head + q.len) % 64;
        q.frames[slot][..bytes.len()].copy_from_slice(bytes);
        q.lens[slot] = bytes.len();
        q.len += 1;
        self.sent += 1;
        Ok(())
    }
    /// The fake never blocks: waiting is polling, but it counts which of
    /// the two the loop asked for.
    fn deliver<F: FnMut(Completion<'_>)>(
        &mut self,
        deadline: Nanos,
        block: bool,
        mut on: F,
    ) -> io::Result<()> {
        if !block {
            self.polls += 1;
        }
        let mut q = self.inbox.borrow_mut();
        while q.len > 0 {
            let slot = q.head;
            let (frame, len) = (q.frames[slot], q.lens[slot]);
            q.head = (q.head + 1) % 64;
            q.len -= 1;
            on(Completion::Datagram {
                link: 0,
                bytes: &frame[..len],
                rx_time: monotonic_ns(),
            });
        }
        if monotonic_ns() >= deadline {
            on(Completion::Timer);
        }
        Ok(())
    }
}

/// The demo pair's configs under `dir` (with `params`) and a beat loop for
/// each node, joined by in-memory queues.
pub fn pair(dir: &Path, params: &PairParams) -> ([NodeDirs; 2], Vec<BeatLoop<FakeBackend>>) {
    let nodes = write_configs(dir, [None, None], params).unwrap();
    let (a_to_b, b_to_a) = (Queue::new(), Queue::new());
    let loops = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let cfg = twinbeat::config::load_dir(&n.config_dir, n.name).unwrap();
            let plan = BeatPlan::new(&cfg, &Default::default()).unwrap();
            let (inbox, outbox) = if i == 0 {
                (b_to_a.clone(), a_to_b.clone())
            } else {
                (a_to_b.clone(), b_to_a.clone())
            };
            let backend = FakeBackend {
                inbox,
                outbox,
                sent: 0,
                polls: 0,
            };
            let info = LoopInfo {
                link_labels: vec!["fake".into()],
                link_lines: vec![0],
                io_fallback_reason: None,
                pid: 0,
                backup_core: Err("none in this test".into()),
            };
            let keys = KeyRing::new(&cfg.auth).unwrap();
            BeatLoop::new(&plan, backend, keys, 1, &[None], info, monotonic_ns()).unwrap()
        })
        .collect();
    (nodes, loops)
}
