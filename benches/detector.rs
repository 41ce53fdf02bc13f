//! Cost of one detector step: one `on_arrival` plus one `on_tick`, for one
//! peer seen over three links (the engine's per-frame work on the hot path).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use twinbeat::detector::{Arrival, Detector, DetectorConfig, LinkId, PeerId, PeerStatus};
use twinbeat::time::{NANOS_PER_MICRO, NANOS_PER_MILLI};

const LINKS: u8 = 3;

fn step(c: &mut Criterion) {
    let keepalive = 100 * NANOS_PER_MICRO;
    let cfg = DetectorConfig::new(keepalive, NANOS_PER_MILLI, 1, usize::from(LINKS));
    let mut now = NANOS_PER_MILLI;
    let mut det = match Detector::new(cfg, now) {
        Ok(det) => det,
        Err(e) => panic!("bench config refused: {e}"),
    };
    let mut seq = 0u32;
    let spacing = keepalive / u64::from(LINKS);
    c.bench_function("detector/arrival+tick, 1 peer x 3 links", |b| {
        b.iter(|| {
            now += spacing;
            seq = seq.wrapping_add(1);
            let a = Arrival {
                peer: PeerId(0),
                link: LinkId((seq % u32::from(LINKS)) as u8),
                generation: 1,
                seq,
                tx_ts: now as u32,
                echo_ts: (now as u32).wrapping_sub(30_000),
                peer_status: PeerStatus::Active,
                rx_time: now - 1_000,
            };
            let accepted = det.on_arrival(black_box(&a), now).is_ok();
            det.on_tick(now);
            while let Some(e) = det.poll_event() {
                black_box(e);
            }
            black_box(accepted)
        })
    });
}

criterion_group!(benches, step);
criterion_main!(benches);
