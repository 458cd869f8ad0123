//! Where the workers take their rows: the input channel, read in batches, and per-customer order
//! (rows of one customer run one after another, in file order, never two at a time), with the
//! rows parked behind a busy customer bounded.

use std::collections::{HashMap, VecDeque, hash_map::Entry};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::input::Row;

/// Rows parked behind a busy customer before the workers stop reading input.
const MAX_PARKED: usize = 10_000;

/// Rows taken off the input channel at a time: the reader, blocked on a full channel, is then
/// woken once per batch rather than once per row (a context switch per row, BENCHMARKS.md).
const INPUT_BATCH: usize = 64;

/// The rows waiting for the workers, who take them themselves: the input, and for each customer
/// with a row in flight the rows parked behind it. Rows of one customer never run at once, and
/// run in file order: a row whose customer is busy is parked, and the worker that finishes the
/// customer's row takes the next one. (The workers used to get rows from a dispatcher task: a
/// task hop and two channel sends per row, BENCHMARKS.md.)
pub(super) struct Rows {
    input: tokio::sync::Mutex<Incoming>,
    busy: std::sync::Mutex<Busy>,
    /// Woken when a parked row is taken while the parking was full.
    unparked: tokio::sync::Notify,
}

struct Incoming {
    rx: mpsc::Receiver<Row>,
    /// The rest of the last batch, last row first.
    buf: Vec<Row>,
}

#[derive(Default)]
struct Busy {
    queues: HashMap<Uuid, VecDeque<Row>>,
    parked: usize,
}

/// The row's customer: its customerId, or with `--key internalIdentifier` the stand-in the
/// input made from the reference (the real id is looked up when the row runs). Invalid rows go
/// from the reader straight to the writer, so the nil id of one is never waited on.
pub(super) fn customer_of(row: &Row) -> Uuid {
    row.mapped
        .as_ref()
        .map(|m| m.customer_id)
        .unwrap_or_default()
}

impl Rows {
    pub(super) fn new(rx: mpsc::Receiver<Row>) -> Rows {
        Rows {
            input: tokio::sync::Mutex::new(Incoming {
                rx,
                buf: Vec::with_capacity(INPUT_BATCH),
            }),
            busy: std::sync::Mutex::new(Busy::default()),
            unparked: tokio::sync::Notify::new(),
        }
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, Busy> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next input row whose customer has no row in flight (the ones before it whose customer
    /// is busy are parked). `None` at the end of the input or when the run stops. While
    /// [`MAX_PARKED`] rows are parked, no more input is read: memory stays bounded when one
    /// customer fills the file.
    pub(super) async fn take(&self, cancel: &CancellationToken) -> Option<Row> {
        loop {
            loop {
                let room = self.unparked.notified();
                if self.busy().parked < MAX_PARKED {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return None,
                    _ = room => {}
                }
            }
            let row = {
                let mut input = self.input.lock().await;
                let Incoming { rx, buf } = &mut *input;
                if buf.is_empty() {
                    // Only here can the wait be long (a slow producer on `-`): watch for a stop.
                    let got = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return None,
                        got = rx.recv_many(buf, INPUT_BATCH) => got,
                    };
                    // Closed and empty (the input ended): every later call gets 0 at once too.
                    if got == 0 {
                        return None;
                    }
                    buf.reverse();
                }
                buf.pop()?
            };
            let id = customer_of(&row);
            let mut busy = self.busy();
            let Busy { queues, parked } = &mut *busy;
            match queues.entry(id) {
                Entry::Occupied(mut q) => {
                    q.get_mut().push_back(row);
                    *parked += 1;
                }
                Entry::Vacant(v) => {
                    v.insert(VecDeque::new());
                    return Some(row);
                }
            }
        }
    }

    /// The customer's row is done: its next parked row, which keeps the customer busy, or `None`
    /// and the customer is free.
    pub(super) fn finished(&self, id: Uuid) -> Option<Row> {
        let mut busy = self.busy();
        let Busy { queues, parked } = &mut *busy;
        let Some(row) = queues.get_mut(&id).and_then(VecDeque::pop_front) else {
            queues.remove(&id);
            return None;
        };
        let was_full = *parked >= MAX_PARKED;
        *parked -= 1;
        drop(busy);
        if was_full {
            self.unparked.notify_waiters();
        }
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::{Cell, Field};

    #[tokio::test]
    async fn rows_of_a_busy_customer_wait_and_follow_in_order() {
        let (a, b) = (
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3302",
        );
        let text = format!("customerId,city\n{a},A1\n{a},A2\n{b},B1\n{a},A3\n{b},B2\n");
        let mut input = crate::input::Input::from_reader(
            Box::new(std::io::Cursor::new(text.into_bytes())),
            "t.csv",
            crate::input::InputOptions::default(),
        )
        .unwrap();
        let (tx, rx) = mpsc::channel(16);
        while let Some(row) = input.next_row().unwrap() {
            tx.send(row).await.unwrap();
        }
        drop(tx);
        let rows = Rows::new(rx);
        let cancel = CancellationToken::new();
        fn city(r: &Row) -> Cell<'_> {
            r.cell(Field::City)
        }
        let first = rows.take(&cancel).await.unwrap();
        assert_eq!(city(&first), Cell::Set("A1"));
        // A2 waits behind A1; B1 may go at once; then A3 and B2 wait too, and the input ends.
        let second = rows.take(&cancel).await.unwrap();
        assert_eq!(city(&second), Cell::Set("B1"));
        assert!(rows.take(&cancel).await.is_none());
        assert!(rows.take(&cancel).await.is_none(), "the end stays the end");
        assert_eq!(rows.busy().parked, 3);
        let (ida, idb) = (customer_of(&first), customer_of(&second));
        let next = rows.finished(ida).unwrap();
        assert_eq!(city(&next), Cell::Set("A2"));
        let next = rows.finished(idb).unwrap();
        assert_eq!(city(&next), Cell::Set("B2"));
        let next = rows.finished(ida).unwrap();
        assert_eq!(city(&next), Cell::Set("A3"));
        assert!(rows.finished(ida).is_none());
        assert!(rows.finished(idb).is_none());
        assert_eq!(rows.busy().parked, 0);
        assert!(rows.busy().queues.is_empty());
        // A stop ends the wait for input.
        let (_tx, rx) = mpsc::channel::<Row>(1);
        let rows = Rows::new(rx);
        cancel.cancel();
        assert!(rows.take(&cancel).await.is_none());
    }
}
