//! The backup sender's thread: looks at the beat thread's progress as the
//! [`Cover`] policy says, and when it is held up sends plain keepalives on
//! every link through its own duplicates of the link descriptors.
//!
//! Its frames are the beat thread's keepalive: same node, generation and
//! sequence space, the status and hold state the beat thread last sent,
//! and no echo (an echo is the beat thread's to give; 0 means "none", so
//! the peer measures no round trip from these frames). A UDP datagram or a
//! 32-byte tty write is atomic against the beat thread's own sends.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::channel::Receiver;
use socket2::{SockAddr, Socket};

use super::policy::{Cover, Report};
use super::shared::BeatShared;
use crate::engine::links::{Medium, OpenLink};
use crate::time::{Nanos, monotonic_ns, sleep_until};
use crate::wire::frame::MAX_FRAME_LEN;
use crate::wire::serial::max_framed_len;
use crate::wire::{Header, KeyRing, MessageType, echo, encode};

/// Longest the backup sleeps, so a stop request is seen promptly.
const MAX_SLEEP: Nanos = 50 * crate::time::NANOS_PER_MILLI;

/// One link as the backup sender writes to it.
#[derive(Debug)]
pub enum BackupLink {
    Udp {
        socket: Socket,
        dest: Option<SockAddr>,
    },
    Serial {
        fd: OwnedFd,
    },
}

impl BackupLink {
    /// A duplicate of `link`'s descriptor (the same open socket or tty).
    pub fn duplicate(link: &OpenLink) -> io::Result<Self> {
        match &link.medium {
            Medium::Udp { socket, dest } => Ok(BackupLink::Udp {
                socket: socket.try_clone()?,
                dest: dest.clone(),
            }),
            Medium::Serial { port } => {
                // SAFETY: F_DUPFD_CLOEXEC on an open fd returns a new fd we own.
                let fd = unsafe { libc::fcntl(port.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: `fd` was just created and is owned by nobody else.
                Ok(BackupLink::Serial {
                    fd: unsafe { OwnedFd::from_raw_fd(fd) },
                })
            }
        }
    }

    fn is_serial(&self) -> bool {
        matches!(self, BackupLink::Serial { .. })
    }

    fn send(&self, bytes: &[u8]) -> Result<(), i32> {
        match self {
            BackupLink::Serial { fd } => crate::engine::io::write_serial(fd.as_raw_fd(), bytes),
            BackupLink::Udp { socket, dest } => {
                crate::engine::io::send_udp(socket, dest.as_ref(), bytes)
            }
        }
    }
}

/// Who this node is on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub node_id: u16,
    pub cluster_id: u16,
}

/// The backup sender, ready to run on its own thread.
pub struct BackupSender {
    shared: Arc<BeatShared>,
    links: Vec<BackupLink>,
    keys: KeyRing,
    key_updates: Receiver<KeyRing>,
    id: Identity,
    cover: Cover,
    /// Hold-ups at least this long are logged at info (they would have
    /// cost a false verdict at the peer); shorter ones at debug.
    notable: Nanos,
    core: usize,
    frame_buf: [u8; MAX_FRAME_LEN],
    serial_buf: [u8; max_framed_len(MAX_FRAME_LEN)],
}

impl BackupSender {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: Arc<BeatShared>,
        links: Vec<BackupLink>,
        keys: KeyRing,
        key_updates: Receiver<KeyRing>,
        id: Identity,
        cover: Cover,
        deadtime: Nanos,
        core: usize,
    ) -> Self {
        BackupSender {
            shared,
            links,
            keys,
            key_updates,
            id,
            cover,
            notable: deadtime / 2,
            core,
            frame_buf: [0; MAX_FRAME_LEN],
            serial_buf: [0; max_framed_len(MAX_FRAME_LEN)],
        }
    }

    /// Runs until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            while let Ok(keys) = self.key_updates.try_recv() {
                self.keys = keys;
            }
            let now = monotonic_ns();
            let step = self.cover.step(now, self.shared.last_round());
            if step.started {
                self.shared.episodes.fetch_add(1, Ordering::Relaxed);
            }
            if step.send {
                self.send_round(now);
            }
            if let Some(report) = step.report {
                self.report(report);
            }
            sleep_until(step.wake_at.min(monotonic_ns() + MAX_SLEEP));
        }
    }

    fn send_round(&mut self, now: Nanos) {
        let (generation, sequence) = self.shared.next_counter();
        let (status, hold) = self.shared.state();
        let header = Header {
            message_type: MessageType::KEEPALIVE,
            status,
            hold,
            node: self.id.node_id,
            cluster: self.id.cluster_id,
            generation,
            sequence,
            tx_timestamp: echo::timestamp(now),
            echo: 0,
        };
        let Ok(len) = encode(&header, &[], &self.keys, &mut self.frame_buf) else {
            self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // COBS-framed once per round, only when a serial line needs it.
        let framed = if self.links.iter().any(BackupLink::is_serial) {
            crate::wire::serial::encode(&self.frame_buf[..len], &mut self.serial_buf).ok()
        } else {
            None
        };
        for link in &self.links {
            let bytes = if link.is_serial() {
                match framed {
                    Some(n) => &self.serial_buf[..n],
                    None => {
                        self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
            } else {
                &self.frame_buf[..len]
            };
            if link.send(bytes).is_err() {
                self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.shared.rounds.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self, report: Report) {
        let ms = |ns: Nanos| ns as f64 / 1e6;
        match report {
            Report::Ended {
                held_up,
                rounds,
                gave_up,
            } => {
                self.shared
                    .longest_held_up
                    .fetch_max(held_up, Ordering::Relaxed);
                if gave_up {
                    tracing::warn!(
                        "the beat thread sent again after {:.3} ms without a keepalive round; \
                         the backup sender had stopped covering for it at {:.0} ms",
                        ms(held_up),
                        ms(self.cover.timings().limit)
                    );
                } else if held_up >= self.notable {
                    tracing::info!(
                        "the beat thread was held up {:.3} ms (its core did not run it); \
                         the backup sender on core {} sent {rounds} keepalive rounds meanwhile",
                        ms(held_up),
                        self.core
                    );
                } else {
                    tracing::debug!(
                        held_up_us = held_up / 1_000,
                        rounds,
                        "beat thread held up; covered"
                    );
                }
            }
            Report::GaveUp { held_up, rounds } => {
                self.shared.gave_up.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "the beat thread has sent no keepalive round for {:.0} ms: it is stuck, not \
                     waiting for its core; the backup sender stops covering for it after {rounds} \
                     rounds, so the peer will see this node silent",
                    ms(held_up)
                );
            }
        }
    }
}
