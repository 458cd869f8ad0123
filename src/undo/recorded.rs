//! Which fields of which customers the undo file already restores (a bit per `Field::index`),
//! kept in bounded memory and exactly.
//!
//! Why bounded: a map entry for every customer ever written grew without limit (about 50 bytes a
//! customer with the table's growth, 94 MB peak RSS at a million customers), and a run may have
//! ten million rows. Why exact: a wrong "already restored" loses the way back for a field, a wrong
//! "not yet" writes a second line that restores an in-between value. So no fingerprints or Bloom
//! filters: every answer compares the full 128-bit customer id.
//!
//! The shape: at most `cap` entries in a hash map (an entry is an 18-byte `(Uuid, u16)` plus a
//! control byte; [`CAP`] fills a 2^18-bucket table, about 5 MB, which never grows). When it is
//! full, its entries are sorted (a transient 18 bytes each, about 4 MB) and merged with the one
//! sorted run on disk into a new run, and the map is cleared. The run is an anonymous temporary
//! file next to the undo file (deleted by the OS when dropped, even after a crash) holding 18
//! bytes per distinct customer (16-byte id in the UUID's own byte order, which is its sort order,
//! and the mask little endian): 180 MB at ten million customers, twice that while a merge writes
//! the next run. In memory the run costs only its sparse index, the first id of every block of
//! [`BLOCK`] records (16 bytes per 256 customers). A lookup that misses the map costs one read of
//! one block (at most 4.6 KB, usually from the page cache) and a binary search in it. Each spill
//! rewrites the whole run: sequential I/O that adds up to a few GB over ten million customers.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Map entries before a spill: 7/8 of 2^18, the most a table of 2^18 buckets holds without
/// growing (growing would briefly hold the old and the new table).
pub const CAP: usize = 229_376;
/// Records per block of the run: the unit of one lookup read.
const BLOCK: usize = 256;
/// Bytes per run record: the id, then the mask.
const RECORD: usize = 18;

// The per-entry numbers in the module doc.
const _: () = assert!(size_of::<(Uuid, u16)>() == RECORD);

/// Fields already restored, per customer. [`add`](Recorded::add) ORs bits in and answers exactly
/// what was there before.
pub struct Recorded {
    /// Newer than the run: a key's mask here already includes the run's bits.
    map: HashMap<Uuid, u16>,
    cap: usize,
    /// Where the run file goes (the undo file's directory: the same disk, cleaned up by the OS).
    dir: PathBuf,
    run: Option<Run>,
}

/// One sorted file of records with unique ids, and its sparse index.
struct Run {
    file: File,
    /// Records in the file.
    len: u64,
    /// The first id of every block of `BLOCK` records.
    index: Vec<Uuid>,
}

impl Recorded {
    /// An empty set that keeps at most `cap` (at least 1) entries in memory and spills to a
    /// temporary file in `dir`.
    pub fn new(dir: &Path, cap: usize) -> Recorded {
        let cap = cap.max(1);
        Recorded {
            map: HashMap::with_capacity(cap),
            cap,
            dir: dir.to_path_buf(),
            run: None,
        }
    }

    /// The fields of `id` already restored (0 for a customer never added). The writer looks up
    /// and records in one [`add`](Recorded::add); a resume asks with this whether the file it
    /// appends to holds a customer at all.
    pub fn get(&self, id: Uuid) -> io::Result<u16> {
        match self.map.get(&id) {
            Some(&bits) => Ok(bits),
            None => self.run.as_ref().map_or(Ok(0), |run| run.get(id)),
        }
    }

    /// ORs `bits` into the fields of `id`; returns the fields it had before. On an error the set
    /// is as it was.
    pub fn add(&mut self, id: Uuid, bits: u16) -> io::Result<u16> {
        if let Some(seen) = self.map.get_mut(&id) {
            let before = *seen;
            *seen |= bits;
            return Ok(before);
        }
        let before = self.run.as_ref().map_or(Ok(0), |run| run.get(id))?;
        if before | bits != before {
            if self.map.len() >= self.cap {
                self.spill()?;
            }
            self.map.insert(id, before | bits);
        }
        Ok(before)
    }

    /// Merges the map into a new run and clears it. The old run and the map stay untouched until
    /// the new run is complete, so a failure loses nothing.
    fn spill(&mut self) -> io::Result<()> {
        let mut fresh: Vec<(Uuid, u16)> = self.map.iter().map(|(&k, &v)| (k, v)).collect();
        fresh.sort_unstable_by_key(|&(k, _)| k);
        let mut out = BufWriter::with_capacity(1 << 16, tempfile::tempfile_in(&self.dir)?);
        let mut index = Vec::new();
        let mut len = 0u64;
        let mut put = |(id, bits): (Uuid, u16)| -> io::Result<()> {
            if len.is_multiple_of(BLOCK as u64) {
                index.push(id);
            }
            len += 1;
            out.write_all(id.as_bytes())?;
            out.write_all(&bits.to_le_bytes())
        };
        let mut old = RunReader::new(self.run.as_ref())?;
        let mut a = old.next()?;
        let mut fresh = fresh.into_iter().peekable();
        loop {
            let rec = match (a, fresh.peek().copied()) {
                (None, None) => break,
                (Some(o), None) => {
                    a = old.next()?;
                    o
                }
                (None, Some(f)) => {
                    fresh.next();
                    f
                }
                (Some(o), Some(f)) => match o.0.cmp(&f.0) {
                    std::cmp::Ordering::Less => {
                        a = old.next()?;
                        o
                    }
                    std::cmp::Ordering::Greater => {
                        fresh.next();
                        f
                    }
                    std::cmp::Ordering::Equal => {
                        a = old.next()?;
                        fresh.next();
                        (o.0, o.1 | f.1)
                    }
                },
            };
            put(rec)?;
        }
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        self.run = Some(Run { file, len, index });
        self.map.clear();
        Ok(())
    }
}

impl Run {
    /// The mask of `id` in the run: one block read, then a binary search.
    fn get(&self, id: Uuid) -> io::Result<u16> {
        let block = match self.index.partition_point(|first| *first <= id) {
            0 => return Ok(0),
            n => n - 1,
        };
        let start = (block * BLOCK) as u64;
        let count = (self.len - start).min(BLOCK as u64) as usize;
        let mut buf = [0u8; BLOCK * RECORD];
        let buf = &mut buf[..count * RECORD];
        let mut file = &self.file;
        file.seek(SeekFrom::Start(start * RECORD as u64))?;
        file.read_exact(buf)?;
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let rec = &buf[mid * RECORD..(mid + 1) * RECORD];
            match rec[..16].cmp(id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(u16::from_le_bytes([rec[16], rec[17]])),
            }
        }
        Ok(0)
    }
}

/// Streams the records of a run in order (nothing for no run).
struct RunReader<'a> {
    r: Option<BufReader<&'a File>>,
    left: u64,
}

impl<'a> RunReader<'a> {
    fn new(run: Option<&'a Run>) -> io::Result<RunReader<'a>> {
        let Some(run) = run else {
            return Ok(RunReader { r: None, left: 0 });
        };
        let mut file = &run.file;
        file.seek(SeekFrom::Start(0))?;
        Ok(RunReader {
            r: Some(BufReader::with_capacity(1 << 16, file)),
            left: run.len,
        })
    }

    fn next(&mut self) -> io::Result<Option<(Uuid, u16)>> {
        let Some(r) = self.r.as_mut().filter(|_| self.left > 0) else {
            return Ok(None);
        };
        let mut rec = [0u8; RECORD];
        r.read_exact(&mut rec)?;
        self.left -= 1;
        let mut id = [0u8; 16];
        id.copy_from_slice(&rec[..16]);
        Ok(Some((
            Uuid::from_bytes(id),
            u16::from_le_bytes([rec[16], rec[17]]),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(rng: &mut fastrand::Rng) -> Uuid {
        Uuid::from_u128(rng.u128(..))
    }

    #[test]
    fn answers_like_a_hash_map_across_spills() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut set = Recorded::new(dir.path(), 64);
        let mut reference: HashMap<Uuid, u16> = HashMap::new();
        // Some hot ids come back many times, before and after they were spilled; the rest are
        // mostly new. The extremes test the first and last blocks of the run.
        let hot: Vec<Uuid> = (0..20).map(|_| id(&mut rng)).collect();
        let mut ids: Vec<Uuid> = vec![Uuid::nil(), Uuid::max()];
        for step in 0..6000 {
            let key = match rng.u8(..10) {
                0..=2 => hot[rng.usize(..hot.len())],
                3 if !ids.is_empty() => ids[rng.usize(..ids.len())],
                _ => {
                    let k = id(&mut rng);
                    ids.push(k);
                    k
                }
            };
            // Zero bits too: an add that changes nothing must not disturb anything.
            let bits = if rng.u8(..8) == 0 {
                0
            } else {
                1 << rng.u8(..15)
            };
            let want = reference.get(&key).copied().unwrap_or(0);
            assert_eq!(set.add(key, bits).unwrap(), want, "step {step}");
            *reference.entry(key).or_default() |= bits;
            if step % 500 == 499 {
                for (&k, &v) in &reference {
                    assert_eq!(set.get(k).unwrap(), v, "step {step}");
                }
                for _ in 0..500 {
                    let k = id(&mut rng);
                    if !reference.contains_key(&k) {
                        assert_eq!(set.get(k).unwrap(), 0);
                    }
                }
            }
        }
        let run = set.run.as_ref().unwrap();
        assert!(run.index.len() > 10, "spilled into many blocks");
        assert!(set.map.len() <= 64);
        let in_run_or_map: usize = reference.values().filter(|&&v| v != 0).count();
        assert!(run.len as usize <= in_run_or_map);
    }

    #[test]
    fn the_run_is_sorted_unique_and_merges_equal_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = Recorded::new(dir.path(), 2);
        let (a, b, c) = (Uuid::from_u128(3), Uuid::from_u128(1), Uuid::from_u128(2));
        set.add(a, 1).unwrap();
        set.add(b, 2).unwrap();
        set.add(c, 4).unwrap(); // spills a, b
        set.add(a, 8).unwrap(); // a: 1 from the run, now 9 in the map
        set.add(b, 16).unwrap(); // spills c, a: the run has b=2, a=9 merged, c=4
        let mut all = Vec::new();
        let mut r = RunReader::new(set.run.as_ref()).unwrap();
        while let Some(rec) = r.next().unwrap() {
            all.push(rec);
        }
        assert_eq!(all, vec![(b, 2), (c, 4), (a, 9)]);
        assert_eq!(set.get(b).unwrap(), 18);
        assert_eq!(set.get(Uuid::from_u128(4)).unwrap(), 0);
        assert_eq!(set.get(Uuid::nil()).unwrap(), 0);
    }
}
