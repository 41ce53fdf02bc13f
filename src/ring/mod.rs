//! The event ring: how failure-detector events travel from the beat thread
//! to the separate takeover process.
//!
//! A fixed-capacity single-producer single-consumer ring of fixed-size
//! [`Pod`] records in a `MAP_SHARED` region (a sealed memfd handed to a child
//! by fd, or a file in the run dir that a restarted consumer maps again), plus
//! an `eventfd` for wake-ups. This module owns the shared layout, both ends
//! and the wake-up protocol; it is engine code (it maps memory and makes
//! syscalls at setup), but its hot path — [`Writer::push`] — makes none.
//!
//! # Protocol
//!
//! - Indices are monotonic `u64`s (slot = index & (capacity - 1)); the
//!   producer owns `write_index`, the consumer owns `read_index`, each on its
//!   own cache line.
//! - Every record carries a sequence number. When the ring is full the
//!   producer drops the record, counts it, and still consumes its sequence
//!   number, so the consumer sees an exact gap ([`Next::Missed`]) and can ask
//!   the daemon for the full state. The producer never blocks and never
//!   overwrites unread records.
//! - A producer that re-attaches to an existing ring file bumps the epoch;
//!   the consumer reports [`Next::Restarted`] once.
//!
//! # Memory ordering
//!
//! - Producer: write slot, then `write_index.store(Release)`. Consumer:
//!   `write_index.load(Acquire)`, then read the slot. Release/Acquire makes
//!   the slot contents visible before the index that announces them; nothing
//!   else needs ordering because each slot has exactly one writer at a time.
//! - Consumer: copy the slot, then `read_index.store(Release)`. Producer:
//!   `read_index.load(Acquire)` before reusing a slot. So the producer never
//!   overwrites a slot the consumer is still copying.
//! - Wake-up: both sides use a `SeqCst` fence between their store and their
//!   load (Dekker's pattern), see [`Writer::notify`] and [`Reader::wait`].
//!   Release/Acquire alone would allow both loads to miss both stores.
//! - Counters (`pushed`, `overflows`) are statistics: Relaxed.
//!
//! # Trust
//!
//! The consumer treats the region as untrusted: the geometry is computed
//! locally and checked against the header once; indices and sequence numbers
//! are bounded on every read. A bad region yields a [`RingError`], never a
//! panic or an out-of-bounds access. File sizes are checked before mapping.

mod layout;
mod pod;
mod reader;
mod record;
mod region;
mod wake;
mod writer;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub use layout::{LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MAX_RECORD_SIZE, offsets};
pub use pod::Pod;
pub use reader::Reader;
pub use record::EventRecord;
pub use region::clear_cloexec;
pub use wake::EventFd;
pub use writer::Writer;

/// Where the shared region lives.
#[derive(Clone, Copy, Debug)]
pub enum Backing<'a> {
    /// An anonymous, size-sealed memfd; the consumer gets it by fd.
    Memfd,
    /// A file (e.g. `/run/twinbeat/events.ring`) a restarted consumer can
    /// open again. An existing ring of the same shape is adopted.
    File(&'a Path),
}

/// Constructors for a ring.
pub struct Ring;

impl Ring {
    /// Creates (or, for a file, adopts) a ring of `capacity` records of `T`
    /// (a power of two up to [`MAX_CAPACITY`]). Returns the producer end and
    /// the fds the consumer needs.
    pub fn create<T: Pod>(
        backing: Backing<'_>,
        capacity: u64,
    ) -> Result<(Writer<T>, RingFds), RingError> {
        match backing {
            Backing::Memfd => Writer::create_memfd(capacity),
            Backing::File(path) => Writer::create_file(path, capacity),
        }
    }
}

/// What [`Reader::next`] has to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// The record with the expected sequence number.
    Record(T),
    /// This many records were dropped (ring full, or the consumer was away).
    Missed(u64),
    /// The producer re-attached with this epoch; the consumer's picture of
    /// the state may be stale.
    Restarted { epoch: u64 },
    /// Nothing new.
    Empty,
}

/// Producer counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    pub epoch: u64,
    pub pushed: u64,
    pub overflowed: u64,
}

/// The two fds a consumer needs: the region and the eventfd. Both are
/// close-on-exec; to hand them to a child, clear the flag in the child with
/// [`clear_cloexec`] from `pre_exec` and pass the numbers (e.g. in an env
/// var) to [`RingFds::from_raw_fds`] there.
#[derive(Debug)]
pub struct RingFds {
    ring: OwnedFd,
    wake: OwnedFd,
}

impl RingFds {
    pub fn new(ring: OwnedFd, wake: OwnedFd) -> Self {
        Self { ring, wake }
    }

    /// Takes ownership of inherited fds.
    ///
    /// # Safety
    ///
    /// Both must be open fds owned by nobody else in this process (the usual
    /// `OwnedFd::from_raw_fd` contract). Their *kind* is checked on open.
    pub unsafe fn from_raw_fds(ring: RawFd, wake: RawFd) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe {
            Self {
                ring: OwnedFd::from_raw_fd(ring),
                wake: OwnedFd::from_raw_fd(wake),
            }
        }
    }

    pub fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            ring: self.ring.try_clone()?,
            wake: self.wake.try_clone()?,
        })
    }

    pub fn into_parts(self) -> (OwnedFd, OwnedFd) {
        (self.ring, self.wake)
    }
}

/// Why a ring could not be created, opened or read.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("ring capacity {0} is not a power of two between 1 and {MAX_CAPACITY}")]
    BadCapacity(u64),
    #[error(
        "record type unsupported: {size} bytes, align {align} (need 1..={MAX_RECORD_SIZE} bytes, align <= 8)"
    )]
    UnsupportedRecord { size: usize, align: usize },
    #[error("not a twinbeat event ring (magic {found:#018x})")]
    BadMagic { found: u64 },
    #[error("ring layout version {found}, this build reads version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("ring records are {found} bytes, this reader expects {expected}")]
    RecordSize { found: u32, expected: usize },
    #[error("bad ring header: {0}")]
    BadHeader(&'static str),
    #[error("ring region truncated: {len} bytes, the layout needs {needed}")]
    Truncated { len: u64, needed: u64 },
    #[error("shared ring state is inconsistent: {0}")]
    Corrupt(&'static str),
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
}
