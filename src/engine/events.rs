//! Detector events as ring records and back: the one place that numbers
//! event kinds for the shared-memory ring.
//!
//! `value` carries each kind's payload: a time in ns (last heard, silence),
//! a generation, both generations of a restart (old << 32 | new), or a
//! status code. A record of an unknown kind, or with a field out of range,
//! decodes to `None`: the consumer never trusts shared memory blindly.

use crate::detector::{Event, LinkId, PeerId, PeerStatus};
use crate::reach::ReachReport;
use crate::ring::{EventRecord, Pod};
use crate::time::Nanos;

pub const KIND_LINK_UP: u16 = 1;
pub const KIND_LINK_DOWN: u16 = 2;
pub const KIND_PEER_ALIVE: u16 = 3;
pub const KIND_PEER_WARN: u16 = 4;
pub const KIND_PEER_DEAD: u16 = 5;
pub const KIND_PEER_RESTARTED: u16 = 6;
pub const KIND_PEER_STATUS: u16 = 7;
/// A resource-protocol message from the peer (frame types 2..15).
pub const KIND_MESSAGE: u16 = 8;
/// The ping reach changed (or is repeated for a restarted takeover
/// process): `value` = reached | configured << 16, `at` = when judged.
pub const KIND_PING_REACH: u16 = 9;

/// Bytes of a peer message a ring record carries inline; the resource
/// protocol keeps its messages within this.
pub const MESSAGE_CAPACITY: usize = 224;

/// One ring record from the beat thread to the takeover process: a detector
/// event, or a message the peer sent, in the order they happened (one ring
/// keeps a peer's announcement after the event that says it is alive).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BeatRecord {
    /// For a message: `kind` = KIND_MESSAGE, `at` = receive time, `node` =
    /// peer, `link` = where it came first, `value` = the frame's counter.
    pub head: EventRecord,
    pub len: u16,
    pub msg_type: u8,
    pub _pad: [u8; 5],
    pub payload: [u8; MESSAGE_CAPACITY],
}

// SAFETY: repr(C) of Pod fields (24 + 2 + 1 + 5 + 224 bytes, no padding),
// every bit pattern valid, align 8.
unsafe impl Pod for BeatRecord {}

/// What a [`BeatRecord`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    Event(Event),
    Message {
        at: Nanos,
        peer: PeerId,
        link: LinkId,
        msg_type: u8,
        counter: u64,
        payload: &'a [u8],
    },
    /// How many ping nodes this node reaches.
    Reach(ReachReport),
}

impl BeatRecord {
    pub fn event(ev: &Event) -> Self {
        Self {
            head: to_record(ev),
            len: 0,
            msg_type: 0,
            _pad: [0; 5],
            payload: [0; MESSAGE_CAPACITY],
        }
    }

    /// A peer message; `None` when it is longer than [`MESSAGE_CAPACITY`].
    pub fn message(
        at: Nanos,
        peer: PeerId,
        link: LinkId,
        msg_type: u8,
        counter: u64,
        payload: &[u8],
    ) -> Option<Self> {
        let mut inline = [0; MESSAGE_CAPACITY];
        inline.get_mut(..payload.len())?.copy_from_slice(payload);
        Some(Self {
            head: EventRecord {
                at,
                value: counter,
                kind: KIND_MESSAGE,
                node: u16::from(peer.0),
                link: u16::from(link.0),
                flags: 0,
            },
            len: payload.len() as u16,
            msg_type,
            _pad: [0; 5],
            payload: inline,
        })
    }

    pub fn reach(r: &ReachReport) -> Self {
        Self {
            head: EventRecord {
                at: r.at,
                value: u64::from(r.reached) | (u64::from(r.configured) << 16),
                kind: KIND_PING_REACH,
                node: 0,
                link: NO_LINK,
                flags: 0,
            },
            len: 0,
            msg_type: 0,
            _pad: [0; 5],
            payload: [0; MESSAGE_CAPACITY],
        }
    }

    /// Decodes the record; `None` for anything malformed or unknown.
    pub fn decode(&self) -> Option<Received<'_>> {
        if self.head.kind == KIND_PING_REACH {
            let reached = u16::try_from(self.head.value & 0xffff).ok()?;
            let configured = u16::try_from(self.head.value >> 16).ok()?;
            if reached > configured {
                return None;
            }
            return Some(Received::Reach(ReachReport {
                at: self.head.at,
                reached,
                configured,
            }));
        }
        if self.head.kind != KIND_MESSAGE {
            return from_record(&self.head).map(Received::Event);
        }
        Some(Received::Message {
            at: self.head.at,
            peer: PeerId(u8::try_from(self.head.node).ok()?),
            link: LinkId(u8::try_from(self.head.link).ok()?),
            msg_type: self.msg_type,
            counter: self.head.value,
            payload: self.payload.get(..usize::from(self.len))?,
        })
    }
}

/// `link` of a record that concerns no single link.
pub const NO_LINK: u16 = u16::MAX;
/// `value` of a PeerDead whose peer was never heard.
pub const NEVER_HEARD: u64 = u64::MAX;

fn status_code(s: PeerStatus) -> u64 {
    match s {
        PeerStatus::Init => 0,
        PeerStatus::Up => 1,
        PeerStatus::Active => 2,
        PeerStatus::Dead => 3,
    }
}

fn status_of(code: u64) -> Option<PeerStatus> {
    Some(match code {
        0 => PeerStatus::Init,
        1 => PeerStatus::Up,
        2 => PeerStatus::Active,
        3 => PeerStatus::Dead,
        _ => return None,
    })
}

/// Encodes a detector event as a ring record.
pub fn to_record(ev: &Event) -> EventRecord {
    let peer = u16::from(ev.peer().0);
    let (kind, link, value) = match *ev {
        Event::LinkUp { link, .. } => (KIND_LINK_UP, u16::from(link.0), 0),
        Event::LinkDown {
            link, last_heard, ..
        } => (KIND_LINK_DOWN, u16::from(link.0), last_heard),
        Event::PeerAlive { generation, .. } => (KIND_PEER_ALIVE, NO_LINK, u64::from(generation)),
        Event::PeerWarn { silent_for, .. } => (KIND_PEER_WARN, NO_LINK, silent_for),
        Event::PeerDead { last_heard, .. } => {
            (KIND_PEER_DEAD, NO_LINK, last_heard.unwrap_or(NEVER_HEARD))
        }
        Event::PeerRestarted {
            old_generation,
            new_generation,
            ..
        } => (
            KIND_PEER_RESTARTED,
            NO_LINK,
            (u64::from(old_generation) << 32) | u64::from(new_generation),
        ),
        Event::PeerStatusChanged { status, .. } => (KIND_PEER_STATUS, NO_LINK, status_code(status)),
    };
    EventRecord {
        at: ev.at(),
        value,
        kind,
        node: peer,
        link,
        flags: 0,
    }
}

/// Decodes a ring record; `None` for anything this build does not know.
pub fn from_record(r: &EventRecord) -> Option<Event> {
    let peer = PeerId(u8::try_from(r.node).ok()?);
    let at = r.at;
    let link = || u8::try_from(r.link).ok().map(LinkId);
    Some(match r.kind {
        KIND_LINK_UP => Event::LinkUp {
            peer,
            link: link()?,
            at,
        },
        KIND_LINK_DOWN => Event::LinkDown {
            peer,
            link: link()?,
            at,
            last_heard: r.value,
        },
        KIND_PEER_ALIVE => Event::PeerAlive {
            peer,
            at,
            generation: u32::try_from(r.value).ok()?,
        },
        KIND_PEER_WARN => Event::PeerWarn {
            peer,
            at,
            silent_for: r.value,
        },
        KIND_PEER_DEAD => Event::PeerDead {
            peer,
            at,
            last_heard: (r.value != NEVER_HEARD).then_some(r.value),
        },
        KIND_PEER_RESTARTED => Event::PeerRestarted {
            peer,
            at,
            old_generation: (r.value >> 32) as u32,
            new_generation: r.value as u32,
        },
        KIND_PEER_STATUS => Event::PeerStatusChanged {
            peer,
            at,
            status: status_of(r.value)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn every_kind() -> Vec<Event> {
        let (peer, link) = (PeerId(0), LinkId(3));
        vec![
            Event::LinkUp { peer, link, at: 5 },
            Event::LinkDown {
                peer,
                link,
                at: 6,
                last_heard: 2,
            },
            Event::PeerAlive {
                peer,
                at: 7,
                generation: 9,
            },
            Event::PeerWarn {
                peer,
                at: 8,
                silent_for: 300,
            },
            Event::PeerDead {
                peer,
                at: 9,
                last_heard: Some(4),
            },
            Event::PeerDead {
                peer,
                at: 9,
                last_heard: None,
            },
            Event::PeerRestarted {
                peer,
                at: 10,
                old_generation: 3,
                new_generation: 4,
            },
            Event::PeerStatusChanged {
                peer,
                at: 11,
                status: PeerStatus::Active,
            },
        ]
    }

    #[test]
    fn messages_round_trip_and_oversize_is_refused() {
        let r = BeatRecord::message(5, PeerId(0), LinkId(1), 3, 77, b"hello").unwrap();
        assert_eq!(
            r.decode(),
            Some(Received::Message {
                at: 5,
                peer: PeerId(0),
                link: LinkId(1),
                msg_type: 3,
                counter: 77,
                payload: b"hello"
            })
        );
        assert!(
            BeatRecord::message(5, PeerId(0), LinkId(1), 3, 1, &[0; MESSAGE_CAPACITY + 1])
                .is_none()
        );
        let ev = Event::LinkUp {
            peer: PeerId(0),
            link: LinkId(0),
            at: 9,
        };
        assert_eq!(BeatRecord::event(&ev).decode(), Some(Received::Event(ev)));
        let mut bad = r;
        bad.len = u16::MAX;
        assert_eq!(bad.decode(), None);
    }

    #[test]
    fn reach_round_trips_and_a_count_above_the_configured_is_refused() {
        let r = ReachReport {
            at: 42,
            reached: 2,
            configured: 3,
        };
        assert_eq!(BeatRecord::reach(&r).decode(), Some(Received::Reach(r)));
        let mut bad = BeatRecord::reach(&r);
        bad.head.value = 4 | (3 << 16);
        assert_eq!(bad.decode(), None);
        bad.head.value = u64::MAX;
        assert_eq!(bad.decode(), None, "configured beyond u16");
    }

    #[test]
    fn every_kind_round_trips() {
        for ev in every_kind() {
            assert_eq!(from_record(&to_record(&ev)), Some(ev));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_records_never_panic(at: u64, value: u64, kind in 0u16..10, node: u16, link: u16) {
            let r = EventRecord { at, value, kind, node, link, flags: 0 };
            if let Some(ev) = from_record(&r) {
                prop_assert_eq!(from_record(&to_record(&ev)), Some(ev));
                prop_assert_eq!(ev.at(), at);
            }
        }
    }
}
