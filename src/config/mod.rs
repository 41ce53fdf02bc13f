//! Heartbeat's three configuration files, parsed into typed values.
//!
//! - [`diag`]: located diagnostics (`FILE:LINE: message`), collected rather
//!   than stopping at the first.
//! - [`authkeys`]: the signing keys.

pub mod authkeys;
pub mod diag;
