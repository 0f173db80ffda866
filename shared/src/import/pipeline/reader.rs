//! The reading side of the pipeline: the header, then each row decoded and handed to its write task, until the
//! end of the body, the stop instant, or a record too long to hold.

use super::budget::{Budgeted, RecordBudget};
use super::{FileFacts, ReadEnd};
use crate::import::dataset::{Dataset, Header, Row, RowContext};
use crate::import::lines::{LineCounting, LineIndex};
use crate::import::rejection::{whole_row, Rejection, RowCode};
use crate::import::tally::{RowPos, Tally};
use crate::import::writer::{add_to_batch, Entry, BATCH_SIZE};
use csv_async::{AsyncReader, AsyncReaderBuilder, ByteRecord};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// The most columns a header may name: a header is read whole, so its size is bounded like a record's.
pub const MAX_COLUMNS: usize = 1_000;

/// A CSV reader over a body that starts at `first` in the file, with line numbers and a record size limit.
pub struct CsvBody<R> {
    pub csv: AsyncReader<LineCounting<Budgeted<R>>>,
    pub lines: LineIndex,
    pub budget: Arc<RecordBudget>,
    /// Where the body starts in the file.
    pub first: RowPos,
}

impl<R: AsyncRead + Unpin + Send> CsvBody<R> {
    /// `with_header`: the body starts with the header (a whole file), or with a row (a resumed import).
    pub fn new(body: R, first: RowPos, max_record_bytes: u64, with_header: bool) -> Self {
        let budget = RecordBudget::new(max_record_bytes);
        let (body, lines) = LineCounting::new(Budgeted::new(body, Arc::clone(&budget)), first.line);
        let csv = AsyncReaderBuilder::new()
            .has_headers(with_header)
            .flexible(true)
            .create_reader(body);
        Self {
            csv,
            lines,
            budget,
            first,
        }
    }

    /// The position in the file of a position in this body.
    pub fn row_at(&self, pos: &csv_async::Position) -> RowPos {
        RowPos {
            line: self.lines.line_at(pos.byte()),
            byte_offset: self.first.byte_offset + pos.byte(),
        }
    }

    /// Reads and checks the header; the error says why the file is rejected. On success, also where the data
    /// starts (the byte after the header), which a resumed import reads the header up to.
    pub async fn read_header(&mut self, dataset: &dyn Dataset) -> Result<(Header, u64), String> {
        let raw = match self.csv.byte_headers().await {
            Ok(raw) => raw.clone(),
            Err(_) if self.budget.exceeded() => {
                return Err(format!("the header row is longer than {} bytes", self.budget.max()))
            }
            Err(e) => return Err(format!("the header cannot be read: {e}")),
        };
        if raw.is_empty() || (raw.len() == 1 && raw[0].is_empty()) {
            return Err("the file is empty; a header row naming the columns is required".into());
        }
        if raw.len() > MAX_COLUMNS {
            return Err(format!(
                "the header has {} columns; at most {MAX_COLUMNS} are read",
                raw.len()
            ));
        }
        let names = raw
            .iter()
            .map(|name| std::str::from_utf8(name).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "the header is not valid UTF-8".to_owned())?;
        let header = Header::new(names)?;
        dataset.check_header(&header)?;
        let data_start = self.first.byte_offset + self.csv.position().byte();
        self.budget.record_starts_at(self.csv.position().byte());
        Ok((header, data_start))
    }
}

pub struct RowReader<'a, R> {
    pub body: CsvBody<R>,
    pub dataset: &'a dyn Dataset,
    pub facts: &'a FileFacts,
    pub stop_at: Instant,
    /// Stops reading like the stop instant does, when cancelled from outside.
    pub stopped: CancellationToken,
    pub tally: &'a Tally,
    /// The import time as stored, formatted once.
    pub imported_at: String,
}

impl<R: AsyncRead + Unpin + Send> RowReader<'_, R> {
    /// Reads rows until the end of the body, the stop instant or a record over the size limit; rejected rows go to
    /// the tally, valid ones into a batch for the task that owns their key, sent to its queue once full (one
    /// hand-over and one wake-up per batch, not per row). When reading ends, the partial batches follow, except at
    /// the stop instant: then their rows stay pending (not reached, the checkpoint at or before them).
    pub async fn read_rows(&mut self, header: &Header, queues: &[mpsc::Sender<Vec<Entry>>]) -> ReadEnd {
        let mut batches: Vec<Vec<Entry>> = queues.iter().map(|_| Vec::with_capacity(BATCH_SIZE)).collect();
        // One timer for the whole read: a new one per row would register and cancel a timer entry twice a row.
        let (stop_at, stopped) = (self.stop_at, self.stopped.clone());
        let stop = async move {
            tokio::select! {
                _ = sleep_until(stop_at) => {}
                _ = stopped.cancelled() => {}
            }
        };
        tokio::pin!(stop);
        let end = self.fill_batches(header, queues, &mut batches, stop.as_mut()).await;
        if end == ReadEnd::Deadline {
            return end;
        }
        for (queue, batch) in queues.iter().zip(batches).filter(|(_, b)| !b.is_empty()) {
            tokio::select! {
                biased;
                _ = &mut stop => return ReadEnd::Deadline,
                _ = queue.send(batch) => {}
            }
        }
        end
    }

    /// The reading loop of [`Self::read_rows`]: sends each batch that fills up, leaves the partial ones in `batches`.
    async fn fill_batches(
        &mut self,
        header: &Header,
        queues: &[mpsc::Sender<Vec<Entry>>],
        batches: &mut [Vec<Entry>],
        mut stop: Pin<&mut impl Future<Output = ()>>,
    ) -> ReadEnd {
        let mut record = ByteRecord::new();
        loop {
            let starts = self.body.csv.position().clone();
            let read = tokio::select! {
                biased;
                _ = &mut stop => return ReadEnd::Deadline,
                read = self.body.csv.read_byte_record(&mut record) => read,
            };
            match read {
                Ok(false) => return ReadEnd::Eof,
                Ok(true) => {}
                Err(_) if self.body.budget.exceeded() => {
                    return ReadEnd::RecordTooLong {
                        at: self.body.row_at(&starts),
                    }
                }
                Err(e) => return ReadEnd::ReadFailed { message: e.to_string() },
            }
            let after = self.body.csv.position().clone();
            self.body.budget.record_starts_at(after.byte());
            let row = self.body.row_at(record.position().unwrap_or(&starts));
            let next = self.body.row_at(&after);
            let entry = match self.decode(&record, header, row) {
                Ok(entry) => entry,
                Err(rejections) => {
                    self.tally.rejected_on_read(row, next, rejections);
                    continue;
                }
            };
            self.tally.dispatched(row, next);
            let task = task_for(&entry.key, queues.len());
            add_to_batch(&mut batches[task], entry);
            if batches[task].len() < BATCH_SIZE {
                continue;
            }
            let full = std::mem::replace(&mut batches[task], Vec::with_capacity(BATCH_SIZE));
            tokio::select! {
                biased;
                _ = &mut stop => return ReadEnd::Deadline,
                // A closed queue means its task panicked; its rows stay pending (not reached).
                _ = queues[task].send(full) => {}
            }
        }
    }

    fn decode(&self, record: &ByteRecord, header: &Header, row: RowPos) -> Result<Entry, Vec<Rejection>> {
        if record.len() != header.len() {
            return Err(whole_row(
                RowCode::FieldCount,
                format!("has {} field(s); the header has {}", record.len(), header.len()),
            ));
        }
        let mut cells = Vec::with_capacity(record.len());
        for (i, bytes) in record.iter().enumerate() {
            match std::str::from_utf8(bytes) {
                Ok(cell) => cells.push(cell),
                Err(_) => {
                    return Err(vec![Rejection::new(
                        &header.names()[i],
                        RowCode::InvalidUtf8,
                        "is not valid UTF-8",
                    )])
                }
            }
        }
        let at = RowContext {
            file: &self.facts.provenance,
            line: row.line,
            id_secret: &self.facts.id_secret,
            request_id: &self.facts.request_id,
            uploader: self.facts.uploader.as_deref(),
            now: self.facts.now,
            imported_at: &self.imported_at,
            object_time: self.facts.object_time,
        };
        // A bug in one row's rules must not take the import (and its tasks) down: the row is reported instead.
        let decoded =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.dataset.decode(&Row::new(header, &cells), &at)))
                .unwrap_or_else(|_| {
                    Err(whole_row(
                        RowCode::InternalError,
                        "processing this row failed unexpectedly",
                    ))
                })?;
        Ok(Entry::new(decoded.key, decoded.item, row))
    }
}

/// Rows with the same key always go to the same task, so a later row overwrites an earlier one in file order.
fn task_for(key: &str, tasks: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % tasks as u64) as usize
}
