//! The streaming import of one CSV body: a reader that decodes rows, a bounded set of write tasks fed through
//! bounded queues, and a stop instant after which everything is cancelled and awaited before returning.

mod budget;
mod reader;
mod task;

pub use reader::{CsvBody, MAX_COLUMNS};

use super::dataset::{Dataset, Header};
use super::ids::IdSecret;
use super::ports::{BatchSink, WritePermit};
use super::tally::{RowPos, Tally};
use super::writer::{BatchWriter, InFlight, RetryPolicy};
use crate::provenance::Provenance;
use reader::RowReader;
use std::sync::Arc;
use std::time::Duration;
use task::WriteTask;
use time::OffsetDateTime;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// Full batches queued per write task, beside the one the reader is filling: how far the reader may run ahead.
const QUEUE_PER_TASK: usize = 2;

/// How reading a body ended. Where to go on from is the tally's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEnd {
    /// The whole file was read.
    Eof,
    /// The stop instant came first, or the run was stopped from outside.
    Deadline,
    /// The header is unusable; nothing was written.
    HeaderRejected(String),
    /// The body could not be read further (e.g. the connection broke).
    ReadFailed { message: String },
    /// The record starting at `at` is longer than the record size limit (an unclosed quote, say): reading stops
    /// there, since where the next record starts cannot be known without reading this one.
    RecordTooLong { at: RowPos },
}

/// Where a run starts.
pub enum Start {
    /// At the beginning of the file, with its header.
    File,
    /// At a row of a file whose header was read before (a resumed import).
    At { row: RowPos, header: Header },
}

/// What a run found: how reading ended, and for a run from the start of the file, where the data begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    pub end: ReadEnd,
    pub data_start: Option<u64>,
}

/// Settings of one pipeline run.
pub struct Pipeline<S, P> {
    pub sink: Arc<S>,
    /// Asked before every batch request; a refusal cancels `stopped`.
    pub permit: Arc<P>,
    /// Cancelled from outside (the lease lost, a newer version's fence): reading and writing stop at once, the
    /// requests in flight are awaited, and the run ends like at the stop instant.
    pub stopped: CancellationToken,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// After the stop instant, how long write tasks may take to finish their current request before being aborted.
    pub grace: Duration,
    pub in_flight: Arc<InFlight>,
    /// The longest record read (bytes).
    pub max_record_bytes: u64,
}

/// Fixed facts of the file, copied into each row's context.
pub struct FileFacts {
    pub provenance: Provenance,
    pub id_secret: IdSecret,
    pub request_id: String,
    pub uploader: Option<String>,
    pub now: OffsetDateTime,
    pub object_time: OffsetDateTime,
}

impl<S: BatchSink, P: WritePermit> Pipeline<S, P> {
    /// Imports every row of `body` (the file from `start` on). Returns only after every task it started has ended.
    ///
    /// # Cancel safety
    /// Not meant to be dropped: it ends by itself at `stop_at` (plus the grace period). If it is dropped anyway, the
    /// `JoinSet` aborts the write tasks, so none outlives it; rows not confirmed stay not reached in the tally.
    pub async fn run<R>(
        &self,
        body: R,
        dataset: &dyn Dataset,
        facts: &FileFacts,
        start: Start,
        stop_at: Instant,
        tally: &Arc<Tally>,
    ) -> RunEnd
    where
        R: AsyncRead + Unpin + Send,
    {
        let (body, header, data_start) = match start {
            Start::File => {
                let mut body = CsvBody::new(body, RowPos::START, self.max_record_bytes, true);
                match timeout_at(stop_at, body.read_header(dataset)).await {
                    Err(_) => return RunEnd::without_data(ReadEnd::Deadline),
                    Ok(Err(message)) => return RunEnd::without_data(ReadEnd::HeaderRejected(message)),
                    Ok(Ok((header, data_start))) => (body, header, Some(data_start)),
                }
            }
            Start::At { row, header } => (CsvBody::new(body, row, self.max_record_bytes, false), header, None),
        };
        let mut reader = RowReader {
            body,
            dataset,
            facts,
            stop_at,
            stopped: self.stopped.clone(),
            tally,
            imported_at: crate::time::rfc3339_millis(facts.now),
        };

        let cancel = self.stopped.child_token();
        let mut tasks = JoinSet::new();
        let mut queues = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency {
            let (tx, rx) = mpsc::channel(QUEUE_PER_TASK);
            queues.push(tx);
            let task = WriteTask {
                alive: self.in_flight.task_started(),
                queue: rx,
                writer: BatchWriter {
                    sink: Arc::clone(&self.sink),
                    permit: Arc::clone(&self.permit),
                    table: dataset.table().to_owned(),
                    key_attributes: dataset.key_attributes(),
                    retry: self.retry,
                    tally: Arc::clone(tally),
                    in_flight: Arc::clone(&self.in_flight),
                    cancel: cancel.clone(),
                },
            };
            tasks.spawn(task.run());
        }

        let end = reader.read_rows(&header, &queues).await;
        drop(queues);
        self.finish_tasks(&mut tasks, &cancel, stop_at).await;
        RunEnd { end, data_start }
    }

    /// Lets the tasks finish until `stop_at`; then cancels them, gives them `grace` to end between requests, and
    /// aborts what is left. Every task has ended when this returns.
    async fn finish_tasks(&self, tasks: &mut JoinSet<()>, cancel: &CancellationToken, stop_at: Instant) {
        if timeout_at(stop_at, join_all(tasks)).await.is_ok() {
            return;
        }
        tracing::warn!("stop time reached; cancelling write tasks");
        cancel.cancel();
        if timeout(self.grace, join_all(tasks)).await.is_err() {
            tracing::warn!("write tasks still busy after the grace period; aborting them");
            tasks.abort_all();
            join_all(tasks).await;
        }
    }
}

impl RunEnd {
    fn without_data(end: ReadEnd) -> Self {
        Self { end, data_start: None }
    }
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result {
            if e.is_panic() {
                // Its rows stay pending and are reported as not reached.
                tracing::error!("a write task panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests;
