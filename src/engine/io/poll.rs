//! The fallback backend: epoll over the links plus a timerfd armed at the
//! absolute CLOCK_MONOTONIC deadline.
//!
//! epoll_wait's millisecond timeout cannot express a 100 µs keepalive
//! period; a timerfd in the same epoll set wakes at the exact deadline with
//! hrtimer precision, and it is re-armed only when the deadline changes.
//! Sends are sendto(2)/write(2) at once; their errors are held per link and
//! delivered as [`Completion::LinkError`] by the next wait, like io_uring's.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{
    Backend, CONTROL_LEN, Completion, IoStats, MAX_DATAGRAM, RxClock, SendError, checked_send,
    drain_tty, send_udp, write_serial,
};
use crate::engine::links::{Medium, OpenLink};
use crate::time::{NANOS_PER_SEC, Nanos, monotonic_ns};

/// The epoll key of the timerfd; links use their index.
const TIMER_KEY: u64 = u64::MAX;
const MAX_EVENTS: usize = 64;
/// Bytes read from a tty per read(2).
const SERIAL_CHUNK: usize = 4096;

/// Buffers the kernel writes received data into, reused for every receive.
struct RxBuffers {
    data: [u8; MAX_DATAGRAM],
    control: [u8; CONTROL_LEN],
    serial: [u8; SERIAL_CHUNK],
}

pub struct PollBackend {
    links: Vec<OpenLink>,
    epoll: OwnedFd,
    timer: OwnedFd,
    armed: Option<Nanos>,
    /// A hung-up tty is taken out of the epoll set (it would be ready forever).
    serial_down: Box<[bool]>,
    /// The last send error per link, awaiting delivery.
    send_errors: Box<[Option<i32>]>,
    events: Box<[libc::epoll_event]>,
    rx: Box<RxBuffers>,
    clock: RxClock,
    stats: IoStats,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl PollBackend {
    pub fn new(links: Vec<OpenLink>) -> io::Result<Self> {
        // SAFETY: plain syscalls; the returned fds are owned at once.
        let epoll =
            unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        let timer = unsafe {
            OwnedFd::from_raw_fd(check(libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            ))?)
        };
        epoll_add(epoll.as_raw_fd(), timer.as_raw_fd(), TIMER_KEY)?;
        for (index, link) in links.iter().enumerate() {
            epoll_add(epoll.as_raw_fd(), link.raw_fd(), index as u64)?;
        }
        let n = links.len();
        Ok(Self {
            links,
            epoll,
            timer,
            armed: None,
            serial_down: vec![false; n].into_boxed_slice(),
            send_errors: vec![None; n].into_boxed_slice(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS].into_boxed_slice(),
            rx: Box::new(RxBuffers {
                data: [0; MAX_DATAGRAM],
                control: [0; CONTROL_LEN],
                serial: [0; SERIAL_CHUNK],
            }),
            clock: RxClock::new(n),
            stats: IoStats::default(),
        })
    }

    fn arm_timer(&mut self, deadline: Nanos) -> io::Result<()> {
        if self.armed == Some(deadline) {
            return Ok(());
        }
        // An all-zero it_value would disarm the timer; 1 ns is long past.
        let at = deadline.max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (at / NANOS_PER_SEC) as libc::time_t,
                tv_nsec: (at % NANOS_PER_SEC) as libc::c_long,
            },
        };
        // SAFETY: valid timerfd and itimerspec.
        check(unsafe {
            libc::timerfd_settime(
                self.timer.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })?;
        self.armed = Some(deadline);
        Ok(())
    }

    fn drain_timer(&mut self) {
        let mut expirations = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer; EAGAIN is fine.
        unsafe { libc::read(self.timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
    }

    /// Receives every datagram queued on `link`; true when anything was
    /// delivered (data or an error).
    fn receive_datagrams<F: FnMut(Completion<'_>)>(
        &mut self,
        link: usize,
        fd: RawFd,
        on: &mut F,
    ) -> bool {
        let mut delivered = false;
        loop {
            let rx = &mut *self.rx;
            let mut iov = libc::iovec {
                iov_base: rx.data.as_mut_ptr().cast(),
                iov_len: rx.data.len(),
            };
            // SAFETY: an all-zero msghdr is valid; the pointers set below
            // point into `rx`, which outlives the call.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = rx.control.as_mut_ptr().cast();
            msg.msg_controllen = rx.control.len() as _;
            // SAFETY: fd is a socket this backend owns; msg is valid.
            let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
            if n < 0 {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EAGAIN) => return delivered,
                    Some(libc::EINTR) => continue,
                    // The error (ECONNREFUSED and kin) is consumed by this
                    // recvmsg; more data wakes epoll again.
                    _ => {
                        self.stats.link_errors += 1;
                        on(Completion::LinkError { link, error });
                        return true;
                    }
                }
            }
            if msg.msg_flags & libc::MSG_TRUNC != 0 {
                self.stats.truncated += 1;
                continue;
            }
            let len = (n as usize).min(rx.data.len());
            let control_len = (msg.msg_controllen as usize).min(rx.control.len());
            let rx_time = self.clock.rx_time(link, &rx.control[..control_len]);
            self.stats.datagrams += 1;
            delivered = true;
            on(Completion::Datagram {
                link,
                bytes: &rx.data[..len],
                rx_time,
            });
        }
    }

    fn receive_serial<F: FnMut(Completion<'_>)>(
        &mut self,
        link: usize,
        fd: RawFd,
        on: &mut F,
    ) -> bool {
        let error = match drain_tty(
            fd,
            &mut self.rx.serial,
            link,
            &mut self.clock,
            &mut self.stats,
            on,
        ) {
            Ok(delivered) => return delivered,
            Err(e) => e,
        };
        // EOF or EIO: the other side hung up; stop polling this tty.
        self.serial_down[link] = true;
        // SAFETY: removing an fd we added.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
        self.stats.link_errors += 1;
        on(Completion::LinkError { link, error });
        true
    }
}

fn epoll_add(epoll: RawFd, fd: RawFd, key: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: key,
    };
    // SAFETY: valid epoll fd, fd and event.
    check(unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) })?;
    Ok(())
}

impl Backend for PollBackend {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn describe(&self) -> String {
        "epoll + timerfd (absolute CLOCK_MONOTONIC), recvmsg with SO_TIMESTAMPNS".into()
    }

    fn stats(&self) -> IoStats {
        self.stats
    }

    fn link_count(&self) -> usize {
        self.links.len()
    }

    fn send(&mut self, link: usize, bytes: &[u8]) -> Result<(), SendError> {
        let open = checked_send(&self.links, link, bytes)?;
        let result = match &open.medium {
            Medium::Udp { socket, dest } => send_udp(socket, dest.as_ref(), bytes),
            Medium::Serial { port } => write_serial(port.as_raw_fd(), bytes),
        };
        self.stats.sends += 1;
        if let Err(errno) = result {
            self.send_errors[link] = Some(errno);
        }
        Ok(())
    }

    fn deliver<F: FnMut(Completion<'_>)>(
        &mut self,
        deadline: Nanos,
        block: bool,
        mut on: F,
    ) -> io::Result<()> {
        self.arm_timer(deadline)?;
        loop {
            let pending_errors = self.send_errors.iter().any(Option::is_some);
            let timeout = if !block || pending_errors || monotonic_ns() >= deadline {
                0
            } else {
                -1
            };
            // SAFETY: events is a live buffer of MAX_EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    self.events.len() as libc::c_int,
                    timeout,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            self.clock.sample();
            let mut delivered = false;
            for link in 0..self.send_errors.len() {
                if let Some(errno) = self.send_errors[link].take() {
                    self.stats.link_errors += 1;
                    delivered = true;
                    on(Completion::LinkError {
                        link,
                        error: io::Error::from_raw_os_error(errno),
                    });
                }
            }
            let ready = (n as usize).min(self.events.len());
            for i in 0..ready {
                let key = self.events[i].u64;
                if key == TIMER_KEY {
                    self.drain_timer();
                    continue;
                }
                let link = key as usize;
                let Some(open) = self.links.get(link) else {
                    continue;
                };
                let fd = open.raw_fd();
                if open.is_serial() {
                    if !self.serial_down[link] {
                        delivered |= self.receive_serial(link, fd, &mut on);
                    }
                } else {
                    delivered |= self.receive_datagrams(link, fd, &mut on);
                }
            }
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
