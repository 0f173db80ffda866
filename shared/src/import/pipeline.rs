//! The streaming import of one CSV body: a reader that decodes rows, a bounded set of write tasks fed through
//! bounded queues, and a stop instant after which everything is cancelled and awaited before returning.

use super::dataset::{Dataset, Header, Row, RowContext};
use super::lines::{LineCounting, LineIndex};
use super::tally::{RowPos, Tally};
use super::writer::{add_to_batch, write_batch, BatchSink, Entry, InFlight, RetryPolicy, TaskGuard, BATCH_SIZE};
use crate::provenance::Provenance;
use crate::questionnaire::{Violation, ViolationCode};
use csv_async::{AsyncReaderBuilder, ByteRecord};
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;

/// Rows queued per write task beyond the batch it is filling: how far the reader may run ahead.
const QUEUE_PER_TASK: usize = 2 * BATCH_SIZE;

/// How reading a body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEnd {
    /// The whole file was read.
    Eof,
    /// The stop instant came first; `next` is the first row not read.
    Deadline { next: RowPos },
    /// The header is unusable; nothing was written.
    HeaderRejected(String),
    /// The body could not be read further (e.g. the connection broke); `next` is the first row not read.
    ReadFailed { next: RowPos, message: String },
}

/// Settings of one pipeline run.
pub struct Pipeline<S> {
    pub sink: Arc<S>,
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// After the stop instant, how long write tasks may take to finish their current request before being aborted.
    pub grace: Duration,
    pub in_flight: Arc<InFlight>,
}

/// Fixed facts of the file, copied into each row's context.
pub struct FileFacts {
    pub provenance: Provenance,
    pub request_id: String,
    pub uploader: Option<String>,
    pub now: OffsetDateTime,
    pub object_time: OffsetDateTime,
}

impl<S: BatchSink> Pipeline<S> {
    /// Imports every row of `body`. Returns only after every task it started has ended.
    pub async fn run<R>(
        &self,
        body: R,
        dataset: &dyn Dataset,
        facts: &FileFacts,
        stop_at: Instant,
        tally: &Arc<Tally>,
    ) -> ReadEnd
    where
        R: AsyncRead + Unpin + Send,
    {
        let (body, lines) = LineCounting::new(body);
        let mut reader = AsyncReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .create_reader(body);
        let header = match timeout_at(stop_at, read_header(&mut reader, dataset)).await {
            Err(_) => return ReadEnd::Deadline { next: start_of_file() },
            Ok(Err(message)) => return ReadEnd::HeaderRejected(message),
            Ok(Ok(header)) => header,
        };

        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut queues = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency {
            let (tx, rx) = mpsc::channel(QUEUE_PER_TASK);
            queues.push(tx);
            let alive = self.in_flight.task_started();
            tasks.spawn(write_task(
                alive,
                rx,
                dataset.table().to_owned(),
                Arc::clone(&self.sink),
                self.retry,
                Arc::clone(tally),
                Arc::clone(&self.in_flight),
                cancel.clone(),
            ));
        }

        let end = read_rows(&mut reader, &lines, &header, dataset, facts, &queues, stop_at, tally).await;
        drop(queues);
        self.finish_tasks(&mut tasks, &cancel, stop_at).await;
        end
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

fn start_of_file() -> RowPos {
    RowPos {
        line: 1,
        byte_offset: 0,
    }
}

fn position_of(pos: &csv_async::Position, lines: &LineIndex) -> RowPos {
    RowPos {
        line: lines.line_at(pos.byte()),
        byte_offset: pos.byte(),
    }
}

async fn read_header<R: AsyncRead + Unpin + Send>(
    reader: &mut csv_async::AsyncReader<R>,
    dataset: &dyn Dataset,
) -> Result<Header, String> {
    let raw = reader
        .byte_headers()
        .await
        .map_err(|e| format!("the header cannot be read: {e}"))?;
    if raw.is_empty() || (raw.len() == 1 && raw[0].is_empty()) {
        return Err("the file is empty; a header row naming the columns is required".into());
    }
    let names = raw
        .iter()
        .map(|name| std::str::from_utf8(name).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "the header is not valid UTF-8".to_owned())?;
    let header = Header::new(names)?;
    dataset.check_header(&header)?;
    Ok(header)
}

#[allow(clippy::too_many_arguments)]
async fn read_rows<R: AsyncRead + Unpin + Send>(
    reader: &mut csv_async::AsyncReader<R>,
    lines: &LineIndex,
    header: &Header,
    dataset: &dyn Dataset,
    facts: &FileFacts,
    queues: &[mpsc::Sender<Entry>],
    stop_at: Instant,
    tally: &Tally,
) -> ReadEnd {
    let mut record = ByteRecord::new();
    loop {
        // Where the next row starts; turned into a line number only when reading stops there.
        let next = reader.position().clone();
        let read = tokio::select! {
            biased;
            _ = sleep_until(stop_at) => return ReadEnd::Deadline { next: position_of(&next, lines) },
            read = reader.read_byte_record(&mut record) => read,
        };
        match read {
            Ok(false) => return ReadEnd::Eof,
            Ok(true) => {}
            Err(e) => {
                return ReadEnd::ReadFailed {
                    next: position_of(&next, lines),
                    message: e.to_string(),
                }
            }
        }
        let row = position_of(record.position().unwrap_or(&next), lines);
        tally.read();
        let entry = match decode_record(&record, header, dataset, facts, row) {
            Ok(entry) => entry,
            Err(violations) => {
                tally.reject(row, &violations);
                continue;
            }
        };
        tally.dispatched(row);
        let queue = &queues[task_for(&entry.key, queues.len())];
        tokio::select! {
            biased;
            // The row stays pending: not reached, and the resume point is at or before it.
            _ = sleep_until(stop_at) => return ReadEnd::Deadline { next: position_of(reader.position(), lines) },
            // A closed queue means its task panicked; the row stays pending likewise.
            _ = queue.send(entry) => {}
        }
    }
}

/// Rows with the same key always go to the same task, so a later row overwrites an earlier one in file order.
fn task_for(key: &str, tasks: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % tasks as u64) as usize
}

fn decode_record(
    record: &ByteRecord,
    header: &Header,
    dataset: &dyn Dataset,
    facts: &FileFacts,
    row: RowPos,
) -> Result<Entry, Vec<Violation>> {
    let violation = |path: &str, code, message: String| {
        vec![Violation {
            path: path.to_owned(),
            code,
            message,
        }]
    };
    if record.len() != header.len() {
        return Err(violation(
            "",
            ViolationCode::FieldCount,
            format!("has {} field(s); the header has {}", record.len(), header.len()),
        ));
    }
    let mut cells = Vec::with_capacity(record.len());
    for (i, bytes) in record.iter().enumerate() {
        match std::str::from_utf8(bytes) {
            Ok(cell) => cells.push(cell),
            Err(_) => {
                return Err(violation(
                    &header.names()[i],
                    ViolationCode::InvalidUtf8,
                    "is not valid UTF-8".into(),
                ))
            }
        }
    }
    let provenance = Provenance {
        line: row.line,
        ..facts.provenance.clone()
    };
    let at = RowContext {
        provenance: &provenance,
        request_id: &facts.request_id,
        uploader: facts.uploader.as_deref(),
        now: facts.now,
        object_time: facts.object_time,
    };
    // A bug in one row's rules must not take the import (and its tasks) down: the row is reported instead.
    let decoded = std::panic::catch_unwind(AssertUnwindSafe(|| dataset.decode(&Row::new(header, &cells), &at)))
        .unwrap_or_else(|_| {
            Err(violation(
                "",
                ViolationCode::InternalError,
                "processing this row failed unexpectedly".into(),
            ))
        })?;
    Ok(Entry {
        key: decoded.key,
        item: decoded.item,
        rows: vec![row],
    })
}

#[allow(clippy::too_many_arguments)]
async fn write_task<S: BatchSink>(
    _alive: TaskGuard,
    mut queue: mpsc::Receiver<Entry>,
    table: String,
    sink: Arc<S>,
    retry: RetryPolicy,
    tally: Arc<Tally>,
    in_flight: Arc<InFlight>,
    cancel: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            next = queue.recv() => next,
        };
        let closed = next.is_none();
        if let Some(entry) = next {
            add_to_batch(&mut batch, entry);
        }
        if batch.len() >= BATCH_SIZE || (closed && !batch.is_empty()) {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SIZE));
            write_batch(sink.as_ref(), &table, full, retry, &tally, &in_flight, &cancel).await;
        }
        if closed || cancel.is_cancelled() {
            return;
        }
    }
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
