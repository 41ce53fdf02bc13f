//! The events the detector emits, and the bounded queue that holds them
//! until the engine polls.

use std::collections::VecDeque;

use super::arrival::{LinkId, PeerId, PeerStatus};
use crate::time::Nanos;

/// A change in what the detector believes. `at` is the instant the change
/// became true on the monotonic clock: the frame's receive time for
/// arrivals, the end of the silence budget for timeouts. Per peer, `at`
/// never goes backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// First accepted frame on a link, or first after it went down.
    LinkUp {
        peer: PeerId,
        link: LinkId,
        at: Nanos,
    },
    /// The link was silent for deadtime (only for a link that was up).
    LinkDown {
        peer: PeerId,
        link: LinkId,
        at: Nanos,
        last_heard: Nanos,
    },
    /// Peer heard for the first time, or again after it was declared dead.
    PeerAlive {
        peer: PeerId,
        at: Nanos,
        generation: u32,
    },
    /// Peer silent on every link past warntime; once per silence.
    /// `silent_for` is the silence (awake time) when the detector noticed.
    PeerWarn {
        peer: PeerId,
        at: Nanos,
        silent_for: Nanos,
    },
    /// Peer silent on every link past deadtime (past initdead if never heard:
    /// then `last_heard` is `None`).
    PeerDead {
        peer: PeerId,
        at: Nanos,
        last_heard: Option<Nanos>,
    },
    /// Peer came back with another generation: it restarted.
    PeerRestarted {
        peer: PeerId,
        at: Nanos,
        old_generation: u32,
        new_generation: u32,
    },
    /// The status the peer announces changed (first heard included).
    PeerStatusChanged {
        peer: PeerId,
        at: Nanos,
        status: PeerStatus,
    },
}

impl Event {
    pub fn peer(&self) -> PeerId {
        match *self {
            Event::LinkUp { peer, .. }
            | Event::LinkDown { peer, .. }
            | Event::PeerAlive { peer, .. }
            | Event::PeerWarn { peer, .. }
            | Event::PeerDead { peer, .. }
            | Event::PeerRestarted { peer, .. }
            | Event::PeerStatusChanged { peer, .. } => peer,
        }
    }

    /// The same event with another `at`.
    pub(crate) fn dated(mut self, new_at: Nanos) -> Event {
        match &mut self {
            Event::LinkUp { at, .. }
            | Event::LinkDown { at, .. }
            | Event::PeerAlive { at, .. }
            | Event::PeerWarn { at, .. }
            | Event::PeerDead { at, .. }
            | Event::PeerRestarted { at, .. }
            | Event::PeerStatusChanged { at, .. } => *at = new_at,
        }
        self
    }

    pub fn at(&self) -> Nanos {
        match *self {
            Event::LinkUp { at, .. }
            | Event::LinkDown { at, .. }
            | Event::PeerAlive { at, .. }
            | Event::PeerWarn { at, .. }
            | Event::PeerDead { at, .. }
            | Event::PeerRestarted { at, .. }
            | Event::PeerStatusChanged { at, .. } => at,
        }
    }
}

/// A FIFO with a capacity fixed at construction: pushing never allocates;
/// when full, the event is dropped and counted.
#[derive(Debug)]
pub(crate) struct EventQueue {
    events: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
}

impl EventQueue {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        EventQueue {
            events: VecDeque::with_capacity(capacity),
            capacity,
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        // Checked against our own bound, not the VecDeque's (possibly larger)
        // capacity, so the behaviour does not depend on the allocator.
        if self.events.len() < self.capacity {
            self.events.push_back(event);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(at: Nanos) -> Event {
        Event::LinkUp {
            peer: PeerId(0),
            link: LinkId(0),
            at,
        }
    }

    #[test]
    fn queue_is_fifo_and_counts_overflow() {
        let mut q = EventQueue::with_capacity(2);
        q.push(up(1));
        q.push(up(2));
        q.push(up(3));
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.pop(), Some(up(1)));
        assert_eq!(q.pop(), Some(up(2)));
        assert_eq!(q.pop(), None);
    }
}
