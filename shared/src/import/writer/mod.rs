//! Batched writes: up to 25 items per `BatchWriteItem`, unprocessed items and throttling retried with exponential
//! backoff and full jitter, a batch DynamoDB refuses split, rows of a batch that still fails reported one by one.

mod in_flight;
mod retry;

pub use in_flight::{InFlight, TaskGuard, WriteGuard};
pub use retry::RetryPolicy;

use super::ports::{BatchSink, Item};
use super::tally::{RowPos, Tally};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// DynamoDB's limit of requests per `BatchWriteItem`.
pub const BATCH_SIZE: usize = 25;

/// One item to write and the rows it stands for (several when a later row overwrote an earlier one's key).
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub item: Item,
    pub rows: Vec<RowPos>,
}

impl Entry {
    fn rows_of(entries: &[Entry]) -> Vec<RowPos> {
        entries.iter().flat_map(|e| e.rows.iter().copied()).collect()
    }
}

/// Adds an entry to a batch; a second row with the same key replaces the first (DynamoDB refuses duplicate keys in
/// one batch, and the later row is the one that must win).
pub fn add_to_batch(batch: &mut Vec<Entry>, entry: Entry) {
    match batch.iter_mut().find(|e| e.key == entry.key) {
        Some(existing) => {
            existing.item = entry.item;
            existing.rows.extend(entry.rows);
        }
        None => batch.push(entry),
    }
}

/// Writes batches into one table for one import, recording every outcome in the tally.
pub struct BatchWriter<S> {
    pub sink: Arc<S>,
    pub table: String,
    pub retry: RetryPolicy,
    pub tally: Arc<Tally>,
    pub in_flight: Arc<InFlight>,
    pub cancel: CancellationToken,
}

impl<S: BatchSink> BatchWriter<S> {
    /// Writes one batch until every row is written or reported.
    ///
    /// # Cancel safety
    /// On cancellation it stops between attempts; dropped mid-request, the request is abandoned. Either way the rows
    /// not confirmed stay pending in the tally (not reached), so nothing is counted that was not written.
    pub async fn write(&self, batch: Vec<Entry>) {
        let mut queue = VecDeque::from([batch]);
        while let Some(mut pending) = queue.pop_front() {
            let mut last_error: String;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let items = pending.iter().map(|e| e.item.clone()).collect();
                let result = {
                    let _writing = self.in_flight.enter();
                    self.sink.write_batch(&self.table, items).await
                };
                match result {
                    Ok(unprocessed) => {
                        let (retry, done): (Vec<_>, Vec<_>) = pending
                            .into_iter()
                            .enumerate()
                            .partition(|(i, _)| unprocessed.contains(i));
                        let done: Vec<Entry> = done.into_iter().map(|(_, e)| e).collect();
                        self.tally.imported(&Entry::rows_of(&done));
                        pending = retry.into_iter().map(|(_, e)| e).collect();
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
