//! Accounting: every row read ends as imported, rejected (with a reason in the report) or not reached.

use super::rejection::{whole_row, Rejection, RowCode};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::sync::Mutex;

/// Where a row starts in the file: the line (header = 1) and the byte offset, from which a later run can resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowPos {
    pub line: u64,
    pub byte_offset: u64,
}

impl RowPos {
    /// The start of a file: its header, line 1.
    pub const START: Self = Self {
        line: 1,
        byte_offset: 0,
    };
}

/// Row counts of one file; `total == imported + rejected + not_reached` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: u64,
    pub imported: u64,
    pub rejected: u64,
    pub not_reached: u64,
}

/// Shared by the reader and the write tasks of one file.
pub struct Tally {
    inner: Mutex<Inner>,
}

struct Inner {
    total: u64,
    imported: u64,
    rejected: u64,
    /// Rows handed to a write task and not finished yet. Bounded by the queues, so memory stays flat.
    pending: BTreeSet<RowPos>,
    /// The rejected-rows report, spilled to a temporary file so that a file full of bad rows needs no memory.
    report: Option<csv::Writer<BufWriter<std::fs::File>>>,
    report_error: Option<std::io::Error>,
}

impl Inner {
    fn counts(&self) -> Counts {
        Counts {
            total: self.total,
            imported: self.imported,
            rejected: self.rejected,
            not_reached: self.pending.len() as u64,
        }
    }
}

/// The final state of a file's accounting.
pub struct Finished {
    pub counts: Counts,
    /// The earliest row not known to be written: where a later run must start again.
    pub first_not_reached: Option<RowPos>,
    /// The rejected-rows CSV (`line,column,code,message`), positioned at its start.
    pub report: std::fs::File,
}

impl Tally {
    pub fn new() -> std::io::Result<Self> {
        let mut report = csv::Writer::from_writer(BufWriter::new(tempfile::tempfile()?));
        report.write_record(["line", "column", "code", "message"])?;
        Ok(Self {
            inner: Mutex::new(Inner {
                total: 0,
                imported: 0,
                rejected: 0,
                pending: BTreeSet::new(),
                report: Some(report),
                report_error: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Holding the lock never panics (no user code runs under it); recover the data if it ever did.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A data row was read from the file.
    pub fn read(&self) {
        self.lock().total += 1;
    }

    /// A valid row was handed to a write task.
    pub fn dispatched(&self, row: RowPos) {
        self.lock().pending.insert(row);
    }

    /// Rows confirmed written.
    pub fn imported(&self, rows: &[RowPos]) {
        let mut inner = self.lock();
        for row in rows {
            if inner.pending.remove(row) {
                inner.imported += 1;
            }
        }
    }

    /// A row rejected for these reasons.
    pub fn reject(&self, row: RowPos, rejections: &[Rejection]) {
        let mut inner = self.lock();
        inner.pending.remove(&row);
        inner.rejected += 1;
        let line = row.line.to_string();
        for v in rejections {
            let column = v.path.trim_start_matches('/');
            let record = [line.as_str(), column, v.code.as_str(), v.message.as_str()];
            let written = match inner.report.as_mut() {
                Some(report) => report.write_record(record).map_err(std::io::Error::from),
                None => Err(std::io::Error::other("row reported after the accounting was closed")),
            };
            if let Err(e) = written {
                inner.report_error.get_or_insert(e);
            }
        }
    }

    /// Valid rows that could not be written.
    pub fn write_failed(&self, rows: &[RowPos], message: &str) {
        let rejection = whole_row(RowCode::WriteFailed, message);
        for row in rows {
            self.reject(*row, &rejection);
        }
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts()
    }

    /// Closes the accounting once every task has ended; rows still pending were not reached.
    pub fn finish(&self) -> std::io::Result<Finished> {
        let mut inner = self.lock();
        if let Some(e) = inner.report_error.take() {
            return Err(e);
        }
        let report = inner
            .report
            .take()
            .ok_or_else(|| std::io::Error::other("the accounting was already closed"))?;
        let counts = inner.counts();
        let mut report = report
            .into_inner()
            .map_err(|e| e.into_error())?
            .into_inner()
            .map_err(|e| e.into_error())?;
        report.flush()?;
        report.seek(SeekFrom::Start(0))?;
        Ok(Finished {
            counts,
            first_not_reached: inner.pending.first().copied(),
            report,
        })
    }
}
