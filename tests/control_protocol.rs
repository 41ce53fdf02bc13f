//! Properties of the control protocol's decoding and line framing.

use proptest::prelude::*;
use twinbeat::control::protocol::{
    LineBuffer, LineStatus, decode_request, decode_response, encode_request,
};
use twinbeat::control::{Request, Scope};

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
    }

    #[test]
    fn chunking_does_not_change_the_line(
        body in "[ -~]{0,200}",
        cuts in proptest::collection::vec(0usize..220, 0..8),
    ) {
        let mut wire = body.clone().into_bytes();
        wire.push(b'\n');
        wire.extend_from_slice(b"trailing");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut lines = LineBuffer::new(256);
        let mut start = 0;
        let mut complete = false;
        for cut in cuts {
            if complete { break; }
            if lines.push(&wire[start..cut]).unwrap() == LineStatus::Complete {
                complete = true;
            }
            start = cut;
        }
        prop_assert!(complete);
        prop_assert_eq!(lines.line(), body.as_bytes());
    }

    #[test]
    fn no_line_over_the_limit_is_accepted(len in 0usize..300, limit in 0usize..200) {
        let mut lines = LineBuffer::new(limit);
        let result = lines.push(&vec![b'a'; len]);
        prop_assert_eq!(result.is_ok(), len <= limit);
        prop_assert!(lines.line().len() <= limit);
    }

    #[test]
    fn requests_survive_encoding(scope in prop_oneof![Just(Scope::All), Just(Scope::Local), Just(Scope::Foreign)], kind in 0u8..3) {
        let request = match kind {
            0 => Request::Status,
            1 => Request::Standby { scope },
            _ => Request::Takeover { scope },
        };
        let line = encode_request(&request).unwrap();
        prop_assert_eq!(line.last(), Some(&b'\n'));
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert_eq!(decode_request(&line[..line.len() - 1]).unwrap(), request);
    }
}
