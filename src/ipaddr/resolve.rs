//! Pure address arithmetic for IPaddr: which configured subnet holds a
//! virtual IP, the default broadcast, and which existing addresses match a
//! spec. No I/O: the caller hands in the kernel's address dump.

use std::net::Ipv4Addr;

use super::netlink::AddrEntry;

/// The netmask of a prefix length (`/0` is all zeros, `/32` all ones).
pub fn netmask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

/// Whether `addr` is inside `network/prefix`.
pub fn in_subnet(network: Ipv4Addr, prefix: u8, addr: Ipv4Addr) -> bool {
    let mask = netmask(prefix);
    u32::from(network) & mask == u32::from(addr) & mask
}

/// The broadcast `ip addr add ... brd +` derives: host bits all ones.
/// `/31` and `/32` have none (RFC 3021 point-to-point, single host).
pub fn derived_broadcast(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix >= 31 {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(addr) | !netmask(prefix)))
}

/// The address whose subnet contains `vip`, as Heartbeat's findif chose an
/// interface from the routes of connected subnets: the longest prefix wins,
/// then a primary over a secondary, then the lowest interface index (so the
/// choice is stable). `/32` host addresses are no subnet and are skipped;
/// `only_ifindex` narrows the search to one interface.
pub fn covering_address(
    addrs: &[AddrEntry],
    vip: Ipv4Addr,
    only_ifindex: Option<u32>,
) -> Option<&AddrEntry> {
    addrs
        .iter()
        .filter(|a| a.prefix < 32 && in_subnet(a.address, a.prefix, vip))
        .filter(|a| only_ifindex.is_none_or(|i| a.ifindex == i))
        .min_by_key(|a| (std::cmp::Reverse(a.prefix), a.secondary, a.ifindex))
}

/// Whether an existing address is the one a spec names: the same local
/// address, and the same interface and prefix where the spec gives them.
pub fn matches_spec(
    entry: &AddrEntry,
    vip: Ipv4Addr,
    ifindex: Option<u32>,
    prefix: Option<u8>,
) -> bool {
    entry.local == vip
        && ifindex.is_none_or(|i| entry.ifindex == i)
        && prefix.is_none_or(|p| entry.prefix == p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(ifindex: u32, addr: [u8; 4], prefix: u8, secondary: bool) -> AddrEntry {
        let a = Ipv4Addr::from(addr);
        AddrEntry {
            ifindex,
            prefix,
            local: a,
            address: a,
            label: None,
            secondary,
        }
    }

    #[test]
    fn netmask_edges() {
        assert_eq!(netmask(0), 0);
        assert_eq!(netmask(8), 0xff00_0000);
        assert_eq!(netmask(24), 0xffff_ff00);
        assert_eq!(netmask(32), u32::MAX);
        assert_eq!(netmask(200), u32::MAX);
    }

    #[test]
    fn broadcast_is_derived_from_the_prefix() {
        let vip = Ipv4Addr::new(192, 168, 60, 200);
        assert_eq!(
            derived_broadcast(vip, 24),
            Some(Ipv4Addr::new(192, 168, 60, 255))
        );
        assert_eq!(
            derived_broadcast(vip, 20),
            Some(Ipv4Addr::new(192, 168, 63, 255))
        );
        assert_eq!(derived_broadcast(vip, 31), None);
        assert_eq!(derived_broadcast(vip, 32), None);
    }

    #[test]
    fn longest_prefix_then_primary_then_lowest_index() {
        let vip = Ipv4Addr::new(10, 1, 2, 3);
        let addrs = vec![
            entry(1, [127, 0, 0, 1], 8, false),
            entry(5, [10, 0, 0, 1], 8, false),
            entry(4, [10, 1, 2, 9], 24, true),
            entry(3, [10, 1, 2, 1], 24, false),
            entry(2, [10, 1, 2, 2], 24, false),
            entry(6, [10, 1, 2, 3], 32, false),
        ];
        let best = covering_address(&addrs, vip, None).unwrap();
        assert_eq!(best.ifindex, 2);
        let on_five = covering_address(&addrs, vip, Some(5)).unwrap();
        assert_eq!(on_five.prefix, 8);
        assert!(covering_address(&addrs, vip, Some(1)).is_none());
        assert!(covering_address(&addrs, Ipv4Addr::new(172, 16, 0, 1), None).is_none());
    }

    #[test]
    fn spec_match_checks_only_what_is_given() {
        let e = entry(3, [10, 1, 2, 3], 24, true);
        let vip = Ipv4Addr::new(10, 1, 2, 3);
        assert!(matches_spec(&e, vip, None, None));
        assert!(matches_spec(&e, vip, Some(3), Some(24)));
        assert!(!matches_spec(&e, vip, Some(4), None));
        assert!(!matches_spec(&e, vip, None, Some(16)));
        assert!(!matches_spec(&e, Ipv4Addr::new(10, 1, 2, 4), None, None));
    }

    proptest! {
        #[test]
        fn an_address_is_in_its_own_subnet_and_broadcast_too(addr in any::<u32>(), prefix in 0u8..=30) {
            let a = Ipv4Addr::from(addr);
            prop_assert!(in_subnet(a, prefix, a));
            let brd = derived_broadcast(a, prefix).unwrap();
            prop_assert!(in_subnet(a, prefix, brd));
            prop_assert_eq!(u32::from(brd) & !netmask(prefix), !netmask(prefix));
        }

        #[test]
        fn the_chosen_subnet_contains_the_vip_and_none_is_longer(
            nets in proptest::collection::vec((any::<u32>(), 0u8..=32, any::<bool>()), 0..12),
            vip in any::<u32>(),
        ) {
            let addrs: Vec<AddrEntry> = nets
                .iter()
                .enumerate()
                .map(|(i, (a, p, s))| entry(i as u32 + 1, Ipv4Addr::from(*a).octets(), *p, *s))
                .collect();
            let vip = Ipv4Addr::from(vip);
            match covering_address(&addrs, vip, None) {
                Some(best) => {
                    prop_assert!(best.prefix < 32);
                    prop_assert!(in_subnet(best.address, best.prefix, vip));
                    for a in &addrs {
                        if a.prefix < 32 && in_subnet(a.address, a.prefix, vip) {
                            prop_assert!(a.prefix <= best.prefix);
                        }
                    }
                }
                None => {
                    for a in &addrs {
                        prop_assert!(a.prefix == 32 || !in_subnet(a.address, a.prefix, vip));
                    }
                }
            }
        }
    }
}
