//! Accounting: every row read ends as imported, rejected (with a reason in the report) or not reached, and a
//! checkpoint below which every row is final.
//!
//! Write tasks finish rows out of order, so a row is *committed* (counted, and its rejection reported) only once
//! every row before it is finished too. The first row not committed is the low-water mark: an import that stops
//! there and resumes there later neither loses a row nor counts one twice. Rows finished above the mark are done
//! again by the next invocation (their items are overwritten with the same content) and counted then.

use super::rejection::{whole_row, Rejection, RowCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::sync::Mutex;

/// Where a row starts in the file: the line (header = 1) and the byte offset, from which a later run can resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// Row counts; `total == imported + rejected + not_reached` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: u64,
    pub imported: u64,
    pub rejected: u64,
    pub not_reached: u64,
}

impl Counts {
    /// These counts after `later` ones, of rows further on in the same file.
    pub fn then(self, later: Counts) -> Counts {
        Counts {
            total: self.total - self.not_reached + later.total,
            imported: self.imported + later.imported,
            rejected: self.rejected + later.rejected,
            not_reached: later.not_reached,
        }
    }
}

/// How many rejected rows the report lists: a file of nothing but bad rows still gives a bounded report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLimit {
    pub max_listed: u64,
    /// Rejected rows listed by earlier invocations of the same import.
    pub already_listed: u64,
}

/// Shared by the reader and the write tasks of one file.
pub struct Tally {
    inner: Mutex<Inner>,
}

enum Row {
    Pending,
    Imported,
    Rejected(Vec<Rejection>),
}

struct Inner {
    imported: u64,
    rejected: u64,
    /// Rows read and not committed yet, in file order. From the first unfinished row to the reader, which the
    /// bounded queues keep close behind it, so memory stays flat.
    open: BTreeMap<RowPos, Row>,
    /// Where the row after the last one read starts.
    next_unread: RowPos,
    /// The committed rejections, spilled to a temporary file.
    report: Option<csv::Writer<BufWriter<std::fs::File>>>,
    report_error: Option<std::io::Error>,
    limit: ReportLimit,
    listed: u64,
    unlisted: u64,
}

/// The final state of an invocation's accounting.
pub struct Finished {
    pub counts: Counts,
    /// The first row not committed: where the next invocation starts.
    pub checkpoint: RowPos,
    /// The committed rejections as report lines (`line,column,code,message`, no header), at its start.
    pub report: std::fs::File,
    /// Rejected rows this invocation listed in `report`, and those it only counted (past the limit).
    pub listed: u64,
    pub unlisted: u64,
}

impl Inner {
    fn counts(&self) -> Counts {
        let not_reached = self.open.len() as u64;
        Counts {
            total: self.imported + self.rejected + not_reached,
            imported: self.imported,
            rejected: self.rejected,
            not_reached,
        }
    }

    fn low_water(&self) -> RowPos {
        self.open.keys().next().copied().unwrap_or(self.next_unread)
    }

    fn finish_row(&mut self, row: RowPos, outcome: Row) {
        if let Some(state) = self.open.get_mut(&row) {
            if matches!(state, Row::Pending) {
                *state = outcome;
            }
        }
        self.commit();
    }

    /// Commits the finished rows at the front, in file order.
    fn commit(&mut self) {
        while let Some(entry) = self.open.first_entry() {
            if matches!(entry.get(), Row::Pending) {
                return;
            }
            let (row, outcome) = entry.remove_entry();
            match outcome {
                Row::Imported => self.imported += 1,
                Row::Rejected(rejections) => {
                    self.rejected += 1;
                    self.report(row, &rejections);
                }
                Row::Pending => unreachable!("checked above"),
            }
        }
    }

    fn report(&mut self, row: RowPos, rejections: &[Rejection]) {
        if self.limit.already_listed + self.listed >= self.limit.max_listed {
            self.unlisted += 1;
            return;
        }
        self.listed += 1;
        let line = row.line.to_string();
        for v in rejections {
            let column = v.path.trim_start_matches('/');
            let record = [line.as_str(), column, v.code.as_str(), v.message.as_str()];
            let written = match self.report.as_mut() {
                Some(report) => report.write_record(record).map_err(std::io::Error::from),
                None => Err(std::io::Error::other("row reported after the accounting was closed")),
            };
            if let Err(e) = written {
                self.report_error.get_or_insert(e);
            }
        }
    }
}

impl Tally {
    /// Accounting for rows from `start` on.
    pub fn new(start: RowPos, limit: ReportLimit) -> std::io::Result<Self> {
        let report = csv::Writer::from_writer(BufWriter::new(tempfile::tempfile()?));
        Ok(Self {
            inner: Mutex::new(Inner {
                imported: 0,
                rejected: 0,
                open: BTreeMap::new(),
                next_unread: start,
                report: Some(report),
                report_error: None,
                limit,
                listed: 0,
                unlisted: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Holding the lock never panics (no user code runs under it); recover the data if it ever did.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The reader read the row at `row` (the next one starts at `next`) and rejected it.
    pub fn rejected_on_read(&self, row: RowPos, next: RowPos, rejections: Vec<Rejection>) {
        let mut inner = self.lock();
        inner.open.insert(row, Row::Rejected(rejections));
        inner.next_unread = next;
        inner.commit();
    }

    /// The reader handed the row at `row` to a write task (the next one starts at `next`).
    pub fn dispatched(&self, row: RowPos, next: RowPos) {
        let mut inner = self.lock();
        inner.open.insert(row, Row::Pending);
        inner.next_unread = next;
    }

    /// Rows confirmed written.
    pub fn imported(&self, rows: &[RowPos]) {
        let mut inner = self.lock();
        for row in rows {
            inner.finish_row(*row, Row::Imported);
        }
    }

    /// Valid rows that could not be written.
    pub fn write_failed(&self, rows: &[RowPos], message: &str) {
        let mut inner = self.lock();
        for row in rows {
            inner.finish_row(*row, Row::Rejected(whole_row(RowCode::WriteFailed, message)));
        }
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts()
    }

    /// The rows committed so far (imported or rejected) and the first row not committed: how far this run has come.
    pub fn committed(&self) -> (Counts, RowPos) {
        let inner = self.lock();
        (inner.counts(), inner.low_water())
    }

    /// Closes the accounting once every task has ended; rows not committed were not reached.
    pub fn finish(&self) -> std::io::Result<Finished> {
        let mut inner = self.lock();
        if let Some(e) = inner.report_error.take() {
            return Err(e);
        }
        let report = inner
            .report
            .take()
            .ok_or_else(|| std::io::Error::other("the accounting was already closed"))?;
        let mut report = report
            .into_inner()
            .map_err(|e| e.into_error())?
            .into_inner()
            .map_err(|e| e.into_error())?;
        report.flush()?;
        report.seek(SeekFrom::Start(0))?;
        Ok(Finished {
            counts: inner.counts(),
            checkpoint: inner.low_water(),
            report,
            listed: inner.listed,
            unlisted: inner.unlisted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn at(line: u64) -> RowPos {
        RowPos {
            line,
            byte_offset: line * 10,
        }
    }

    fn unlimited() -> ReportLimit {
        ReportLimit {
            max_listed: u64::MAX,
            already_listed: 0,
        }
    }

    fn report_of(finished: Finished) -> String {
        let mut text = String::new();
        { finished.report }.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn rows_finished_out_of_order_are_committed_only_below_the_first_unfinished_one() {
        let tally = Tally::new(at(2), unlimited()).unwrap();
        tally.dispatched(at(2), at(3));
        tally.dispatched(at(3), at(4));
        tally.rejected_on_read(at(4), at(5), whole_row(RowCode::FieldCount, "x"));
        tally.dispatched(at(5), at(6));
        tally.imported(&[at(3), at(5)]);
        // Row 2 is still pending: nothing after it counts yet, and the checkpoint stays at it.
        let counts = tally.counts();
        assert_eq!((counts.imported, counts.rejected, counts.not_reached), (0, 0, 4));
        let finished = tally.finish().unwrap();
        assert_eq!(finished.checkpoint, at(2));
        assert_eq!(finished.counts.total, 4);
        assert_eq!(report_of(finished), "", "row 4's rejection waits for row 2");
    }

    #[test]
    fn once_the_front_is_done_everything_finished_behind_it_commits_in_file_order() {
        let tally = Tally::new(at(2), unlimited()).unwrap();
        tally.dispatched(at(2), at(3));
        tally.rejected_on_read(at(3), at(4), whole_row(RowCode::FieldCount, "x"));
        tally.dispatched(at(4), at(5));
        tally.imported(&[at(4)]);
        tally.imported(&[at(2)]);
        tally.imported(&[at(2)]); // a repeat changes nothing
        let finished = tally.finish().unwrap();
        assert_eq!(
            (
                finished.counts.imported,
                finished.counts.rejected,
                finished.counts.not_reached
            ),
            (2, 1, 0)
        );
        assert_eq!(finished.checkpoint, at(5), "the next unread row");
        assert_eq!(report_of(finished), "3,,field_count,x\n");
    }

    #[test]
    fn the_report_lists_rows_up_to_the_limit_across_invocations_and_counts_the_rest() {
        let tally = Tally::new(
            at(2),
            ReportLimit {
                max_listed: 5,
                already_listed: 3,
            },
        )
        .unwrap();
        for line in 2..7 {
            tally.rejected_on_read(at(line), at(line + 1), whole_row(RowCode::FieldCount, "x"));
        }
        let finished = tally.finish().unwrap();
        assert_eq!((finished.listed, finished.unlisted), (2, 3));
        assert_eq!(finished.counts.rejected, 5);
        assert_eq!(report_of(finished).lines().count(), 2);
    }

    #[test]
    fn counts_of_later_invocations_add_up_without_counting_a_row_twice() {
        let first = Counts {
            total: 10,
            imported: 6,
            rejected: 1,
            not_reached: 3,
        };
        let second = Counts {
            total: 8,
            imported: 7,
            rejected: 1,
            not_reached: 0,
        };
        assert_eq!(
            first.then(second),
            Counts {
                total: 15,
                imported: 13,
                rejected: 2,
                not_reached: 0
            }
        );
    }
}
