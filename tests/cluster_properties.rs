//! Random schedules of message delay, loss, partitions, kills, restarts,
//! ping changes and operator requests on a pair, checking:
//! - outside a partition (and without loss), no group has two owners for
//!   longer than one message round (plus the runner's stop);
//! - once things settle, every group runs on exactly one node, and never
//!   on a node that reaches fewer ping nodes than its peer;
//! - at every moment, `verdict_would_start` says whether a peer-dead
//!   verdict would start a group (asked of a copy of the node).

mod cluster_common;

use cluster_common::{MS, Pair, groups, verdict_starts_a_group};
use proptest::prelude::*;
use twinbeat::cluster::Scope;
use twinbeat::config::AutoFailback;
use twinbeat::time::Nanos;

const N: usize = 5;

#[derive(Debug, Clone)]
enum Step {
    Run(u64),
    Partition(bool),
    Loss(u64),
    Kill(usize),
    Boot(usize),
    Ping(usize, u16),
    Standby(usize, u8),
    Takeover(usize, u8),
    Shutdown(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u64..80).prop_map(Step::Run),
        1 => any::<bool>().prop_map(Step::Partition),
        1 => prop_oneof![Just(0u64), 0u64..400].prop_map(Step::Loss),
        1 => (0usize..2).prop_map(Step::Kill),
        1 => (0usize..2).prop_map(Step::Boot),
        1 => ((0usize..2), 0u16..3).prop_map(|(i, n)| Step::Ping(i, n)),
        1 => ((0usize..2), 0u8..3).prop_map(|(i, s)| Step::Standby(i, s)),
        1 => ((0usize..2), 0u8..3).prop_map(|(i, s)| Step::Takeover(i, s)),
        1 => (0usize..2).prop_map(Step::Shutdown),
    ]
}

fn scope(s: u8) -> Scope {
    match s {
        0 => Scope::All,
        1 => Scope::Local,
        _ => Scope::Foreign,
    }
}

fn failback() -> impl Strategy<Value = AutoFailback> {
    prop_oneof![
        Just(AutoFailback::On),
        Just(AutoFailback::Off),
        Just(AutoFailback::Legacy)
    ]
}

struct Monitor {
    /// When the network last became clean (no cut, no loss).
    clean_since: Option<Nanos>,
    double_since: [Option<Nanos>; N],
    bound: Nanos,
}

impl Monitor {
    fn check(&mut self, p: &Pair) -> Result<(), TestCaseError> {
        for i in 0..2 {
            if p.is_up(i) {
                let c = p.cl(i);
                prop_assert_eq!(
                    c.verdict_would_start(),
                    verdict_starts_a_group(c, p.now),
                    "node {} at {} µs: verdict_would_start disagrees with the rules",
                    i,
                    p.now / 1000
                );
            }
        }
        let clean = !p.cut[0] && !p.cut[1] && p.loss_permille == 0;
        match (clean, self.clean_since) {
            (true, None) => self.clean_since = Some(p.now),
            (false, _) => self.clean_since = None,
            _ => {}
        }
        for g in 0..N {
            if p.holders(g).len() > 1 {
                let since = *self.double_since[g].get_or_insert(p.now);
                if let Some(clean_since) = self.clean_since {
                    let from = since.max(clean_since);
                    prop_assert!(
                        p.now - from <= self.bound,
                        "group {} on both nodes for {} µs on a clean network",
                        g,
                        (p.now - from) / 1000
                    );
                }
            } else {
                self.double_since[g] = None;
            }
        }
        Ok(())
    }
}

fn run(p: &mut Pair, m: &mut Monitor, span: Nanos) -> Result<(), TestCaseError> {
    let end = p.now + span;
    while p.now < end {
        p.tick();
        m.check(p)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn one_owner_per_group_outside_partitions_and_after_settling(
        seed in any::<u64>(),
        fb in failback(),
        max_delay in 1u64..3_000,
        steps in proptest::collection::vec(step(), 1..24),
        boot_gap in 0u64..80,
    ) {
        let mut p = Pair::new(groups(N), fb, seed).with_config(|c| c.pings_configured = true);
        p.max_delay = p.min_delay + max_delay * 1_000;
        let mut m = Monitor {
            clean_since: None,
            double_since: [None; N],
            // One message round, an Announce waiting for an ack ahead of
            // it, the loser's stop, and tick granularity.
            bound: 2 * p.max_delay + p.cfg_retransmit() + 2 * p.runner_delay + 4 * p.step,
        };
        // Reach given to each node's current run (None until set).
        let mut reach: [Option<u16>; 2] = [None, None];
        p.boot(0);
        run(&mut p, &mut m, boot_gap * MS)?;
        p.boot(1);
        for s in steps {
            match s {
                Step::Run(ms) => run(&mut p, &mut m, ms * MS)?,
                Step::Partition(on) => p.partition(on),
                Step::Loss(pm) => p.loss_permille = pm,
                Step::Kill(i) => p.kill(i),
                Step::Boot(i) => {
                    if !p.is_up(i) {
                        p.boot(i);
                        reach[i] = None;
                    }
                }
                Step::Ping(i, n) => {
                    if p.is_up(i) {
                        p.with(i, |c, t| c.set_ping_reach(t, n));
                        reach[i] = Some(n);
                    }
                }
                Step::Standby(i, s) => {
                    if p.is_up(i) {
                        let _ = p.with(i, |c, t| c.standby(t, scope(s)));
                    }
                }
                Step::Takeover(i, s) => {
                    if p.is_up(i) {
                        let _ = p.with(i, |c, t| c.takeover(t, scope(s)));
                    }
                }
                Step::Shutdown(i) => {
                    if p.is_up(i) {
                        p.with(i, |c, t| c.shutdown(t));
                        run(&mut p, &mut m, 30 * MS)?;
                        p.kill(i);
                        p.boot(i);
                        reach[i] = None;
                    }
                }
            }
        }
        // Settle: heal everything, both nodes up.
        p.partition(false);
        p.loss_permille = 0;
        for (i, r) in reach.iter_mut().enumerate() {
            if !p.is_up(i) {
                p.boot(i);
                *r = None;
            }
            // A node measures its reach within deadping (the prober's
            // tracker guarantees it); until then it claims nothing.
            if r.is_none() {
                p.with(i, |c, t| c.set_ping_reach(t, 1));
                *r = Some(1);
            }
        }
        run(&mut p, &mut m, 400 * MS)?;
        for g in 0..N {
            let holders = p.holders(g);
            prop_assert_eq!(holders.len(), 1, "group {} held by {:?} after settling", g, holders);
            if let (Some(a), Some(b)) = (reach[0], reach[1]) {
                if a != b {
                    let better = if a > b { 0 } else { 1 };
                    prop_assert_eq!(holders[0], better, "group {} on the worse-connected node", g);
                }
            }
        }
        for i in 0..2 {
            prop_assert!(!p.cl(i).is_unclean());
            prop_assert!(!p.cl(i).is_waiting());
        }
    }
}
