//! Frame encode/decode with every auth method: round trips, tamper
//! detection, truncation, cluster and key checks, known answers.

use proptest::prelude::*;
use twinbeat::config::authkeys::{AuthKeys, AuthMethod};
use twinbeat::wire::frame::{MAX_FRAME_LEN, MAX_PAYLOAD_LEN, encoded_len};
use twinbeat::wire::{
    DropReason, EncodeError, Header, HoldState, KeyRing, MessageType, NodeStatus, decode, encode,
    tag_len,
};

const CLUSTER: u16 = 0xabcd;

fn methods() -> Vec<AuthMethod> {
    vec![
        AuthMethod::Crc,
        AuthMethod::Md5 {
            key: b"md5 key".to_vec(),
        },
        AuthMethod::Sha1 {
            key: b"sha1 key".to_vec(),
        },
        AuthMethod::Sha256 {
            key: b"sha256 key".to_vec(),
        },
    ]
}

fn ring(active: u8, defined: Vec<(u8, AuthMethod)>) -> KeyRing {
    KeyRing::new(&AuthKeys::new(active, defined).expect("valid keys")).expect("keys prepare")
}

fn single(index: u8, method: AuthMethod) -> KeyRing {
    ring(index, vec![(index, method)])
}

fn keepalive(sequence: u32) -> Header {
    Header {
        message_type: MessageType::KEEPALIVE,
        status: NodeStatus::Up,
        hold: HoldState {
            own: true,
            peer: false,
        },
        node: 0x1234,
        cluster: CLUSTER,
        generation: 7,
        sequence,
        tx_timestamp: 0x0102_0304,
        echo: 0x0a0b_0c0d,
    }
}

fn encode_vec(h: &Header, payload: &[u8], signer: &KeyRing) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = encode(h, payload, signer, &mut out).expect("encodes");
    out[..n].to_vec()
}

fn arb_method() -> impl Strategy<Value = AuthMethod> {
    prop_oneof![
        Just(AuthMethod::Crc),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|key| AuthMethod::Md5 { key }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|key| AuthMethod::Sha1 { key }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|key| AuthMethod::Sha256 { key }),
    ]
}

fn arb_status() -> impl Strategy<Value = NodeStatus> {
    prop_oneof![
        Just(NodeStatus::Init),
        Just(NodeStatus::Up),
        Just(NodeStatus::Active),
        Just(NodeStatus::Leaving),
    ]
}

/// A header and a payload that fits its type.
fn arb_frame() -> impl Strategy<Value = (Header, Vec<u8>)> {
    (
        1u8..=15,
        arb_status(),
        any::<(bool, bool)>(),
        any::<u16>(),
        any::<(u32, u32, u32, u32)>(),
        prop::collection::vec(any::<u8>(), 0..MAX_PAYLOAD_LEN),
    )
        .prop_map(
            |(code, status, (own, peer), node, (g, s, ts, e), payload)| {
                let message_type = MessageType::from_code(code).expect("1..=15");
                let payload = if message_type.is_keepalive() {
                    Vec::new()
                } else {
                    payload
                };
                let header = Header {
                    message_type,
                    status,
                    hold: HoldState { own, peer },
                    node,
                    cluster: CLUSTER,
                    generation: g,
                    sequence: s,
                    tx_timestamp: ts,
                    echo: e,
                };
                (header, payload)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_every_method(
        method in arb_method(),
        index in 1u8..=15,
        (header, payload) in arb_frame(),
    ) {
        let keys = single(index, method.clone());
        let frame = encode_vec(&header, &payload, &keys);
        prop_assert_eq!(frame.len(), 22 + payload.len() + tag_len(&method));
        prop_assert_eq!(frame.len(), encoded_len(payload.len(), &keys));
        let got = decode(&frame, &keys, CLUSTER).expect("own frame decodes");
        prop_assert_eq!(got.header, header);
        prop_assert_eq!(got.key_index, index);
        prop_assert_eq!(got.payload, &payload[..]);
        prop_assert_eq!(got.header.counter(), (u64::from(header.generation) << 32) | u64::from(header.sequence));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..1200),
        cluster in any::<u16>(),
        method in arb_method(),
    ) {
        let keys = single(1, method);
        let _ = decode(&bytes, &keys, cluster);
    }

    #[test]
    fn decoder_never_panics_on_mutated_frames(
        method in arb_method(),
        (header, payload) in arb_frame(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let keys = single(1, method);
        let mut frame = encode_vec(&header, &payload, &keys);
        for (at, byte) in edits {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let len = cut.index(frame.len() + 1);
        let _ = decode(&frame[..len], &keys, CLUSTER);
    }
}

#[test]
fn any_single_bit_flip_is_rejected_for_every_method() {
    for method in methods() {
        let keys = single(1, method.clone());
        for payload in [&b""[..], b"resource group web"] {
            let mut header = keepalive(99);
            if !payload.is_empty() {
                header.message_type = MessageType::from_code(2).expect("valid");
            }
            let frame = encode_vec(&header, payload, &keys);
            assert!(decode(&frame, &keys, CLUSTER).is_ok());
            for bit in 0..frame.len() * 8 {
                let mut bad = frame.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                let verdict = decode(&bad, &keys, CLUSTER);
                assert!(
                    verdict.is_err(),
                    "{method:?}: flip of bit {bit} accepted: {verdict:?}"
                );
            }
        }
    }
}

#[test]
fn tag_flip_is_bad_mac_or_bad_crc() {
    for method in methods() {
        let keys = single(1, method.clone());
        let frame = encode_vec(&keepalive(1), &[], &keys);
        let mut bad = frame.clone();
        *bad.last_mut().expect("non-empty") ^= 0x80;
        let want = match method {
            AuthMethod::Crc => DropReason::BadCrc,
            _ => DropReason::BadMac,
        };
        assert_eq!(decode(&bad, &keys, CLUSTER), Err(want));
        // So does a changed sequence number, which no cheap check looks at.
        let mut bad = frame.clone();
        bad[12] ^= 1;
        assert_eq!(decode(&bad, &keys, CLUSTER), Err(want));
    }
}

#[test]
fn keepalive_is_30_bytes_signed_and_26_with_crc() {
    for method in methods() {
        let keys = single(1, method.clone());
        let want = if method == AuthMethod::Crc { 26 } else { 30 };
        assert_eq!(encode_vec(&keepalive(0), &[], &keys).len(), want);
    }
}

#[test]
fn truncation_at_every_length_is_truncated() {
    for method in methods() {
        let keys = single(1, method.clone());
        let frame = encode_vec(&keepalive(5), &[], &keys);
        for len in 0..frame.len() {
            assert_eq!(
                decode(&frame[..len], &keys, CLUSTER),
                Err(DropReason::Truncated),
                "{method:?} cut at {len}"
            );
        }
    }
}

#[test]
fn payload_frame_cut_below_header_and_tag_is_truncated_and_above_fails_its_tag() {
    let keys = single(1, AuthMethod::Sha256 { key: b"k".to_vec() });
    let mut header = keepalive(5);
    header.message_type = MessageType::from_code(3).expect("valid");
    let frame = encode_vec(&header, &[7u8; 40], &keys);
    for len in 0..frame.len() {
        let want = if len < 30 {
            DropReason::Truncated
        } else {
            DropReason::BadMac
        };
        assert_eq!(
            decode(&frame[..len], &keys, CLUSTER),
            Err(want),
            "cut at {len}"
        );
    }
}

#[test]
fn too_long_is_rejected_before_anything_else() {
    let keys = single(1, AuthMethod::Crc);
    let junk = vec![0u8; MAX_FRAME_LEN + 1];
    assert_eq!(decode(&junk, &keys, CLUSTER), Err(DropReason::TooLong));
    let mut header = keepalive(0);
    header.message_type = MessageType::from_code(2).expect("valid");
    let payload = vec![1u8; MAX_FRAME_LEN];
    let mut out = [0u8; 2 * MAX_FRAME_LEN];
    assert!(matches!(
        encode(&header, &payload, &keys, &mut out),
        Err(EncodeError::FrameTooLong { .. })
    ));
}

#[test]
fn checks_run_in_the_documented_order() {
    let keys = single(1, AuthMethod::Sha1 { key: b"k".to_vec() });
    let frame = encode_vec(&keepalive(5), &[], &keys);

    let mut bad = frame.clone();
    bad[0] = 0x21; // version 2
    bad[4] ^= 0xff; // and a foreign cluster: version is checked first
    assert_eq!(decode(&bad, &keys, CLUSTER), Err(DropReason::BadVersion));

    let mut bad = frame.clone();
    bad[0] = 0x10; // type 0
    bad[4] ^= 0xff;
    assert_eq!(decode(&bad, &keys, CLUSTER), Err(DropReason::UnknownType));

    let mut bad = frame.clone();
    bad[1] = (bad[1] & 0x0f) | 0x90; // key 9, unknown here, and foreign cluster
    bad[4] ^= 0xff;
    assert_eq!(
        decode(&bad, &keys, CLUSTER),
        Err(DropReason::ForeignCluster)
    );

    let mut bad = frame.clone();
    bad[1] &= 0x0f; // key index 0 is never defined
    assert_eq!(decode(&bad, &keys, CLUSTER), Err(DropReason::UnknownKey));
}

#[test]
fn foreign_cluster_is_rejected_even_with_the_same_key() {
    let keys = single(1, AuthMethod::Md5 { key: b"k".to_vec() });
    let mut header = keepalive(1);
    header.cluster = CLUSTER ^ 1;
    let frame = encode_vec(&header, &[], &keys);
    assert_eq!(
        decode(&frame, &keys, CLUSTER),
        Err(DropReason::ForeignCluster)
    );
    assert!(decode(&frame, &keys, CLUSTER ^ 1).is_ok());
}

#[test]
fn unknown_key_index_is_rejected() {
    let sender = single(4, AuthMethod::Sha1 { key: b"k".to_vec() });
    let receiver = single(5, AuthMethod::Sha1 { key: b"k".to_vec() });
    let frame = encode_vec(&keepalive(1), &[], &sender);
    assert_eq!(
        decode(&frame, &receiver, CLUSTER),
        Err(DropReason::UnknownKey)
    );
}

#[test]
fn wrong_key_under_same_index_is_bad_mac() {
    let sender = single(
        1,
        AuthMethod::Sha1 {
            key: b"one".to_vec(),
        },
    );
    let receiver = single(
        1,
        AuthMethod::Sha1 {
            key: b"two".to_vec(),
        },
    );
    let frame = encode_vec(&keepalive(1), &[], &sender);
    assert_eq!(decode(&frame, &receiver, CLUSTER), Err(DropReason::BadMac));
}

#[test]
fn key_rotation_accepts_any_defined_key() {
    let old = AuthMethod::Sha1 {
        key: b"old key".to_vec(),
    };
    let new = AuthMethod::Sha256 {
        key: b"new key".to_vec(),
    };
    let sender_on_old = single(1, old.clone());
    let receiver_rotated = ring(2, vec![(1, old.clone()), (2, new.clone())]);
    let receiver_new_only = single(2, new.clone());

    let frame = encode_vec(&keepalive(1), &[], &sender_on_old);
    let got = decode(&frame, &receiver_rotated, CLUSTER).expect("key 1 still defined");
    assert_eq!(got.key_index, 1);
    assert_eq!(
        decode(&frame, &receiver_new_only, CLUSTER),
        Err(DropReason::UnknownKey)
    );

    // And the rotated node's own frames go out under key 2.
    let frame = encode_vec(&keepalive(2), &[], &receiver_rotated);
    let got = decode(&frame, &receiver_new_only, CLUSTER).expect("key 2");
    assert_eq!(got.key_index, 2);
    assert_eq!(frame.len(), 30);
}

#[test]
fn keepalive_with_payload_is_refused_by_the_encoder() {
    let keys = single(1, AuthMethod::Crc);
    let mut out = [0u8; 64];
    assert_eq!(
        encode(&keepalive(0), b"x", &keys, &mut out),
        Err(EncodeError::KeepaliveWithPayload { len: 1 })
    );
}

#[test]
fn small_output_buffer_is_refused() {
    let keys = single(1, AuthMethod::Sha1 { key: b"k".to_vec() });
    let mut out = [0u8; 29];
    assert_eq!(
        encode(&keepalive(0), &[], &keys, &mut out),
        Err(EncodeError::BufferTooSmall {
            needed: 30,
            available: 29
        })
    );
}

// Known answers, computed independently of this crate:
// python3 -c 'import hmac,hashlib;d=bytes.fromhex("1116"+"1234"+"abcd"+"00000007"+"0000002a"+"01020304"+"0a0b0c0d");print(hmac.new(b"twinbeat-test-key",d,hashlib.sha1).hexdigest()[:16])'
//   -> 89637ec2a55fdc08
// python3 -c 'import zlib;print("%08x"%zlib.crc32(bytes.fromhex("1116"+"1234"+"abcd"+"00000007"+"0000002a"+"01020304"+"0a0b0c0d")))'
//   -> 5566c247
const KAT_HEADER_HEX: &str = "11161234abcd000000070000002a010203040a0b0c0d";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn known_answer_hmac_sha1() {
    let keys = single(
        1,
        AuthMethod::Sha1 {
            key: b"twinbeat-test-key".to_vec(),
        },
    );
    let frame = encode_vec(&keepalive(42), &[], &keys);
    assert_eq!(hex(&frame), format!("{}89637ec2a55fdc08", KAT_HEADER_HEX));
}

#[test]
fn known_answer_crc32() {
    let keys = single(1, AuthMethod::Crc);
    let frame = encode_vec(&keepalive(42), &[], &keys);
    assert_eq!(hex(&frame), format!("{}5566c247", KAT_HEADER_HEX));
}
