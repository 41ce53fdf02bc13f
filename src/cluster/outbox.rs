//! Reliable, in-order delivery of our messages to the peer: one message in
//! flight at a time (stop-and-wait), resent until acknowledged.
//!
//! Ids are assigned when a message first goes out, so the peer sees them
//! strictly increasing; it processes an id once and acks duplicates again.
//! A pending state change is sent as an Announce only when nothing else is
//! queued: every message carries the full state anyway.
//!
//! An id is `epoch << 24 | counter`. The epoch is the takeover process's
//! start count (its supervisor hands it over): a restarted takeover process
//! keeps the daemon's incarnation but starts its ids again, and the later
//! epoch tells the peer this is a new sender, not a duplicate. The counter
//! has 24 bits: a takeover process that sent 16 million messages (one per
//! state change or operator request) would see its ids wrap and later ones
//! taken as duplicates until its next restart; no realistic run gets there.

use std::collections::VecDeque;

use super::mask::GroupMask;
use super::message::{Kind, Message, NodeState};
use crate::time::Nanos;

/// A message id is `epoch << 24 | counter`.
pub(crate) const ID_COUNTER_BITS: u32 = 24;
pub(crate) const ID_COUNTER_MASK: u32 = (1 << ID_COUNTER_BITS) - 1;

/// The agent epoch of a message id.
pub(crate) fn epoch_of(id: u32) -> u8 {
    (id >> ID_COUNTER_BITS) as u8
}

/// Serial-number order on epochs (RFC 1982 on 8 bits): `a` is later than
/// `b` when it is less than half the space ahead, so the epoch may wrap.
pub(crate) fn epoch_later(a: u8, b: u8) -> bool {
    let ahead = a.wrapping_sub(b);
    ahead != 0 && ahead < 128
}

#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    queue: VecDeque<(Kind, GroupMask)>,
    in_flight: Option<(Message, Nanos)>,
    announce_pending: bool,
    next_id: u32,
}

/// What the outbox needs to stamp a message.
pub(crate) struct Stamp {
    pub incarnation: u32,
    pub to_incarnation: u32,
    pub hash: u64,
    pub state: NodeState,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox {
            queue: VecDeque::with_capacity(8),
            in_flight: None,
            announce_pending: false,
            next_id: 1,
        }
    }

    /// Ids of this takeover process's messages carry `epoch` in their top
    /// byte (see [`super::Cluster::with_agent_epoch`]).
    pub fn set_epoch(&mut self, epoch: u8) {
        self.next_id = (u32::from(epoch) << ID_COUNTER_BITS) | 1;
    }

    pub fn push(&mut self, kind: Kind, groups: GroupMask) {
        self.queue.push_back((kind, groups));
    }

    pub fn announce(&mut self) {
        self.announce_pending = true;
    }

    /// The peer is gone: what was not delivered never will be. The next
    /// contact starts with an Announce.
    pub fn drop_all(&mut self) {
        self.queue.clear();
        self.in_flight = None;
        self.announce_pending = true;
    }

    /// The acked message, if `id` is the one in flight.
    pub fn ack(&mut self, id: u32) -> Option<Message> {
        match self.in_flight {
            Some((m, _)) if m.id == id => {
                self.in_flight = None;
                Some(m)
            }
            _ => None,
        }
    }

    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.queue.is_empty() && !self.announce_pending
    }

    pub fn deadline(&self) -> Option<Nanos> {
        self.in_flight.map(|(_, at)| at)
    }

    /// The message to (re)send now, if any.
    pub fn poll(&mut self, now: Nanos, retransmit: Nanos, stamp: &Stamp) -> Option<Message> {
        if let Some((m, at)) = &mut self.in_flight {
            if now >= *at {
                *at = now.saturating_add(retransmit);
                return Some(*m);
            }
            return None;
        }
        let (kind, groups) = match self.queue.pop_front() {
            Some(next) => next,
            None if self.announce_pending => (Kind::Announce, GroupMask::EMPTY),
            None => return None,
        };
        self.announce_pending = false;
        let m = Message {
            kind,
            incarnation: stamp.incarnation,
            to_incarnation: stamp.to_incarnation,
            id: self.next_id,
            ack: 0,
            haresources_hash: stamp.hash,
            state: stamp.state,
            groups,
        };
        // The counter wraps inside its low bits: the epoch byte stays.
        let epoch = self.next_id & !ID_COUNTER_MASK;
        let counter = (self.next_id.wrapping_add(1) & ID_COUNTER_MASK).max(1);
        self.next_id = epoch | counter;
        self.in_flight = Some((m, now.saturating_add(retransmit)));
        Some(m)
    }
}
