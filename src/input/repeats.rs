//! The count of customers that appear on more than one row, for the summary, in memory that stays
//! bounded however long the file is.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use uuid::Uuid;

/// Counts the customers that appear on more than one row.
///
/// Each customerId is kept as a 64-bit fingerprint whose lowest bit says whether it has been seen
/// again (so a customer on three rows counts once), in a set that stops taking new customers at
/// [`Repeats::LIMIT`]: about 9.5 MB at most. Up to that many distinct customers the count is exact
/// (two ids sharing a fingerprint has odds of about one in twenty million at the limit); past it,
/// customers already tracked are still counted and [`Repeats::exact`] turns false.
#[derive(Clone, Debug)]
pub struct Repeats {
    seen: HashSet<Key, BuildHasherDefault<Prehashed>>,
    repeated: u64,
    overflowed: bool,
    limit: usize,
}

impl Default for Repeats {
    fn default() -> Self {
        Repeats::with_limit(Repeats::LIMIT)
    }
}

impl Repeats {
    /// Distinct customers tracked at most: just under the point where the set's table would grow
    /// from 2^20 buckets (9 bytes each) to 2^21, so at most about 9.5 MB (BENCHMARKS.md,
    /// change 22).
    pub const LIMIT: usize = 900_000;

    fn with_limit(limit: usize) -> Repeats {
        Repeats {
            seen: HashSet::default(),
            repeated: 0,
            overflowed: false,
            limit,
        }
    }

    /// Notes one row for `id`.
    pub fn see(&mut self, id: Uuid) {
        let key = Key(fingerprint(id) & !1);
        match self.seen.get(&key) {
            // `replace` swaps the stored key in place: no removal, so no tombstone that could make
            // the table grow past its bound.
            Some(k) if k.0 & 1 == 0 => {
                self.seen.replace(Key(key.0 | 1));
                self.repeated += 1;
            }
            Some(_) => {}
            None if self.seen.len() < self.limit => {
                self.seen.insert(key);
            }
            None => self.overflowed = true,
        }
    }

    /// Customers seen on more than one row.
    pub fn count(&self) -> u64 {
        self.repeated
    }

    /// False once a customer arrived after the limit: the count is then a lower bound.
    pub fn exact(&self) -> bool {
        !self.overflowed
    }
}

/// A fingerprint whose lowest bit is a flag: equality and hash ignore that bit.
#[derive(Clone, Copy, Debug)]
struct Key(u64);

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.0 >> 1 == other.0 >> 1
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 >> 1);
    }
}

/// A well-mixed 64 bits of a GUID (splitmix64's finaliser over both halves), so sequential ids
/// spread over the table and the set needs no hashing of its own.
fn fingerprint(id: Uuid) -> u64 {
    let (hi, lo) = id.as_u64_pair();
    let mut z = hi ^ lo.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hasher for fingerprints, which are already hashes: passes them through.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(0x6a1f0c2e_1b7d_4c3a_9e55_000000000000 | n)
    }

    #[test]
    fn counts_each_repeated_customer_once() {
        let mut r = Repeats::default();
        for n in [1, 2, 1, 3, 1, 2, 4] {
            r.see(id(n));
        }
        assert_eq!(r.count(), 2);
        assert!(r.exact());
    }

    #[test]
    fn sequential_ids_do_not_collide() {
        let mut r = Repeats::default();
        for n in 0..200_000 {
            r.see(id(n));
        }
        assert_eq!(r.count(), 0);
        for n in (0..200_000).step_by(2) {
            r.see(id(n));
        }
        assert_eq!(r.count(), 100_000);
    }

    #[test]
    fn past_the_limit_counts_tracked_customers_and_says_it_is_a_lower_bound() {
        let mut r = Repeats::with_limit(3);
        for n in [1, 2, 3, 4, 5, 4, 1, 1] {
            r.see(id(n));
        }
        assert_eq!(r.count(), 1, "only customer 1 was tracked and repeated");
        assert!(!r.exact());
        assert_eq!(r.seen.len(), 3, "memory stays at the limit");
    }
}
