//! The serial deframer on an arbitrary byte stream, fed in arbitrary
//! chunks: it never panics, and every frame it yields is within bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinbeat::wire::MAX_FRAME_LEN;
use twinbeat::wire::serial::Deframer;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut deframer = Deframer::new();
    for piece in stream.chunks(chunk) {
        deframer.push(piece, |frame| assert!(!frame.is_empty() && frame.len() <= MAX_FRAME_LEN));
    }
});
