//! What the beat thread publishes for the backup sender, and what the
//! backup sender counts for status: a handful of atomics, no lock.
//!
//! The frame counter lives here rather than in the beat loop so that both
//! senders draw from one sequence: (generation, sequence) keeps rising as
//! one 64-bit counter whoever sends, and the peer's replay rule holds.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::time::Nanos;
use crate::wire::{HoldState, NodeStatus};

/// Shared between the beat thread, the backup sender and status.
#[derive(Debug)]
pub struct BeatShared {
    /// Monotonic ns of the beat thread's last keepalive round; 0 before
    /// the first.
    last_round: AtomicU64,
    /// `generation << 32 | sequence` of the next frame.
    counter: AtomicU64,
    /// `status << 2 | hold` as the beat thread last sent them.
    state: AtomicU8,
    /// Hold-ups the backup sender covered (or is covering).
    pub episodes: AtomicU64,
    /// Keepalive rounds the backup sender sent.
    pub rounds: AtomicU64,
    /// Longest hold-up of the beat thread that ended, ns.
    pub longest_held_up: AtomicU64,
    /// Hold-ups that reached the cover limit.
    pub gave_up: AtomicU64,
    /// Backup frames the kernel refused.
    pub send_errors: AtomicU64,
}

impl BeatShared {
    /// Starts the frame counter at `(generation, 0)`.
    pub fn new(generation: u32) -> Self {
        BeatShared {
            last_round: AtomicU64::new(0),
            counter: AtomicU64::new(u64::from(generation) << 32),
            state: AtomicU8::new(pack(NodeStatus::Init, HoldState::default())),
            episodes: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            longest_held_up: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
        }
    }

    /// Takes the next (generation, sequence). At the end of the 32-bit
    /// sequence space the counter carries into the generation, which the
    /// daemon reserved on disk at start.
    #[inline]
    pub fn next_counter(&self) -> (u32, u32) {
        let c = self.counter.fetch_add(1, Ordering::Relaxed);
        ((c >> 32) as u32, c as u32)
    }

    /// The generation frames carry now.
    pub fn generation(&self) -> u32 {
        (self.counter.load(Ordering::Relaxed) >> 32) as u32
    }

    /// The beat thread sent a round at `now` with this status and hold.
    #[inline]
    pub fn note_round(&self, now: Nanos, status: NodeStatus, hold: HoldState) {
        self.state.store(pack(status, hold), Ordering::Relaxed);
        self.last_round.store(now, Ordering::Release);
    }

    /// The beat thread's last round, `None` before the first.
    #[inline]
    pub fn last_round(&self) -> Option<Nanos> {
        match self.last_round.load(Ordering::Acquire) {
            0 => None,
            t => Some(t),
        }
    }

    /// Status and hold state as the beat thread last sent them.
    pub fn state(&self) -> (NodeStatus, HoldState) {
        let s = self.state.load(Ordering::Relaxed);
        (
            NodeStatus::from_bits(s >> 2),
            HoldState::from_bits(s & 0b11),
        )
    }
}

fn pack(status: NodeStatus, hold: HoldState) -> u8 {
    ((status as u8) << 2) | hold.bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_carries_into_the_generation() {
        let s = BeatShared::new(7);
        assert_eq!(s.next_counter(), (7, 0));
        assert_eq!(s.next_counter(), (7, 1));
        s.counter
            .store((7 << 32) | u64::from(u32::MAX), Ordering::Relaxed);
        assert_eq!(s.next_counter(), (7, u32::MAX));
        assert_eq!(s.next_counter(), (8, 0));
        assert_eq!(s.generation(), 8);
    }

    #[test]
    fn state_round_trips() {
        let s = BeatShared::new(1);
        assert_eq!(s.last_round(), None);
        for status in [
            NodeStatus::Init,
            NodeStatus::Up,
            NodeStatus::Active,
            NodeStatus::Leaving,
        ] {
            for (own, peer) in [(false, false), (true, false), (false, true), (true, true)] {
                let hold = HoldState { own, peer };
                s.note_round(5, status, hold);
                assert_eq!(s.state(), (status, hold));
            }
        }
        assert_eq!(s.last_round(), Some(5));
    }
}
