//! Frames on a byte stream (RS-232): COBS encoding plus a 0x00 delimiter,
//! and the [`Deframer`] that finds frames again in whatever the line
//! delivers.
//!
//! COBS (consistent overhead byte stuffing) removes every 0x00 from the
//! frame at a cost of one byte per 254, so 0x00 can only ever be a frame
//! boundary. A frame under 254 bytes costs exactly 2 bytes
//! ([`super::SERIAL_FRAMING_OVERHEAD`]): a serial keepalive is 32 bytes
//! with md5/sha1/sha256 and 28 with crc, i.e. 2.78 ms (32 × 10 bit times)
//! at 115200 baud 8N1 (see [`super::serial_keepalive_wire_ns`]).
//!
//! Resynchronisation: every 0x00 ends whatever was collected. Garbage, a
//! dropped byte or an inserted byte therefore spoil only the frame they fall
//! in (the COBS check or, failing that, the frame's tag rejects it) and the
//! next frame decodes. A dropped delimiter merges two frames, and both are
//! lost. A writer that (re)opens the line writes one 0x00
//! ([`RESYNC`]) first, so a frame cut by a restart or a cable pulled
//! mid-frame is closed off and only that frame is lost; the reader calls
//! [`Deframer::discard_partial`] when it reopens the line for the same
//! reason. Empty frames (consecutive delimiters) are ignored silently.

use thiserror::Error;

use super::frame::MAX_FRAME_LEN;

/// The delimiter, also written alone to resynchronise a line.
pub const RESYNC: u8 = 0x00;

/// Most COBS bytes a `len`-byte frame can take, delimiter excluded (exactly
/// `len + 1` below 254 bytes).
pub const fn max_cobs_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Most bytes on the line for a `len`-byte frame: COBS plus the delimiter
/// (exactly `len + 2` below 254 bytes). Size [`encode`]'s buffer with it.
pub const fn max_framed_len(len: usize) -> usize {
    max_cobs_len(len) + 1
}

/// Largest encoded frame the deframer collects (delimiter excluded).
pub const MAX_ENCODED_LEN: usize = max_cobs_len(MAX_FRAME_LEN);

/// Why a frame could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FramingError {
    #[error("output buffer holds {available} bytes, the framed frame needs {needed}")]
    BufferTooSmall { needed: usize, available: usize },
}

/// COBS-encodes `frame` into `out` and appends the 0x00 delimiter; returns
/// the number of bytes written (at most [`max_framed_len`]). Never allocates.
pub fn encode(frame: &[u8], out: &mut [u8]) -> Result<usize, FramingError> {
    let needed = max_framed_len(frame.len());
    let available = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(FramingError::BufferTooSmall { needed, available })?;
    // `out` has exactly the room COBS needs, so every `get_mut` below hits.
    let mut code_pos = 0;
    let mut code: u8 = 1;
    let mut o = 1;
    for &b in frame {
        if b == 0 {
            put(out, code_pos, code);
            code_pos = o;
            o += 1;
            code = 1;
        } else {
            put(out, o, b);
            o += 1;
            code += 1;
            if code == 0xff {
                put(out, code_pos, code);
                code_pos = o;
                o += 1;
                code = 1;
            }
        }
    }
    put(out, code_pos, code);
    put(out, o, RESYNC);
    Ok(o + 1)
}

fn put(out: &mut [u8], at: usize, byte: u8) {
    if let Some(slot) = out.get_mut(at) {
        *slot = byte;
    }
}

/// Decodes COBS `buf[..len]` in place (output never overtakes input);
/// returns the decoded length, `None` if the bytes are not valid COBS.
fn cobs_decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let end = buf.len();
    let mut i = 0;
    let mut o = 0;
    while i < end {
        let code = *buf.get(i)?;
        if code == 0 {
            return None;
        }
        i += 1;
        let run = code as usize - 1;
        let run_end = i.checked_add(run).filter(|&e| e <= end)?;
        buf.copy_within(i..run_end, o);
        o += run;
        i = run_end;
        if code != 0xff && i < end {
            *buf.get_mut(o)? = 0;
            o += 1;
        }
    }
    Some(o)
}

/// Counters a deframer keeps about its line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeframerStats {
    /// Frames handed to the callback.
    pub frames: u64,
    /// Delimited chunks that were not valid COBS, or partial frames
    /// discarded on reopen.
    pub framing_errors: u64,
    /// Chunks longer than [`MAX_ENCODED_LEN`] before their delimiter.
    pub oversize: u64,
}

/// Finds frames in a byte stream with a fixed buffer: no allocation, no
/// panic, whatever the input.
#[derive(Clone)]
pub struct Deframer {
    buf: [u8; MAX_ENCODED_LEN],
    len: usize,
    /// Set when the current chunk overflowed: skip to the next delimiter.
    discarding: bool,
    stats: DeframerStats,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_ENCODED_LEN],
            len: 0,
            discarding: false,
            stats: DeframerStats {
                frames: 0,
                framing_errors: 0,
                oversize: 0,
            },
        }
    }

    pub fn stats(&self) -> DeframerStats {
        self.stats
    }

    /// Feeds bytes read from the line; calls `on_frame` with every complete
    /// frame, in order. The slice is only valid during the call.
    pub fn push(&mut self, bytes: &[u8], mut on_frame: impl FnMut(&[u8])) {
        for &b in bytes {
            if b == RESYNC {
                self.end_chunk(&mut on_frame);
                continue;
            }
            if self.discarding {
                continue;
            }
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => {
                    self.stats.oversize += 1;
                    self.discarding = true;
                    self.len = 0;
                }
            }
        }
    }

    /// Drops a partly received frame (the line was reopened, so its rest
    /// will never come); counted as a framing error if there was one.
    pub fn discard_partial(&mut self) {
        if self.len > 0 {
            self.stats.framing_errors += 1;
        }
        self.len = 0;
        self.discarding = false;
    }

    fn end_chunk(&mut self, on_frame: &mut impl FnMut(&[u8])) {
        let len = std::mem::take(&mut self.len);
        if std::mem::take(&mut self.discarding) || len == 0 {
            return;
        }
        let Some(chunk) = self.buf.get_mut(..len) else {
            self.stats.framing_errors += 1;
            return;
        };
        match cobs_decode_in_place(chunk) {
            // A chunk within MAX_ENCODED_LEN can still decode to a few bytes
            // more than any frame (runs of 0xff codes); no frame is that long.
            Some(n) if n > MAX_FRAME_LEN => self.stats.oversize += 1,
            Some(n) if n > 0 => {
                self.stats.frames += 1;
                on_frame(chunk.get(..n).unwrap_or(&[]));
            }
            _ => self.stats.framing_errors += 1,
        }
    }
}

impl std::fmt::Debug for Deframer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deframer")
            .field("pending", &self.len)
            .field("discarding", &self.discarding)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_then_deframe(frame: &[u8]) -> Vec<Vec<u8>> {
        let mut line = vec![0u8; max_framed_len(frame.len())];
        let n = encode(frame, &mut line).expect("room");
        assert!(n <= line.len());
        if frame.len() < 254 {
            assert_eq!(n, frame.len() + 2);
        }
        assert!(!line[..n - 1].contains(&0));
        let mut d = Deframer::new();
        let mut got = Vec::new();
        d.push(&line[..n], |f| got.push(f.to_vec()));
        got
    }

    #[test]
    fn small_frame_costs_two_bytes_and_has_no_inner_zero() {
        let frame = [0u8, 1, 0, 0, 2, 3, 0];
        let mut line = [0xaau8; 9];
        assert_eq!(encode(&frame, &mut line), Ok(9));
        assert!(!line[..8].contains(&0));
        assert_eq!(line[8], 0);
        assert_eq!(frame_then_deframe(&frame), vec![frame.to_vec()]);
    }

    #[test]
    fn block_boundaries_round_trip() {
        for len in [1usize, 253, 254, 255, 508, 509, MAX_FRAME_LEN] {
            let no_zero: Vec<u8> = (0..len).map(|i| 1 + (i % 255) as u8).collect();
            let some_zero: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
            for frame in [no_zero, some_zero] {
                assert_eq!(frame_then_deframe(&frame), vec![frame.clone()], "len {len}");
            }
        }
    }

    #[test]
    fn invalid_cobs_is_a_framing_error() {
        let mut d = Deframer::new();
        let mut got = 0;
        // Code 5 promises 4 bytes, only 1 follows.
        d.push(&[5, 9, 0], |_| got += 1);
        assert_eq!(got, 0);
        assert_eq!(d.stats().framing_errors, 1);
    }

    #[test]
    fn oversize_chunk_is_dropped_and_counted_once() {
        let mut d = Deframer::new();
        let mut got = Vec::new();
        let junk = vec![1u8; MAX_ENCODED_LEN + 10];
        d.push(&junk, |f| got.push(f.to_vec()));
        d.push(&[0, 2, 42, 0], |f| got.push(f.to_vec()));
        assert_eq!(got, vec![vec![42]]);
        assert_eq!(d.stats().oversize, 1);
    }

    #[test]
    fn too_small_output_is_refused() {
        let mut out = [0u8; 3];
        assert_eq!(
            encode(&[1, 2], &mut out),
            Err(FramingError::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
    }
}
