//! A canned snapshot for the control tests: node alpha with an active peer
//! beta and a dead peer gamma, a ucast and a bcast link on eth0 (one up, one
//! dead) and a dead serial link.

use twinbeat::engine::status::{
    IoSnapshot, LinkSnapshot, NodeSnapshot, PeerSnapshot, Percentiles, Snapshot,
};

pub fn link(index: usize, label: &str, state: &str) -> LinkSnapshot {
    LinkSnapshot {
        index,
        label: label.to_owned(),
        line: 10 + index,
        state: state.to_owned(),
        frames_rx: 1_000 + index as u64,
        frames_tx: 2_000 + index as u64,
        lost: 0,
        reordered: 0,
        duplicates: 0,
        send_errors: 0,
        rtt: Percentiles::default(),
        interarrival: Percentiles::default(),
        jitter: Percentiles::default(),
        drops: Vec::new(),
    }
}

pub fn snapshot() -> Snapshot {
    let mut ucast = link(0, "ucast eth0 10.0.0.2:694", "up");
    ucast.lost = 3;
    ucast.frames_rx = 997;
    ucast.rtt = Percentiles {
        count: 500,
        p50_us: 38.25,
        p99_us: 61.5,
        p999_us: 1_250.0,
        max_us: 2_000.0,
    };
    ucast.interarrival = Percentiles {
        count: 997,
        p50_us: 100.4,
        p99_us: 120.0,
        p999_us: 300.0,
        max_us: 400.0,
    };
    ucast.jitter = Percentiles {
        count: 996,
        p50_us: 2.0,
        p99_us: 17.5,
        p999_us: 40.0,
        max_us: 90.0,
    };
    ucast.drops = vec![("bad_mac".to_owned(), 2), ("replay".to_owned(), 0)];
    Snapshot {
        node: NodeSnapshot {
            name: "alpha".to_owned(),
            generation: 7,
            state: "active".to_owned(),
            uptime_us: 3_723_000_000,
            clock_ns: 0,
            rscstatus: "local".into(),
            pid: 4242,
            keepalive_us: 100,
            deadtime_us: 1_000,
            warntime_us: 500,
            initdead_us: 10_000,
            late_sends: 1,
            worst_send_lateness_us: 55,
            skipped_sends: 0,
            backup: Default::default(),
        },
        peers: vec![
            PeerSnapshot {
                name: "gamma".to_owned(),
                liveness: "dead".to_owned(),
                status: "dead".to_owned(),
                generation: None,
                last_heard_us_ago: None,
                last_heard_us_ago_by_link: vec![None, None, None],
                declared_dead_us_ago: Some(7_000),
            },
            PeerSnapshot {
                name: "beta".to_owned(),
                liveness: "alive".to_owned(),
                status: "active".to_owned(),
                generation: Some(9),
                last_heard_us_ago: Some(42),
                last_heard_us_ago_by_link: vec![Some(42), Some(1_500), None],
                declared_dead_us_ago: None,
            },
        ],
        links: vec![
            ucast,
            link(1, "serial /dev/ttyS0 19200", "dead"),
            link(2, "bcast eth0 :694", "dead"),
        ],
        io: IoSnapshot {
            backend: "epoll".to_owned(),
            fallback_reason: Some("io_uring_setup: EPERM".to_owned()),
            describe: "poll backend, 3 links".to_owned(),
            datagrams: 12_345,
            serial_bytes: 678,
            link_errors: 0,
        },
        ring_overflows: 0,
        ping: Default::default(),
    }
}
