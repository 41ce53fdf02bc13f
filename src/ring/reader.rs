//! The consumer end: reads records in order, reports gaps and producer
//! restarts, and sleeps on the eventfd without losing a wake-up. Every index
//! it reads from shared memory is bounded before use: a corrupt or hostile
//! region gives an error, never a panic or an out-of-bounds read.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use super::layout::{Layout, SLOT_SEQ_LEN};
use super::pod::Pod;
use super::region::{self, Mapping};
use super::wake::EventFd;
use super::{Next, RingError, RingFds, RingStats};

/// The single consumer of a ring. Its position (read index and next expected
/// sequence) lives in the shared header, so a consumer that is restarted
/// resumes where the previous one stopped.
pub struct Reader<T: Pod> {
    map: Mapping,
    /// Computed locally and checked against the header once, at open.
    layout: Layout,
    wake: EventFd,
    read: u64,
    expected: u64,
    epoch: u64,
    _record: PhantomData<fn() -> T>,
}

impl<T: Pod> Reader<T> {
    /// Opens the ring whose fds the producer handed over (typically
    /// inherited across `exec`; see [`RingFds::from_raw_fds`]).
    pub fn open(fds: RingFds) -> Result<Self, RingError> {
        let (ring, wake) = fds.into_parts();
        Self::from_fd(ring.as_fd(), wake)
    }

    /// Opens a ring file by path (a consumer restarted by its supervisor),
    /// with the eventfd it inherited.
    pub fn open_path(path: &Path, wake: OwnedFd) -> Result<Self, RingError> {
        let file = region::open_file(path).map_err(|source| RingError::Io {
            op: "open ring file",
            source,
        })?;
        Self::from_fd(file.as_fd(), wake)
    }

    fn from_fd(fd: BorrowedFd<'_>, wake: OwnedFd) -> Result<Self, RingError> {
        let len = region::file_len(fd).map_err(|source| RingError::Io {
            op: "stat ring file",
            source,
        })?;
        let header_len = std::mem::size_of::<super::layout::Header>() as u64;
        if len < header_len {
            return Err(RingError::Truncated {
                len,
                needed: header_len,
            });
        }
        let len = usize::try_from(len)
            .map_err(|_| RingError::BadHeader("ring file larger than memory"))?;
        let map =
            Mapping::shared(fd, len).map_err(|source| RingError::Io { op: "mmap", source })?;
        let layout = Layout::validate::<T>(map.header(), map.len())?;
        let h = map.header();
        let read = h.consumer.read_index.load(Ordering::Acquire);
        let expected = h.consumer.next_expected_seq.load(Ordering::Acquire);
        let write = h.producer.write_index.load(Ordering::Acquire);
        let next_seq = h.producer.next_seq.load(Ordering::Acquire);
        // Indices are monotonic and never wrap in practice (2^64 records), so
        // a read index ahead of the write index is damage, not wraparound.
        if write
            .checked_sub(read)
            .is_none_or(|unread| unread > layout.capacity)
        {
            return Err(RingError::Corrupt(
                "saved read index is not within one ring of the write index",
            ));
        }
        if expected > next_seq {
            return Err(RingError::Corrupt(
                "saved sequence is ahead of the producer",
            ));
        }
        let current_epoch = h.meta.epoch.load(Ordering::Acquire);
        // A consumer that never attached adopts the current epoch silently;
        // a restarted one keeps the epoch it last acknowledged, so a producer
        // restart that happened while it was down is still reported.
        let epoch = match h.consumer.seen_epoch.load(Ordering::Relaxed) {
            0 => current_epoch,
            seen => seen,
        };
        h.consumer.seen_epoch.store(epoch, Ordering::Relaxed);
        Ok(Self {
            map,
            layout,
            wake: EventFd::from_owned(wake),
            read,
            expected,
            epoch,
            _record: PhantomData,
        })
    }

    /// The next thing the consumer must know, in order:
    /// - `Restarted` once after the producer re-attached (ask for full state);
    /// - `Missed(n)` when `n` sequence numbers were dropped before the next
    ///   record (or, with the ring empty, since the last record);
    /// - `Record(r)`, the record with the expected sequence number;
    /// - `Empty`.
    ///
    /// Never blocks. An error means the shared state is inconsistent; the
    /// consumer should [`resync`](Self::resync) and ask for full state.
    // Not an Iterator: `Empty` is "not yet", not the end of a sequence.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Next<T>, RingError> {
        let h = self.map.header();
        let epoch = h.meta.epoch.load(Ordering::Acquire);
        if epoch != self.epoch {
            self.epoch = epoch;
            h.consumer.seen_epoch.store(epoch, Ordering::Relaxed);
            return Ok(Next::Restarted { epoch });
        }
        // Order matters: next_seq first, then write_index. The producer stores
        // write_index before next_seq (both Release), so once we have seen
        // next_seq = N (Acquire), the write_index we load afterwards covers
        // every record with a sequence below N. If the ring then looks empty,
        // the sequences between `expected` and N were dropped, not in flight.
        let next_seq = h.producer.next_seq.load(Ordering::Acquire);
        // Acquire pairs with the producer's Release store of write_index: the
        // slots below it are fully written before we read them.
        let write = h.producer.write_index.load(Ordering::Acquire);
        loop {
            let available = write
                .checked_sub(self.read)
                .ok_or(RingError::Corrupt("write index went backwards"))?;
            if available == 0 {
                return self.at_empty(next_seq);
            }
            if available > self.layout.capacity {
                return Err(RingError::Corrupt(
                    "write index is more than one ring ahead",
                ));
            }
            let (seq, record) = self.read_slot(self.read);
            if seq < self.expected {
                // Only after a consumer crash between saving its expected
                // sequence and its read index: this record was delivered
                // already. Each pass advances `read` toward `write`, and
                // `available` <= capacity, so the loop is bounded.
                self.read = self.read.wrapping_add(1);
                self.publish();
                continue;
            }
            if seq > self.expected {
                let missed = seq - self.expected;
                self.expected = seq;
                self.publish();
                return Ok(Next::Missed(missed));
            }
            self.expected = self.expected.wrapping_add(1);
            self.read = self.read.wrapping_add(1);
            self.publish();
            return Ok(Next::Record(record));
        }
    }

    fn at_empty(&mut self, next_seq: u64) -> Result<Next<T>, RingError> {
        if next_seq > self.expected {
            let missed = next_seq - self.expected;
            self.expected = next_seq;
            self.publish();
            return Ok(Next::Missed(missed));
        }
        // The producer publishes write_index before next_seq. Having just
        // taken the record with sequence expected - 1, we can load next_seq
        // before the producer stored expected into it: one behind is a push
        // in flight, not corruption. Any further behind is.
        if next_seq.saturating_add(1) < self.expected {
            return Err(RingError::Corrupt("producer sequence went backwards"));
        }
        Ok(Next::Empty)
    }

    fn read_slot(&self, index: u64) -> (u64, T) {
        let slot = self.map.at(self.layout.slot_offset(index));
        // SAFETY: the slot is inside the validated layout (index is masked),
        // 8-aligned, and the record at +8 is aligned for T (align <= 8). T is
        // Pod, so any bytes a hostile writer left there are a valid T.
        // Volatile: the memory is shared with another process; read it once.
        unsafe {
            let seq = slot.cast::<u64>().read_volatile();
            let record = slot.add(SLOT_SEQ_LEN).cast::<T>().read_volatile();
            (seq, record)
        }
    }

    /// Saves our position for the producer and for a restarted consumer. The
    /// expected sequence goes first: a crash between the two stores leaves a
    /// record that `next` recognises as already delivered. Release on the
    /// read index: our copy of the slot happens-before the producer reuses it.
    fn publish(&self) {
        let c = &self.map.header().consumer;
        c.next_expected_seq.store(self.expected, Ordering::Relaxed);
        c.read_index.store(self.read, Ordering::Release);
    }

    /// Whether `next` has anything other than `Empty` to say.
    fn has_news(&self) -> bool {
        let h = self.map.header();
        h.meta.epoch.load(Ordering::Acquire) != self.epoch
            || h.producer.next_seq.load(Ordering::Acquire) != self.expected
            || h.producer.write_index.load(Ordering::Acquire) != self.read
    }

    /// Sleeps until the producer has news or `timeout` passes (`None` =
    /// forever). Returns whether there is news; spurious `false` or `true`
    /// are harmless, the caller just calls `next` again.
    ///
    /// The protocol (pairs with [`Writer::notify`](super::Writer::notify)):
    /// announce `consumer_waiting`, full fence, re-check the ring, and only
    /// then sleep. A record published before the re-check is seen by it; one
    /// published after it finds the flag set and writes the eventfd.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.has_news() {
            return Ok(true);
        }
        let waiting = &self.map.header().wake.consumer_waiting;
        waiting.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.has_news() {
            waiting.store(0, Ordering::Relaxed);
            return Ok(true);
        }
        let slept = self.wake.wait(timeout);
        waiting.store(0, Ordering::Relaxed);
        // A signal that raced with a timeout stays in the counter and makes the
        // next wait return at once; draining here keeps that to this call.
        self.wake.drain()?;
        slept?;
        Ok(self.has_news())
    }

    /// Skips everything outstanding: after this, `next` reports only what the
    /// producer does from now on. For a consumer that is about to ask for the
    /// full state anyway (after `Missed`, `Restarted` or an error).
    pub fn resync(&mut self) {
        let h = self.map.header();
        self.epoch = h.meta.epoch.load(Ordering::Acquire);
        h.consumer.seen_epoch.store(self.epoch, Ordering::Relaxed);
        // Index first, sequence second: a record pushed in between lands at
        // `read` with a sequence below `expected`, which `next` skips as
        // already handled instead of reporting a false gap.
        self.read = h.producer.write_index.load(Ordering::Acquire);
        self.expected = h.producer.next_seq.load(Ordering::Acquire);
        self.publish();
    }

    /// The sequence number the next record should carry.
    pub fn expected_seq(&self) -> u64 {
        self.expected
    }

    pub fn capacity(&self) -> u64 {
        self.layout.capacity
    }

    /// The producer's counters, as published in the header.
    pub fn stats(&self) -> RingStats {
        let h = self.map.header();
        RingStats {
            epoch: h.meta.epoch.load(Ordering::Relaxed),
            pushed: h.producer.pushed.load(Ordering::Relaxed),
            overflowed: h.producer.overflows.load(Ordering::Relaxed),
        }
    }
}
