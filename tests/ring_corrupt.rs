//! A damaged or hostile shared region gives errors, never a crash.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use twinbeat::ring::{Backing, Next, Reader, Ring, RingError, Writer, offsets};

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    writer: Writer<u64>,
}

fn fixture(capacity: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ring");
    let (writer, _fds) = Ring::create::<u64>(Backing::File(&path), capacity).unwrap();
    Fixture {
        _dir: dir,
        path,
        writer,
    }
}

fn poke(path: &Path, offset: usize, bytes: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset as u64).unwrap();
}

fn open<T: twinbeat::ring::Pod>(path: &Path) -> Result<Reader<T>, RingError> {
    let wake = twinbeat::ring::EventFd::new().unwrap().into_owned();
    Reader::<T>::open_path(path, wake)
}

#[test]
fn a_wrong_magic_is_refused() {
    let f = fixture(8);
    poke(&f.path, offsets::MAGIC, b"NOTARING");
    assert!(matches!(
        open::<u64>(&f.path),
        Err(RingError::BadMagic { .. })
    ));
}

#[test]
fn another_layout_version_is_refused() {
    let f = fixture(8);
    poke(&f.path, offsets::VERSION, &99u32.to_ne_bytes());
    assert!(matches!(
        open::<u64>(&f.path),
        Err(RingError::Version { found: 99, .. })
    ));
}

#[test]
fn a_reader_of_another_record_type_is_refused() {
    let f = fixture(8);
    assert!(matches!(
        open::<u32>(&f.path),
        Err(RingError::RecordSize {
            found: 8,
            expected: 4
        })
    ));
    poke(&f.path, offsets::RECORD_SIZE, &16u32.to_ne_bytes());
    assert!(matches!(
        open::<u64>(&f.path),
        Err(RingError::RecordSize { found: 16, .. })
    ));
}

#[test]
fn a_bad_capacity_or_geometry_is_refused() {
    let f = fixture(8);
    poke(&f.path, offsets::CAPACITY, &6u64.to_ne_bytes());
    assert!(matches!(
        open::<u64>(&f.path),
        Err(RingError::BadCapacity(6))
    ));
    poke(&f.path, offsets::CAPACITY, &8u64.to_ne_bytes());
    poke(&f.path, offsets::SLOT_STRIDE, &24u64.to_ne_bytes());
    assert!(matches!(open::<u64>(&f.path), Err(RingError::BadHeader(_))));
    poke(&f.path, offsets::SLOT_STRIDE, &16u64.to_ne_bytes());
    poke(&f.path, offsets::DATA_OFFSET, &0u64.to_ne_bytes());
    assert!(matches!(open::<u64>(&f.path), Err(RingError::BadHeader(_))));
    poke(
        &f.path,
        offsets::DATA_OFFSET,
        &(offsets::DATA as u64).to_ne_bytes(),
    );
    assert!(open::<u64>(&f.path).is_ok(), "restored header opens again");
}

#[test]
fn a_capacity_larger_than_the_file_is_truncation_not_sigbus() {
    let f = fixture(8);
    poke(&f.path, offsets::CAPACITY, &(1u64 << 20).to_ne_bytes());
    assert!(matches!(
        open::<u64>(&f.path),
        Err(RingError::Truncated { .. })
    ));
}

#[test]
fn a_truncated_file_is_an_error() {
    let f = fixture(8);
    let file = OpenOptions::new().write(true).open(&f.path).unwrap();
    // Longest first: a shorter file loses the header, which is another error.
    for len in [offsets::DATA as u64 + 8, 100, 0] {
        file.set_len(len).unwrap();
        assert!(
            matches!(open::<u64>(&f.path), Err(RingError::Truncated { .. })),
            "len {len}"
        );
    }
}

#[test]
fn a_write_index_beyond_one_ring_is_an_error_and_resync_recovers() {
    let mut f = fixture(8);
    let mut r = open::<u64>(&f.path).unwrap();
    f.writer.push(&1);
    poke(&f.path, offsets::WRITE_INDEX, &1_000u64.to_ne_bytes());
    assert!(matches!(r.next(), Err(RingError::Corrupt(_))));
    assert!(
        matches!(r.next(), Err(RingError::Corrupt(_))),
        "stays an error"
    );
    r.resync();
    assert_eq!(r.next().unwrap(), Next::Empty);
}

#[test]
fn a_sequence_going_backwards_is_an_error() {
    let mut f = fixture(8);
    let mut r = open::<u64>(&f.path).unwrap();
    f.writer.push(&1);
    f.writer.push(&2);
    assert_eq!(r.next().unwrap(), Next::Record(1));
    assert_eq!(r.next().unwrap(), Next::Record(2));
    // One behind is a push in flight (write index stored, sequence not yet).
    poke(&f.path, offsets::NEXT_SEQ, &1u64.to_ne_bytes());
    assert_eq!(r.next().unwrap(), Next::Empty);
    // Two behind cannot happen with a sane producer.
    poke(&f.path, offsets::NEXT_SEQ, &0u64.to_ne_bytes());
    assert!(matches!(r.next(), Err(RingError::Corrupt(_))));
}

#[test]
fn saved_consumer_state_that_cannot_be_true_is_refused_at_open() {
    let f = fixture(8);
    poke(&f.path, offsets::READ_INDEX, &u64::MAX.to_ne_bytes());
    assert!(matches!(open::<u64>(&f.path), Err(RingError::Corrupt(_))));
    poke(&f.path, offsets::READ_INDEX, &0u64.to_ne_bytes());
    poke(&f.path, offsets::NEXT_EXPECTED_SEQ, &5u64.to_ne_bytes());
    assert!(matches!(open::<u64>(&f.path), Err(RingError::Corrupt(_))));
}

#[test]
fn a_consumer_index_from_nowhere_makes_the_producer_drop_not_overwrite() {
    let mut f = fixture(4);
    for v in 0..4 {
        assert!(f.writer.push(&v));
    }
    // A broken consumer claims to have read far ahead of what exists.
    poke(&f.path, offsets::READ_INDEX, &1_000u64.to_ne_bytes());
    assert!(!f.writer.push(&99));
    assert_eq!(f.writer.stats().overflowed, 1);
    assert_eq!(f.writer.free_slots(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes over any part of the header and the slots, before or
    /// after opening: every call returns, none panics or faults.
    #[test]
    fn garbage_anywhere_never_crashes_the_consumer(
        before_open in any::<bool>(),
        offset in 0usize..(512 + 8 * 16),
        bytes in proptest::collection::vec(any::<u8>(), 1..64),
        pushes in 0u64..12,
    ) {
        let mut f = fixture(8);
        for v in 0..pushes {
            f.writer.push(&v);
        }
        let len = bytes.len().min(512 + 8 * 16 - offset);
        if before_open {
            poke(&f.path, offset, &bytes[..len]);
        }
        if let Ok(mut r) = open::<u64>(&f.path) {
            if !before_open {
                poke(&f.path, offset, &bytes[..len]);
            }
            for _ in 0..32 {
                match r.next() {
                    Ok(Next::Empty) => break,
                    Ok(_) => {}
                    Err(_) => r.resync(),
                }
            }
            let _ = r.wait(Some(std::time::Duration::ZERO));
            f.writer.push(&1);
            f.writer.notify();
        }
    }
}
