//! The row numbers an existing results file already records (`--resume` skips them), in memory
//! bounded by the file's own size: a bitset over the row numbers while they are dense enough
//! (a bit per number: 5 million rows take 625 KB, where a `HashSet<u64>` took ~75 MB), else a
//! sorted list (8 bytes a row; a replay's file can hold a few rows with large numbers).

/// Numbers may run this far ahead of `64 × count` and the set stays a bitset.
const DENSE_SLACK: u64 = 1 << 20;

/// A set of row numbers.
#[derive(Debug, Clone)]
pub enum RowSet {
    /// Bit `n` set for row `n`.
    Dense { bits: Vec<u64>, count: u64 },
    /// Every number, sorted and without repeats once [`RowSet::seal`]ed.
    Sparse(Vec<u64>),
}

impl Default for RowSet {
    fn default() -> Self {
        RowSet::Dense {
            bits: Vec::new(),
            count: 0,
        }
    }
}

impl RowSet {
    /// Adds `n`. A bitset holds at most 64 bits a member (plus a fixed slack): a number far
    /// beyond that turns the set into a list.
    pub fn insert(&mut self, n: u64) {
        match self {
            RowSet::Dense { bits, count } => {
                if n > count.saturating_add(1).saturating_mul(64) + DENSE_SLACK {
                    let mut list = self.iter().collect::<Vec<_>>();
                    list.push(n);
                    *self = RowSet::Sparse(list);
                    return;
                }
                let word = (n / 64) as usize;
                if word >= bits.len() {
                    bits.resize(word + 1, 0);
                }
                let bit = 1u64 << (n % 64);
                if bits[word] & bit == 0 {
                    bits[word] |= bit;
                    *count += 1;
                }
            }
            RowSet::Sparse(list) => list.push(n),
        }
    }

    /// Sorts a list once every number is in (before [`RowSet::contains`] is asked).
    pub fn seal(&mut self) {
        if let RowSet::Sparse(list) = self {
            list.sort_unstable();
            list.dedup();
            list.shrink_to_fit();
        }
    }

    pub fn contains(&self, n: u64) -> bool {
        match self {
            RowSet::Dense { bits, .. } => usize::try_from(n / 64)
                .ok()
                .and_then(|w| bits.get(w))
                .is_some_and(|w| w & (1 << (n % 64)) != 0),
            RowSet::Sparse(list) => list.binary_search(&n).is_ok(),
        }
    }

    /// Members (after [`RowSet::seal`]).
    pub fn len(&self) -> u64 {
        match self {
            RowSet::Dense { count, .. } => *count,
            RowSet::Sparse(list) => list.len() as u64,
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            RowSet::Dense { bits, .. } => Box::new(bits.iter().enumerate().flat_map(|(i, &w)| {
                (0..64)
                    .filter(move |b| w & (1 << b) != 0)
                    .map(move |b| i as u64 * 64 + b)
            })),
            RowSet::Sparse(list) => Box::new(list.iter().copied()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_numbers_stay_a_bitset_and_far_ones_make_a_list() {
        let mut s = RowSet::default();
        for n in (1..=10_000).filter(|n| n % 3 != 0) {
            s.insert(n);
        }
        s.insert(5);
        s.seal();
        assert!(matches!(s, RowSet::Dense { .. }));
        assert_eq!(s.len(), 6667);
        assert!(s.contains(1) && s.contains(10_000) && !s.contains(9_999) && !s.contains(0));
        assert!(!s.contains(u64::MAX));
        if let RowSet::Dense { bits, .. } = &s {
            assert!(bits.len() <= 10_000 / 64 + 1);
        }

        // A replay's file: a few rows with large numbers.
        let mut s = RowSet::default();
        for n in [3, 4_000_000_000, 7, 4_000_000_000, u64::MAX] {
            s.insert(n);
        }
        s.seal();
        assert!(matches!(s, RowSet::Sparse(_)));
        assert_eq!(s.len(), 4);
        for n in [3, 7, 4_000_000_000, u64::MAX] {
            assert!(s.contains(n), "{n}");
        }
        assert!(!s.contains(4) && !s.contains(0));
    }
}
