//! Every rule of `twinbeat::cluster` as a scenario on a two-node pair in
//! virtual time.

mod cluster_common;

use cluster_common::{MS, Pair, groups, verdict_starts_a_group};
use twinbeat::cluster::{
    Action, Cluster, GroupMask, Kind, Message, NodeState, Owner, PeerEvent, Refusal, RscStatus,
    Scope, Why,
};
use twinbeat::config::AutoFailback;

const N: usize = 4; // groups 0, 2 at home on alpha (node 0); 1, 3 on bravo

fn home_of(g: usize) -> usize {
    g % 2
}

fn whys(p: &Pair, i: usize) -> Vec<Why> {
    p.cl(i).decisions().iter().map(|d| d.what.clone()).collect()
}

fn settled_pair(failback: AutoFailback, seed: u64) -> Pair {
    let mut p = Pair::new(groups(N), failback, seed);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)], "group {g} after startup");
    }
    p
}

fn all_on(p: &Pair, node: usize) -> bool {
    (0..N).all(|g| p.holders(g) == [node])
        && p.nodes[node]
            .cluster
            .as_ref()
            .is_some_and(|c| (0..N).all(|g| c.owner(g) == Owner::Us))
}

#[test]
fn simultaneous_start_puts_each_group_on_exactly_its_home() {
    for seed in 1..40u64 {
        let mut p = Pair::new(groups(N), AutoFailback::Off, seed * 7919);
        p.max_delay = 5 * MS;
        p.boot(0);
        p.boot(1);
        let mut seen_double = false;
        for _ in 0..4000 {
            p.tick();
            seen_double |= (0..N).any(|g| p.holders(g).len() > 1);
        }
        assert!(!seen_double, "seed {seed}: a group ran on both nodes");
        for g in 0..N {
            assert_eq!(p.holders(g), [home_of(g)], "seed {seed} group {g}");
            assert_eq!(p.owner(home_of(g), g), Owner::Us);
            assert_eq!(p.owner(1 - home_of(g), g), Owner::Peer);
        }
        assert!(whys(&p, 0).contains(&Why::PeerStateKnown));
    }
}

#[test]
fn nothing_is_claimed_before_initdead_then_everything_when_the_peer_never_came() {
    let mut p = Pair::new(groups(N), AutoFailback::On, 3);
    p.boot(0);
    p.run_for(45 * MS);
    assert!(p.nodes[0].claimed.is_empty());
    assert!(p.cl(0).is_waiting());
    p.run_for(10 * MS);
    assert!(!p.cl(0).is_waiting());
    assert_eq!(p.nodes[0].claimed, GroupMask::first(N));
    assert!(whys(&p, 0).contains(&Why::InitDeadPassed { peer_heard: false }));
    assert!(whys(&p, 0).contains(&Why::TakePeerAbsent { group: 1 }));
}

#[test]
fn late_peer_gets_its_groups_back_with_auto_failback_on_once_stable() {
    let mut p = Pair::new(groups(N), AutoFailback::On, 5);
    p.boot(0);
    p.run_for(100 * MS);
    assert_eq!(p.nodes[0].claimed, GroupMask::first(N));
    p.boot(1);
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)]);
    }
    assert!(whys(&p, 0).contains(&Why::ReleaseFailback { group: 1 }));
    assert!(whys(&p, 0).contains(&Why::ReleaseFailback { group: 3 }));
    // Bravo never started a group alpha still held.
    assert_eq!(p.started(1), [1, 3]);
}

#[test]
fn late_peer_gets_nothing_back_with_auto_failback_off() {
    let mut p = Pair::new(groups(N), AutoFailback::Off, 6);
    p.boot(0);
    p.run_for(100 * MS);
    p.boot(1);
    p.run_for(200 * MS);
    assert!(all_on(&p, 0));
    assert!(p.started(1).is_empty());
    assert_eq!(p.cl(1).rscstatus(), RscStatus::None);
    assert_eq!(p.cl(0).rscstatus(), RscStatus::All);
}

#[test]
fn legacy_home_node_asks_its_groups_back_at_comm_up() {
    let mut p = Pair::new(groups(N), AutoFailback::Legacy, 7);
    p.boot(0);
    p.run_for(100 * MS);
    p.boot(1);
    p.run_for(200 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)]);
    }
    assert!(whys(&p, 1).contains(&Why::Takeover { groups: 0b1010 }));
    assert!(whys(&p, 0).contains(&Why::PeerRequested { groups: 0b1010 }));
}

#[test]
fn dead_peer_groups_are_all_started_in_the_same_instant_as_the_event() {
    let mut p = settled_pair(AutoFailback::On, 8);
    p.kill(1);
    let ok = p.run_until(100 * MS, |p| p.nodes[0].claimed == GroupMask::first(N));
    assert!(ok);
    let dead_at = p
        .cl(0)
        .decisions()
        .iter()
        .find(|d| d.what == Why::PeerDead)
        .map(|d| d.at)
        .expect("peer dead decided");
    let starts: Vec<_> = p.nodes[0]
        .log
        .iter()
        .filter(|(_, a)| matches!(a, Action::StartGroup(1 | 3)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(starts, [dead_at, dead_at]);
}

#[test]
fn restarted_peer_gets_groups_back_with_failback_on() {
    let mut p = settled_pair(AutoFailback::On, 9);
    p.kill(1);
    p.run_for(50 * MS);
    assert!(all_on(&p, 0));
    p.boot(1);
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)]);
    }
    assert!(whys(&p, 0).iter().any(|w| matches!(
        w,
        Why::PeerAlive {
            restarted: true,
            ..
        }
    )));
}

#[test]
fn standby_hands_everything_over_and_it_stays_there_until_takeover() {
    let mut p = settled_pair(AutoFailback::On, 10);
    let given = p.with(0, |c, t| c.standby(t, Scope::All));
    assert_eq!(given, Ok(GroupMask::first(N)));
    p.run_for(100 * MS);
    assert!(all_on(&p, 1), "standby all moves every group to bravo");
    assert!(whys(&p, 0).contains(&Why::PeerAcked { kind: Kind::Offer }));
    assert!(whys(&p, 0).contains(&Why::ReleaseStandby { group: 0 }));
    p.run_for(300 * MS);
    assert!(all_on(&p, 1), "auto_failback does not undo a standby");
    let asked = p.with(0, |c, t| c.takeover(t, Scope::All));
    assert_eq!(asked, Ok(GroupMask::first(N)));
    p.run_for(100 * MS);
    assert!(all_on(&p, 0), "takeover all brings every group to alpha");
    assert!(whys(&p, 0).contains(&Why::PeerAcked {
        kind: Kind::Request
    }));
    assert!(whys(&p, 1).contains(&Why::PeerRequested { groups: 0b1111 }));
}

#[test]
fn standby_and_takeover_scopes_follow_heartbeat() {
    let mut p = settled_pair(AutoFailback::Off, 11);
    assert_eq!(
        p.with(0, |c, t| c.standby(t, Scope::Local)),
        Ok(GroupMask(0b0101))
    );
    p.run_for(100 * MS);
    assert!(all_on(&p, 1));
    // alpha's takeover foreign: bravo's home groups only.
    assert_eq!(
        p.with(0, |c, t| c.takeover(t, Scope::Foreign)),
        Ok(GroupMask(0b1010))
    );
    p.run_for(100 * MS);
    assert_eq!(p.holders(1), [0]);
    assert_eq!(p.holders(3), [0]);
    assert_eq!(p.holders(0), [1]);
    assert_eq!(p.holders(2), [1]);
    assert_eq!(p.cl(0).rscstatus(), RscStatus::Foreign);
    assert_eq!(p.cl(1).rscstatus(), RscStatus::Foreign);
}

#[test]
fn standby_is_refused_in_legacy_mode_and_without_a_peer() {
    let mut p = settled_pair(AutoFailback::Legacy, 12);
    assert_eq!(
        p.with(0, |c, t| c.standby(t, Scope::All)),
        Err(Refusal::LegacyStandby)
    );
    let mut q = Pair::new(groups(N), AutoFailback::On, 12);
    q.boot(0);
    assert_eq!(
        q.with(0, |c, t| c.standby(t, Scope::All)),
        Err(Refusal::NotRunning)
    );
    q.run_for(100 * MS);
    assert_eq!(
        q.with(0, |c, t| c.standby(t, Scope::All)),
        Err(Refusal::PeerNotUp)
    );
    assert!(all_on(&q, 0));
}

#[test]
fn planned_shutdown_releases_in_reverse_and_the_peer_takes_over_before_deadtime() {
    let mut p = settled_pair(AutoFailback::On, 13);
    let t0 = p.now;
    p.with(0, |c, t| c.shutdown(t));
    let ok = p.run_until(100 * MS, |p| p.cl(0).shutdown_complete() && all_on(p, 1));
    assert!(ok, "shutdown completes and bravo holds everything");
    assert!(p.now - t0 < p.deadtime, "handover took {} ns", p.now - t0);
    assert_eq!(p.stopped(0), [2, 0], "alpha's groups stopped right to left");
    assert!(whys(&p, 0).contains(&Why::ShutdownReleased));
    assert!(p.nodes[0].claimed.is_empty());
}

#[test]
fn shutdown_while_a_start_is_running_stops_it_after_it_finishes() {
    let mut p = Pair::new(groups(N), AutoFailback::Off, 14);
    p.boot(0);
    p.run_for(50 * MS + p.step);
    assert!(p.cl(0).rscstatus() == RscStatus::Transition);
    p.with(0, |c, t| c.shutdown(t));
    p.run_for(20 * MS);
    assert!(p.cl(0).shutdown_complete());
    assert!(p.nodes[0].claimed.is_empty());
    assert_eq!(p.stopped(0), [3, 2, 1, 0]);
}

fn with_pings(p: Pair) -> Pair {
    p.with_config(|c| c.pings_configured = true)
}

#[test]
fn worse_connected_node_gives_up_and_never_takes_over_while_peer_lives() {
    let mut p = with_pings(Pair::new(groups(N), AutoFailback::On, 15));
    p.boot(0);
    p.boot(1);
    p.with(0, |c, t| c.set_ping_reach(t, 2));
    p.with(1, |c, t| c.set_ping_reach(t, 2));
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)]);
    }
    p.with(0, |c, t| c.set_ping_reach(t, 1));
    p.run_for(100 * MS);
    assert!(
        all_on(&p, 1),
        "alpha reaches fewer ping nodes: bravo runs all"
    );
    assert!(whys(&p, 0).contains(&Why::ReleasePingWorse {
        group: 0,
        ours: 1,
        peers: 2
    }));
    // Bravo in standby for everything: alpha still must not take.
    let _ = p.with(1, |c, t| c.standby(t, Scope::All));
    p.run_for(100 * MS);
    assert!(all_on(&p, 1), "an ineligible node takes nothing");
    // Equal again: with failback on, alpha's groups go home... except those
    // bravo declined by standby, which alpha now takes as designated.
    p.with(0, |c, t| c.set_ping_reach(t, 2));
    p.run_for(100 * MS);
    assert!(all_on(&p, 0));
}

#[test]
fn equal_ping_reach_moves_nothing() {
    let mut p = with_pings(Pair::new(groups(N), AutoFailback::Off, 16));
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    let before = p.sent;
    p.with(0, |c, t| c.set_ping_reach(t, 1));
    p.with(1, |c, t| c.set_ping_reach(t, 1));
    p.run_for(100 * MS);
    assert!(p.sent > before);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)]);
    }
    assert!(p.stopped(0).is_empty() && p.stopped(1).is_empty());
}

#[test]
fn worse_connected_node_takes_nothing_at_startup() {
    let mut p = with_pings(Pair::new(groups(N), AutoFailback::Off, 17));
    p.boot(0);
    p.boot(1);
    p.with(0, |c, t| c.set_ping_reach(t, 0));
    p.with(1, |c, t| c.set_ping_reach(t, 1));
    p.run_for(100 * MS);
    assert!(all_on(&p, 1));
    assert!(p.started(0).is_empty(), "alpha never started anything");
}

#[test]
fn a_node_whose_reach_is_not_measured_yet_claims_nothing_and_is_handed_nothing() {
    // Bravo cannot reach the ping node: its reach stays unknown until its
    // deadping passes, while alpha's is measured at once. Bravo must not
    // take even its own home groups in that window (it would hand them
    // back a moment later); alpha leaves them to their home for now.
    let mut p = with_pings(Pair::new(groups(N), AutoFailback::On, 19));
    p.boot(0);
    p.with(0, |c, t| c.set_ping_reach(t, 1));
    p.boot(1);
    p.run_for(100 * MS);
    assert!(
        p.started(1).is_empty(),
        "bravo, unmeasured, started nothing"
    );
    for g in 0..N {
        let expect: &[usize] = if home_of(g) == 0 { &[0] } else { &[] };
        assert_eq!(p.holders(g), expect, "group {g}");
    }
    p.with(1, |c, t| c.set_ping_reach(t, 0));
    p.run_for(100 * MS);
    assert!(all_on(&p, 0), "bravo worse connected: alpha runs all");
    assert!(p.started(1).is_empty(), "bravo still started nothing");
    p.with(1, |c, t| c.set_ping_reach(t, 1));
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)], "equal reach: failback home");
    }
}

#[test]
fn nothing_is_failed_back_to_a_peer_whose_reach_is_not_measured_yet() {
    let mut p = with_pings(Pair::new(groups(N), AutoFailback::On, 20));
    p.boot(0);
    p.with(0, |c, t| c.set_ping_reach(t, 1));
    p.run_for(200 * MS);
    assert!(all_on(&p, 0), "alone after initdead: alpha runs all");
    p.boot(1);
    p.run_for(200 * MS);
    assert!(all_on(&p, 0), "no failback into an unmeasured node");
    assert!(p.stopped(0).is_empty());
    p.with(1, |c, t| c.set_ping_reach(t, 1));
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)]);
    }
}

#[test]
fn split_brain_both_take_everything_then_home_node_keeps_each_group() {
    let mut p = settled_pair(AutoFailback::Off, 18);
    p.partition(true);
    p.run_for(60 * MS);
    assert_eq!(
        p.nodes[0].claimed,
        GroupMask::first(N),
        "alpha active in the partition"
    );
    assert_eq!(
        p.nodes[1].claimed,
        GroupMask::first(N),
        "bravo active in the partition"
    );
    assert!(whys(&p, 0).contains(&Why::PeerDead) && whys(&p, 1).contains(&Why::PeerDead));
    p.partition(false);
    p.run_for(50 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)], "group {g} after the partition");
    }
    for i in 0..2 {
        let resolved: Vec<_> = whys(&p, i)
            .into_iter()
            .filter(|w| matches!(w, Why::SplitBrainResolved { .. }))
            .collect();
        assert_eq!(resolved.len(), N, "node {i} records every resolution");
    }
    assert!(whys(&p, 1).contains(&Why::SplitBrainResolved {
        group: 0,
        we_keep: false
    }));
    assert!(whys(&p, 0).contains(&Why::SplitBrainResolved {
        group: 0,
        we_keep: true
    }));
}

#[test]
fn group_homed_on_neither_node_goes_to_the_lower_name_after_split_brain() {
    let mut gs = groups(2);
    gs[1].home_node = "charlie".into();
    let mut p = Pair::new(gs, AutoFailback::Off, 19);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    assert_eq!(
        p.holders(1),
        [0],
        "free group of a third home: alpha designated"
    );
    p.partition(true);
    p.run_for(60 * MS);
    assert_eq!(p.holders(1), [0, 1]);
    p.partition(false);
    p.run_for(50 * MS);
    assert_eq!(p.holders(1), [0]);
}

#[test]
fn start_failure_gives_the_group_to_the_peer() {
    let mut p = Pair::new(groups(N), AutoFailback::On, 20);
    p.nodes[0].fail_start.insert(2);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    assert_eq!(p.holders(2), [1]);
    assert!(whys(&p, 0).contains(&Why::StartFailed {
        group: 2,
        peer_can_take: true
    }));
    assert_eq!(p.cl(0).state().failed, GroupMask::single(2));
    // auto_failback on does not bounce it back to a node that failed it.
    p.run_for(200 * MS);
    assert_eq!(p.holders(2), [1]);
}

#[test]
fn start_failure_everywhere_leaves_the_group_stopped_and_says_so() {
    let mut p = Pair::new(groups(N), AutoFailback::On, 21);
    p.nodes[0].fail_start.insert(2);
    p.nodes[1].fail_start.insert(2);
    p.boot(0);
    p.boot(1);
    p.run_for(200 * MS);
    assert!(p.holders(2).is_empty());
    assert_eq!(p.owner(0, 2), Owner::None);
    assert!(whys(&p, 1).contains(&Why::StartFailed {
        group: 2,
        peer_can_take: false
    }));
    assert_eq!(p.started(0).iter().filter(|&&g| g == 2).count(), 1);
    assert_eq!(p.started(1).iter().filter(|&&g| g == 2).count(), 1);
}

#[test]
fn stop_failure_makes_the_node_unclean_fences_and_claims_nothing_until_cleared() {
    let mut p =
        Pair::new(groups(N), AutoFailback::On, 22).with_config(|c| c.fence_on_stop_failure = true);
    p.nodes[0].fail_stop.insert(0);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    p.with(0, |c, t| c.standby(t, Scope::All)).expect("standby");
    p.run_for(100 * MS);
    assert!(p.cl(0).is_unclean());
    assert_eq!(p.nodes[0].fences, 1);
    assert_eq!(
        p.holders(0),
        [0],
        "the group still runs on alpha; bravo did not start it"
    );
    assert_eq!(p.holders(2), [1]);
    assert!(whys(&p, 0).contains(&Why::StopFailed { group: 0 }));
    // The peer dies: an unclean node still claims nothing.
    p.kill(1);
    p.run_for(100 * MS);
    assert_eq!(p.nodes[0].claimed, GroupMask::single(0));
    p.nodes[0].fail_stop = GroupMask::EMPTY;
    p.with(0, |c, t| c.clear_unclean(t));
    p.run_for(20 * MS);
    assert!(!p.cl(0).is_unclean());
    assert_eq!(
        p.nodes[0].claimed,
        GroupMask::first(N),
        "cleared: takes over"
    );
}

#[test]
fn mismatched_haresources_is_reported_and_not_acted_on() {
    let mut p = Pair::new(groups(N), AutoFailback::On, 23);
    p.nodes[1].cfg.groups[3].key = "IPaddr::10.9.9.9".into();
    p.boot(0);
    p.boot(1);
    p.run_for(30 * MS);
    assert!(p.nodes[0].claimed.is_empty() && p.nodes[1].claimed.is_empty());
    for i in 0..2 {
        let n = whys(&p, i)
            .iter()
            .filter(|w| matches!(w, Why::HaresourcesMismatch { .. }))
            .count();
        assert_eq!(n, 1, "node {i} reports the mismatch once");
    }
    p.run_for(100 * MS);
    for g in 0..N {
        assert_eq!(p.holders(g), [home_of(g)], "only home groups are taken");
    }
    assert!(whys(&p, 0).contains(&Why::InitDeadPassed { peer_heard: true }));
}

#[test]
fn messages_are_retransmitted_until_acked_and_duplicates_apply_once() {
    let mut p = settled_pair(AutoFailback::Off, 24);
    p.cut[0] = true; // alpha's messages lost, shorter than deadtime
    p.with(0, |c, t| c.standby(t, Scope::Local))
        .expect("standby");
    p.run_for(15 * MS);
    p.cut[0] = false;
    p.run_for(100 * MS);
    assert!(all_on(&p, 1));
    let offers = p.nodes[0]
        .log
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send(m) if m.kind == Kind::Offer))
        .count();
    assert!(offers >= 3, "the offer was resent ({offers} times)");
    let applied = whys(&p, 1)
        .iter()
        .filter(|w| matches!(w, Why::PeerOffered { .. }))
        .count();
    assert_eq!(applied, 1);
}

fn raw(kind: Kind, id: u32, c: &Cluster) -> Message {
    Message {
        kind,
        incarnation: 77,
        to_incarnation: 0,
        id,
        ack: 0,
        haresources_hash: twinbeat::cluster::haresources_hash(&c.config().groups),
        state: NodeState::default(),
        groups: GroupMask(0b11),
    }
}

#[test]
fn a_duplicated_request_is_acked_twice_and_applied_once() {
    let cfg = cluster_common::config(0, groups(N), AutoFailback::Off);
    let mut c = Cluster::new(cfg, 1, 0).expect("config");
    c.peer_event(1, PeerEvent::Alive { generation: 77 });
    let m = raw(Kind::Request, 1, &c);
    c.handle(2, m);
    c.handle(3, m);
    let acks = std::iter::from_fn(|| c.poll_action())
        .filter(|a| matches!(a, Action::Send(x) if x.kind == Kind::Ack && x.ack == 1))
        .count();
    assert_eq!(acks, 2);
    let applied = c
        .decisions()
        .iter()
        .filter(|d| matches!(d.what, Why::PeerRequested { .. }))
        .count();
    assert_eq!(applied, 1);
    assert_eq!(c.state().declined, GroupMask(0b11));
}

#[test]
fn garbage_is_reported_not_applied() {
    let cfg = cluster_common::config(0, groups(N), AutoFailback::Off);
    let mut c = Cluster::new(cfg, 1, 0).expect("config");
    assert!(c.receive(1, &[1, 2, 3]).is_err());
    assert!(matches!(c.decisions()[0].what, Why::BadMessage(_)));
    assert!(c.peer_state().is_none());
}

#[test]
fn a_message_for_an_earlier_run_of_this_node_is_ignored() {
    let cfg = cluster_common::config(0, groups(N), AutoFailback::Off);
    let mut c = Cluster::new(cfg, 5, 0).expect("config");
    let mut m = raw(Kind::Request, 1, &c);
    m.to_incarnation = 4;
    c.handle(1, m);
    assert!(c.poll_action().is_none());
    assert_eq!(c.state().declined, GroupMask::EMPTY);
}

#[test]
fn a_group_stuck_on_an_unclean_peer_is_not_taken_when_that_peer_dies() {
    let mut p = Pair::new(groups(N), AutoFailback::On, 23);
    p.nodes[0].fail_stop.insert(0);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    // alpha's stop of group 0 fails during its standby: unclean, group 0
    // stuck there, the other groups handed over.
    p.with(0, |c, t| c.standby(t, Scope::All)).expect("standby");
    p.run_for(100 * MS);
    assert!(p.cl(0).is_unclean());
    assert_eq!(p.holders(0), [0]);
    // alpha's daemon goes (its stuck resource may well still run): bravo
    // takes none of what alpha held while unclean, and says why.
    p.kill(0);
    p.run_for(200 * MS);
    assert!(
        !p.nodes[1].claimed.contains(0),
        "bravo started a group that may still run on the unclean alpha"
    );
    assert!(whys(&p, 1).contains(&Why::PeerUncleanHeld { group: 0 }));
    // The operator clears it on bravo: now it is taken.
    p.with(1, |c, t| c.clear_unclean(t));
    p.run_for(20 * MS);
    assert!(p.nodes[1].claimed.contains(0));
}

#[test]
fn a_verdict_would_start_something_only_on_a_node_missing_a_group_it_may_take() {
    let mut p = Pair::new(groups(N), AutoFailback::Off, 31);
    p.nodes[0].fail_stop.insert(0);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    let says = |p: &Pair| {
        [0, 1].map(|i| {
            (
                p.cl(i).verdict_would_start(),
                verdict_starts_a_group(p.cl(i), p.now),
            )
        })
    };
    // Each holds its home groups: either would take the other's.
    assert_eq!(says(&p), [(true, true), (true, true)]);
    // bravo hands everything to alpha: alpha holds every group and has
    // nothing to take; bravo has.
    p.with(1, |c, t| c.standby(t, Scope::All)).expect("standby");
    p.run_for(100 * MS);
    assert!(all_on(&p, 0));
    assert_eq!(says(&p), [(false, false), (true, true)]);
    // alpha's stop of group 0 fails while it hands everything back: alpha
    // is unclean (claims nothing), bravo would not take what may still
    // run on the unclean alpha (group 0), and holds the rest.
    p.with(0, |c, t| c.standby(t, Scope::All)).expect("standby");
    p.run_for(100 * MS);
    assert!(p.cl(0).is_unclean());
    assert_eq!(p.holders(0), [0]);
    assert_eq!(says(&p), [(false, false), (false, false)]);
    // A node leaving takes nothing, whatever it misses.
    p.with(1, |c, t| c.shutdown(t));
    p.run_for(100 * MS);
    assert!(!p.cl(1).verdict_would_start());
    assert!(!verdict_starts_a_group(p.cl(1), p.now));
}
