//! The io_uring backend: one ring per beat thread.
//!
//! - UDP receives: one multishot RecvMsg per socket, fed by a provided
//!   buffer ring shared by all sockets. A CQE without MORE (ENOBUFS when the
//!   buffers ran out, ECONNREFUSED after an ICMP unreachable, ...) ends the
//!   multishot; it is re-armed and counted. Kernels without multishot
//!   receive (or without buffer rings) get one-shot RecvMsg into a buffer per
//!   socket, re-armed after each completion.
//! - Serial: a tty has no FMODE_NOWAIT, so it gets a multishot PollAdd and a
//!   nonblocking read(2) on readiness. Serial writes are a direct write(2)
//!   (see `write_serial`).
//! - UDP sends: SendMsg SQEs from a fixed pool of send slots whose buffer,
//!   iovec, msghdr and address stay put until the completion frees them.
//! - The deadline: one Timeout SQE with an absolute CLOCK_MONOTONIC
//!   timespec in a boxed (stable) slot, moved with TimeoutUpdate when the
//!   deadline changes. A generation in its user_data tells a stale timeout
//!   from the live one. The monotonic clock, not the timeout CQE, decides
//!   whether the deadline has passed.
//! - Setup: SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN, falling back to
//!   COOP_TASKRUN alone, then to no flags. With SINGLE_ISSUER the ring is
//!   created disabled and enabled by the first `wait`, so the thread that
//!   first waits becomes its issuer (the backend may be built elsewhere and
//!   moved to the beat thread before first use).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, Probe, cqueue, opcode, squeue, types};

use super::{
    Backend, CONTROL_LEN, Completion, IoStats, MAX_DATAGRAM, RxClock, SendError, checked_send,
    drain_tty, write_serial,
};
use crate::engine::links::{Medium, OpenLink};
use crate::time::{NANOS_PER_MILLI, NANOS_PER_SEC, Nanos, monotonic_ns};

/// Ring sizes and feature switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringOptions {
    pub sq_entries: u32,
    /// Provided receive buffers shared by all UDP links; a power of two.
    pub recv_buffers: u16,
    pub send_slots: u16,
    /// Use one-shot receives even where multishot works (tests the fallback).
    pub force_oneshot_recv: bool,
}

impl Default for UringOptions {
    fn default() -> Self {
        Self {
            sq_entries: 256,
            recv_buffers: 256,
            send_slots: 64,
            force_oneshot_recv: false,
        }
    }
}

/// Why no ring could be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Os(#[source] io::Error),
    #[error("kernel lacks io_uring operations: {0}")]
    MissingOpcodes(String),
}

/// A failed setup gives the links back, so the caller can fall back.
#[derive(Debug)]
pub struct SetupFailure {
    pub error: SetupError,
    pub links: Vec<OpenLink>,
}

const TAG_SHIFT: u32 = 56;
const TAG_RECV: u64 = 1;
const TAG_SEND: u64 = 2;
const TAG_POLL: u64 = 3;
const TAG_TIMEOUT: u64 = 4;
const TAG_TIMEOUT_UPDATE: u64 = 5;
const TAG_CANCEL: u64 = 6;
const INDEX_MASK: u64 = (1 << TAG_SHIFT) - 1;

fn user_data(tag: u64, index: u64) -> u64 {
    (tag << TAG_SHIFT) | (index & INDEX_MASK)
}

/// One provided buffer: the recvmsg_out header, no name, the control
/// data, then the payload (+1 byte so an over-long datagram is seen).
const RECV_BUFFER_LEN: usize = 2048;
const _: () = assert!(16 + CONTROL_LEN + MAX_DATAGRAM < RECV_BUFFER_LEN);
const BUFFER_GROUP: u16 = 0;
const SERIAL_CHUNK: usize = 4096;

/// A provided-buffer ring: the entries in page-aligned zeroed memory
/// (mmap), the buffers in one boxed slice.
struct BufRing {
    entries: *mut types::BufRingEntry,
    entries_len: usize,
    mask: u16,
    tail: u16,
    buffers: Box<[u8]>,
}

impl BufRing {
    fn new(ring: &IoUring, count: u16) -> io::Result<Self> {
        if !count.is_power_of_two() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let entries_len = usize::from(count) * std::mem::size_of::<types::BufRingEntry>();
        // SAFETY: anonymous private mapping; page-aligned and zeroed as the
        // kernel requires.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut this = Self {
            entries: ptr.cast(),
            entries_len,
            mask: count - 1,
            tail: 0,
            buffers: vec![0u8; usize::from(count) * RECV_BUFFER_LEN].into_boxed_slice(),
        };
        // SAFETY: the mapping lives until this BufRing drops, which happens
        // after the ring is closed (field order in UringBackend).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, count, BUFFER_GROUP, 0)?;
        }
        for bid in 0..count {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// Hands buffer `bid` back to the kernel (visible after `publish`).
    fn push(&mut self, bid: u16) {
        let Some(start) = usize::from(bid).checked_mul(RECV_BUFFER_LEN) else {
            return;
        };
        if start >= self.buffers.len() {
            return;
        }
        let addr = self.buffers[start..].as_mut_ptr() as u64;
        // SAFETY: the index is masked into the mapped entries.
        let entry = unsafe { &mut *self.entries.add(usize::from(self.tail & self.mask)) };
        entry.set_addr(addr);
        entry.set_len(RECV_BUFFER_LEN as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field of entry 0, shared with the kernel; the
        // release store orders the entry writes before it.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    fn buffer(&self, bid: u16, len: usize) -> Option<&[u8]> {
        let start = usize::from(bid).checked_mul(RECV_BUFFER_LEN)?;
        self.buffers
            .get(start..start.checked_add(len.min(RECV_BUFFER_LEN))?)
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.entries.cast(), self.entries_len) };
    }
}

/// Per-UDP-link receive state, boxed so the kernel's pointers stay valid.
struct RecvState {
    msghdr: libc::msghdr,
    iov: libc::iovec,
    control: [u8; CONTROL_LEN],
    data: [u8; MAX_DATAGRAM + 1],
    multishot: bool,
}

/// One send in flight: everything SendMsg points at.
struct SendSlot {
    msghdr: libc::msghdr,
    iov: libc::iovec,
    addr: libc::sockaddr_storage,
    data: [u8; MAX_DATAGRAM],
    link: usize,
}

enum LinkState {
    Udp(Box<RecvState>),
    Serial { multishot: bool, down: bool },
}

struct Timer {
    /// Read by the kernel at submission; boxed so the address is stable.
    spec: Box<types::Timespec>,
    update_spec: Box<types::Timespec>,
    generation: u64,
    armed: Option<Nanos>,
}

pub struct UringBackend {
    // Field order is drop order: the ring closes before the memory its
    // requests point into is freed.
    ring: IoUring,
    buf_ring: Option<BufRing>,
    links: Vec<OpenLink>,
    states: Vec<LinkState>,
    rearm: Box<[bool]>,
    slots: Box<[SendSlot]>,
    free_slots: Vec<u16>,
    timer: Timer,
    clock: RxClock,
    serial_buf: Box<[u8; SERIAL_CHUNK]>,
    serial_send_errors: Box<[Option<i32>]>,
    needs_enable: bool,
    in_flight: usize,
    features: String,
    stats: IoStats,
}

// SAFETY: the raw pointers inside (msghdr, iovec, buffer-ring entries) point
// only into memory this backend owns; moving the backend to another thread
// moves that memory's owner with it, and the ring is used from one thread
// at a time (&mut self).
unsafe impl Send for UringBackend {}

const REQUIRED_OPCODES: [(u8, &str); 6] = [
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
    (opcode::Timeout::CODE, "TIMEOUT"),
    (opcode::TimeoutUpdate::CODE, "TIMEOUT_REMOVE"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
];

fn build_ring(entries: u32) -> io::Result<(IoUring, &'static str, bool)> {
    let cq = entries.saturating_mul(8);
    let full = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_r_disabled()
        .setup_cqsize(cq)
        .build(entries);
    match full {
        Ok(r) => return Ok((r, "SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN", true)),
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
        Err(_) => {}
    }
    match IoUring::builder()
        .setup_coop_taskrun()
        .setup_cqsize(cq)
        .build(entries)
    {
        Ok(r) => return Ok((r, "COOP_TASKRUN", false)),
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
        Err(_) => {}
    }
    Ok((
        IoUring::builder().setup_cqsize(cq).build(entries)?,
        "no setup flags",
        false,
    ))
}

impl UringBackend {
    pub fn new(links: Vec<OpenLink>, options: UringOptions) -> Result<Self, SetupFailure> {
        match Self::setup(&links, options) {
            Ok(parts) => Ok(Self::assemble(links, options, parts)),
            Err(error) => Err(SetupFailure { error, links }),
        }
    }

    fn setup(
        links: &[OpenLink],
        options: UringOptions,
    ) -> Result<(IoUring, Option<BufRing>, String, bool), SetupError> {
        let (ring, flags, disabled) = build_ring(options.sq_entries).map_err(SetupError::Os)?;
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(SetupError::Os)?;
        let missing: Vec<&str> = REQUIRED_OPCODES
            .iter()
            .filter(|(code, _)| !probe.is_supported(*code))
            .map(|(_, name)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(SetupError::MissingOpcodes(missing.join(", ")));
        }
        let has_udp = links.iter().any(|l| !l.is_serial());
        let mut features = format!("io_uring ({flags}); ");
        let buf_ring = if has_udp && !options.force_oneshot_recv {
            match BufRing::new(&ring, options.recv_buffers) {
                Ok(b) => {
                    features.push_str(&format!(
                        "multishot RecvMsg over {} provided buffers",
                        options.recv_buffers
                    ));
                    Some(b)
                }
                Err(e) => {
                    features.push_str(&format!("one-shot RecvMsg (no buffer ring: {e})"));
                    None
                }
            }
        } else {
            features.push_str("one-shot RecvMsg");
            None
        };
        features.push_str("; serial by PollAdd + read(2); absolute Timeout");
        Ok((ring, buf_ring, features, disabled))
    }

    fn assemble(
        links: Vec<OpenLink>,
        options: UringOptions,
        parts: (IoUring, Option<BufRing>, String, bool),
    ) -> Self {
        let (ring, buf_ring, features, disabled) = parts;
        let multishot = buf_ring.is_some();
        let states = links
            .iter()
            .map(|l| {
                if l.is_serial() {
                    LinkState::Serial {
                        multishot: true,
                        down: false,
                    }
                } else {
                    // SAFETY: all-zero msghdr/iovec are valid values; the
                    // pointers are set in `arm_recv` once the box is in place.
                    LinkState::Udp(Box::new(RecvState {
                        msghdr: unsafe { std::mem::zeroed() },
                        iov: libc::iovec {
                            iov_base: std::ptr::null_mut(),
                            iov_len: 0,
                        },
                        control: [0; CONTROL_LEN],
                        data: [0; MAX_DATAGRAM + 1],
                        multishot,
                    }))
                }
            })
            .collect();
        let slots: Box<[SendSlot]> = (0..options.send_slots)
            .map(|_| SendSlot {
                // SAFETY: all-zero C structs are valid.
                msghdr: unsafe { std::mem::zeroed() },
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                addr: unsafe { std::mem::zeroed() },
                data: [0; MAX_DATAGRAM],
                link: 0,
            })
            .collect();
        let n = links.len();
        Self {
            ring,
            buf_ring,
            links,
            states,
            // Every receive starts armed by the first wait.
            rearm: vec![true; n].into_boxed_slice(),
            free_slots: (0..options.send_slots).rev().collect(),
            slots,
            timer: Timer {
                spec: Box::new(types::Timespec::new()),
                update_spec: Box::new(types::Timespec::new()),
                generation: 0,
                armed: None,
            },
            clock: RxClock::new(n),
            serial_buf: Box::new([0; SERIAL_CHUNK]),
            serial_send_errors: vec![None; n].into_boxed_slice(),
            needs_enable: disabled,
            in_flight: 0,
            features,
            stats: IoStats::default(),
        }
    }

    /// Pushes an SQE, submitting first when the queue is full.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every pointer in the entries built here points into
            // boxed memory owned by self that outlives the request.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                self.in_flight += 1;
                return Ok(());
            }
            self.ensure_enabled()?;
            self.ring.submit()?;
        }
    }

    fn ensure_enabled(&mut self) -> io::Result<()> {
        if self.needs_enable {
            self.ring.submitter().register_enable_rings()?;
            self.needs_enable = false;
        }
        Ok(())
    }

    fn arm_receives(&mut self) -> io::Result<()> {
        for link in 0..self.rearm.len() {
            if !std::mem::take(&mut self.rearm[link]) {
                continue;
            }
            let fd = types::Fd(self.links[link].raw_fd());
            let entry = match &mut self.states[link] {
                LinkState::Udp(state) => {
                    let state = &mut **state;
                    if state.multishot {
                        // Only the name and control lengths matter here.
                        state.msghdr.msg_namelen = 0;
                        state.msghdr.msg_controllen = CONTROL_LEN as _;
                        opcode::RecvMsgMulti::new(fd, &state.msghdr, BUFFER_GROUP)
                            .flags(libc::MSG_TRUNC as u32)
                            .build()
                    } else {
                        state.control = [0; CONTROL_LEN];
                        state.iov = libc::iovec {
                            iov_base: state.data.as_mut_ptr().cast(),
                            iov_len: state.data.len(),
                        };
                        state.msghdr.msg_name = std::ptr::null_mut();
                        state.msghdr.msg_namelen = 0;
                        state.msghdr.msg_iov = &mut state.iov;
                        state.msghdr.msg_iovlen = 1;
                        state.msghdr.msg_control = state.control.as_mut_ptr().cast();
                        state.msghdr.msg_controllen = CONTROL_LEN as _;
                        state.msghdr.msg_flags = 0;
                        opcode::RecvMsg::new(fd, &mut state.msghdr).build()
                    }
                    .user_data(user_data(TAG_RECV, link as u64))
                }
                LinkState::Serial { down: true, .. } => continue,
                LinkState::Serial { multishot, .. } => {
                    opcode::PollAdd::new(fd, libc::POLLIN as u32)
                        .multi(*multishot)
                        .build()
                        .user_data(user_data(TAG_POLL, link as u64))
                }
            };
            self.push(entry)?;
        }
        Ok(())
    }

    fn arm_timer(&mut self, deadline: Nanos) -> io::Result<()> {
        let spec = types::Timespec::new()
            .sec(deadline / NANOS_PER_SEC)
            .nsec((deadline % NANOS_PER_SEC) as u32);
        let flags = types::TimeoutFlags::ABS;
        match self.timer.armed {
            Some(armed) if armed == deadline => Ok(()),
            Some(_) => {
                *self.timer.update_spec = spec;
                let target = user_data(TAG_TIMEOUT, self.timer.generation);
                let entry = opcode::TimeoutUpdate::new(target, &*self.timer.update_spec)
                    .flags(flags)
                    .build()
                    .user_data(user_data(TAG_TIMEOUT_UPDATE, self.timer.generation));
                self.timer.armed = Some(deadline);
                self.push(entry)
            }
            None => {
                self.timer.generation = (self.timer.generation + 1) & INDEX_MASK;
                *self.timer.spec = spec;
                let entry = opcode::Timeout::new(&*self.timer.spec)
                    .flags(flags)
                    .build()
                    .user_data(user_data(TAG_TIMEOUT, self.timer.generation));
                self.timer.armed = Some(deadline);
                self.push(entry)
            }
        }
    }

    /// Handles every CQE in the queue; true when anything was delivered.
    fn drain<F: FnMut(Completion<'_>)>(&mut self, on: &mut F) -> bool {
        let mut delivered = false;
        loop {
            let Some(cqe) = self.ring.completion().next() else {
                break;
            };
            let (res, flags) = (cqe.result(), cqe.flags());
            if !cqueue::more(flags) {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            let index = cqe.user_data() & INDEX_MASK;
            match cqe.user_data() >> TAG_SHIFT {
                TAG_RECV => delivered |= self.on_recv(index as usize, res, flags, on),
                TAG_POLL => delivered |= self.on_poll(index as usize, res, flags, on),
                TAG_SEND => delivered |= self.on_send(index as usize, res, on),
                TAG_TIMEOUT | TAG_TIMEOUT_UPDATE => {
                    // A fired timeout, or an update that found it gone: the
                    // live generation is no longer armed.
                    let stale = index != self.timer.generation;
                    let updated = cqe.user_data() >> TAG_SHIFT == TAG_TIMEOUT_UPDATE && res == 0;
                    if !stale && !updated {
                        self.timer.armed = None;
                    }
                }
                _ => {}
            }
        }
        if let Some(b) = &self.buf_ring {
            b.publish();
        }
        delivered
    }

    fn on_recv<F: FnMut(Completion<'_>)>(
        &mut self,
        link: usize,
        res: i32,
        flags: u32,
        on: &mut F,
    ) -> bool {
        let Some(LinkState::Udp(state)) = self.states.get_mut(link) else {
            return false;
        };
        let ended = !cqueue::more(flags);
        if ended && link < self.rearm.len() {
            self.rearm[link] = true;
            if state.multishot {
                self.stats.recv_rearms += 1;
            }
        }
        if res < 0 {
            let errno = -res;
            if errno == libc::ENOBUFS {
                self.stats.enobufs += 1;
                return false;
            }
            if errno == libc::EINVAL && state.multishot {
                // The kernel has buffer rings but no multishot recvmsg.
                state.multishot = false;
                self.features
                    .push_str("; multishot RecvMsg refused, one-shot used");
                return false;
            }
            self.stats.link_errors += 1;
            on(Completion::LinkError {
                link,
                error: io::Error::from_raw_os_error(errno),
            });
            return true;
        }
        let len = res as usize;
        if state.multishot {
            let Some(bid) = cqueue::buffer_select(flags) else {
                return false;
            };
            let Some(ring) = self.buf_ring.as_mut() else {
                return false;
            };
            let mut delivered = false;
            if let Some(buffer) = ring.buffer(bid, len) {
                if let Ok(out) = types::RecvMsgOut::parse(buffer, &state.msghdr) {
                    if out.is_payload_truncated() || out.payload_data().len() > MAX_DATAGRAM {
                        self.stats.truncated += 1;
                    } else {
                        let rx_time = self.clock.rx_time(link, out.control_data());
                        self.stats.datagrams += 1;
                        delivered = true;
                        on(Completion::Datagram {
                            link,
                            bytes: out.payload_data(),
                            rx_time,
                        });
                    }
                }
            }
            ring.push(bid);
            delivered
        } else {
            // MSG_TRUNC is not passed here, so `len` is what was copied; a
            // datagram filling the extra byte was longer than allowed.
            if len > MAX_DATAGRAM {
                self.stats.truncated += 1;
                return false;
            }
            let rx_time = self.clock.rx_time(link, &state.control);
            self.stats.datagrams += 1;
            on(Completion::Datagram {
                link,
                bytes: &state.data[..len.min(MAX_DATAGRAM)],
                rx_time,
            });
            true
        }
    }

    fn on_poll<F: FnMut(Completion<'_>)>(
        &mut self,
        link: usize,
        res: i32,
        flags: u32,
        on: &mut F,
    ) -> bool {
        let Some(LinkState::Serial { multishot, down }) = self.states.get_mut(link) else {
            return false;
        };
        if !cqueue::more(flags) && link < self.rearm.len() {
            self.rearm[link] = true;
        }
        if res < 0 {
            if -res == libc::EINVAL && *multishot {
                *multishot = false;
                self.features
                    .push_str("; multishot PollAdd refused, one-shot used");
                return false;
            }
            if -res == libc::ECANCELED {
                return false;
            }
            self.stats.link_errors += 1;
            on(Completion::LinkError {
                link,
                error: io::Error::from_raw_os_error(-res),
            });
            return true;
        }
        let fd = self.links[link].raw_fd();
        let drained = drain_tty(
            fd,
            &mut self.serial_buf[..],
            link,
            &mut self.clock,
            &mut self.stats,
            on,
        );
        let error = match drained {
            Ok(delivered) => return delivered,
            Err(e) => e,
        };
        // EOF or EIO: hung up. Stop polling (a hung-up tty is ready
        // forever); a multishot poll still armed is cancelled.
        *down = true;
        self.rearm[link] = false;
        if cqueue::more(flags) {
            let cancel = opcode::AsyncCancel::new(user_data(TAG_POLL, link as u64))
                .build()
                .user_data(user_data(TAG_CANCEL, 0));
            let _ = self.push(cancel);
        }
        self.stats.link_errors += 1;
        on(Completion::LinkError { link, error });
        true
    }

    fn on_send<F: FnMut(Completion<'_>)>(&mut self, slot: usize, res: i32, on: &mut F) -> bool {
        let Some(s) = self.slots.get(slot) else {
            return false;
        };
        let link = s.link;
        if self.free_slots.len() < self.slots.len() {
            self.free_slots.push(slot as u16);
        }
        if res < 0 {
            self.stats.link_errors += 1;
            on(Completion::LinkError {
                link,
                error: io::Error::from_raw_os_error(-res),
            });
            return true;
        }
        false
    }
}

impl Backend for UringBackend {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn describe(&self) -> String {
        self.features.clone()
    }

    fn stats(&self) -> IoStats {
        self.stats
    }

    fn link_count(&self) -> usize {
        self.links.len()
    }

    fn send(&mut self, link: usize, bytes: &[u8]) -> Result<(), SendError> {
        let open = checked_send(&self.links, link, bytes)?;
        let (fd, dest) = match &open.medium {
            Medium::Serial { port } => {
                self.stats.sends += 1;
                if let Err(errno) = write_serial(port.as_raw_fd(), bytes) {
                    // Delivered by the next wait, like a failed UDP send.
                    self.serial_send_errors[link] = Some(errno);
                }
                return Ok(());
            }
            Medium::Udp { socket, dest } => (socket.as_raw_fd(), dest.as_ref()),
        };
        let Some(slot_index) = self.free_slots.pop() else {
            return Err(SendError::SlotsExhausted(self.slots.len()));
        };
        let Some(slot) = self.slots.get_mut(usize::from(slot_index)) else {
            return Err(SendError::SlotsExhausted(self.slots.len()));
        };
        slot.link = link;
        slot.data[..bytes.len()].copy_from_slice(bytes);
        slot.iov = libc::iovec {
            iov_base: slot.data.as_mut_ptr().cast(),
            iov_len: bytes.len(),
        };
        slot.msghdr.msg_iov = &mut slot.iov;
        slot.msghdr.msg_iovlen = 1;
        slot.msghdr.msg_control = std::ptr::null_mut();
        slot.msghdr.msg_controllen = 0;
        match dest {
            Some(d) => {
                let len = (d.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
                // SAFETY: copying `len` bytes of a live SockAddr into storage
                // at least as large.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        d.as_ptr().cast::<u8>(),
                        (&mut slot.addr as *mut libc::sockaddr_storage).cast::<u8>(),
                        len,
                    )
                };
                slot.msghdr.msg_name = (&mut slot.addr as *mut libc::sockaddr_storage).cast();
                slot.msghdr.msg_namelen = len as libc::socklen_t;
            }
            None => {
                slot.msghdr.msg_name = std::ptr::null_mut();
                slot.msghdr.msg_namelen = 0;
            }
        }
        let entry = opcode::SendMsg::new(types::Fd(fd), &slot.msghdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data(TAG_SEND, u64::from(slot_index)));
        self.stats.sends += 1;
        self.push(entry).map_err(SendError::Submit)
    }

    fn deliver<F: FnMut(Completion<'_>)>(
        &mut self,
        deadline: Nanos,
        block: bool,
        mut on: F,
    ) -> io::Result<()> {
        self.ensure_enabled()?;
        let mut delivered = self.deliver_serial_send_errors(&mut on);
        loop {
            self.arm_receives()?;
            self.arm_timer(deadline)?;
            let want = if !block || delivered || monotonic_ns() >= deadline {
                0
            } else {
                1
            };
            let entered = if want == 0 {
                self.submit_and_reap()
            } else {
                self.ring.submit_and_wait(want)
            };
            match entered {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
            self.clock.sample();
            delivered |= self.drain(&mut on);
            if self.clock.now() >= deadline {
                on(Completion::Timer);
                return Ok(());
            }
            if delivered || !block {
                return Ok(());
            }
        }
    }
}

/// `IORING_ENTER_GETEVENTS` (include/uapi/linux/io_uring.h); the crate
/// keeps its flag type private.
const ENTER_GETEVENTS: u32 = 1;

impl UringBackend {
    /// Submits what is queued and runs the ring's deferred work without
    /// waiting. With DEFER_TASKRUN the kernel posts a multishot receive's
    /// completions only on an enter that asks for events; `submit_and_wait(0)`
    /// does not ask, so a wait whose deadline had already passed (the loop
    /// was stalled) handed over nothing that arrived meanwhile and the
    /// detector ticked before draining it.
    fn submit_and_reap(&mut self) -> io::Result<usize> {
        let pending = self.ring.submission().len() as u32;
        // SAFETY: no argument struct; min_complete 0 never blocks.
        unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(pending, 0, ENTER_GETEVENTS, None)
        }
    }

    fn deliver_serial_send_errors<F: FnMut(Completion<'_>)>(&mut self, on: &mut F) -> bool {
        let mut delivered = false;
        for link in 0..self.serial_send_errors.len() {
            if let Some(errno) = self.serial_send_errors[link].take() {
                self.stats.link_errors += 1;
                delivered = true;
                on(Completion::LinkError {
                    link,
                    error: io::Error::from_raw_os_error(errno),
                });
            }
        }
        delivered
    }
}

impl Drop for UringBackend {
    /// Cancels every request and waits briefly for the kernel to let go of
    /// the buffers before they are freed.
    fn drop(&mut self) {
        if self.needs_enable || self.in_flight == 0 {
            return;
        }
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any().all())
            .build()
            .user_data(user_data(TAG_CANCEL, 0));
        if self.push(cancel).is_err() {
            return;
        }
        let limit = monotonic_ns() + 100 * NANOS_PER_MILLI;
        let pause = types::Timespec::new().nsec(10 * NANOS_PER_MILLI as u32);
        let args = types::SubmitArgs::new().timespec(&pause);
        while self.in_flight > 0 && monotonic_ns() < limit {
            let _ = self.ring.submitter().submit_with_args(1, &args);
            while let Some(cqe) = self.ring.completion().next() {
                if !cqueue::more(cqe.flags()) {
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
            }
        }
    }
}
