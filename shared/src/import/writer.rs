//! Batched writes: up to 25 items per `BatchWriteItem`, unprocessed items and throttling retried with exponential
//! backoff and full jitter, rows of a batch that still fails reported one by one.

use super::tally::{RowPos, Tally};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// DynamoDB's limit of requests per `BatchWriteItem`.
pub const BATCH_SIZE: usize = 25;

pub type Item = HashMap<String, AttributeValue>;

/// Where batches go. DynamoDB in production; tests can put a slow or failing sink in its place.
pub trait BatchSink: Send + Sync + 'static {
    /// Writes the items; returns the indexes of those left unprocessed.
    fn write_batch(&self, table: &str, items: Vec<Item>) -> impl Future<Output = Result<Vec<usize>, SinkError>> + Send;
}

#[derive(Debug, Clone)]
pub struct SinkError {
    /// Throttling, a 5xx, a timeout or a broken connection: the same batch may succeed later.
    pub retryable: bool,
    pub message: String,
}

pub struct DynamoSink {
    client: aws_sdk_dynamodb::Client,
}

impl DynamoSink {
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        Self { client }
    }
}

impl BatchSink for DynamoSink {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<usize>, SinkError> {
        let requests: Vec<WriteRequest> = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item.clone())).build();
                put.map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| SinkError {
                retryable: false,
                message: format!("cannot build the batch: {e}"),
            })?;
        let output = self
            .client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| SinkError {
                retryable: is_retryable(&e),
                message: format!(
                    "BatchWriteItem on {table} failed: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ),
            })?;
        let unprocessed = output
            .unprocessed_items
            .unwrap_or_default()
            .remove(table)
            .unwrap_or_default();
        // DynamoDB returns the unprocessed requests themselves; find them among ours.
        Ok(unprocessed
            .iter()
            .filter_map(|request| request.put_request.as_ref())
            .filter_map(|put| items.iter().position(|item| *item == put.item))
            .collect())
    }
}

fn is_retryable<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            matches!(
                service.err().code(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
            )
        }
        _ => false,
    }
}

/// How often and how patiently a batch is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
        }
    }

    /// Full jitter: uniformly random up to `base * 2^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        ceiling.mul_f64(fastrand::f64())
    }
}

/// Writes in flight now and at most, and write tasks alive, across all write tasks of an import.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
    tasks: AtomicUsize,
}

impl InFlight {
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Write tasks whose future has not been dropped yet (finished, cancelled or aborted tasks are not counted).
    pub fn live_tasks(&self) -> usize {
        self.tasks.load(Ordering::SeqCst)
    }

    /// Counts a task as alive until the returned guard, owned by the task's future, is dropped.
    pub fn task_started(self: &Arc<Self>) -> TaskGuard {
        self.tasks.fetch_add(1, Ordering::SeqCst);
        TaskGuard(Arc::clone(self))
    }

    fn enter(self: &Arc<Self>) -> InFlightGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }
}

/// Leaves the gauge on drop, so a cancelled or aborted write is never counted as still running.
struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps a write task counted as alive while its future exists.
pub struct TaskGuard(Arc<InFlight>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One item to write and the rows it stands for (several when a later row overwrote an earlier one's key).
#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub item: Item,
    pub rows: Vec<RowPos>,
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

/// Writes one batch until every row is written or reported. On cancellation it stops between attempts; rows not
/// written stay pending in the tally (not reached).
pub async fn write_batch<S: BatchSink>(
    sink: &S,
    table: &str,
    batch: Vec<Entry>,
    policy: RetryPolicy,
    tally: &Tally,
    in_flight: &Arc<InFlight>,
    cancel: &CancellationToken,
) {
    let mut queue = VecDeque::from([batch]);
    while let Some(mut pending) = queue.pop_front() {
        let mut last_error: String;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let items = pending.iter().map(|e| e.item.clone()).collect();
            let result = {
                let _writing = in_flight.enter();
                sink.write_batch(table, items).await
            };
            match result {
                Ok(unprocessed) => {
                    let (retry, done): (Vec<_>, Vec<_>) = pending
                        .into_iter()
                        .enumerate()
                        .partition(|(i, _)| unprocessed.contains(i));
                    let done_rows: Vec<RowPos> = done.into_iter().flat_map(|(_, e)| e.rows).collect();
                    tally.imported(&done_rows);
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
                    let rows: Vec<RowPos> = pending.iter().flat_map(|e| e.rows.iter().copied()).collect();
                    tally.write_failed(&rows, &e.message);
                    break;
                }
            }
            if attempt >= policy.max_attempts {
                let rows: Vec<RowPos> = pending.iter().flat_map(|e| e.rows.iter().copied()).collect();
                tally.write_failed(&rows, &format!("not written after {attempt} attempts: {last_error}"));
                break;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(policy.delay(attempt)) => {}
            }
        }
    }
}
