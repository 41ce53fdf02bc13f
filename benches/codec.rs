//! Per-operation costs of the keepalive path, per auth method: encode+sign,
//! verify+decode, and serial framing + deframing of one keepalive.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use twinbeat::config::authkeys::{AuthKeys, AuthMethod};
use twinbeat::wire::serial::{self, Deframer, max_framed_len};
use twinbeat::wire::{
    Header, HoldState, KeyRing, MAX_FRAME_LEN, MessageType, NodeStatus, decode, encode,
};

const CLUSTER: u16 = 0x0c1a;

fn header() -> Header {
    Header {
        message_type: MessageType::KEEPALIVE,
        status: NodeStatus::Active,
        hold: HoldState {
            own: true,
            peer: false,
        },
        node: 0x4141,
        cluster: CLUSTER,
        generation: 3,
        sequence: 1_000_000,
        tx_timestamp: 0xdead_beef,
        echo: 0x1234_5678,
    }
}

fn methods() -> [AuthMethod; 4] {
    let key = b"a 20-byte shared key".to_vec();
    [
        AuthMethod::Crc,
        AuthMethod::Md5 { key: key.clone() },
        AuthMethod::Sha1 { key: key.clone() },
        AuthMethod::Sha256 { key },
    ]
}

fn codec(c: &mut Criterion) {
    for method in methods() {
        let name = method.name();
        let auth = AuthKeys::new(1, [(1, method)]).expect("valid keys");
        let keys = KeyRing::new(&auth).expect("keys prepare");
        let h = header();
        let mut frame = [0u8; MAX_FRAME_LEN];
        let len = encode(&h, &[], &keys, &mut frame).expect("encodes");
        let frame = &frame[..len];

        c.bench_function(&format!("keepalive encode+sign {name}"), |b| {
            let mut out = [0u8; MAX_FRAME_LEN];
            b.iter(|| encode(black_box(&h), &[], &keys, &mut out))
        });

        c.bench_function(&format!("keepalive verify+decode {name}"), |b| {
            b.iter(|| decode(black_box(frame), &keys, CLUSTER).map(|d| d.header.sequence))
        });

        c.bench_function(&format!("serial frame+deframe {name}"), |b| {
            let mut line = [0u8; max_framed_len(MAX_FRAME_LEN)];
            let mut deframer = Deframer::new();
            b.iter(|| {
                let n = serial::encode(black_box(frame), &mut line).unwrap_or(0);
                let mut seen = 0usize;
                deframer.push(&line[..n], |f| seen += f.len());
                seen
            })
        });
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
