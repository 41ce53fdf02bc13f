//! The latency probe on the wire: what the sender stamps and the reflector
//! stamps back.
//!
//! Layout (big-endian, [`HEADER_LEN`] bytes, then padding up to the size the
//! user asked for):
//!
//! | bytes  | field |
//! | ------ | ----- |
//! | 0..4   | magic `TBLP` (not a keepalive: a stray probe never reaches a detector) |
//! | 4      | version ([`VERSION`]) |
//! | 5      | kind ([`Kind`]) |
//! | 6..8   | reserved, zero |
//! | 8..12  | session: the sender's run, so replies to an earlier run are told apart |
//! | 12..20 | sequence number, from 0 |
//! | 20..28 | sender's monotonic send time, ns |
//! | 28..36 | reflector's monotonic receive time, ns (0 until reflected) |
//! | 36..44 | reflector's monotonic send time, ns (0 until reflected) |
//!
//! The reflector turns a probe into its reply in place ([`reflect_in_place`]),
//! padding included, so the reply is exactly as long as the probe and the
//! reflector never allocates or copies.

use thiserror::Error;

use crate::time::Nanos;

/// The magic that starts every probe.
pub const MAGIC: [u8; 4] = *b"TBLP";
/// The probe format's version.
pub const VERSION: u8 = 1;
/// Bytes of the fixed header; also the smallest probe.
pub const HEADER_LEN: usize = 44;

/// What a probe is for. A request's reply is the next code up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The sender asks whether a reflector is there (retried until answered).
    Hello,
    HelloAck,
    /// A timed probe.
    Probe,
    Reply,
    /// The sender is done; the reflector may end the session. Not answered.
    Bye,
}

impl Kind {
    pub const fn code(self) -> u8 {
        match self {
            Kind::Hello => 1,
            Kind::HelloAck => 2,
            Kind::Probe => 3,
            Kind::Reply => 4,
            Kind::Bye => 5,
        }
    }

    pub const fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Hello),
            2 => Some(Kind::HelloAck),
            3 => Some(Kind::Probe),
            4 => Some(Kind::Reply),
            5 => Some(Kind::Bye),
            _ => None,
        }
    }

    /// The kind a reflector answers with; `None` for kinds it does not answer.
    pub const fn answer(self) -> Option<Kind> {
        match self {
            Kind::Hello => Some(Kind::HelloAck),
            Kind::Probe => Some(Kind::Reply),
            _ => None,
        }
    }
}

/// One probe's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: Kind,
    pub session: u32,
    pub seq: u64,
    pub sent_at: Nanos,
    pub reflector_rx: Nanos,
    pub reflector_tx: Nanos,
}

/// Why bytes are not a probe, or a probe could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProbeError {
    #[error("{len} bytes is shorter than a probe header ({HEADER_LEN})")]
    TooShort { len: usize },
    #[error("not a latency probe (bad magic)")]
    BadMagic,
    #[error("probe version {0} is not supported (expected {VERSION})")]
    BadVersion(u8),
    #[error("unknown probe kind {0}")]
    BadKind(u8),
    #[error("probe kind {0:?} is not answered by a reflector")]
    NotARequest(Kind),
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = bytes.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_be_bytes(b)
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    if let Some(s) = bytes.get_mut(at..at + 8) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

impl Probe {
    /// A request from the sender (reflector stamps zero).
    pub const fn request(kind: Kind, session: u32, seq: u64, sent_at: Nanos) -> Probe {
        Probe {
            kind,
            session,
            seq,
            sent_at,
            reflector_rx: 0,
            reflector_tx: 0,
        }
    }

    /// Writes the header and zero padding over all of `out`, which is the
    /// probe's size; fails only when `out` is shorter than a header.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProbeError> {
        if out.len() < HEADER_LEN {
            return Err(ProbeError::TooShort { len: out.len() });
        }
        out.fill(0);
        if let Some(m) = out.get_mut(0..4) {
            m.copy_from_slice(&MAGIC);
        }
        if let Some(h) = out.get_mut(4..6) {
            h.copy_from_slice(&[VERSION, self.kind.code()]);
        }
        if let Some(s) = out.get_mut(8..12) {
            s.copy_from_slice(&self.session.to_be_bytes());
        }
        put_u64(out, 12, self.seq);
        put_u64(out, 20, self.sent_at);
        put_u64(out, 28, self.reflector_rx);
        put_u64(out, 36, self.reflector_tx);
        Ok(out.len())
    }

    /// Reads a probe's header, checking length, magic, version and kind.
    /// Padding is not looked at.
    pub fn decode(bytes: &[u8]) -> Result<Probe, ProbeError> {
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or(ProbeError::TooShort { len: bytes.len() })?;
        if header.get(0..4) != Some(&MAGIC[..]) {
            return Err(ProbeError::BadMagic);
        }
        let version = header.get(4).copied().unwrap_or(0);
        if version != VERSION {
            return Err(ProbeError::BadVersion(version));
        }
        let code = header.get(5).copied().unwrap_or(0);
        let kind = Kind::from_code(code).ok_or(ProbeError::BadKind(code))?;
        let mut session = [0u8; 4];
        if let Some(s) = header.get(8..12) {
            session.copy_from_slice(s);
        }
        Ok(Probe {
            kind,
            session: u32::from_be_bytes(session),
            seq: u64_at(header, 12),
            sent_at: u64_at(header, 20),
            reflector_rx: u64_at(header, 28),
            reflector_tx: u64_at(header, 36),
        })
    }

    /// How long the reflector held the probe, on its own clock.
    pub const fn hold(&self) -> Nanos {
        self.reflector_tx.saturating_sub(self.reflector_rx)
    }
}

/// Turns the request in `bytes` into its answer in place: the kind becomes
/// the answer's and the reflector's stamps are written. Returns the request
/// as it was read. Bytes that are not a request are left untouched.
pub fn reflect_in_place(
    bytes: &mut [u8],
    received_at: Nanos,
    sent_at: Nanos,
) -> Result<Probe, ProbeError> {
    let request = Probe::decode(bytes)?;
    let answer = request
        .kind
        .answer()
        .ok_or(ProbeError::NotARequest(request.kind))?;
    if let Some(k) = bytes.get_mut(5) {
        *k = answer.code();
    }
    put_u64(bytes, 28, received_at);
    put_u64(bytes, 36, sent_at);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_probe_reads_back_as_written_and_fills_its_size() {
        let p = Probe::request(Kind::Probe, 0xdead_beef, 7, 123_456_789);
        let mut buf = [0xffu8; 100];
        assert_eq!(p.encode(&mut buf), Ok(100));
        assert!(buf[HEADER_LEN..].iter().all(|&b| b == 0));
        assert_eq!(Probe::decode(&buf), Ok(p));
        assert_eq!(
            p.encode(&mut [0u8; HEADER_LEN - 1]),
            Err(ProbeError::TooShort {
                len: HEADER_LEN - 1
            })
        );
    }

    #[test]
    fn reflecting_answers_with_the_reflector_stamps_and_keeps_the_rest() {
        let p = Probe::request(Kind::Probe, 9, 41, 5_000);
        let mut buf = [0u8; 64];
        p.encode(&mut buf).unwrap();
        let before = buf;
        assert_eq!(reflect_in_place(&mut buf, 70_000, 70_400), Ok(p));
        let reply = Probe::decode(&buf).unwrap();
        assert_eq!(reply.kind, Kind::Reply);
        assert_eq!((reply.session, reply.seq, reply.sent_at), (9, 41, 5_000));
        assert_eq!((reply.reflector_rx, reply.reflector_tx), (70_000, 70_400));
        assert_eq!(reply.hold(), 400);
        assert_eq!(buf[HEADER_LEN..], before[HEADER_LEN..]);
        // A reply is not reflected again (two reflectors cannot ping-pong).
        assert_eq!(
            reflect_in_place(&mut buf, 1, 2),
            Err(ProbeError::NotARequest(Kind::Reply))
        );
    }

    #[test]
    fn foreign_bytes_are_refused_with_the_reason() {
        let mut buf = [0u8; HEADER_LEN];
        Probe::request(Kind::Hello, 1, 0, 1)
            .encode(&mut buf)
            .unwrap();
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(Probe::decode(&bad), Err(ProbeError::BadMagic));
        let mut bad = buf;
        bad[4] = 9;
        assert_eq!(Probe::decode(&bad), Err(ProbeError::BadVersion(9)));
        let mut bad = buf;
        bad[5] = 0;
        assert_eq!(Probe::decode(&bad), Err(ProbeError::BadKind(0)));
        assert_eq!(
            Probe::decode(&buf[..10]),
            Err(ProbeError::TooShort { len: 10 })
        );
    }

    proptest! {
        #[test]
        fn decoding_and_reflecting_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = Probe::decode(&bytes);
            let _ = reflect_in_place(&mut bytes, 1, 2);
        }

        #[test]
        fn every_request_round_trips(kind in 1u8..=5, session: u32, seq: u64, sent: u64, extra in 0usize..64) {
            let kind = Kind::from_code(kind).unwrap();
            let p = Probe::request(kind, session, seq, sent);
            let mut buf = vec![0u8; HEADER_LEN + extra];
            p.encode(&mut buf).unwrap();
            prop_assert_eq!(Probe::decode(&buf), Ok(p));
        }
    }
}
