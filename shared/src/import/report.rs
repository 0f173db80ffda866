//! What an import tells: the summary (returned, stored as JSON under `reports/`, kept as the import-job record) and
//! the rejected-rows CSV beside it.

use super::deadline::DeadlineSource;
use super::event::{ObjectRef, IMPORT_PREFIX, REPORT_PREFIX};
use super::tally::{Counts, RowPos};
use crate::error::truncate;
use crate::telemetry::metrics::ImportEnded;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What the handler returns: one summary per imported file and the records it skipped.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    pub files: Vec<FileSummary>,
    pub skipped: Vec<Skipped>,
}

/// A record not imported by this invocation, and why.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub key: String,
    pub reason: String,
    /// The import this record belongs to, when it names one already known (a duplicate, say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// An invocation is working on it (it holds the job's lease).
    Running,
    /// Every row was read and is imported or rejected.
    Completed,
    /// Stopped at a checkpoint (`resumeFrom`); a continuation carries on from there.
    Incomplete,
    /// The file as a whole was refused (header, unknown dataset, size); nothing was written.
    Rejected,
    /// The import could not go on; `error` says why. Rows before `resumeFrom` are imported or reported.
    Failed,
    /// A newer version of the key was imported; this one was not (or no further).
    Superseded,
}

impl FileStatus {
    /// Whether the job is over: a later event for the same object version is a duplicate.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running | Self::Incomplete)
    }
}

/// Why a file as a whole was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub code: FileErrorCode,
    pub message: String,
}

/// Stable codes of file-level errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FileErrorCode {
    /// The key's prefix (or questionnaire kind) names no dataset.
    UnknownDataset,
    /// The header is missing, unreadable, or does not have the dataset's columns.
    InvalidHeader,
    /// The object does not exist (any more).
    ObjectNotFound,
    /// The object could not be opened.
    ObjectUnreadable,
    /// The body broke off while it was read, and the invocation made no progress.
    ReadFailed,
    /// The object is larger than `MAX_OBJECT_BYTES`; nothing was read.
    ObjectTooLarge,
    /// The object version changed (or vanished) between invocations of one import.
    ObjectChanged,
    /// A record is longer than `MAX_RECORD_BYTES` (an unclosed quote, say); rows before it are imported.
    RecordTooLong,
    /// An invocation ended without committing a single row, so continuing would only repeat it.
    NoProgress,
}

impl FileErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FileError {
    /// Longest message kept: the summary is also a DynamoDB item (400 KB at most) and is read by people.
    const MAX_MESSAGE: usize = 2_000;

    pub fn new(code: FileErrorCode, message: impl AsRef<str>) -> Self {
        Self {
            code,
            message: truncate(message.as_ref(), Self::MAX_MESSAGE).into_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportKeys {
    pub summary: String,
    pub rejected_rows: String,
}

/// Which deadline an invocation worked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The invocation's own deadline.
    Invocation,
    /// The fallback budget (the invocation's deadline could not be trusted).
    Fallback,
}

/// One file's import. Serialised, it is what each invocation returns, the import-job record (updated at every
/// invocation) and, once final, the summary report. It covers the whole file, across invocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSummary {
    pub import_id: String,
    pub bucket: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    pub status: FileStatus,
    /// All rows so far; rows before `resumeFrom` are counted once, whichever invocation did them.
    pub rows: Counts,
    /// The checkpoint: every row before it is imported or reported. Present while the import is not completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<RowPos>,
    /// Where the data starts (the byte after the header), for reading the header again when resuming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<FileError>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How many invocations have worked on the file.
    pub invocations: u32,
    /// Of the last invocation.
    pub deadline: DeadlineKind,
    /// Of the last invocation.
    pub peak_writes_in_flight: usize,
    /// Write tasks still alive when the last invocation returned: always 0 (none may outlive the handler).
    pub write_tasks_alive_after: usize,
    /// Rejected rows counted but not listed in the report (past `MAX_REJECTED_ROWS_LISTED`).
    #[serde(default)]
    pub rejected_not_listed: u64,
    /// Rejected rows listed so far.
    #[serde(default)]
    pub rejected_listed: u64,
    pub reports: ReportKeys,
    /// How long the invocations' final writes took once their writers had ended (the checkpoint and the report part
    /// and the continuation's request, or the final reports): what the next invocation stops early enough for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_work: Option<StopWork>,
}

/// The final writes of an import's invocations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopWork {
    /// Of the last invocation.
    pub last_ms: u64,
    /// The longest of any invocation.
    pub max_ms: u64,
    /// The margin the last invocation stopped with, before its deadline (a third of it the writers' grace).
    pub margin_ms: u64,
}

impl FileSummary {
    /// Records an invocation's stop work (and the margin it had for it).
    pub fn note_stop_work(&mut self, took: std::time::Duration, margin: std::time::Duration) {
        let last_ms = took.as_millis() as u64;
        let max_ms = self.stop_work.map_or(last_ms, |before| before.max_ms.max(last_ms));
        self.stop_work = Some(StopWork {
            last_ms,
            max_ms,
            margin_ms: margin.as_millis() as u64,
        });
    }

    /// The summary of an import that starts now; [`super::ImportService`] fills in the rest as it goes.
    pub fn start(import_id: String, object: &ObjectRef, now: OffsetDateTime, deadline: DeadlineSource) -> Self {
        Self {
            reports: report_keys(&object.key, &import_id),
            import_id,
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            etag: object.etag.clone(),
            sequencer: object.sequencer.clone(),
            dataset: None,
            status: FileStatus::Running,
            rows: Counts::default(),
            resume_from: None,
            data_start: None,
            error: None,
            started_at: crate::time::rfc3339_millis(now),
            finished_at: None,
            invocations: 0,
            deadline: DeadlineKind::from(deadline),
            peak_writes_in_flight: 0,
            write_tasks_alive_after: 0,
            rejected_not_listed: 0,
            rejected_listed: 0,
            stop_work: None,
        }
    }

    /// Ends the import with `status` and, for a file-level problem, its error.
    pub fn conclude(&mut self, status: FileStatus, error: Option<FileError>) {
        self.status = status;
        self.error = error;
    }

    /// What the metrics count of an import that ended: rejected and failed imports did not complete; a version
    /// superseded by a newer upload is no alarm.
    pub fn ended(&self) -> ImportEnded {
        let parse = |at: &str| OffsetDateTime::parse(at, &Rfc3339).ok();
        let started = parse(&self.started_at);
        let finished = self.finished_at.as_deref().and_then(parse);
        ImportEnded {
            imported: self.rows.imported,
            rejected: self.rows.rejected,
            not_reached: self.rows.not_reached,
            not_completed: matches!(self.status, FileStatus::Rejected | FileStatus::Failed),
            duration: started
                .zip(finished)
                .and_then(|(started, finished)| (finished - started).try_into().ok()),
        }
    }

    /// The key of the `n`th part of the rejected-rows report, as written by the holder of lease `owner` (so that
    /// an invocation that lost the job can never overwrite a part of the one that took it over).
    pub fn report_part(&self, n: usize, owner: &str) -> String {
        let stem = self.reports.rejected_rows.trim_end_matches(".rejected.csv");
        let writer = owner.get(..8).unwrap_or(owner);
        format!("{stem}.rejected.part-{n:05}-{writer}.csv")
    }
}

impl From<DeadlineSource> for DeadlineKind {
    fn from(source: DeadlineSource) -> Self {
        match source {
            DeadlineSource::Invocation => Self::Invocation,
            DeadlineSource::Fallback(_) => Self::Fallback,
        }
    }
}

/// Report keys for an imported key: `imports/a/b.csv` → `reports/a/b/<import id>.summary.json` and
/// `….rejected.csv`, outside the trigger's prefix so writing them never starts another import.
pub fn report_keys(key: &str, import_id: &str) -> ReportKeys {
    let stem = key.strip_prefix(IMPORT_PREFIX).unwrap_or(key);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    ReportKeys {
        summary: format!("{REPORT_PREFIX}{stem}/{import_id}.summary.json"),
        rejected_rows: format!("{REPORT_PREFIX}{stem}/{import_id}.rejected.csv"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_error_messages_are_cut() {
        let error = FileError::new(FileErrorCode::ReadFailed, "é".repeat(10_000));
        assert_eq!(error.message.chars().count(), FileError::MAX_MESSAGE + 1);
    }

    #[test]
    fn an_ended_import_counts_as_not_completed_when_rejected_or_failed_and_lasts_from_start_to_finish() {
        let object = ObjectRef {
            bucket: "b".into(),
            key: "imports/observations/ST/S01/a.csv".into(),
            version_id: None,
            etag: Some("e".into()),
            sequencer: None,
            uploader: None,
        };
        let started = time::macros::datetime!(2026-11-28 10:00:00 UTC);
        let mut summary = FileSummary::start("i".into(), &object, started, DeadlineSource::Invocation);
        summary.rows = Counts {
            total: 10,
            imported: 6,
            rejected: 3,
            not_reached: 1,
        };
        summary.finished_at = Some("2026-11-28T10:02:30.250Z".into());
        for (status, not_completed) in [
            (FileStatus::Completed, false),
            (FileStatus::Superseded, false),
            (FileStatus::Rejected, true),
            (FileStatus::Failed, true),
        ] {
            summary.conclude(status, None);
            let ended = summary.ended();
            assert_eq!(ended.not_completed, not_completed, "{status:?}");
            assert_eq!((ended.imported, ended.rejected, ended.not_reached), (6, 3, 1));
            assert_eq!(ended.duration, Some(std::time::Duration::from_millis(150_250)));
        }
    }

    #[test]
    fn reports_are_written_outside_the_import_prefix() {
        let keys = report_keys("imports/observations/site 01/v1.csv", "01ABC");
        assert_eq!(keys.summary, "reports/observations/site 01/v1/01ABC.summary.json");
        assert_eq!(keys.rejected_rows, "reports/observations/site 01/v1/01ABC.rejected.csv");
        assert!(!keys.summary.starts_with(IMPORT_PREFIX));
    }
}
