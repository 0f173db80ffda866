//! The reading side of the pipeline: the header, then each row decoded and handed to its write task, until the
//! end of the body or the stop instant.

use super::{FileFacts, ReadEnd};
use crate::import::dataset::{Dataset, Header, Row, RowContext};
use crate::import::lines::{LineCounting, LineIndex};
use crate::import::rejection::{whole_row, Rejection, RowCode};
use crate::import::tally::{RowPos, Tally};
use crate::import::writer::Entry;
use crate::provenance::Provenance;
use csv_async::{AsyncReader, ByteRecord};
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

pub struct RowReader<'a, R> {
    pub csv: AsyncReader<LineCounting<R>>,
    pub lines: LineIndex,
    pub dataset: &'a dyn Dataset,
    pub facts: &'a FileFacts,
    pub stop_at: Instant,
    pub tally: &'a Tally,
}

impl<R: AsyncRead + Unpin + Send> RowReader<'_, R> {
    /// Reads and checks the header; the error says why the file is rejected.
    pub async fn read_header(&mut self) -> Result<Header, String> {
        let raw = self
            .csv
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
        self.dataset.check_header(&header)?;
        Ok(header)
    }

    /// Reads rows until the end of the body or the stop instant; rejected rows go to the tally, valid ones to the
    /// queue of the task that owns their key.
    pub async fn read_rows(&mut self, header: &Header, queues: &[mpsc::Sender<Entry>]) -> ReadEnd {
        let mut record = ByteRecord::new();
        loop {
            // Where the next row starts; turned into a line number only when reading stops there.
            let next = self.csv.position().clone();
            let read = tokio::select! {
                biased;
                _ = sleep_until(self.stop_at) => return ReadEnd::Deadline { next: self.row_at(&next) },
                read = self.csv.read_byte_record(&mut record) => read,
            };
            match read {
                Ok(false) => return ReadEnd::Eof,
                Ok(true) => {}
                Err(e) => {
                    return ReadEnd::ReadFailed {
                        next: self.row_at(&next),
                        message: e.to_string(),
                    }
                }
            }
            let row = self.row_at(record.position().unwrap_or(&next));
            self.tally.read();
            let entry = match self.decode(&record, header, row) {
                Ok(entry) => entry,
                Err(rejections) => {
                    self.tally.reject(row, &rejections);
                    continue;
                }
            };
            self.tally.dispatched(row);
            let queue = &queues[task_for(&entry.key, queues.len())];
            tokio::select! {
                biased;
                // The row stays pending: not reached, and the resume point is at or before it.
                _ = sleep_until(self.stop_at) => {
                    return ReadEnd::Deadline { next: self.row_at(self.csv.position()) }
                }
                // A closed queue means its task panicked; the row stays pending likewise.
                _ = queue.send(entry) => {}
            }
        }
    }

    fn row_at(&self, pos: &csv_async::Position) -> RowPos {
        RowPos {
            line: self.lines.line_at(pos.byte()),
            byte_offset: pos.byte(),
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
        let provenance = Provenance {
            line: row.line,
            ..self.facts.provenance.clone()
        };
        let at = RowContext {
            provenance: &provenance,
            id_secret: &self.facts.id_secret,
            request_id: &self.facts.request_id,
            uploader: self.facts.uploader.as_deref(),
            now: self.facts.now,
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
        Ok(Entry {
            key: decoded.key,
            item: decoded.item,
            rows: vec![row],
        })
    }
}

/// Rows with the same key always go to the same task, so a later row overwrites an earlier one in file order.
fn task_for(key: &str, tasks: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % tasks as u64) as usize
}
