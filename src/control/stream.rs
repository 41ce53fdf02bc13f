//! Line I/O on a unix stream under a deadline: the one place that turns
//! "a client may be slow, silent or endless" into bounded waits.
//!
//! Reads wait in slices of at most [`SLICE`] so that a stop flag is seen
//! promptly; the deadline is for the whole line, so a client trickling one
//! byte at a time cannot stretch it.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::protocol::{LineBuffer, LineStatus, ProtocolError};

/// Longest single wait before the stop flag and the deadline are looked at again.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) enum LineIoError {
    Timeout,
    Stopped,
    Protocol(ProtocolError),
    Io(io::Error),
}

impl From<ProtocolError> for LineIoError {
    fn from(err: ProtocolError) -> Self {
        LineIoError::Protocol(err)
    }
}

fn remaining(deadline: Instant) -> Result<Duration, LineIoError> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left.min(SLICE)),
        _ => Err(LineIoError::Timeout),
    }
}

fn is_retry(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Reads one line (newline excluded) of at most `limit` bytes.
pub(crate) fn read_line(
    stream: &mut UnixStream,
    limit: usize,
    deadline: Instant,
    stop: Option<&AtomicBool>,
) -> Result<Vec<u8>, LineIoError> {
    let mut lines = LineBuffer::new(limit);
    let mut chunk = [0u8; 4096];
    loop {
        if stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
            return Err(LineIoError::Stopped);
        }
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(LineIoError::Io)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ProtocolError::Truncated.into()),
            Ok(n) => {
                let got = chunk.get(..n).unwrap_or(&[]);
                if lines.push(got)? == LineStatus::Complete {
                    return Ok(lines.line().to_vec());
                }
            }
            Err(err) if is_retry(&err) => continue,
            Err(err) => return Err(LineIoError::Io(err)),
        }
    }
}

/// Writes all of `bytes` before `deadline`.
pub(crate) fn write_all(
    stream: &mut UnixStream,
    mut bytes: &[u8],
    deadline: Instant,
) -> Result<(), LineIoError> {
    while !bytes.is_empty() {
        stream
            .set_write_timeout(Some(remaining(deadline)?))
            .map_err(LineIoError::Io)?;
        match stream.write(bytes) {
            Ok(0) => {
                return Err(LineIoError::Io(io::Error::from(io::ErrorKind::WriteZero)));
            }
            Ok(n) => bytes = bytes.get(n..).unwrap_or(&[]),
            Err(err) if is_retry(&err) => continue,
            Err(err) => return Err(LineIoError::Io(err)),
        }
    }
    Ok(())
}
