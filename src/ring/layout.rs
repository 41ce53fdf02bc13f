//! The byte layout of the shared ring: header lines, slot geometry, and the
//! checks a process runs before it trusts a region someone else prepared.
//!
//! ```text
//! offset 0    meta line      magic, version, record size, capacity, stride,
//!                            data offset, producer epoch
//! offset 128  producer line  write index, next sequence, pushed, overflows
//! offset 256  consumer line  read index, next expected sequence, seen epoch
//! offset 384  wake line      consumer_waiting flag
//! offset 512  slots          capacity × stride; slot = u64 sequence + record
//! ```
//!
//! Each line is 128 bytes (two x86 cache lines, because the adjacent-line
//! prefetcher pairs them): the producer and the consumer each write only their
//! own line, so neither invalidates the other's cache on every record.

use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::RingError;

/// "TBEVRING" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TBEVRING");
/// Bumped on any change to this layout.
pub const LAYOUT_VERSION: u32 = 1;
/// Largest capacity accepted (records). Keeps a hostile header from making a
/// reader compute absurd sizes.
pub const MAX_CAPACITY: u64 = 1 << 24;
/// Largest record accepted, in bytes.
pub const MAX_RECORD_SIZE: usize = 1 << 16;
/// Bytes in front of each record in a slot: its sequence number.
pub const SLOT_SEQ_LEN: usize = size_of::<u64>();

#[repr(C, align(128))]
pub(crate) struct MetaLine {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub record_size: AtomicU32,
    pub capacity: AtomicU64,
    pub slot_stride: AtomicU64,
    pub data_offset: AtomicU64,
    /// Bumped each time a producer (re)attaches to the region.
    pub epoch: AtomicU64,
}

#[repr(C, align(128))]
pub(crate) struct ProducerLine {
    /// Slots ever published; slot of index i = i & (capacity - 1).
    pub write_index: AtomicU64,
    /// Sequence numbers ever handed out (published + dropped).
    pub next_seq: AtomicU64,
    pub pushed: AtomicU64,
    pub overflows: AtomicU64,
}

#[repr(C, align(128))]
pub(crate) struct ConsumerLine {
    /// Slots ever consumed; the producer may reuse slots below it.
    pub read_index: AtomicU64,
    /// The sequence the consumer expects next (saved for a restarted consumer).
    pub next_expected_seq: AtomicU64,
    /// The producer epoch the consumer last acknowledged (0 = never attached),
    /// so a consumer restarted after a producer restart still hears of it.
    pub seen_epoch: AtomicU64,
}

#[repr(C, align(128))]
pub(crate) struct WakeLine {
    /// 1 while the consumer is (about to be) asleep on the eventfd.
    pub consumer_waiting: AtomicU32,
}

#[repr(C)]
pub(crate) struct Header {
    pub meta: MetaLine,
    pub producer: ProducerLine,
    pub consumer: ConsumerLine,
    pub wake: WakeLine,
}

/// Byte offsets of the header fields, for tools and tests that inspect or
/// damage a ring file on purpose.
pub mod offsets {
    use super::*;
    pub const MAGIC: usize = offset_of!(Header, meta) + offset_of!(MetaLine, magic);
    pub const VERSION: usize = offset_of!(Header, meta) + offset_of!(MetaLine, version);
    pub const RECORD_SIZE: usize = offset_of!(Header, meta) + offset_of!(MetaLine, record_size);
    pub const CAPACITY: usize = offset_of!(Header, meta) + offset_of!(MetaLine, capacity);
    pub const SLOT_STRIDE: usize = offset_of!(Header, meta) + offset_of!(MetaLine, slot_stride);
    pub const DATA_OFFSET: usize = offset_of!(Header, meta) + offset_of!(MetaLine, data_offset);
    pub const EPOCH: usize = offset_of!(Header, meta) + offset_of!(MetaLine, epoch);
    pub const WRITE_INDEX: usize =
        offset_of!(Header, producer) + offset_of!(ProducerLine, write_index);
    pub const NEXT_SEQ: usize = offset_of!(Header, producer) + offset_of!(ProducerLine, next_seq);
    pub const READ_INDEX: usize =
        offset_of!(Header, consumer) + offset_of!(ConsumerLine, read_index);
    pub const NEXT_EXPECTED_SEQ: usize =
        offset_of!(Header, consumer) + offset_of!(ConsumerLine, next_expected_seq);
    pub const SEEN_EPOCH: usize =
        offset_of!(Header, consumer) + offset_of!(ConsumerLine, seen_epoch);
    pub const CONSUMER_WAITING: usize =
        offset_of!(Header, wake) + offset_of!(WakeLine, consumer_waiting);
    /// Where the slots start.
    pub const DATA: usize = size_of::<Header>();
}

/// The geometry of a ring, computed locally from the record type and the
/// capacity. Once a region's header has been checked against it, nothing in
/// the geometry is ever read from shared memory again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub record_size: usize,
    pub capacity: u64,
    pub mask: u64,
    pub stride: usize,
    pub data_offset: usize,
    pub total_len: usize,
}

impl Layout {
    pub fn for_record<T>(capacity: u64) -> Result<Self, RingError> {
        let record_size = size_of::<T>();
        if record_size == 0 || record_size > MAX_RECORD_SIZE || align_of::<T>() > 8 {
            return Err(RingError::UnsupportedRecord {
                size: record_size,
                align: align_of::<T>(),
            });
        }
        if capacity == 0 || capacity > MAX_CAPACITY || !capacity.is_power_of_two() {
            return Err(RingError::BadCapacity(capacity));
        }
        // Both bounds above keep these products far below usize::MAX on a
        // 64-bit target; checked arithmetic keeps that true anywhere.
        let stride = (SLOT_SEQ_LEN + record_size).next_multiple_of(8);
        let data_offset = offsets::DATA;
        let total_len = usize::try_from(capacity)
            .ok()
            .and_then(|c| c.checked_mul(stride))
            .and_then(|s| s.checked_add(data_offset))
            .ok_or(RingError::BadCapacity(capacity))?;
        Ok(Self {
            record_size,
            capacity,
            mask: capacity - 1,
            stride,
            data_offset,
            total_len,
        })
    }

    /// Byte offset of the slot holding ring index `index`.
    pub fn slot_offset(&self, index: u64) -> usize {
        // `index & mask` < capacity, and capacity * stride fits (checked above).
        self.data_offset + (index & self.mask) as usize * self.stride
    }

    /// Writes the meta line of a freshly created (zeroed) region. The magic
    /// goes last with Release so a reader that sees it sees the rest.
    pub fn initialise(&self, header: &Header, epoch: u64) {
        let m = &header.meta;
        m.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        m.record_size
            .store(self.record_size as u32, Ordering::Relaxed);
        m.capacity.store(self.capacity, Ordering::Relaxed);
        m.slot_stride.store(self.stride as u64, Ordering::Relaxed);
        m.data_offset
            .store(self.data_offset as u64, Ordering::Relaxed);
        m.epoch.store(epoch, Ordering::Relaxed);
        m.magic.store(MAGIC, Ordering::Release);
    }

    /// Checks a mapped header (of a region `region_len` bytes long) against
    /// the record type `T`, and returns the layout it describes.
    pub fn validate<T>(header: &Header, region_len: usize) -> Result<Self, RingError> {
        let m = &header.meta;
        let magic = m.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(RingError::BadMagic { found: magic });
        }
        let version = m.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(RingError::Version {
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let record_size = m.record_size.load(Ordering::Relaxed);
        if record_size as usize != size_of::<T>() {
            return Err(RingError::RecordSize {
                found: record_size,
                expected: size_of::<T>(),
            });
        }
        let layout = Self::for_record::<T>(m.capacity.load(Ordering::Relaxed))?;
        if m.slot_stride.load(Ordering::Relaxed) != layout.stride as u64 {
            return Err(RingError::BadHeader(
                "slot stride does not match the record size",
            ));
        }
        if m.data_offset.load(Ordering::Relaxed) != layout.data_offset as u64 {
            return Err(RingError::BadHeader(
                "data offset does not match this layout",
            ));
        }
        if region_len < layout.total_len {
            return Err(RingError::Truncated {
                len: region_len as u64,
                needed: layout.total_len as u64,
            });
        }
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_party_writes_its_own_128_byte_line() {
        assert_eq!(offsets::MAGIC, 0);
        assert_eq!(offsets::WRITE_INDEX, 128);
        assert_eq!(offsets::READ_INDEX, 256);
        assert_eq!(offsets::CONSUMER_WAITING, 384);
        assert_eq!(offsets::DATA, 512);
    }

    #[test]
    fn capacity_must_be_a_power_of_two_within_bounds() {
        assert!(Layout::for_record::<u64>(0).is_err());
        assert!(Layout::for_record::<u64>(3).is_err());
        assert!(Layout::for_record::<u64>(MAX_CAPACITY * 2).is_err());
        let l = Layout::for_record::<u64>(8).unwrap();
        assert_eq!(l.stride, 16);
        assert_eq!(l.total_len, 512 + 8 * 16);
        assert_eq!(l.slot_offset(9), l.slot_offset(1));
    }

    #[test]
    fn odd_record_sizes_round_the_stride_to_eight() {
        let l = Layout::for_record::<[u8; 3]>(4).unwrap();
        assert_eq!(l.stride, 16);
        assert!(Layout::for_record::<()>(4).is_err());
    }
}
