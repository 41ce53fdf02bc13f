//! The engine: the only place with I/O.
//!
//! - [`links`]: opening UDP sockets and serial ports as ha.cf describes them.
//! - [`io`]: the io_uring backend and its epoll fallback.
//! - [`status`]: the snapshot a running node reports.

pub mod backup;
pub mod beat;
pub mod cpu_latency;
pub mod daemon;
pub mod events;
pub mod io;
pub mod links;
pub mod outbox;
pub mod plan;
pub mod realtime;
pub mod status;
