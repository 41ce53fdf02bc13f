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

pub mod config;
pub mod detector;
pub mod state;
pub mod time;
pub mod wire;
pub mod demo;
pub mod host;
pub mod pty;
pub mod ring;
