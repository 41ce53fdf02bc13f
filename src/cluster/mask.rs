//! A set of resource groups as a 64-bit mask: the unit the cluster protocol
//! reasons in and sends on the wire (bit `i` = the `i`-th haresources group).

/// Most groups a pair can run: one bit per group in every message.
pub const MAX_GROUPS: usize = 64;

/// A set of group indices `0..MAX_GROUPS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GroupMask(pub u64);

impl GroupMask {
    pub const EMPTY: GroupMask = GroupMask(0);

    /// The first `n` groups (all of them when `n >= MAX_GROUPS`).
    pub fn first(n: usize) -> GroupMask {
        if n >= MAX_GROUPS {
            GroupMask(u64::MAX)
        } else {
            GroupMask((1u64 << n) - 1)
        }
    }

    pub fn single(i: usize) -> GroupMask {
        if i < MAX_GROUPS {
            GroupMask(1u64 << i)
        } else {
            GroupMask::EMPTY
        }
    }

    pub fn contains(self, i: usize) -> bool {
        i < MAX_GROUPS && self.0 & (1u64 << i) != 0
    }

    pub fn insert(&mut self, i: usize) {
        self.0 |= GroupMask::single(i).0;
    }

    pub fn remove(&mut self, i: usize) {
        self.0 &= !GroupMask::single(i).0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn and(self, other: GroupMask) -> GroupMask {
        GroupMask(self.0 & other.0)
    }

    pub fn or(self, other: GroupMask) -> GroupMask {
        GroupMask(self.0 | other.0)
    }

    pub fn without(self, other: GroupMask) -> GroupMask {
        GroupMask(self.0 & !other.0)
    }

    /// Indices in ascending order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_GROUPS).filter(move |&i| self.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_covers_exactly_n_groups() {
        assert_eq!(GroupMask::first(0), GroupMask::EMPTY);
        assert_eq!(GroupMask::first(3).iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(GroupMask::first(64).len(), 64);
        assert_eq!(GroupMask::first(200).len(), 64);
    }

    #[test]
    fn out_of_range_indices_are_never_members() {
        let mut m = GroupMask::first(64);
        assert!(!m.contains(64));
        m.insert(99);
        m.remove(99);
        assert_eq!(m.len(), 64);
        assert_eq!(GroupMask::single(64), GroupMask::EMPTY);
    }
}
