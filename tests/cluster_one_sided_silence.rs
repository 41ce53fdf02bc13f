//! A node that falls silent without hearing its peer go (a hung daemon,
//! SIGSTOP, a one-way cut): the peer declares it dead and takes its groups,
//! while the silent node never saw anything wrong and kept them. When it is
//! heard again the pair must still resolve each group to one owner, though
//! only the silent node's view of the peer changed.

mod cluster_common;

use cluster_common::{MS, Pair, groups};
use twinbeat::cluster::Why;
use twinbeat::config::AutoFailback;

const N: usize = 4; // groups 0, 2 at home on alpha (node 0); 1, 3 on bravo

fn resolutions(p: &Pair, i: usize) -> Vec<(usize, bool)> {
    p.cl(i)
        .decisions()
        .iter()
        .filter_map(|d| match d.what {
            Why::SplitBrainResolved { group, we_keep } => Some((group, we_keep)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_node_silent_one_way_gets_its_groups_back_to_one_owner_when_heard_again() {
    for failback in [AutoFailback::Off, AutoFailback::On, AutoFailback::Legacy] {
        let mut p = Pair::new(groups(N), failback, 77);
        p.boot(0);
        p.boot(1);
        p.run_for(100 * MS);
        for g in 0..N {
            assert_eq!(p.holders(g), [g % 2], "{failback:?}: group {g} at start");
        }
        // alpha goes silent; it still hears bravo, so it never declares it dead.
        p.cut = [true, false];
        p.run_for(60 * MS);
        for g in 0..N {
            assert!(
                p.holders(g).contains(&1),
                "{failback:?}: bravo took group {g}"
            );
        }
        assert_eq!(p.holders(0), [0, 1], "{failback:?}: alpha kept its own");
        p.cut = [false, false];
        let settled = p.run_until(200 * MS, |p| (0..N).all(|g| p.holders(g) == [g % 2]));
        assert!(
            settled,
            "{failback:?}: holders {:?}",
            (0..N).map(|g| p.holders(g)).collect::<Vec<_>>()
        );
        for g in [0, 2] {
            assert!(resolutions(&p, 0).contains(&(g, true)), "{failback:?}");
            assert!(resolutions(&p, 1).contains(&(g, false)), "{failback:?}");
        }
    }
}
