//! Serial framing: frames through COBS, the line (chunked, damaged) and the
//! deframer, then the frame decoder, as the engine will run them.

use proptest::prelude::*;
use twinbeat::config::authkeys::{AuthKeys, AuthMethod};
use twinbeat::wire::serial::{self, Deframer, MAX_ENCODED_LEN, RESYNC, max_framed_len};
use twinbeat::wire::{
    Header, HoldState, KeyRing, MAX_FRAME_LEN, MessageType, NodeStatus, decode, encode,
    serial_keepalive_bytes, serial_keepalive_wire_ns,
};

const CLUSTER: u16 = 0x5eed;

fn keys() -> KeyRing {
    let auth = AuthKeys::new(
        1,
        [(
            1,
            AuthMethod::Sha1 {
                key: b"serial".to_vec(),
            },
        )],
    )
    .expect("valid keys");
    KeyRing::new(&auth).expect("keys prepare")
}

/// A signed frame whose sequence number is `seq`; types other than
/// keepalive carry `payload`.
fn frame(keys: &KeyRing, seq: u32, payload: &[u8]) -> Vec<u8> {
    let message_type = if payload.is_empty() {
        MessageType::KEEPALIVE
    } else {
        MessageType::from_code(4).expect("valid")
    };
    let header = Header {
        message_type,
        status: NodeStatus::Active,
        hold: HoldState::default(),
        node: 9,
        cluster: CLUSTER,
        generation: 1,
        sequence: seq,
        tx_timestamp: seq.wrapping_mul(2_654_435_761),
        echo: 0,
    };
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = encode(&header, payload, keys, &mut out).expect("encodes");
    out[..n].to_vec()
}

/// The line bytes of each frame, separately.
fn framed(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .map(|f| {
            let mut line = vec![0u8; max_framed_len(f.len())];
            let n = serial::encode(f, &mut line).expect("room");
            line.truncate(n);
            line
        })
        .collect()
}

/// Feeds `line` in chunks of the given sizes (cycled) and returns the
/// sequence numbers of the frames that decode and verify.
fn receive(keys: &KeyRing, line: &[u8], chunks: &[usize]) -> (Vec<u32>, Deframer) {
    let mut d = Deframer::new();
    let mut seqs = Vec::new();
    let mut rest = line;
    let mut sizes = chunks.iter().copied().cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        d.push(chunk, |f| {
            if let Ok(got) = decode(f, keys, CLUSTER) {
                seqs.push(got.header.sequence);
            }
        });
        rest = tail;
    }
    (seqs, d)
}

fn arb_payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            3 => Just(Vec::new()),
            1 => prop::collection::vec(any::<u8>(), 1..600),
        ],
        1..12,
    )
}

/// Which frame index each line byte belongs to.
fn owners(lines: &[Vec<u8>]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .flat_map(|(i, l)| std::iter::repeat_n(i, l.len()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_sequences_survive_random_chunking(
        payloads in arb_payloads(),
        chunks in prop::collection::vec(1usize..70, 1..10),
    ) {
        let k = keys();
        let frames: Vec<_> = payloads.iter().enumerate().map(|(i, p)| frame(&k, i as u32, p)).collect();
        let line = framed(&frames).concat();
        let (seqs, d) = receive(&k, &line, &chunks);
        prop_assert_eq!(seqs, (0..frames.len() as u32).collect::<Vec<_>>());
        prop_assert_eq!(d.stats().frames, frames.len() as u64);
        prop_assert_eq!(d.stats().framing_errors, 0);
    }

    #[test]
    fn garbage_prefix_costs_at_most_the_first_frame(
        garbage in prop::collection::vec(any::<u8>(), 0..2000),
        count in 2usize..6,
        chunks in prop::collection::vec(1usize..40, 1..5),
    ) {
        let k = keys();
        let frames: Vec<_> = (0..count as u32).map(|i| frame(&k, i, &[])).collect();
        let mut line = garbage;
        line.extend(framed(&frames).concat());
        let (seqs, _) = receive(&k, &line, &chunks);
        // Garbage without a trailing 0x00 merges with frame 0; every later
        // frame is recovered.
        let later: Vec<u32> = (1..count as u32).collect();
        prop_assert!(seqs == later || seqs == (0..count as u32).collect::<Vec<_>>(), "{:?}", seqs);
    }

    #[test]
    fn garbage_prefix_then_resync_loses_nothing(
        garbage in prop::collection::vec(any::<u8>(), 0..2000),
        count in 1usize..6,
    ) {
        let k = keys();
        let frames: Vec<_> = (0..count as u32).map(|i| frame(&k, i, &[])).collect();
        let mut line = garbage;
        line.push(RESYNC);
        line.extend(framed(&frames).concat());
        let (seqs, _) = receive(&k, &line, &[17]);
        prop_assert_eq!(seqs, (0..count as u32).collect::<Vec<_>>());
    }

    #[test]
    fn dropped_byte_loses_only_the_frames_it_touches(
        payloads in arb_payloads(),
        at in any::<prop::sample::Index>(),
    ) {
        let k = keys();
        let frames: Vec<_> = payloads.iter().enumerate().map(|(i, p)| frame(&k, i as u32, p)).collect();
        let lines = framed(&frames);
        let owner = owners(&lines);
        let mut line = lines.concat();
        let i = at.index(line.len());
        let hit = owner[i];
        // Dropping a delimiter merges the frame with the next one.
        let lost_next = line[i] == RESYNC;
        line.remove(i);
        let (seqs, _) = receive(&k, &line, &[13]);
        let want: Vec<u32> = (0..frames.len())
            .filter(|&j| j != hit && !(lost_next && j == hit + 1))
            .map(|j| j as u32)
            .collect();
        prop_assert_eq!(seqs, want);
    }

    #[test]
    fn inserted_byte_loses_only_the_frame_it_lands_in(
        payloads in arb_payloads(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let k = keys();
        let frames: Vec<_> = payloads.iter().enumerate().map(|(i, p)| frame(&k, i as u32, p)).collect();
        let lines = framed(&frames);
        let owner = owners(&lines);
        let mut line = lines.concat();
        let i = at.index(line.len());
        // A 0x00 next to a delimiter (or the start of the line) only adds an
        // empty frame, which is ignored.
        let harmless = byte == RESYNC && (i == 0 || line[i] == RESYNC || line[i - 1] == RESYNC);
        line.insert(i, byte);
        let (seqs, _) = receive(&k, &line, &[9]);
        let want: Vec<u32> = (0..frames.len())
            .filter(|&j| harmless || j != owner[i])
            .map(|j| j as u32)
            .collect();
        prop_assert_eq!(seqs, want);
    }

    #[test]
    fn cut_mid_frame_then_resync_loses_only_that_frame(
        count in 2usize..8,
        victim in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let k = keys();
        let frames: Vec<_> = (0..count as u32).map(|i| frame(&k, i, &[])).collect();
        let mut lines = framed(&frames);
        let v = victim.index(count);
        // Keep a non-empty strict prefix, delimiter excluded.
        let keep = 1 + cut.index(lines[v].len() - 2);
        lines[v].truncate(keep);
        lines[v].push(RESYNC); // the writer reopened the line
        let (seqs, d) = receive(&k, &lines.concat(), &[5]);
        let want: Vec<u32> = (0..count as u32).filter(|&j| j != v as u32).collect();
        prop_assert_eq!(seqs, want);
        prop_assert!(d.stats().framing_errors <= 1);
    }

    #[test]
    fn deframer_never_panics_on_arbitrary_bytes(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..8),
    ) {
        let mut d = Deframer::new();
        let mut total = 0usize;
        for c in &chunks {
            d.push(c, |f| {
                assert!(!f.is_empty() && f.len() <= MAX_ENCODED_LEN);
                total += 1;
            });
        }
        prop_assert_eq!(d.stats().frames, total as u64);
    }
}

#[test]
fn every_single_byte_insertion_in_a_keepalive_stream() {
    let k = keys();
    let frames: Vec<_> = (0..3).map(|i| frame(&k, i, &[])).collect();
    let lines = framed(&frames);
    let owner = owners(&lines);
    let clean = lines.concat();
    for i in 0..clean.len() {
        for byte in [0u8, 1, 0x20, 0xff] {
            let mut line = clean.clone();
            let harmless = byte == RESYNC && (i == 0 || line[i] == RESYNC || line[i - 1] == RESYNC);
            line.insert(i, byte);
            let (seqs, _) = receive(&k, &line, &[7]);
            let want: Vec<u32> = (0..3u32)
                .filter(|&j| harmless || j as usize != owner[i])
                .collect();
            assert_eq!(seqs, want, "byte {byte:#x} inserted at {i}");
        }
    }
}

#[test]
fn cut_mid_frame_without_resync_loses_it_and_the_next_only() {
    let k = keys();
    let frames: Vec<_> = (0..5).map(|i| frame(&k, i, &[])).collect();
    let mut lines = framed(&frames);
    lines[1].truncate(10);
    let (seqs, _) = receive(&k, &lines.concat(), &[64]);
    assert_eq!(seqs, vec![0, 3, 4]);
}

#[test]
fn discard_partial_on_reopen_keeps_the_next_frame() {
    let k = keys();
    let lines = framed(&[frame(&k, 0, &[]), frame(&k, 1, &[])]);
    let mut d = Deframer::new();
    let mut seqs = Vec::new();
    d.push(&lines[0][..12], |_| panic!("no frame yet"));
    d.discard_partial();
    d.push(&lines[1], |f| {
        seqs.push(decode(f, &k, CLUSTER).expect("valid").header.sequence)
    });
    assert_eq!(seqs, vec![1]);
    assert_eq!(d.stats().framing_errors, 1);
}

#[test]
fn serial_keepalive_sizes_match_the_line() {
    for (method, want) in [
        (AuthMethod::Crc, 28),
        (AuthMethod::Md5 { key: b"k".to_vec() }, 32),
        (AuthMethod::Sha1 { key: b"k".to_vec() }, 32),
        (AuthMethod::Sha256 { key: b"k".to_vec() }, 32),
    ] {
        let auth = AuthKeys::new(1, [(1, method.clone())]).expect("valid");
        let k = KeyRing::new(&auth).expect("prepares");
        let lines = framed(&[frame(&k, 7, &[])]);
        assert_eq!(lines[0].len(), want, "{method:?}");
        assert_eq!(serial_keepalive_bytes(&method), want);
    }
    let sha1 = AuthMethod::Sha1 { key: b"k".to_vec() };
    // 32 bytes × 10 bit times at 115200 baud = 2.777… ms.
    assert_eq!(serial_keepalive_wire_ns(&sha1, 115_200), 2_777_778);
}

#[test]
fn largest_frame_fits_the_deframer() {
    let k = keys();
    let big = frame(&k, 3, &vec![0xa5; MAX_FRAME_LEN - 30]);
    assert_eq!(big.len(), MAX_FRAME_LEN);
    let (seqs, d) = receive(&k, &framed(&[big]).concat(), &[100]);
    assert_eq!(seqs, vec![3]);
    assert_eq!(d.stats().oversize, 0);
}

/// Found by the serial_deframe fuzz target: runs of 0xff COBS codes decode
/// to more than MAX_FRAME_LEN bytes although the encoded chunk is within
/// bounds. No frame that long may come out.
#[test]
fn fuzz_found_chunk_decoding_past_the_frame_limit_is_oversize() {
    let stream = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/deframer-crash-oversize.bin"
    ))
    .unwrap();
    let (&chunk, stream) = stream.split_first().unwrap();
    let mut d = twinbeat::wire::serial::Deframer::new();
    for piece in stream.chunks(usize::from(chunk).max(1)) {
        d.push(piece, |frame| {
            assert!(
                !frame.is_empty() && frame.len() <= twinbeat::wire::MAX_FRAME_LEN,
                "{}",
                frame.len()
            )
        });
    }
    // Pushing the whole stream at once gives the same verdict.
    d.push(stream, |frame| {
        assert!(frame.len() <= twinbeat::wire::MAX_FRAME_LEN)
    });
}
