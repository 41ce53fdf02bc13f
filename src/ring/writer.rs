//! The producer end: publishes records without blocking, allocating or
//! locking, drops (and counts) what does not fit, and wakes a sleeping
//! consumer at most once per batch.

use std::ffi::CStr;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{Ordering, fence};

use super::layout::{Layout, SLOT_SEQ_LEN};
use super::pod::Pod;
use super::region::{self, Mapping};
use super::wake::EventFd;
use super::{RingError, RingFds, RingStats};

const MEMFD_NAME: &CStr = c"twinbeat-events";

/// The single producer of a ring. `push` takes `&mut self`, so there is one
/// producer per region by construction within a process; across processes the
/// daemon must not run two producers on the same file.
pub struct Writer<T: Pod> {
    map: Mapping,
    layout: Layout,
    wake: EventFd,
    /// Local copies of the producer line: the producer is its only writer,
    /// so it never needs to read them back from shared memory.
    write: u64,
    next_seq: u64,
    pushed: u64,
    overflows: u64,
    epoch: u64,
    /// Last consumer index seen; re-read only when the ring looks full, so the
    /// consumer's cache line is touched once per lap rather than per record.
    cached_read: u64,
    _record: PhantomData<fn(T)>,
}

impl<T: Pod> Writer<T> {
    /// A new ring in a sealed memfd; the consumer gets it through `RingFds`.
    pub(crate) fn create_memfd(capacity: u64) -> Result<(Self, RingFds), RingError> {
        let layout = Layout::for_record::<T>(capacity)?;
        let fd = region::sealed_memfd(MEMFD_NAME, layout.total_len).map_err(io_err("memfd"))?;
        let map = Mapping::shared(fd.as_fd(), layout.total_len).map_err(io_err("mmap"))?;
        layout.initialise(map.header(), 1);
        Self::finish(map, layout, fd, 0, 0, 0, 0, 1)
    }

    /// A ring in a file at `path`. If a valid ring of the same record type and
    /// capacity is already there (a previous producer crashed or restarted),
    /// the writer adopts it: indices and sequence numbers continue, unread
    /// records stay readable, and the epoch goes up by one so the consumer
    /// learns that the producer restarted. Anything else at `path` is
    /// replaced atomically by a fresh ring.
    pub(crate) fn create_file(path: &Path, capacity: u64) -> Result<(Self, RingFds), RingError> {
        let layout = Layout::for_record::<T>(capacity)?;
        if let Some(adopted) = Self::adopt(path, layout)? {
            return Ok(adopted);
        }
        let (file, tmp) = region::create_temp_beside(path, layout.total_len)
            .map_err(io_err("create ring file"))?;
        let map = Mapping::shared(file.as_fd(), layout.total_len).map_err(io_err("mmap"))?;
        layout.initialise(map.header(), 1);
        region::publish(&tmp, path).map_err(io_err("rename ring file"))?;
        Self::finish(map, layout, file.into(), 0, 0, 0, 0, 1)
    }

    fn adopt(path: &Path, wanted: Layout) -> Result<Option<(Self, RingFds)>, RingError> {
        let file = match region::open_file(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(RingError::Io {
                    op: "open ring file",
                    source: e,
                });
            }
        };
        let len = region::file_len(file.as_fd()).map_err(io_err("stat ring file"))?;
        if len < wanted.total_len as u64 {
            tracing::warn!(path = %path.display(), len, "ring file too short; replacing it");
            return Ok(None);
        }
        let map = Mapping::shared(file.as_fd(), wanted.total_len).map_err(io_err("mmap"))?;
        match Layout::validate::<T>(map.header(), map.len()) {
            Ok(found) if found == wanted => {}
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "ring file has another layout; replacing it");
                return Ok(None);
            }
        }
        let h = map.header();
        let write = h.producer.write_index.load(Ordering::Acquire);
        let read = h.consumer.read_index.load(Ordering::Acquire);
        let next_seq = h.producer.next_seq.load(Ordering::Acquire);
        if write
            .checked_sub(read)
            .is_none_or(|unread| unread > wanted.capacity)
            || next_seq < write
        {
            tracing::warn!(path = %path.display(), "ring file indices inconsistent; replacing it");
            return Ok(None);
        }
        let pushed = h.producer.pushed.load(Ordering::Relaxed);
        let overflows = h.producer.overflows.load(Ordering::Relaxed);
        let epoch = h.meta.epoch.load(Ordering::Relaxed).wrapping_add(1).max(1);
        // Release: a consumer that sees the new epoch sees the ring as the new
        // producer found it.
        h.meta.epoch.store(epoch, Ordering::Release);
        let adopted = Self::finish(
            map,
            wanted,
            file.into(),
            write,
            next_seq,
            pushed,
            overflows,
            epoch,
        )?;
        Ok(Some(adopted))
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        map: Mapping,
        layout: Layout,
        ring_fd: OwnedFd,
        write: u64,
        next_seq: u64,
        pushed: u64,
        overflows: u64,
        epoch: u64,
    ) -> Result<(Self, RingFds), RingError> {
        let wake = EventFd::new().map_err(io_err("eventfd"))?;
        let consumer_wake = wake.try_clone().map_err(io_err("dup eventfd"))?;
        let cached_read = map.header().consumer.read_index.load(Ordering::Acquire);
        let writer = Self {
            map,
            layout,
            wake,
            write,
            next_seq,
            pushed,
            overflows,
            epoch,
            cached_read,
            _record: PhantomData,
        };
        Ok((writer, RingFds::new(ring_fd, consumer_wake.into_owned())))
    }

    /// Appends `record` with the next sequence number. Returns `false` when
    /// the ring is full: the record is dropped, counted in `overflows`, and
    /// its sequence number is skipped so the consumer sees the gap. Never
    /// blocks, allocates or makes a syscall.
    pub fn push(&mut self, record: &T) -> bool {
        let h = self.map.header();
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        if self.write.wrapping_sub(self.cached_read) >= self.layout.capacity {
            // Acquire pairs with the consumer's Release of read_index: the
            // consumer has finished copying every slot below it, so reusing
            // them cannot tear a record it is still reading. A bogus index
            // from a broken consumer (ahead of `write`) wraps to a huge
            // distance and reads as "full": we drop rather than overwrite.
            self.cached_read = h.consumer.read_index.load(Ordering::Acquire);
            if self.write.wrapping_sub(self.cached_read) >= self.layout.capacity {
                self.overflows += 1;
                h.producer
                    .overflows
                    .store(self.overflows, Ordering::Relaxed);
                // Release so a consumer that sees this sequence number also
                // sees everything published before it (see Reader::next).
                h.producer.next_seq.store(self.next_seq, Ordering::Release);
                return false;
            }
        }
        let slot = self.map.at(self.layout.slot_offset(self.write));
        // SAFETY: the slot lies inside the validated layout; it is free (the
        // consumer's read index is past it), so no one reads it while we
        // write; the seq is 8-aligned (slots are) and the record, at +8, is
        // aligned for T (align <= 8, checked by Layout).
        unsafe {
            slot.cast::<u64>().write_volatile(seq);
            slot.add(SLOT_SEQ_LEN).cast::<T>().write_volatile(*record);
        }
        self.write = self.write.wrapping_add(1);
        self.pushed += 1;
        // Release publishes the slot contents: a consumer that Acquire-loads
        // this index sees the sequence number and the record written above.
        h.producer.write_index.store(self.write, Ordering::Release);
        h.producer.next_seq.store(self.next_seq, Ordering::Release);
        h.producer.pushed.store(self.pushed, Ordering::Relaxed);
        true
    }

    /// Wakes the consumer if it is asleep (or about to sleep) on the eventfd.
    /// Call once after a batch of pushes. Costs a fence and a load when the
    /// consumer is awake, plus one `write(2)` when it sleeps. Returns whether
    /// it wrote the eventfd.
    ///
    /// Lost-wake-up freedom: the producer does `store index; fence(SeqCst);
    /// load waiting` and the consumer does `store waiting; fence(SeqCst);
    /// load index`. With a SeqCst fence on both sides at least one of them
    /// sees the other's store: either the producer sees `waiting` and
    /// signals, or the consumer sees the new index and does not sleep.
    pub fn notify(&self) -> bool {
        fence(Ordering::SeqCst);
        let waiting = &self.map.header().wake.consumer_waiting;
        // Clearing the flag ourselves keeps a burst of batches to a single
        // write while the consumer is still waking up.
        if waiting.load(Ordering::Relaxed) != 0 && waiting.swap(0, Ordering::Relaxed) != 0 {
            // The only failure left (EAGAIN is success) would be a closed or
            // foreign fd; the consumer's timeout then bounds the delay.
            return self.wake.signal().is_ok();
        }
        false
    }

    /// Whether the consumer has announced it is going to sleep.
    pub fn consumer_waiting(&self) -> bool {
        self.map
            .header()
            .wake
            .consumer_waiting
            .load(Ordering::Relaxed)
            != 0
    }

    /// Records that fit right now (a lower bound: the consumer may free more).
    pub fn free_slots(&self) -> u64 {
        let read = self
            .map
            .header()
            .consumer
            .read_index
            .load(Ordering::Acquire);
        self.layout
            .capacity
            .saturating_sub(self.write.wrapping_sub(read))
    }

    pub fn capacity(&self) -> u64 {
        self.layout.capacity
    }

    pub fn stats(&self) -> RingStats {
        RingStats {
            epoch: self.epoch,
            pushed: self.pushed,
            overflowed: self.overflows,
        }
    }
}

fn io_err(op: &'static str) -> impl FnOnce(io::Error) -> RingError {
    move |source| RingError::Io { op, source }
}
