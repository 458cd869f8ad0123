//! The simulated tenant: the customers the sandbox holds, in the order the list call serves them,
//! and its stored form (the state file of `store.rs`).
//!
//! A customer never patched is made up from its id (`made_up.rs`), so only what was written is
//! kept: the accepted PATCHes, and the order in which customers not made up at start came to be.
//! The customers made up at start (`--customers N`) follow from their count and seed.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::made_up::made_up_customer;

/// The customers the list call serves, in order, and where each one is in it.
pub(super) struct Held {
    order: Vec<Uuid>,
    index: HashMap<Uuid, usize>,
    /// The first `made_up` customers were made up at start and carry `ERP-…` references.
    made_up: usize,
}

impl Held {
    /// `n` customers with ids drawn from `seed` (the same ones for the same seed).
    pub(super) fn made_up(n: usize, seed: u64) -> Held {
        let mut held = Held {
            order: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
            made_up: 0,
        };
        let mut i = 0u64;
        while held.order.len() < n {
            i += 1;
            let hi = mix(seed ^ i.wrapping_mul(0xd1b5_4a32_d192_ed03));
            let lo = mix(hi ^ i);
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&hi.to_be_bytes());
            bytes[8..].copy_from_slice(&lo.to_be_bytes());
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            // Ids ending in 403 and 404 stand for customers that cannot be read (gate.rs).
            if matches!(id.as_u128() & 0xffff_ffff_ffff, 0x403 | 0x404) {
                continue;
            }
            held.hold(id);
        }
        held.made_up = held.order.len();
        held
    }

    /// Lists `id` from now on (once).
    pub(super) fn hold(&mut self, id: Uuid) {
        if let Entry::Vacant(e) = self.index.entry(id) {
            e.insert(self.order.len());
            self.order.push(id);
        }
    }

    /// The internal identifier of a customer made up at start: `ERP-000001` for the first.
    pub(super) fn reference(&self, id: Uuid) -> Option<String> {
        let i = *self.index.get(&id)?;
        (i < self.made_up).then(|| format!("ERP-{:06}", i + 1))
    }

    pub(super) fn ids(&self) -> &[Uuid] {
        &self.order
    }

    /// The customers that came to be after those made up at start, in order.
    fn added(&self) -> &[Uuid] {
        &self.order[self.made_up..]
    }
}

/// splitmix64's finaliser.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One simulated tenant.
pub(super) struct Tenant {
    seed: u64,
    /// Customers as the last accepted PATCH left them.
    customers: HashMap<Uuid, Map<String, Value>>,
    held: Held,
    /// The most bytes the state file of this tenant takes ([`entry_bytes`] of each stored
    /// customer, and the rest of the file).
    bytes: usize,
}

/// What a kept tenant may hold, so its state file can always be written.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    /// Changed customers.
    pub customers: usize,
    /// Bytes of the state file.
    pub bytes: usize,
}

/// The state file's bytes besides its customers: its keys, layout, counts and brackets.
const FRAME_BYTES: usize = 128;
/// The bytes a stored customer adds to the state file besides its JSON: its quoted id, colon
/// and comma among `customers`, and its quoted id and comma in `added`.
const ENTRY_BYTES: usize = 40 + 39;

/// What storing `customer` adds to the state file.
fn entry_bytes(customer: &Map<String, Value>) -> usize {
    /// Counts what is written, keeping none of it: a PATCH may store up to a MiB.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // A map with string keys always serialises; the writer never fails.
    let _ = serde_json::to_writer(&mut count, customer);
    count.0 + ENTRY_BYTES
}

/// The tenant as its state file holds it (JSON).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    /// The layout of this file; a file of another layout is refused, never misread.
    ccbulk_sandbox_tenant: u32,
    /// How many customers were made up at start, and from which seed.
    made_up: usize,
    seed: u64,
    /// Customers listed after the made-up ones, in the order they came to be.
    added: Vec<Uuid>,
    /// Customers as the last accepted PATCH left them.
    customers: HashMap<Uuid, Map<String, Value>>,
}

/// A copy of a tenant as its file holds it ([`Tenant::snapshot`]).
pub(super) struct Snapshot(Stored);

impl Snapshot {
    /// The state file's content.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&self.0)
    }
}

/// The layout `Stored` writes.
const LAYOUT: u32 = 1;

impl Tenant {
    /// A new tenant holding `made_up` customers made up from `seed`.
    pub fn new(made_up: usize, seed: u64) -> Tenant {
        Tenant {
            seed,
            customers: HashMap::new(),
            held: Held::made_up(made_up, seed),
            bytes: FRAME_BYTES,
        }
    }

    /// The customer as a GET returns it: the last accepted PATCH, or the made-up one (with its
    /// `ERP-…` reference if it was made up at start).
    pub fn customer(&self, id: Uuid) -> Map<String, Value> {
        if let Some(c) = self.customers.get(&id) {
            return c.clone();
        }
        let mut c = made_up_customer(id);
        if let Some(reference) = self.held.reference(id) {
            c.insert("internalIdentifier".into(), Value::String(reference));
        }
        c
    }

    /// Stores `customer` as `id`'s current state, and lists it from now on.
    pub fn put(&mut self, id: Uuid, customer: Map<String, Value>) {
        let bytes = self.bytes_with(id, &customer);
        self.store(id, customer, bytes);
    }

    /// The bytes of the state file with `customer` stored as `id`.
    fn bytes_with(&self, id: Uuid, customer: &Map<String, Value>) -> usize {
        let old = self.customers.get(&id).map_or(0, entry_bytes);
        self.bytes - old + entry_bytes(customer)
    }

    /// Stores `customer` as `id`, the file then taking `bytes` ([`Tenant::bytes_with`]).
    fn store(&mut self, id: Uuid, customer: Map<String, Value>, bytes: usize) {
        self.customers.insert(id, customer);
        self.bytes = bytes;
        self.held.hold(id);
    }

    /// [`Tenant::put`], unless the tenant would then be past `limits` (one more changed
    /// customer than it may keep, or a state file too large to write): then why, in words for
    /// the PATCH's answer. Replacing a stored customer by one no larger always fits.
    pub fn put_within(
        &mut self,
        id: Uuid,
        customer: Map<String, Value>,
        limits: Limits,
    ) -> Result<(), String> {
        if !self.customers.contains_key(&id) && self.customers.len() >= limits.customers {
            return Err(format!(
                "The sandbox keeps at most {} changed customers",
                limits.customers
            ));
        }
        // Each customer is serialised once to be measured: a PATCH may store up to a MiB.
        let bytes = self.bytes_with(id, &customer);
        if bytes > limits.bytes {
            return Err(format!(
                "The sandbox keeps at most {} MiB of changed customers, and this one would go past it",
                limits.bytes >> 20
            ));
        }
        self.store(id, customer, bytes);
        Ok(())
    }

    /// How many customers have been stored.
    pub fn stored(&self) -> usize {
        self.customers.len()
    }

    /// The most bytes the tenant's state file takes.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many customers were made up at start.
    pub fn made_up(&self) -> usize {
        self.held.made_up
    }

    /// The ids the list call serves, in its order.
    pub fn listed(&self) -> &[Uuid] {
        self.held.ids()
    }

    /// The state file's content.
    #[cfg(test)]
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        self.snapshot().to_json()
    }

    /// A copy of what the state file holds, to be written after the tenant's lock is let go
    /// (writing it is the slow part).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(Stored {
            ccbulk_sandbox_tenant: LAYOUT,
            made_up: self.held.made_up,
            seed: self.seed,
            added: self.held.added().to_vec(),
            customers: self.customers.clone(),
        })
    }

    /// A tenant from a state file's content, or why it cannot be read.
    pub fn from_json(bytes: &[u8], max_made_up: usize) -> Result<Tenant, String> {
        let stored: Stored = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if stored.ccbulk_sandbox_tenant != LAYOUT {
            return Err(format!(
                "it is of layout {}, this ccbulk reads layout {LAYOUT}",
                stored.ccbulk_sandbox_tenant
            ));
        }
        if stored.made_up > max_made_up {
            return Err(format!(
                "it makes up {} customers, more than {max_made_up}",
                stored.made_up
            ));
        }
        let mut tenant = Tenant::new(stored.made_up, stored.seed);
        for id in stored.added {
            tenant.held.hold(id);
        }
        for (id, customer) in stored.customers {
            tenant.put(id, customer);
        }
        Ok(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_ids() {
        assert_eq!(Held::made_up(5, 7).ids(), Held::made_up(5, 7).ids());
        assert_ne!(Held::made_up(5, 7).ids(), Held::made_up(5, 8).ids());
    }

    #[test]
    fn a_stored_tenant_reads_back_as_it_was() {
        let mut t = Tenant::new(3, 9);
        let made = t.listed()[1];
        let (a, b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
        let mut changed = t.customer(made);
        changed.insert("companyName".into(), Value::String("Changed Ltd".into()));
        t.put(made, changed.clone());
        t.put(b, made_up_customer(b));
        t.put(a, made_up_customer(a));
        let back = Tenant::from_json(&t.to_json().unwrap(), 10).unwrap();
        assert_eq!(back.listed(), t.listed());
        assert_eq!(back.listed()[3..], [b, a], "added in the order they came");
        assert_eq!(back.customer(made), changed);
        assert_eq!(
            back.customer(back.listed()[0])["internalIdentifier"],
            Value::String("ERP-000001".into())
        );
        assert_eq!((back.stored(), back.made_up()), (3, 3));
    }

    #[test]
    fn a_file_of_another_layout_or_shape_is_refused() {
        let t = Tenant::new(2, 0);
        let mut v: Value = serde_json::from_slice(&t.to_json().unwrap()).unwrap();
        v["ccbulk_sandbox_tenant"] = Value::from(2);
        let e = Tenant::from_json(v.to_string().as_bytes(), 10)
            .err()
            .unwrap();
        assert!(e.contains("layout 2"), "{e}");
        assert!(Tenant::from_json(b"{\"customers\": 1}", 10).is_err());
        assert!(Tenant::from_json(b"", 10).is_err());
        let e = Tenant::from_json(&t.to_json().unwrap(), 1).err().unwrap();
        assert!(e.contains("more than 1"), "{e}");
    }

    /// A customer whose name takes about `size` bytes.
    fn sized(id: Uuid, size: usize) -> Map<String, Value> {
        let mut c = made_up_customer(id);
        c.insert("companyName".into(), Value::String("x".repeat(size)));
        c
    }

    /// A kept tenant counts the bytes of its file: PATCHes that would take it past its limit
    /// (count or bytes) are refused, saying which, and the file it writes always fits.
    #[test]
    fn a_tenant_within_limits_always_fits_its_file() {
        let limits = Limits {
            customers: 100,
            bytes: 40 << 10,
        };
        let mut t = Tenant::new(3, 1);
        let mut refused = None;
        for n in 0..100u128 {
            let id = Uuid::from_u128(n + 1);
            match t.put_within(id, sized(id, 4000), limits) {
                Ok(()) => {}
                Err(why) => {
                    refused = Some((n, why));
                    break;
                }
            }
            let written = t.to_json().unwrap().len();
            assert!(written <= t.bytes(), "{written} > {}", t.bytes());
            assert!(t.bytes() <= limits.bytes);
        }
        let (n, why) = refused.expect("refused before 100 customers of 4 KB in 40 KiB");
        assert!((5..10).contains(&n), "{n}");
        assert!(why.contains("MiB of changed customers"), "{why}");
        assert_eq!(t.stored(), n as usize, "the refused one was not stored");
        // A stored customer may be replaced by one no larger, never by a larger one past it.
        let first = Uuid::from_u128(1);
        assert!(t.put_within(first, sized(first, 10), limits).is_ok());
        assert!(t.put_within(first, sized(first, 20_000), limits).is_err());
        assert_eq!(t.customer(first)["companyName"], "x".repeat(10));
        // Read back, it counts the same.
        let back = Tenant::from_json(&t.to_json().unwrap(), 10).unwrap();
        assert_eq!(back.bytes(), t.bytes());

        let few = Limits {
            customers: 2,
            bytes: 1 << 20,
        };
        let mut t = Tenant::new(0, 1);
        for n in 1..=2 {
            t.put_within(Uuid::from_u128(n), sized(Uuid::from_u128(n), 1), few)
                .unwrap();
        }
        let e = t
            .put_within(Uuid::from_u128(3), sized(Uuid::from_u128(3), 1), few)
            .unwrap_err();
        assert!(e.contains("at most 2 changed customers"), "{e}");
        assert!(
            t.put_within(Uuid::from_u128(2), sized(Uuid::from_u128(2), 5), few)
                .is_ok()
        );
    }
}
