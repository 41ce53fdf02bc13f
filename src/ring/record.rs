//! The record the engine puts on the event ring: one failure-detector event.

use super::pod::Pod;
use crate::time::Nanos;

/// One event from the beat thread to the takeover process.
///
/// Fields are raw integers on purpose: the record crosses a process boundary
/// through shared memory, so every bit pattern must be a valid value (see
/// [`Pod`]). The consumer decodes `kind` into its own enum and rejects
/// values it does not know instead of trusting them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRecord {
    /// When the detector decided, on the monotonic clock.
    pub at: Nanos,
    /// Kind-specific payload (e.g. the silence that triggered a death, in ns).
    pub value: u64,
    /// What happened; the numbering belongs to the detector.
    pub kind: u16,
    /// The peer concerned (the detector's `PeerId`).
    pub node: u16,
    /// The link concerned, or `u16::MAX` for "all links".
    pub link: u16,
    /// Reserved for the detector; zero today.
    pub flags: u16,
}

// SAFETY: repr(C), only integers, 24 bytes with no padding, align 8.
unsafe impl Pod for EventRecord {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_record_has_no_padding_and_fits_a_slot() {
        assert_eq!(std::mem::size_of::<EventRecord>(), 8 + 8 + 4 * 2);
        assert!(std::mem::align_of::<EventRecord>() <= 8);
    }
}
