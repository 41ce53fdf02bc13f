//! The wire: keepalive frames, their authentication and serial framing.
//!
//! Identities on the wire are 16-bit hashes so that a serial keepalive fits
//! in 32 bytes: [`node_id`] of a node's (lowercased) name and [`cluster_id`]
//! of the cluster's name. Configuration refuses a pair whose ids collide.
//!
//! - [`frame`]: the frame layout (documented field by field), `encode` and
//!   checked `decode`, drop reasons and their counters.
//! - [`auth`]: the [`KeyRing`] that signs and verifies tags.
//! - [`serial`]: COBS framing on a byte stream and the [`serial::Deframer`].
//! - [`echo`]: the timestamp/echo arithmetic that yields a link's RTT.

pub mod auth;
pub mod echo;
pub mod frame;
pub mod serial;

pub use auth::{KeyRing, KeyRingError, Tag};
pub use frame::{
    Decoded, DropCounters, DropReason, EncodeError, Header, HoldState, MAX_FRAME_LEN, MessageType,
    NodeStatus, decode, encode,
};

use crate::config::authkeys::AuthMethod;

/// Bytes of the fixed header that starts every frame.
pub const HEADER_LEN: usize = 22;
/// Bytes of the truncated HMAC (md5, sha1, sha256) that ends a signed frame.
pub const HMAC_TAG_LEN: usize = 8;
/// Bytes of the CRC-32 that ends a `crc` frame.
pub const CRC_TAG_LEN: usize = 4;
/// Bytes serial framing adds to a frame of under 254 bytes: one COBS
/// overhead byte and the 0x00 delimiter.
pub const SERIAL_FRAMING_OVERHEAD: usize = 2;

/// Length of the trailer (MAC or CRC) for a method.
pub fn tag_len(method: &AuthMethod) -> usize {
    match method {
        AuthMethod::Crc => CRC_TAG_LEN,
        _ => HMAC_TAG_LEN,
    }
}

/// Bytes one keepalive occupies on a serial line, framing included
/// (32 with md5/sha1/sha256, 28 with crc).
pub fn serial_keepalive_bytes(method: &AuthMethod) -> usize {
    HEADER_LEN + tag_len(method) + SERIAL_FRAMING_OVERHEAD
}

/// Time one serial keepalive takes on the wire at `baud` with 8N1 framing
/// (10 bit times per byte), in nanoseconds, rounded up.
pub fn serial_keepalive_wire_ns(method: &AuthMethod, baud: u32) -> u64 {
    let bits = serial_keepalive_bytes(method) as u64 * 10;
    (bits * 1_000_000_000).div_ceil(baud.max(1) as u64)
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn fold16(h: u32) -> u16 {
    ((h >> 16) ^ (h & 0xffff)) as u16
}

/// The 16-bit identity of a node on the wire: FNV-1a of its lowercased
/// name, xor-folded.
pub fn node_id(name: &str) -> u16 {
    fold16(fnv1a32(name.to_ascii_lowercase().as_bytes()))
}

/// The 16-bit identity of a cluster on the wire (FNV-1a, xor-folded), so a
/// frame from another pair on the same network is told apart before its
/// MAC is even checked.
pub fn cluster_id(cluster_name: &str) -> u16 {
    fold16(fnv1a32(cluster_name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_keepalive_is_32_bytes_with_sha1_and_under_3ms_at_115200() {
        let sha1 = AuthMethod::Sha1 { key: b"k".to_vec() };
        assert_eq!(serial_keepalive_bytes(&sha1), 32);
        assert_eq!(serial_keepalive_bytes(&AuthMethod::Crc), 28);
        assert!(serial_keepalive_wire_ns(&sha1, 115_200) < 3_000_000);
        assert_eq!(serial_keepalive_wire_ns(&sha1, 19_200), 16_666_667);
    }

    #[test]
    fn node_id_ignores_case() {
        assert_eq!(node_id("Host41"), node_id("host41"));
        assert_ne!(node_id("host41"), node_id("host42"));
    }
}
