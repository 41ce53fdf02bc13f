//! The bytes of a probe: ICMP echo request/reply (v4 and v6) and the
//! payload every probe carries — a per-prober token and the send time —
//! so a reply tells its round-trip time without any table of what was sent,
//! and a stray reply (another pinger's, seen by a raw socket) is ignored.
//! Pure; every parse checks lengths first.

use crate::time::Nanos;

pub const ICMP_HEADER_LEN: usize = 8;
pub const PAYLOAD_LEN: usize = 16;
pub const ECHO_LEN: usize = ICMP_HEADER_LEN + PAYLOAD_LEN;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// The payload: token, then send time, both big-endian.
pub fn payload(token: u64, sent_at: Nanos) -> [u8; PAYLOAD_LEN] {
    let mut p = [0; PAYLOAD_LEN];
    p[..8].copy_from_slice(&token.to_be_bytes());
    p[8..].copy_from_slice(&sent_at.to_be_bytes());
    p
}

/// The send time in a payload carrying our token.
pub fn parse_payload(bytes: &[u8], token: u64) -> Option<Nanos> {
    let t = bytes.get(..8)?;
    let s = bytes.get(8..PAYLOAD_LEN)?;
    if u64::from_be_bytes(t.try_into().ok()?) != token {
        return None;
    }
    Some(u64::from_be_bytes(s.try_into().ok()?))
}

/// The Internet checksum (RFC 1071).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request. The v4 checksum is filled in (raw sockets need it);
/// for v6 the kernel computes it (it covers a pseudo-header we do not see).
pub fn echo_request(v6: bool, ident: u16, seq: u16, token: u64, sent_at: Nanos) -> [u8; ECHO_LEN] {
    let mut b = [0; ECHO_LEN];
    b[0] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    b[4..6].copy_from_slice(&ident.to_be_bytes());
    b[6..8].copy_from_slice(&seq.to_be_bytes());
    b[ICMP_HEADER_LEN..].copy_from_slice(&payload(token, sent_at));
    if !v6 {
        let c = checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }
    b
}

/// The send time of an echo reply to one of our requests. `ident` is
/// checked when given (raw sockets see every reply on the host; datagram
/// ping sockets get only theirs, with an identifier the kernel chose).
pub fn parse_echo_reply(bytes: &[u8], v6: bool, ident: Option<u16>, token: u64) -> Option<Nanos> {
    let header = bytes.get(..ICMP_HEADER_LEN)?;
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if header[0] != want || header[1] != 0 {
        return None;
    }
    if let Some(id) = ident
        && header[4..6] != id.to_be_bytes()
    {
        return None;
    }
    parse_payload(bytes.get(ICMP_HEADER_LEN..)?, token)
}

/// The ICMP message inside an IPv4 packet (raw IPv4 sockets deliver the IP
/// header too).
pub fn ipv4_payload(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    packet.get(ihl..)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_v4_request_checksums_to_zero_and_its_reply_parses() {
        let req = echo_request(false, 0x1234, 7, 0xfeed, 123_456);
        assert_eq!(checksum(&req), 0, "a valid checksum sums to zero");
        let mut reply = req;
        reply[0] = ECHO_REPLY_V4;
        assert_eq!(
            parse_echo_reply(&reply, false, Some(0x1234), 0xfeed),
            Some(123_456)
        );
        assert_eq!(parse_echo_reply(&reply, false, Some(0x1235), 0xfeed), None);
        assert_eq!(parse_echo_reply(&reply, false, None, 0xbeef), None);
        assert_eq!(
            parse_echo_reply(&req, false, None, 0xfeed),
            None,
            "a request is no reply"
        );
        assert_eq!(parse_echo_reply(&reply, true, None, 0xfeed), None);
    }

    #[test]
    fn v6_uses_its_own_types() {
        let mut r = echo_request(true, 1, 2, 3, 4);
        assert_eq!(r[0], ECHO_REQUEST_V6);
        r[0] = ECHO_REPLY_V6;
        assert_eq!(parse_echo_reply(&r, true, None, 3), Some(4));
    }

    #[test]
    fn the_ip_header_is_skipped_by_its_length() {
        let mut packet = vec![0x46u8; 24]; // version 4, IHL 6 words
        packet.extend_from_slice(&[9, 9]);
        assert_eq!(ipv4_payload(&packet), Some(&[9u8, 9][..]));
        assert_eq!(ipv4_payload(&[0x41, 0, 0]), None, "IHL below 20 bytes");
        assert_eq!(ipv4_payload(&[0x60; 40]), None, "not IPv4");
        assert_eq!(ipv4_payload(&[]), None);
    }

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), v6: bool, id: Option<u16>, token: u64) {
            let _ = parse_echo_reply(&bytes, v6, id, token);
            let _ = ipv4_payload(&bytes);
            let _ = parse_payload(&bytes, token);
            let _ = checksum(&bytes);
        }

        #[test]
        fn payload_round_trips(token: u64, at: u64) {
            prop_assert_eq!(parse_payload(&payload(token, at), token), Some(at));
        }
    }
}
