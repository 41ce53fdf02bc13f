//! The wake-up channel: an `eventfd` the producer writes and the consumer
//! polls. It carries no data, only "look at the ring again".

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A non-blocking, close-on-exec eventfd.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: eventfd just returned this fd and nothing else owns it.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adopts an fd that must be an eventfd (e.g. inherited from the parent).
    /// A wrong kind of fd shows up as errors from `signal`/`wait`, not as
    /// undefined behaviour.
    pub fn from_owned(fd: OwnedFd) -> Self {
        Self(fd)
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self(self.0.try_clone()?))
    }

    pub fn into_owned(self) -> OwnedFd {
        self.0
    }

    /// Adds one to the counter. A saturated counter (EAGAIN) already means
    /// "wake up", so it counts as success.
    pub fn signal(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64, as eventfd requires.
        let n = unsafe { libc::write(self.0.as_raw_fd(), (&raw const one).cast(), 8) };
        if n == 8 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            Ok(())
        } else {
            Err(err)
        }
    }

    /// Resets the counter to zero; returns how many signals it held.
    pub fn drain(&self) -> io::Result<u64> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64, as eventfd requires.
        let n = unsafe { libc::read(self.0.as_raw_fd(), (&raw mut count).cast(), 8) };
        if n == 8 {
            return Ok(count);
        }
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            Ok(0)
        } else {
            Err(err)
        }
    }

    /// Sleeps until the counter is non-zero or `timeout` passes (`None` =
    /// forever). Returns whether it became readable. `ppoll` rather than
    /// `poll` because sub-millisecond timeouts matter here; an interrupted
    /// sleep returns `Ok(false)` like a timeout (callers re-check anyway).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: one valid pollfd; `ts` outlives the call; null sigmask.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, ts_ptr, std::ptr::null()) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            };
        }
        if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(io::Error::other("eventfd poll reported an error"));
        }
        Ok(rc > 0 && pfd.revents & libc::POLLIN != 0)
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_wakes_wait_and_drain_resets() {
        let e = EventFd::new().unwrap();
        assert!(!e.wait(Some(Duration::from_micros(100))).unwrap());
        e.signal().unwrap();
        e.signal().unwrap();
        assert!(e.wait(Some(Duration::ZERO)).unwrap());
        assert_eq!(e.drain().unwrap(), 2);
        assert_eq!(e.drain().unwrap(), 0);
        assert!(!e.wait(Some(Duration::ZERO)).unwrap());
    }
}
