//! Batched writes: up to 25 items per `BatchWriteItem`, unprocessed items and throttling retried with exponential
//! backoff and full jitter, a batch DynamoDB refuses split, rows of a batch that still fails reported one by one.

mod in_flight;
mod retry;

pub use in_flight::{InFlight, TaskGuard, WriteGuard};
pub use retry::RetryPolicy;

use super::ports::{BatchSink, Item, WritePermit};
use super::tally::{RowPos, Tally};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// DynamoDB's limit of requests per `BatchWriteItem`.
pub const BATCH_SIZE: usize = 25;

/// One item to write and the row it stands for, with the earlier rows of the same key it overwrote in its batch.
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub item: Item,
    pub row: RowPos,
    /// Empty unless a later row took this key's place in a batch (an empty `Vec` allocates nothing).
    pub overwritten: Vec<RowPos>,
}

impl Entry {
    pub fn new(key: String, item: Item, row: RowPos) -> Self {
        Self {
            key,
            item,
            row,
            overwritten: Vec::new(),
        }
    }

    fn rows_of(entries: &[Entry]) -> Vec<RowPos> {
        entries
            .iter()
            .flat_map(|e| e.overwritten.iter().copied().chain([e.row]))
            .collect()
    }
}

/// Adds an entry to a batch; a second row with the same key replaces the first (DynamoDB refuses duplicate keys in
/// one batch, and the later row is the one that must win).
pub fn add_to_batch(batch: &mut Vec<Entry>, entry: Entry) {
    match batch.iter_mut().find(|e| e.key == entry.key) {
        Some(existing) => {
            existing.item = entry.item;
            existing.overwritten.push(existing.row);
            existing.overwritten.extend(entry.overwritten);
            existing.row = entry.row;
        }
        None => batch.push(entry),
    }
}

/// Writes batches into one table for one import, recording every outcome in the tally.
pub struct BatchWriter<S, P> {
    pub sink: Arc<S>,
    /// Asked before every request: whether this import may still write (its lease held, no newer version).
    pub permit: Arc<P>,
    pub table: String,
    /// The table's primary-key attributes, by which unprocessed items are matched to the entries.
    pub key_attributes: &'static [&'static str],
    pub retry: RetryPolicy,
    pub tally: Arc<Tally>,
    pub in_flight: Arc<InFlight>,
    pub cancel: CancellationToken,
}

impl<S, P> BatchWriter<S, P> {
    /// Unprocessed items are matched by primary key only: the key is what identifies an item in the table, and a
    /// backend may hand back an item whose other attributes are encoded differently from what was sent (a number's
    /// text, a set's order); comparing whole items would then count an unwritten row as imported.
    fn same_key(&self, a: &Item, b: &Item) -> bool {
        debug_assert!(!self.key_attributes.is_empty(), "a table without key attributes");
        self.key_attributes
            .iter()
            .all(|name| match (a.get(*name), b.get(*name)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            })
    }
}

impl<S: BatchSink, P: WritePermit> BatchWriter<S, P> {
    /// Writes one batch until every row is written or reported.
    ///
    /// # Cancel safety
    /// On cancellation, or when the permit is refused, it stops between attempts; dropped mid-request, the request
    /// is abandoned. Either way the rows not confirmed stay pending in the tally (not reached), so nothing is counted
    /// that was not written.
    pub async fn write(&self, batch: Vec<Entry>) {
        let mut queue = VecDeque::from([batch]);
        while let Some(mut pending) = queue.pop_front() {
            let mut last_error: String;
            let mut attempt = 0;
            loop {
                attempt += 1;
                // Refused: the rows stay pending (not reached); the permit has stopped the whole run.
                if !self.permit.check().await {
                    return;
                }
                // The one copy of the items: the sink moves it into its request; the entries keep theirs for a retry.
                let items = pending.iter().map(|e| e.item.clone()).collect();
                let result = {
                    let _writing = self.in_flight.enter();
                    self.sink.write_batch(&self.table, items).await
                };
                match result {
                    Ok(unprocessed) => {
                        let unmatched = unprocessed
                            .iter()
                            .filter(|u| !pending.iter().any(|e| self.same_key(&e.item, u)))
                            .count();
                        if unmatched > 0 {
                            // Which rows were left is unknown: none counts as written, all are sent again (a put
                            // of the same item twice stores it once).
                            tracing::warn!(
                                unmatched,
                                "DynamoDB left items unprocessed that match no item of the batch; resending it whole"
                            );
                        } else {
                            let (retry, done): (Vec<_>, Vec<_>) = pending
                                .into_iter()
                                .partition(|e| unprocessed.iter().any(|u| self.same_key(&e.item, u)));
                            self.tally.imported(&Entry::rows_of(&done));
                            pending = retry;
                        }
                        if pending.is_empty() {
                            break;
                        }
                        last_error = "left unprocessed by DynamoDB (throttled)".into();
                    }
                    Err(e) if e.retryable => last_error = e.message,
                    Err(e) if pending.len() > 1 => {
                        // One bad item fails the whole batch: write them one by one so only the bad rows are reported.
                        tracing::warn!(error = %e.message, "batch rejected; retrying its items one by one");
                        queue.extend(pending.into_iter().map(|entry| vec![entry]));
                        break;
                    }
                    Err(e) => {
                        self.tally.write_failed(&Entry::rows_of(&pending), &e.message);
                        break;
                    }
                }
                if attempt >= self.retry.max_attempts {
                    let message = format!("not written after {attempt} attempts: {last_error}");
                    self.tally.write_failed(&Entry::rows_of(&pending), &message);
                    break;
                }
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return,
                    _ = tokio::time::sleep(self.retry.delay(attempt)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn entry(key: &str, value: &str, line: u64) -> Entry {
        let item = Item::from([("v".to_owned(), AttributeValue::S(value.to_owned()))]);
        let row = RowPos {
            line,
            byte_offset: line * 10,
        };
        Entry::new(key.to_owned(), item, row)
    }

    #[test]
    fn a_batch_keeps_the_last_item_of_a_key_and_every_row_it_stands_for() {
        let mut batch = Vec::new();
        for (key, value, line) in [("a", "1", 2), ("b", "2", 3), ("a", "3", 4), ("a", "4", 5)] {
            add_to_batch(&mut batch, entry(key, value, line));
        }
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].item["v"], AttributeValue::S("4".into()));
        let lines: Vec<u64> = Entry::rows_of(&batch).iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4, 5, 3]);
    }
}
