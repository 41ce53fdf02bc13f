//! A serial cable made of ptys, for the demo and for tests.
//!
//! Two pty pairs and a relay thread between their master sides: each node
//! opens one slave (`/dev/pts/N`) as if it were `/dev/ttyS0`, and bytes
//! written on one end come out of the other. The relay can cut the cable
//! (bytes are dropped, as on a pulled connector) and restore it, and can
//! inject raw bytes (line noise) towards either end.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// One pty pair: the master the relay drives and the slave's path.
struct PtyEnd {
    master: OwnedFd,
    path: PathBuf,
}

fn open_pty() -> io::Result<PtyEnd> {
    let mut master = -1;
    let mut slave = -1;
    // SAFETY: openpty writes two fds; the name, termios and winsize arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both fds are open and owned by us alone.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    make_raw(&slave)?;
    // The nodes open the slave by path; children must not inherit our ends.
    for fd in [&master, &slave] {
        crate::engine::links::set_cloexec(fd.as_raw_fd())?;
    }
    let path = std::fs::read_link(format!("/proc/self/fd/{}", slave.as_raw_fd()))?;
    crate::engine::links::set_nonblocking(master.as_raw_fd())?;
    Ok(PtyEnd { master, path })
}

fn make_raw(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: termios is plain data filled by tcgetattr before use.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    unsafe { libc::cfmakeraw(&mut t) };
    if unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A relayed pty pair standing in for a null-modem cable.
pub struct PtyCable {
    paths: [PathBuf; 2],
    masters: [Arc<File>; 2],
    connected: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Bytes that crossed from end 0 to end 1, kept while recording (a
    /// capture to replay later, as an attacker on the line would).
    recording: Arc<std::sync::Mutex<Option<Vec<u8>>>>,
    relay: Option<JoinHandle<()>>,
}

impl PtyCable {
    /// Opens both pty pairs and starts the relay, connected.
    pub fn open() -> io::Result<Self> {
        let a = open_pty()?;
        let b = open_pty()?;
        let paths = [a.path.clone(), b.path.clone()];
        let masters = [
            Arc::new(File::from(a.master)),
            Arc::new(File::from(b.master)),
        ];
        let connected = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let recording = Arc::new(std::sync::Mutex::new(None));
        let relay = {
            let masters = masters.clone();
            let connected = connected.clone();
            let stop = stop.clone();
            let recording = recording.clone();
            // The slaves are not kept open here: when a node dies its end is
            // closed for good, as a real port is, and the tty's exclusive
            // mode (TIOCEXCL) goes with it so the node can open it again.
            std::thread::Builder::new()
                .name("pty-cable".into())
                .spawn(move || relay_loop(&masters, &connected, &stop, &recording))?
        };
        Ok(Self {
            paths,
            masters,
            connected,
            stop,
            recording,
            relay: Some(relay),
        })
    }

    /// The tty paths of the two ends, one per node.
    pub fn ends(&self) -> [&Path; 2] {
        [self.paths[0].as_path(), self.paths[1].as_path()]
    }

    /// Pulls the cable: bytes in either direction are dropped.
    pub fn cut(&self) {
        self.connected.store(false, Ordering::SeqCst);
    }

    /// Plugs the cable back in.
    pub fn restore(&self) {
        self.connected.store(true, Ordering::SeqCst);
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Starts keeping a copy of what end 0 sends to end 1.
    pub fn start_recording(&self) {
        if let Ok(mut r) = self.recording.lock() {
            *r = Some(Vec::new());
        }
    }

    /// Stops recording and returns what was captured.
    pub fn take_recording(&self) -> Vec<u8> {
        self.recording
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .unwrap_or_default()
    }

    /// Writes raw bytes (noise, a replayed capture) so that they come out of
    /// end `to`.
    pub fn inject(&self, to: usize, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        (&*self.masters[to.min(1)]).write_all(bytes)
    }
}

/// Most bytes a recording keeps (a test capture, not a log).
const RECORDING_LIMIT: usize = 1 << 20;

fn relay_loop(
    masters: &[Arc<File>; 2],
    connected: &AtomicBool,
    stop: &AtomicBool,
    recording: &std::sync::Mutex<Option<Vec<u8>>>,
) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [
            libc::pollfd {
                fd: masters[0].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: masters[1].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // A short timeout so a stop request is seen without a wake-up fd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 20) };
        if n <= 0 {
            continue;
        }
        // An end nobody has open reports a hang-up at once, every time:
        // wait a little rather than spin until a node opens it.
        if fds.iter().any(|f| {
            f.revents & (libc::POLLHUP | libc::POLLERR) != 0 && f.revents & libc::POLLIN == 0
        }) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for (from, fd) in fds.iter().enumerate() {
            if fd.revents & libc::POLLIN == 0 {
                continue;
            }
            let to = 1 - from;
            while let Ok(k) = (&*masters[from]).read(&mut buf) {
                if k == 0 {
                    break;
                }
                if from == 0
                    && let Ok(mut guard) = recording.lock()
                    && let Some(rec) = guard.as_mut()
                    && rec.len() + k <= RECORDING_LIMIT
                {
                    rec.extend_from_slice(&buf[..k]);
                }
                if connected.load(Ordering::Relaxed) {
                    // A full pty buffer on the far side drops the rest, like a
                    // line with no flow control.
                    let _ = (&*masters[to]).write(&buf[..k]);
                }
            }
        }
    }
}

impl Drop for PtyCable {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.relay.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    fn open_end(path: &Path) -> File {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let fd: OwnedFd = f.into();
        make_raw(&fd).unwrap();
        crate::engine::links::set_nonblocking(fd.as_raw_fd()).unwrap();
        File::from(fd)
    }

    fn read_for(f: &mut File, want: usize, limit: Duration) -> Vec<u8> {
        let start = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < want && start.elapsed() < limit {
            match f.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        got
    }

    #[test]
    fn bytes_cross_the_cable_and_a_cut_drops_them() {
        let cable = PtyCable::open().unwrap();
        let [pa, pb] = cable.ends();
        let (mut a, mut b) = (open_end(pa), open_end(pb));
        a.write_all(b"ping").unwrap();
        assert_eq!(read_for(&mut b, 4, Duration::from_secs(5)), b"ping");
        b.write_all(b"pong").unwrap();
        assert_eq!(read_for(&mut a, 4, Duration::from_secs(5)), b"pong");

        cable.cut();
        a.write_all(b"lost").unwrap();
        assert!(read_for(&mut b, 4, Duration::from_millis(200)).is_empty());
        cable.restore();
        a.write_all(b"back").unwrap();
        assert_eq!(read_for(&mut b, 4, Duration::from_secs(5)), b"back");

        cable.start_recording();
        a.write_all(b"taped").unwrap();
        assert_eq!(read_for(&mut b, 5, Duration::from_secs(5)), b"taped");
        assert_eq!(cable.take_recording(), b"taped");

        cable.inject(0, b"noise").unwrap();
        assert_eq!(read_for(&mut a, 5, Duration::from_secs(5)), b"noise");
    }
}
