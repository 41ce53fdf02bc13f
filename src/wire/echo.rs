//! The timestamp and echo fields: round-trip time measured from keepalives
//! alone, without the hold time on the far side.
//!
//! Node A stamps each frame with `tx_timestamp = low32(now)`. Node B keeps
//! the last one it heard from A on a link and when it heard it; in its next
//! frame on that link it sends `echo = their_ts + (now - rx_time)`, i.e. A's
//! timestamp advanced by how long B held it. A then gets
//! `rtt = low32(now) - echo`, wrapping, which is the time spent on the wire
//! in both directions. All arithmetic is modulo 2^32 ns (4.29 s), far above
//! any RTT a heartbeat link can have while alive.
//!
//! 0 means "nothing heard yet"; a real echo that happens to be 0 is sent as 1
//! (a 1 ns error once in 4 billion).

use crate::time::Nanos;

/// Low 32 bits of a monotonic time, as carried in `tx_timestamp`.
pub const fn timestamp(now: Nanos) -> u32 {
    now as u32
}

/// The echo to send now for a peer timestamp `their_ts` received at
/// `rx_time`; 0 when the timestamp was held too long to be meaningful
/// (2^32 ns or more) or `now` is before `rx_time`.
pub const fn echo(their_ts: u32, rx_time: Nanos, now: Nanos) -> u32 {
    let Some(held) = now.checked_sub(rx_time) else {
        return 0;
    };
    if held > u32::MAX as u64 {
        return 0;
    }
    match their_ts.wrapping_add(held as u32) {
        0 => 1,
        e => e,
    }
}

/// Round-trip time for a received `echo`, in ns; `None` when the peer has
/// heard nothing from us yet.
pub const fn rtt_ns(echo: u32, now: Nanos) -> Option<u32> {
    match echo {
        0 => None,
        e => Some(timestamp(now).wrapping_sub(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_excludes_hold_time_and_survives_wrap() {
        // A sends at t_a (just below a 2^32 boundary), the wire takes 30 µs
        // each way, B holds it for 70 µs.
        let t_a: Nanos = (5 << 32) + u32::MAX as u64 - 10_000;
        let b_rx: Nanos = 9_000_000_000;
        let b_tx = b_rx + 70_000;
        let e = echo(timestamp(t_a), b_rx, b_tx);
        let a_rx = t_a + 30_000 + 70_000 + 30_000;
        assert_eq!(rtt_ns(e, a_rx), Some(60_000));
    }

    #[test]
    fn zero_means_nothing_heard() {
        assert_eq!(rtt_ns(0, 123), None);
        assert_eq!(echo(u32::MAX, 10, 11), 1);
        assert_eq!(echo(5, 10, 9), 0);
        assert_eq!(echo(5, 0, 1 << 33), 0);
    }
}
