//! The bytes of rows between the reader and the results writer, bounded: the channels and the
//! parking behind busy customers count rows, and a thousand rows of 1 MiB each are a gigabyte.
//! The reader takes a row's size from the budget before handing the row on and waits while it
//! is spent; the row gives it back when it is dropped (written, or given up).

use std::sync::{Arc, Condvar, Mutex};

/// Bytes of rows alive at once, at most (one row larger than this still goes, alone).
pub const ROW_BYTES: usize = 32 << 20;

/// A shared budget of bytes.
#[derive(Debug)]
pub struct Budget {
    used: Mutex<Used>,
    freed: Condvar,
    limit: usize,
}

/// The bytes held, and how many takers wait for some to be given back: a row given back wakes
/// them only if there are any (a wake-up is a system call, and rows are given back one by one).
#[derive(Debug, Default)]
struct Used {
    bytes: usize,
    waiting: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: Mutex::new(Used::default()),
            freed: Condvar::new(),
            limit,
        })
    }

    /// Takes `bytes`, waiting (on this blocking thread) until they fit; a single take larger
    /// than the whole budget waits until nothing else is held.
    pub fn take(self: &Arc<Self>, bytes: usize) -> Held {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while used.bytes > 0 && used.bytes + bytes > self.limit {
            used.waiting += 1;
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
            used.waiting -= 1;
        }
        used.bytes += bytes;
        Held {
            budget: Some(self.clone()),
            bytes,
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

/// Bytes taken from a [`Budget`], given back when dropped.
#[derive(Debug, Default)]
pub struct Held {
    budget: Option<Arc<Budget>>,
    bytes: usize,
}

impl Clone for Held {
    /// A copy of a row holds nothing: the original still accounts for it.
    fn clone(&self) -> Self {
        Held::default()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(budget) = self.budget.take() else {
            return;
        };
        let mut used = budget.used.lock().unwrap_or_else(|e| e.into_inner());
        used.bytes -= self.bytes;
        let waiting = used.waiting > 0;
        drop(used);
        if waiting {
            budget.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_budget_waits_until_bytes_are_given_back() {
        let budget = Budget::new(100);
        let a = budget.take(60);
        let big = budget.take(0);
        drop(big);
        let (tx, rx) = std::sync::mpsc::channel();
        let b2 = budget.clone();
        let waiter = std::thread::spawn(move || {
            let held = b2.take(60);
            tx.send(()).unwrap();
            held
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(100))
                .is_err(),
            "waits while 60 + 60 > 100"
        );
        drop(a);
        rx.recv().unwrap();
        let held = waiter.join().unwrap();
        assert_eq!(budget.used(), 60);
        // Larger than the whole budget: goes once nothing else is held.
        drop(held);
        let huge = budget.take(500);
        assert_eq!(budget.used(), 500);
        let copy = huge.clone();
        drop(huge);
        assert_eq!(budget.used(), 0);
        drop(copy);
        assert_eq!(budget.used(), 0);
    }
}
