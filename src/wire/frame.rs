//! The frame: its byte layout, encoding into a caller's buffer and checked
//! decoding into typed values.
//!
//! # Layout
//!
//! All integers are big-endian. `n` is the payload length, `t` the tag length
//! of the signing key (8 for md5/sha1/sha256, 4 for crc).
//!
//! | off | len | field |
//! | --- | --- | ----- |
//! | 0 | 1 | version (high 4 bits, = [`VERSION`]) \| message type (low 4 bits): 1 = keepalive; 2..=15 are reserved for the resource protocol and carry a payload; 0 is invalid |
//! | 1 | 1 | key index (high 4 bits, 1..=15) \| node status (bits 3..2: 0 init, 1 up, 2 active, 3 dead/leaving) \| hold (bits 1..0: bit 1 = holds its own groups, bit 0 = holds the peer's groups) |
//! | 2 | 2 | sender node id ([`super::node_id`]) |
//! | 4 | 2 | cluster id ([`super::cluster_id`]) |
//! | 6 | 4 | generation: the sender's, from disk ([`crate::state`]), rises at every start |
//! | 10 | 4 | sequence: per sender, one counter for all links (every frame goes out on every link, so a per-link gap is loss) |
//! | 14 | 4 | tx timestamp: low 32 bits of the sender's monotonic ns at send |
//! | 18 | 4 | echo: the last tx timestamp the sender heard from the receiver on this link, advanced by how long the sender held it, so the receiver's RTT excludes the hold time; 0 = nothing heard yet (see [`super::echo`]) |
//! | 22 | n | payload (type-specific; empty for keepalive) |
//! | 22+n | t | tag: first 8 bytes of HMAC-MD5/-SHA1/-SHA256 (key = the authkeys key's raw bytes), or CRC-32 (IEEE) for `crc`, over bytes `[0, 22+n)` |
//!
//! A keepalive is 30 bytes with an HMAC, 26 with crc. The frame length is the
//! datagram (or deframed serial frame) length: there is no length field.
//!
//! (generation, sequence) read as one 64-bit counter `(gen << 32) | seq`
//! ([`Header::counter`]) must rise per (peer, link). When `seq` would wrap,
//! the sender continues with `(gen + 1, 0)` (having first persisted `gen + 1`
//! with [`crate::state::GenerationStore::reserve`]); the detector treats that
//! as a continuation, not a restart.
//!
//! # Decoding
//!
//! [`decode`] checks, in this order, and stops at the first failure:
//! length within `[22 + 4, MAX_FRAME_LEN]` ([`DropReason::Truncated`],
//! [`DropReason::TooLong`]) → version → message type → cluster id → key index
//! defined by the receiver → length covers the header and that key's tag
//! (`Truncated`) → tag, in constant time (`BadMac`, or `BadCrc` for crc).
//! Cheap, secret-free checks come first so that foreign traffic costs no MAC.
//! A keepalive that carries payload bytes is accepted if its tag verifies
//! (only a key holder can make one); the keepalive consumer ignores them.
//! Nothing here panics on any input: the length is checked before any field
//! is read.

use thiserror::Error;

use super::HEADER_LEN;
use super::auth::KeyRing;
use super::{CRC_TAG_LEN, HMAC_TAG_LEN};

/// The only protocol version this build speaks.
pub const VERSION: u8 = 1;

/// Longest frame accepted or produced, tag included. Keepalives are 30 bytes;
/// 1024 leaves room for resource-protocol payloads while staying well under
/// any Ethernet MTU (no IP fragmentation) and keeping the serial deframer's
/// fixed buffer small.
pub const MAX_FRAME_LEN: usize = 1024;

/// Shortest byte count that can be a frame: a header and the shortest tag.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + CRC_TAG_LEN;

/// Largest payload any frame can carry (with an 8-byte HMAC tag).
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - HEADER_LEN - HMAC_TAG_LEN;

/// The 4-bit message type. Only valid codes (1..=15) can be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(u8);

impl MessageType {
    /// The keepalive: no payload.
    pub const KEEPALIVE: MessageType = MessageType(1);

    /// The type for a wire code; `None` for 0 and anything above 15.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1..=15 => Some(MessageType(code)),
            _ => None,
        }
    }

    pub const fn code(self) -> u8 {
        self.0
    }

    pub const fn is_keepalive(self) -> bool {
        self.0 == Self::KEEPALIVE.0
    }
}

/// What the sender says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    Init = 0,
    Up = 1,
    Active = 2,
    /// The sender is shutting down or declares itself dead.
    Leaving = 3,
}

impl NodeStatus {
    pub(crate) const fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => NodeStatus::Init,
            1 => NodeStatus::Up,
            2 => NodeStatus::Active,
            _ => NodeStatus::Leaving,
        }
    }
}

/// Which resource groups the sender holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HoldState {
    /// It holds the groups that haresources gives to it.
    pub own: bool,
    /// It holds the groups that haresources gives to its peer.
    pub peer: bool,
}

impl HoldState {
    pub(crate) const fn bits(self) -> u8 {
        ((self.own as u8) << 1) | self.peer as u8
    }

    pub(crate) const fn from_bits(bits: u8) -> Self {
        HoldState {
            own: bits & 0b10 != 0,
            peer: bits & 0b01 != 0,
        }
    }
}

/// Every header field except the key index, which belongs to the signing
/// (the encoder writes the [`KeyRing`]'s active index; [`Decoded::key_index`]
/// reports the received one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub message_type: MessageType,
    pub status: NodeStatus,
    pub hold: HoldState,
    /// Sender's [`super::node_id`].
    pub node: u16,
    /// [`super::cluster_id`] of the sender's cluster.
    pub cluster: u16,
    pub generation: u32,
    pub sequence: u32,
    /// Low 32 bits of the sender's monotonic ns at send.
    pub tx_timestamp: u32,
    /// See [`super::echo`]; 0 = nothing heard yet.
    pub echo: u32,
}

impl Header {
    /// `(generation << 32) | sequence`: must rise per (peer, link).
    pub const fn counter(&self) -> u64 {
        ((self.generation as u64) << 32) | self.sequence as u64
    }
}

/// A frame whose tag verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub header: Header,
    /// The authkeys index that signed it (1..=15).
    pub key_index: u8,
    pub payload: &'a [u8],
}

/// Why a received frame was thrown away. `as usize` is a stable index into
/// [`DropCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum DropReason {
    #[error("frame shorter than its header and tag")]
    Truncated = 0,
    #[error("frame longer than the maximum frame length")]
    TooLong = 1,
    #[error("unsupported protocol version")]
    BadVersion = 2,
    #[error("unknown message type")]
    UnknownType = 3,
    #[error("frame from another cluster")]
    ForeignCluster = 4,
    #[error("key index not defined in authkeys")]
    UnknownKey = 5,
    #[error("message authentication code does not match")]
    BadMac = 6,
    #[error("CRC does not match")]
    BadCrc = 7,
    /// Counter not above the last accepted one; recorded by the detector.
    #[error("replayed or reordered frame")]
    Replay = 8,
    /// This node's own broadcast or multicast looped back.
    #[error("own frame looped back")]
    OwnFrame = 9,
}

impl DropReason {
    pub const COUNT: usize = 10;

    /// Every reason, in index order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Truncated,
        DropReason::TooLong,
        DropReason::BadVersion,
        DropReason::UnknownType,
        DropReason::ForeignCluster,
        DropReason::UnknownKey,
        DropReason::BadMac,
        DropReason::BadCrc,
        DropReason::Replay,
        DropReason::OwnFrame,
    ];

    /// A stable snake_case name for status output and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::TooLong => "too_long",
            DropReason::BadVersion => "bad_version",
            DropReason::UnknownType => "unknown_type",
            DropReason::ForeignCluster => "foreign_cluster",
            DropReason::UnknownKey => "unknown_key",
            DropReason::BadMac => "bad_mac",
            DropReason::BadCrc => "bad_crc",
            DropReason::Replay => "replay",
            DropReason::OwnFrame => "own_frame",
        }
    }
}

/// One counter per [`DropReason`]; plain array, no allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::COUNT],
}

impl DropCounters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&mut self, reason: DropReason) {
        if let Some(c) = self.counts.get_mut(reason as usize) {
            *c = c.saturating_add(1);
        }
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason as usize).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    /// `(name, count)` for every reason, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r.name(), self.get(r)))
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("output buffer holds {available} bytes, the frame needs {needed}")]
    BufferTooSmall { needed: usize, available: usize },
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLong { len: usize, max: usize },
    #[error("a keepalive carries no payload ({len} bytes given)")]
    KeepaliveWithPayload { len: usize },
}

/// Bytes [`encode`] writes for this payload length with the ring's active key.
pub fn encoded_len(payload_len: usize, signer: &KeyRing) -> usize {
    HEADER_LEN + payload_len + signer.active_tag_len()
}

/// Writes header, payload and tag (signed with `signer`'s active key) into
/// `out`; returns the frame length. Never allocates.
pub fn encode(
    header: &Header,
    payload: &[u8],
    signer: &KeyRing,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if header.message_type.is_keepalive() && !payload.is_empty() {
        return Err(EncodeError::KeepaliveWithPayload { len: payload.len() });
    }
    let signed_len = HEADER_LEN + payload.len();
    let needed = signed_len + signer.active_tag_len();
    if needed > MAX_FRAME_LEN {
        return Err(EncodeError::FrameTooLong {
            len: needed,
            max: MAX_FRAME_LEN,
        });
    }
    let available = out.len();
    let too_small = EncodeError::BufferTooSmall { needed, available };
    let frame = out.get_mut(..needed).ok_or(too_small)?;
    let (signed, tag_out) = frame.split_at_mut(signed_len);
    let (head, body) = signed.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&header_bytes(header, signer.active_index()));
    body.copy_from_slice(payload);
    let tag = signer.sign(signed);
    // The ring's tag length and the one used for `needed` come from the same key.
    if tag_out.len() != tag.as_bytes().len() {
        return Err(too_small);
    }
    tag_out.copy_from_slice(tag.as_bytes());
    Ok(needed)
}

fn header_bytes(h: &Header, key_index: u8) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0] = (VERSION << 4) | (h.message_type.code() & 0x0f);
    b[1] = ((key_index & 0x0f) << 4) | ((h.status as u8) << 2) | h.hold.bits();
    b[2..4].copy_from_slice(&h.node.to_be_bytes());
    b[4..6].copy_from_slice(&h.cluster.to_be_bytes());
    b[6..10].copy_from_slice(&h.generation.to_be_bytes());
    b[10..14].copy_from_slice(&h.sequence.to_be_bytes());
    b[14..18].copy_from_slice(&h.tx_timestamp.to_be_bytes());
    b[18..22].copy_from_slice(&h.echo.to_be_bytes());
    b
}

/// Checks and verifies one received frame (see the module doc for the order
/// of checks). `expected_cluster` is this node's [`super::cluster_id`].
pub fn decode<'a>(
    buf: &'a [u8],
    verifier: &KeyRing,
    expected_cluster: u16,
) -> Result<Decoded<'a>, DropReason> {
    if buf.len() > MAX_FRAME_LEN {
        return Err(DropReason::TooLong);
    }
    if buf.len() < MIN_FRAME_LEN {
        return Err(DropReason::Truncated);
    }
    let h: &[u8; HEADER_LEN] = buf.first_chunk().ok_or(DropReason::Truncated)?;
    if h[0] >> 4 != VERSION {
        return Err(DropReason::BadVersion);
    }
    let message_type = MessageType::from_code(h[0] & 0x0f).ok_or(DropReason::UnknownType)?;
    let cluster = u16::from_be_bytes([h[4], h[5]]);
    if cluster != expected_cluster {
        return Err(DropReason::ForeignCluster);
    }
    let key_index = h[1] >> 4;
    let tag_len = verifier.tag_len(key_index).ok_or(DropReason::UnknownKey)?;
    let signed_len = buf
        .len()
        .checked_sub(tag_len)
        .filter(|&n| n >= HEADER_LEN)
        .ok_or(DropReason::Truncated)?;
    let (signed, tag) = buf.split_at(signed_len);
    verifier.verify(key_index, signed, tag)?;
    let header = Header {
        message_type,
        status: NodeStatus::from_bits(h[1] >> 2),
        hold: HoldState::from_bits(h[1]),
        node: u16::from_be_bytes([h[2], h[3]]),
        cluster,
        generation: u32::from_be_bytes([h[6], h[7], h[8], h[9]]),
        sequence: u32::from_be_bytes([h[10], h[11], h[12], h[13]]),
        tx_timestamp: u32::from_be_bytes([h[14], h[15], h[16], h[17]]),
        echo: u32::from_be_bytes([h[18], h[19], h[20], h[21]]),
    };
    let payload = signed.get(HEADER_LEN..).unwrap_or(&[]);
    Ok(Decoded {
        header,
        key_index,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_reason_indices_match_all_and_names_are_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn drop_counters_count_per_reason() {
        let mut c = DropCounters::new();
        c.record(DropReason::BadMac);
        c.record(DropReason::BadMac);
        c.record(DropReason::Replay);
        assert_eq!(c.get(DropReason::BadMac), 2);
        assert_eq!(c.get(DropReason::Replay), 1);
        assert_eq!(c.get(DropReason::Truncated), 0);
        assert_eq!(c.total(), 3);
        let listed: Vec<_> = c.iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(listed, vec![("bad_mac", 2), ("replay", 1)]);
    }

    #[test]
    fn message_type_codes() {
        assert_eq!(MessageType::from_code(0), None);
        assert_eq!(MessageType::from_code(16), None);
        assert_eq!(MessageType::from_code(1), Some(MessageType::KEEPALIVE));
        assert!(!MessageType::from_code(2).is_some_and(|t| t.is_keepalive()));
    }

    #[test]
    fn hold_and_status_bits_round_trip() {
        for bits in 0..4u8 {
            assert_eq!(HoldState::from_bits(bits).bits(), bits);
            assert_eq!(NodeStatus::from_bits(bits) as u8, bits);
        }
        assert_eq!(
            HoldState {
                own: true,
                peer: false
            }
            .bits(),
            0b10
        );
    }
}
