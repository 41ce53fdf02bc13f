//! The engine: the only part of twinbeat that does I/O.
//!
//! [`links`] opens the media named in ha.cf (UDP sockets, serial ports) and
//! [`io`] drives them from the beat thread, with io_uring or a poll fallback.

pub mod io;
pub mod links;
