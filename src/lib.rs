//! twinbeat: a high-availability heartbeat engine.
//!
//! The crate is split into a deterministic, sans-IO core and a thin engine:
//!
//! - [`config`]: ha.cf, authkeys and haresources parsed with Heartbeat's
//!   syntax and semantics into typed values, with every error located.
//! - [`wire`]: the keepalive frame, its authentication and the serial framing.
//! - [`detector`]: links × peers → liveness events, in virtual time.
//! - [`state`]: the generation number kept on disk (replay protection).
//! - [`time`]: the monotonic nanosecond clock the engine feeds the core with.
//! - [`ring`]: the lock-free shared-memory ring that carries detector
//!   events to the takeover process.
//! - [`engine`]: the only place with I/O: links and the io_uring / poll
//!   backends the beat loop runs on.
//! - [`takeover`]: the separate process that consumes detector events.
//! - [`reach`]: ping nodes and ping groups: probes and reachability.
//! - [`ipaddr`]: the built-in IPaddr: a virtual IP added and removed over
//!   netlink, announced by gratuitous ARP.
//! - [`demo`], [`pty`], [`host`]: the embedded demo pair, a pty serial cable,
//!   facts about this host.
//! - [`logging`]: log lines written by a thread of their own, off the
//!   realtime threads.

pub mod cluster;
pub mod config;
pub mod control;
pub mod demo;
pub mod detector;
pub mod engine;
pub mod host;
pub mod ipaddr;
pub mod latency;
pub mod logging;
pub mod pty;
pub mod reach;
pub mod resources;
pub mod ring;
pub mod state;
pub mod takeover;
pub mod time;
pub mod wire;
