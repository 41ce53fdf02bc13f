//! The frame decoder on arbitrary bytes, with each auth method: it must
//! return a frame or a drop reason, never panic, and a frame it accepts
//! must encode back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinbeat::config::authkeys::{AuthKeys, AuthMethod};
use twinbeat::wire::{KeyRing, decode, encode};

fn ring(method: AuthMethod) -> KeyRing {
    let keys = AuthKeys::new(1, [(1, method)]).expect("key 1 is defined");
    KeyRing::new(&keys).expect("valid key")
}

fuzz_target!(|data: &[u8]| {
    let rings = [
        ring(AuthMethod::Crc),
        ring(AuthMethod::Md5 { key: b"fuzz".to_vec() }),
        ring(AuthMethod::Sha1 { key: b"fuzz".to_vec() }),
        ring(AuthMethod::Sha256 { key: b"fuzz".to_vec() }),
    ];
    let cluster = if data.len() >= 6 { u16::from_be_bytes([data[4], data[5]]) } else { 0 };
    for ring in &rings {
        if let Ok(frame) = decode(data, ring, cluster) {
            if frame.header.message_type.is_keepalive() && !frame.payload.is_empty() {
                continue; // accepted for forward compatibility, never produced
            }
            let mut out = [0u8; 1100];
            let n = encode(&frame.header, frame.payload, ring, &mut out).expect("re-encodes");
            assert_eq!(&out[..n], data, "decode/encode round trip");
        }
    }
});
