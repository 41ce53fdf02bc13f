//! The resource-protocol messages the two nodes exchange, and their byte
//! layout (carried as the payload of a wire frame of type 2..15).
//!
//! Every message has the same fixed layout, so decoding is one length check
//! and field reads; nothing panics on arbitrary bytes. Every message also
//! carries the sender's whole [`NodeState`] (what it holds, what failed,
//! what it declines, its ping reach), so any message the receiver processes
//! brings its view of the peer up to date.
//!
//! Layout, version 1 (big-endian, 61 bytes):
//!
//! | off | len | field |
//! | --- | --- | --- |
//! | 0 | 1 | version (1) |
//! | 1 | 1 | kind = frame message type ([`Kind`]) |
//! | 2 | 4 | sender incarnation (its generation) |
//! | 6 | 4 | receiver incarnation as the sender knows it (0 = unknown) |
//! | 10 | 4 | message id (per sender incarnation, from 1; 0 in acks) |
//! | 14 | 4 | acked id (acks only) |
//! | 18 | 8 | hash of haresources ([`super::config::haresources_hash`]) |
//! | 26 | 8 | held groups |
//! | 34 | 8 | groups whose start failed on the sender |
//! | 42 | 8 | groups the sender declines (standby) |
//! | 50 | 8 | the message's argument: groups requested / offered |
//! | 58 | 1 | flags: 1 stable, 2 unclean, 4 leaving, 8 ping reach known |
//! | 59 | 2 | ping nodes / groups reached |
//!
//! Longer payloads are accepted and the tail ignored (room for a later
//! version to append fields); unknown flag bits are ignored.

use thiserror::Error;

use super::mask::GroupMask;

pub const VERSION: u8 = 1;
pub const ENCODED_LEN: usize = 61;

const FLAG_STABLE: u8 = 1;
const FLAG_UNCLEAN: u8 = 2;
const FLAG_LEAVING: u8 = 4;
const FLAG_PING_KNOWN: u8 = 8;

/// What a message asks for; the value is the frame's message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// "This is my state" (holdings, stability, ping reach).
    Announce = 2,
    /// "I received your message `ack`". Not itself acknowledged.
    Ack = 3,
    /// Takeover: "give me these groups" (the receiver declines them).
    Request = 4,
    /// Standby: "take these groups" (the receiver stops declining them).
    Offer = 5,
    /// Planned shutdown: "I released everything I could; take over now".
    Leaving = 6,
}

impl Kind {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        Some(match code {
            2 => Kind::Announce,
            3 => Kind::Ack,
            4 => Kind::Request,
            5 => Kind::Offer,
            6 => Kind::Leaving,
            _ => return None,
        })
    }
}

/// What a node says about itself in every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NodeState {
    /// Groups it is starting, running, stopping or failed to stop.
    pub held: GroupMask,
    /// Groups whose start failed there (it will not take them again).
    pub failed: GroupMask,
    /// Groups it will not take while its peer can (standby).
    pub declined: GroupMask,
    /// Startup exchange done and no start/stop in progress.
    pub stable: bool,
    /// A stop failed there: it claims nothing until an operator clears it.
    pub unclean: bool,
    /// It is shutting down.
    pub leaving: bool,
    /// Ping nodes / groups it reaches, when it has measured them.
    pub ping_reach: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Message {
    pub kind: Kind,
    pub incarnation: u32,
    pub to_incarnation: u32,
    pub id: u32,
    pub ack: u32,
    pub haresources_hash: u64,
    pub state: NodeState,
    pub groups: GroupMask,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("cluster message of {len} bytes is shorter than {ENCODED_LEN}")]
    TooShort { len: usize },
    #[error("cluster message version {0} is not supported (this node speaks {VERSION})")]
    Version(u8),
    #[error("unknown cluster message type {0}")]
    Kind(u8),
}

impl Message {
    /// Writes the message into the first [`ENCODED_LEN`] bytes of `out`;
    /// returns how many bytes it wrote, or `None` if `out` is too short.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let out = out.get_mut(..ENCODED_LEN)?;
        let s = &self.state;
        let mut flags = 0;
        for (set, bit) in [
            (s.stable, FLAG_STABLE),
            (s.unclean, FLAG_UNCLEAN),
            (s.leaving, FLAG_LEAVING),
            (s.ping_reach.is_some(), FLAG_PING_KNOWN),
        ] {
            if set {
                flags |= bit;
            }
        }
        out[0] = VERSION;
        out[1] = self.kind.code();
        out[2..6].copy_from_slice(&self.incarnation.to_be_bytes());
        out[6..10].copy_from_slice(&self.to_incarnation.to_be_bytes());
        out[10..14].copy_from_slice(&self.id.to_be_bytes());
        out[14..18].copy_from_slice(&self.ack.to_be_bytes());
        out[18..26].copy_from_slice(&self.haresources_hash.to_be_bytes());
        out[26..34].copy_from_slice(&s.held.0.to_be_bytes());
        out[34..42].copy_from_slice(&s.failed.0.to_be_bytes());
        out[42..50].copy_from_slice(&s.declined.0.to_be_bytes());
        out[50..58].copy_from_slice(&self.groups.0.to_be_bytes());
        out[58] = flags;
        out[59..61].copy_from_slice(&s.ping_reach.unwrap_or(0).to_be_bytes());
        Some(ENCODED_LEN)
    }

    pub fn to_bytes(&self) -> [u8; ENCODED_LEN] {
        let mut out = [0; ENCODED_LEN];
        // The array is exactly ENCODED_LEN long, so encode always writes.
        let _ = self.encode(&mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let b: &[u8; ENCODED_LEN] = bytes
            .get(..ENCODED_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(DecodeError::TooShort { len: bytes.len() })?;
        if b[0] != VERSION {
            return Err(DecodeError::Version(b[0]));
        }
        let kind = Kind::from_code(b[1]).ok_or(DecodeError::Kind(b[1]))?;
        let u32_at = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[o..o + 8]);
            u64::from_be_bytes(v)
        };
        let flags = b[58];
        let reach = u16::from_be_bytes([b[59], b[60]]);
        Ok(Message {
            kind,
            incarnation: u32_at(2),
            to_incarnation: u32_at(6),
            id: u32_at(10),
            ack: u32_at(14),
            haresources_hash: u64_at(18),
            state: NodeState {
                held: GroupMask(u64_at(26)),
                failed: GroupMask(u64_at(34)),
                declined: GroupMask(u64_at(42)),
                stable: flags & FLAG_STABLE != 0,
                unclean: flags & FLAG_UNCLEAN != 0,
                leaving: flags & FLAG_LEAVING != 0,
                ping_reach: (flags & FLAG_PING_KNOWN != 0).then_some(reach),
            },
            groups: GroupMask(u64_at(50)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Message {
        Message {
            kind: Kind::Request,
            incarnation: 7,
            to_incarnation: 9,
            id: 3,
            ack: 0,
            haresources_hash: 0x0123_4567_89ab_cdef,
            state: NodeState {
                held: GroupMask(0b101),
                failed: GroupMask(0b10),
                declined: GroupMask(1 << 63),
                stable: true,
                unclean: false,
                leaving: true,
                ping_reach: Some(2),
            },
            groups: GroupMask(0b100),
        }
    }

    #[test]
    fn round_trips_and_header_bytes_are_where_documented() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(bytes[0], VERSION);
        assert_eq!(bytes[1], 4);
        assert_eq!(bytes[58], FLAG_STABLE | FLAG_LEAVING | FLAG_PING_KNOWN);
        assert_eq!(Message::decode(&bytes), Ok(m));
    }

    #[test]
    fn rejects_short_foreign_version_and_unknown_kind() {
        let bytes = sample().to_bytes();
        assert_eq!(
            Message::decode(&bytes[..60]),
            Err(DecodeError::TooShort { len: 60 })
        );
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(Message::decode(&v2), Err(DecodeError::Version(2)));
        let mut k = bytes;
        k[1] = 15;
        assert_eq!(Message::decode(&k), Err(DecodeError::Kind(15)));
    }

    #[test]
    fn encode_refuses_a_short_buffer() {
        assert_eq!(sample().encode(&mut [0; 10]), None);
        assert_eq!(sample().encode(&mut [0; 100]), Some(ENCODED_LEN));
    }

    #[test]
    fn kind_codes_fit_the_frame_message_types() {
        for code in 0..=255u8 {
            if let Some(kind) = Kind::from_code(code) {
                assert_eq!(kind.code(), code);
                assert!((2..=15).contains(&code));
            }
        }
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        (
            2u8..=6,
            any::<(u32, u32, u32, u32, u64)>(),
            any::<(u64, u64, u64, u64)>(),
            any::<(bool, bool, bool, Option<u16>)>(),
        )
            .prop_map(
                |(k, (inc, to, id, ack, hash), (h, f, d, g), (st, un, le, p))| Message {
                    kind: Kind::from_code(k).unwrap_or(Kind::Announce),
                    incarnation: inc,
                    to_incarnation: to,
                    id,
                    ack,
                    haresources_hash: hash,
                    state: NodeState {
                        held: GroupMask(h),
                        failed: GroupMask(f),
                        declined: GroupMask(d),
                        stable: st,
                        unclean: un,
                        leaving: le,
                        ping_reach: p,
                    },
                    groups: GroupMask(g),
                },
            )
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_accepts_only_the_full_layout(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            match Message::decode(&bytes) {
                Ok(m) => {
                    prop_assert!(bytes.len() >= ENCODED_LEN);
                    prop_assert_eq!(&m.to_bytes()[..58], &bytes[..58]);
                }
                Err(DecodeError::TooShort { len }) => prop_assert!(len < ENCODED_LEN),
                Err(_) => prop_assert!(bytes.len() >= ENCODED_LEN),
            }
        }

        #[test]
        fn every_message_round_trips(m in arb_message()) {
            prop_assert_eq!(Message::decode(&m.to_bytes()), Ok(m));
        }
    }
}
