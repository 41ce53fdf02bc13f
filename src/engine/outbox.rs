//! The way back: what the takeover process asks the beat thread to put on
//! the wire — resource-protocol messages, and this node's status and hold
//! state that ride in every keepalive — and whether a peer-dead verdict
//! would start anything here (the beat thread polls for a near verdict
//! only then).
//!
//! A second SPSC ring, `RUN_DIR/outbox.ring`, with the takeover process as
//! producer and the beat thread as consumer. The daemon creates the file
//! before the beat thread starts; each (re)started takeover process attaches
//! to it as producer (the epoch rises, the beat thread carries on). The beat
//! thread drains it once per turn without a syscall, so a message leaves at
//! the next turn: within a keepalive, or 50 ms at most.

use std::path::{Path, PathBuf};

use crate::engine::events::MESSAGE_CAPACITY;
use crate::ring::{Backing, Pod, Reader, Ring, RingError, Writer};
use crate::wire::{HoldState, NodeStatus};

pub const OUTBOX_FILE: &str = "outbox.ring";
/// Records the outbox holds; the takeover process retransmits what matters.
pub const OUTBOX_CAPACITY: u64 = 256;

const KIND_MESSAGE: u8 = 1;
const KIND_STATE: u8 = 2;
/// In a state record's flags: a peer-dead verdict would start nothing here.
/// Set, rather than its opposite, so a zero byte keeps the safe default.
const FLAG_VERDICT_IDLE: u8 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct OutboxRecord {
    pub kind: u8,
    pub msg_type: u8,
    pub status: u8,
    pub hold: u8,
    pub len: u16,
    pub flags: u8,
    pub _pad: u8,
    pub payload: [u8; MESSAGE_CAPACITY],
}

// SAFETY: repr(C) of integers and a byte array (8 + 224 bytes, no padding),
// every bit pattern valid, align 2.
unsafe impl Pod for OutboxRecord {}

/// One request for the beat thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing<'a> {
    /// Send a frame of type `msg_type` (2..=15) with `payload` on every link.
    Message { msg_type: u8, payload: &'a [u8] },
    /// Announce this status and hold state from now on; `verdict_acts`:
    /// a peer-dead verdict would start a group here.
    State {
        status: NodeStatus,
        hold: HoldState,
        verdict_acts: bool,
    },
}

fn status_code(s: NodeStatus) -> u8 {
    match s {
        NodeStatus::Init => 0,
        NodeStatus::Up => 1,
        NodeStatus::Active => 2,
        NodeStatus::Leaving => 3,
    }
}

fn status_of(c: u8) -> Option<NodeStatus> {
    Some(match c {
        0 => NodeStatus::Init,
        1 => NodeStatus::Up,
        2 => NodeStatus::Active,
        3 => NodeStatus::Leaving,
        _ => return None,
    })
}

impl OutboxRecord {
    /// Encodes a request; `None` when a message is too long or its type is
    /// not a resource-protocol type (2..=15).
    pub fn new(out: Outgoing<'_>) -> Option<Self> {
        let mut rec = OutboxRecord {
            kind: 0,
            msg_type: 0,
            status: 0,
            hold: 0,
            len: 0,
            flags: 0,
            _pad: 0,
            payload: [0; MESSAGE_CAPACITY],
        };
        match out {
            Outgoing::Message { msg_type, payload } => {
                if !(2..=15).contains(&msg_type) {
                    return None;
                }
                rec.payload
                    .get_mut(..payload.len())?
                    .copy_from_slice(payload);
                rec.kind = KIND_MESSAGE;
                rec.msg_type = msg_type;
                rec.len = payload.len() as u16;
            }
            Outgoing::State {
                status,
                hold,
                verdict_acts,
            } => {
                rec.kind = KIND_STATE;
                rec.status = status_code(status);
                rec.hold = u8::from(hold.own) << 1 | u8::from(hold.peer);
                if !verdict_acts {
                    rec.flags |= FLAG_VERDICT_IDLE;
                }
            }
        }
        Some(rec)
    }

    /// Decodes a request from shared memory; `None` when malformed.
    pub fn decode(&self) -> Option<Outgoing<'_>> {
        match self.kind {
            KIND_MESSAGE if (2..=15).contains(&self.msg_type) => Some(Outgoing::Message {
                msg_type: self.msg_type,
                payload: self.payload.get(..usize::from(self.len))?,
            }),
            KIND_STATE => Some(Outgoing::State {
                status: status_of(self.status)?,
                hold: HoldState {
                    own: self.hold & 2 != 0,
                    peer: self.hold & 1 != 0,
                },
                verdict_acts: self.flags & FLAG_VERDICT_IDLE == 0,
            }),
            _ => None,
        }
    }
}

pub fn outbox_path(run_dir: &Path) -> PathBuf {
    run_dir.join(OUTBOX_FILE)
}

/// The daemon's side: creates the ring file and keeps the consumer end.
pub fn create_for_beat(run_dir: &Path) -> Result<Reader<OutboxRecord>, RingError> {
    let (writer, fds) =
        Ring::create::<OutboxRecord>(Backing::File(&outbox_path(run_dir)), OUTBOX_CAPACITY)?;
    // The takeover process attaches as the producer; this one is not used.
    drop(writer);
    Reader::open(fds)
}

/// The takeover process's side: attach to the daemon's outbox as producer.
pub fn attach_producer(run_dir: &Path) -> Result<Writer<OutboxRecord>, RingError> {
    Ring::create::<OutboxRecord>(Backing::File(&outbox_path(run_dir)), OUTBOX_CAPACITY)
        .map(|(w, _)| w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_refused() {
        let m = Outgoing::Message {
            msg_type: 4,
            payload: b"take group 0",
        };
        assert_eq!(OutboxRecord::new(m).unwrap().decode(), Some(m));
        let s = Outgoing::State {
            status: NodeStatus::Active,
            hold: HoldState {
                own: true,
                peer: false,
            },
            verdict_acts: true,
        };
        assert_eq!(OutboxRecord::new(s).unwrap().decode(), Some(s));
        let idle = Outgoing::State {
            status: NodeStatus::Active,
            hold: HoldState {
                own: true,
                peer: false,
            },
            verdict_acts: false,
        };
        assert_eq!(OutboxRecord::new(idle).unwrap().decode(), Some(idle));
        // A record without the flag (zeroed) asks for the polling default.
        let mut zeroed = OutboxRecord::new(idle).unwrap();
        zeroed.flags = 0;
        assert_eq!(zeroed.decode(), Some(s));
        assert!(
            OutboxRecord::new(Outgoing::Message {
                msg_type: 1,
                payload: b""
            })
            .is_none()
        );
        let too_long = [0u8; MESSAGE_CAPACITY + 1];
        assert!(
            OutboxRecord::new(Outgoing::Message {
                msg_type: 3,
                payload: &too_long
            })
            .is_none()
        );
        let mut bad = OutboxRecord::new(s).unwrap();
        bad.status = 9;
        assert_eq!(bad.decode(), None);
    }
}
