//! A takeover process restarted under a living daemon, in virtual time: it
//! keeps the daemon's incarnation, so only the epoch in its message ids
//! tells the peer it is a new sender.

mod cluster_common;

use cluster_common::{MS, Pair, groups};
use twinbeat::cluster::{Action, Cluster, GroupMask, Owner, PeerEvent, Why};
use twinbeat::config::AutoFailback;

const N: usize = 2; // group 0 at home on alpha (node 0), group 1 on bravo

fn settled() -> Pair {
    let mut p = Pair::new(groups(N), AutoFailback::Off, 7);
    p.boot(0);
    p.boot(1);
    p.run_for(100 * MS);
    assert_eq!(p.holders(0), [0]);
    assert_eq!(p.holders(1), [1]);
    p
}

/// Replaces node `i`'s state machine as a restarted takeover process
/// does: same incarnation, epoch `epoch`, what status found adopted, the
/// daemon's view of the peer (alive) fed in.
fn restart_agent(p: &mut Pair, i: usize, epoch: u8, running: GroupMask, partial: GroupMask) {
    let n = &p.nodes[i];
    let cluster = Cluster::new(n.cfg.clone(), n.generation, p.now)
        .unwrap()
        .with_agent_epoch(epoch);
    p.nodes[i].cluster = Some(cluster);
    p.nodes[i].log.clear();
    let peer_generation = p.nodes[1 - i].generation;
    p.with(i, |c, t| c.adopt(t, running, partial));
    p.with(i, |c, t| {
        c.peer_event(
            t,
            PeerEvent::Alive {
                generation: peer_generation,
            },
        )
    });
}

fn whys(p: &Pair, i: usize) -> Vec<Why> {
    p.cl(i).decisions().iter().map(|d| d.what.clone()).collect()
}

#[test]
fn a_restarted_agent_with_a_later_epoch_is_heard_and_adopts_without_starting() {
    let mut p = settled();
    let peer_log_before = p.nodes[1].log.len();
    restart_agent(&mut p, 0, 1, GroupMask::first(1), GroupMask::EMPTY);
    assert_eq!(p.cl(0).owner(0), Owner::Us, "adopted at once");
    // Far less than initdead (50 ms): the peer answered the new epoch.
    p.run_for(10 * MS);
    assert!(
        !p.cl(0).is_waiting(),
        "the peer's state reached the new agent"
    );
    assert!(
        whys(&p, 1).contains(&Why::PeerAgentRestarted { epoch: 1 }),
        "{:?}",
        whys(&p, 1)
    );
    p.run_for(200 * MS);
    assert!(
        p.started(0).is_empty(),
        "nothing started again: {:?}",
        p.nodes[0].log
    );
    let peer_actions: Vec<Action> = p.nodes[1].log[peer_log_before..]
        .iter()
        .map(|(_, a)| *a)
        .filter(|a| !matches!(a, Action::Send(_)))
        .collect();
    assert!(
        peer_actions.is_empty(),
        "the peer did nothing: {peer_actions:?}"
    );
    assert_eq!(p.holders(0), [0]);
    assert_eq!(p.holders(1), [1]);
    assert_eq!(p.cl(1).owner(0), Owner::Peer);
}

#[test]
fn without_a_later_epoch_the_peer_drops_the_new_agent_as_duplicates() {
    let mut p = settled();
    restart_agent(&mut p, 0, 0, GroupMask::first(1), GroupMask::EMPTY);
    p.run_for(20 * MS);
    // Its Announce reused an id the peer had seen: no answer, still waiting.
    assert!(p.cl(0).is_waiting());
    assert!(
        !whys(&p, 1)
            .iter()
            .any(|w| matches!(w, Why::PeerAgentRestarted { .. }))
    );
}

#[test]
fn a_partly_started_group_is_completed_once_and_stays_on_one_node() {
    let mut p = settled();
    // Group 0 found partly running on alpha.
    restart_agent(&mut p, 0, 1, GroupMask::EMPTY, GroupMask::first(1));
    assert_eq!(p.started(0), [0], "one start to complete it");
    p.run_for(200 * MS);
    assert_eq!(p.started(0), [0]);
    assert_eq!(p.holders(0), [0]);
    assert!(whys(&p, 0).contains(&Why::AdoptedPartial { group: 0 }));
    assert!(
        p.started(1).iter().all(|&g| g != 0),
        "bravo never started it"
    );
}

#[test]
fn epochs_keep_working_across_their_wrap() {
    let mut p = settled();
    // Each step less than half the epoch space ahead of the one before.
    for epoch in [100, 200, 255, 0, 1] {
        restart_agent(&mut p, 0, epoch, GroupMask::first(1), GroupMask::EMPTY);
        p.run_for(20 * MS);
        assert!(!p.cl(0).is_waiting(), "epoch {epoch} heard");
    }
    assert_eq!(p.holders(0), [0]);
    assert!(p.started(0).is_empty());
}

#[test]
fn a_late_message_of_the_previous_agent_is_not_applied() {
    let mut p = settled();
    restart_agent(&mut p, 0, 2, GroupMask::first(1), GroupMask::EMPTY);
    p.run_for(20 * MS);
    // A message of epoch 1 (an agent before this one) claiming nothing.
    let stale = twinbeat::cluster::Message {
        kind: twinbeat::cluster::Kind::Announce,
        incarnation: p.nodes[0].generation,
        to_incarnation: p.nodes[1].generation,
        id: (1 << 24) | 99,
        ack: 0,
        haresources_hash: twinbeat::cluster::haresources_hash(&p.nodes[0].cfg.groups),
        state: Default::default(),
        groups: GroupMask::EMPTY,
    };
    p.with(1, |c, t| c.handle(t, stale));
    assert_eq!(
        p.cl(1).peer_state().map(|s| s.held),
        Some(GroupMask::first(1))
    );
    p.run_for(50 * MS);
    assert_eq!(p.holders(0), [0]);
}
