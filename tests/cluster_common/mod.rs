//! A two-node harness for `twinbeat::cluster` in virtual time: two state
//! machines, a network between them with delay, loss and partition, a
//! crude detector (alive while audible, dead after `deadtime` of silence)
//! and a resource runner that completes starts and stops after a delay.
#![allow(dead_code)]

use twinbeat::cluster::{Action, Cluster, ClusterConfig, GroupMask, GroupSpec, Owner, PeerEvent};
use twinbeat::config::AutoFailback;
use twinbeat::time::{NANOS_PER_MICRO, NANOS_PER_MILLI, Nanos};

pub const MS: Nanos = NANOS_PER_MILLI;
pub const US: Nanos = NANOS_PER_MICRO;
pub const NAMES: [&str; 2] = ["alpha", "bravo"];

/// Groups `0..n`, homes alternating alpha, bravo, alpha, ...
pub fn groups(n: usize) -> Vec<GroupSpec> {
    (0..n)
        .map(|i| GroupSpec {
            key: format!("IPaddr::10.0.0.{}", i + 1),
            home_node: NAMES[i % 2].to_string(),
        })
        .collect()
}

pub fn config(me: usize, groups: Vec<GroupSpec>, failback: AutoFailback) -> ClusterConfig {
    ClusterConfig {
        me: NAMES[me].into(),
        peer: NAMES[1 - me].into(),
        groups,
        auto_failback: failback,
        pings_configured: false,
        initdead: 50 * MS,
        retransmit: 5 * MS,
        fence_on_stop_failure: false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Unheard,
    Alive,
    Dead,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Start(usize),
    Stop(usize),
}

pub struct Node {
    pub cluster: Option<Cluster>,
    pub cfg: ClusterConfig,
    pub generation: u32,
    /// Started (from the StartGroup action) and not yet stopped.
    pub claimed: GroupMask,
    /// Starts / stops whose result is not reported yet.
    ops: Vec<(Nanos, Op)>,
    /// Groups whose start / stop the runner fails.
    pub fail_start: GroupMask,
    pub fail_stop: GroupMask,
    pub fences: usize,
    /// What this node's detector says about the peer.
    view: View,
    seen_gen: u32,
    silent_since: Option<Nanos>,
    /// Every action, for scenario assertions.
    pub log: Vec<(Nanos, Action)>,
}

struct Packet {
    due: Nanos,
    to: usize,
    bytes: Vec<u8>,
}

pub struct Pair {
    pub now: Nanos,
    pub nodes: [Node; 2],
    net: Vec<Packet>,
    pub min_delay: Nanos,
    pub max_delay: Nanos,
    /// Per-mille chance of losing a message.
    pub loss_permille: u64,
    /// Per direction: `cut[i]` drops what node `i` sends.
    pub cut: [bool; 2],
    pub runner_delay: Nanos,
    pub deadtime: Nanos,
    pub step: Nanos,
    rng: u64,
    pub sent: usize,
}

impl Pair {
    pub fn new(groups: Vec<GroupSpec>, failback: AutoFailback, seed: u64) -> Pair {
        let node = |me: usize| Node {
            cluster: None,
            cfg: config(me, groups.clone(), failback),
            generation: 0,
            claimed: GroupMask::EMPTY,
            ops: Vec::new(),
            fail_start: GroupMask::EMPTY,
            fail_stop: GroupMask::EMPTY,
            fences: 0,
            view: View::Unheard,
            seen_gen: 0,
            silent_since: None,
            log: Vec::new(),
        };
        Pair {
            now: 1_000 * MS,
            nodes: [node(0), node(1)],
            net: Vec::new(),
            min_delay: 100 * US,
            max_delay: 300 * US,
            loss_permille: 0,
            cut: [false; 2],
            runner_delay: MS,
            deadtime: 20 * MS,
            step: 50 * US,
            rng: seed | 1,
            sent: 0,
        }
    }

    pub fn with_config(mut self, f: impl Fn(&mut ClusterConfig)) -> Pair {
        for n in &mut self.nodes {
            f(&mut n.cfg);
        }
        self
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    pub fn c(&mut self, i: usize) -> &mut Cluster {
        self.nodes[i].cluster.as_mut().expect("node is running")
    }

    pub fn cl(&self, i: usize) -> &Cluster {
        self.nodes[i].cluster.as_ref().expect("node is running")
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].cluster.is_some()
    }

    pub fn boot(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.generation += 1;
        n.cluster = Some(Cluster::new(n.cfg.clone(), n.generation, self.now).expect("config"));
        n.view = View::Unheard;
        n.seen_gen = 0;
        n.silent_since = None;
    }

    /// kill -9 of the node and its machine's resources.
    pub fn kill(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.cluster = None;
        n.claimed = GroupMask::EMPTY;
        n.ops.clear();
        self.net.retain(|p| p.to != i);
    }

    pub fn cfg_retransmit(&self) -> Nanos {
        self.nodes[0].cfg.retransmit
    }

    pub fn partition(&mut self, cut: bool) {
        self.cut = [cut, cut];
    }

    /// Runs an input on node `i` and then carries out its actions.
    pub fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut Cluster, Nanos) -> R) -> R {
        let now = self.now;
        let r = f(self.c(i), now);
        self.drain(i);
        r
    }

    fn drain(&mut self, i: usize) {
        while let Some(a) = self.nodes[i]
            .cluster
            .as_mut()
            .and_then(Cluster::poll_action)
        {
            self.nodes[i].log.push((self.now, a));
            match a {
                Action::StartGroup(g) => {
                    self.nodes[i].claimed.insert(g);
                    let due = self.now + self.runner_delay;
                    self.nodes[i].ops.push((due, Op::Start(g)));
                }
                Action::StopGroup(g) => {
                    let due = self.now + self.runner_delay;
                    self.nodes[i].ops.push((due, Op::Stop(g)));
                }
                Action::RunFence => self.nodes[i].fences += 1,
                Action::Send(m) => {
                    self.sent += 1;
                    let lost = self.cut[i] || self.rand() % 1000 < self.loss_permille;
                    if !lost {
                        let span = self.max_delay.saturating_sub(self.min_delay) + 1;
                        let due = self.now + self.min_delay + self.rand() % span;
                        self.net.push(Packet {
                            due,
                            to: 1 - i,
                            bytes: m.to_bytes().to_vec(),
                        });
                    }
                }
            }
        }
    }

    fn audible(&self, from: usize) -> bool {
        self.is_up(from) && !self.cut[from]
    }

    /// Advances virtual time by one step.
    pub fn tick(&mut self) {
        self.now += self.step;
        let now = self.now;
        // Detector model.
        for i in 0..2 {
            if !self.is_up(i) {
                continue;
            }
            let peer = 1 - i;
            if self.audible(peer) {
                self.nodes[i].silent_since = None;
                let generation = self.nodes[peer].generation;
                if self.nodes[i].view != View::Alive || self.nodes[i].seen_gen != generation {
                    self.nodes[i].view = View::Alive;
                    self.nodes[i].seen_gen = generation;
                    self.with(i, |c, t| c.peer_event(t, PeerEvent::Alive { generation }));
                }
            } else if self.nodes[i].view == View::Alive {
                let since = *self.nodes[i].silent_since.get_or_insert(now);
                if now - since >= self.deadtime {
                    self.nodes[i].view = View::Dead;
                    self.with(i, |c, t| c.peer_event(t, PeerEvent::Dead));
                }
            }
        }
        // Network.
        let mut k = 0;
        while k < self.net.len() {
            if self.net[k].due <= now {
                let p = self.net.swap_remove(k);
                if self.is_up(p.to) {
                    let r = self.with(p.to, |c, t| c.receive(t, &p.bytes));
                    assert!(r.is_ok(), "a node sent an undecodable message");
                }
            } else {
                k += 1;
            }
        }
        // Runner.
        for i in 0..2 {
            let mut k = 0;
            while k < self.nodes[i].ops.len() {
                let (due, op) = self.nodes[i].ops[k];
                if due > now {
                    k += 1;
                    continue;
                }
                self.nodes[i].ops.swap_remove(k);
                match op {
                    Op::Start(g) => {
                        let ok = !self.nodes[i].fail_start.contains(g);
                        if !ok {
                            self.nodes[i].claimed.remove(g);
                        }
                        self.with(i, |c, t| c.start_result(t, g, ok));
                    }
                    Op::Stop(g) => {
                        let ok = !self.nodes[i].fail_stop.contains(g);
                        if ok {
                            self.nodes[i].claimed.remove(g);
                        }
                        self.with(i, |c, t| c.stop_result(t, g, ok));
                    }
                }
            }
        }
        // Timers.
        for i in 0..2 {
            let due = self.nodes[i]
                .cluster
                .as_ref()
                .and_then(Cluster::poll_timeout);
            if due.is_some_and(|d| d <= now) {
                self.with(i, |c, t| c.handle_timeout(t));
            }
        }
    }

    pub fn run_for(&mut self, span: Nanos) {
        let end = self.now + span;
        while self.now < end {
            self.tick();
        }
    }

    pub fn run_until(&mut self, limit: Nanos, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }

    /// Which running nodes hold group g (by what the runner was told).
    pub fn holders(&self, g: usize) -> Vec<usize> {
        (0..2)
            .filter(|&i| self.is_up(i) && self.nodes[i].claimed.contains(g))
            .collect()
    }

    pub fn owner(&self, i: usize, g: usize) -> Owner {
        self.cl(i).owner(g)
    }

    pub fn started(&self, i: usize) -> Vec<usize> {
        self.nodes[i]
            .log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::StartGroup(g) => Some(*g),
                _ => None,
            })
            .collect()
    }

    pub fn stopped(&self, i: usize) -> Vec<usize> {
        self.nodes[i]
            .log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::StopGroup(g) => Some(*g),
                _ => None,
            })
            .collect()
    }
}

/// What a peer-dead verdict would do to a copy of `c` at `now`: does it
/// start a group? (The rules asked directly, for `verdict_would_start`.)
pub fn verdict_starts_a_group(c: &Cluster, now: Nanos) -> bool {
    let mut what_if = c.clone();
    while what_if.poll_action().is_some() {}
    what_if.peer_event(now, PeerEvent::Dead);
    std::iter::from_fn(|| what_if.poll_action()).any(|a| matches!(a, Action::StartGroup(_)))
}
