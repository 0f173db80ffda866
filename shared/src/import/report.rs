//! What an import tells: the summary (returned, stored as JSON under `reports/`, kept as the import-job record) and
//! the rejected-rows CSV beside it.

use super::deadline::DeadlineSource;
use super::event::{ObjectRef, IMPORT_PREFIX, REPORT_PREFIX};
use super::tally::{Counts, RowPos};
use crate::error::truncate;
use serde::Serialize;
use time::OffsetDateTime;

/// What the handler returns: one summary per imported file and the records it skipped.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    pub files: Vec<FileSummary>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Started; the final record replaces this one.
    Running,
    /// Every row was read and is imported or rejected.
    Completed,
    /// The stop time came first (or a write task failed): `resumeFrom` says where to continue.
    Incomplete,
    /// The file as a whole was refused (header, unknown dataset); nothing was written.
    Rejected,
    /// The object could not be read (missing, unreadable); `error` says why.
    Failed,
}

/// Why a file as a whole was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub code: FileErrorCode,
    pub message: String,
}

/// Stable codes of file-level errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
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
    /// The body broke off while it was read.
    ReadFailed,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportKeys {
    pub summary: String,
    pub rejected_rows: String,
}

/// One file's import. Serialised, it is the returned summary, the summary report and the import-job item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSummary {
    pub import_id: String,
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    pub status: FileStatus,
    pub rows: Counts,
    /// The first row not imported or rejected; present when `status` is `incomplete`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<RowPos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FileError>,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `invocation` or `fallback` (the invocation's deadline could not be trusted).
    pub deadline: &'static str,
    pub peak_writes_in_flight: usize,
    /// Write tasks still alive when the import returned: always 0 (none may outlive the handler).
    pub write_tasks_alive_after: usize,
    pub reports: ReportKeys,
}

impl FileSummary {
    /// The summary of an import that starts now; [`super::ImportService`] fills in the rest as it goes.
    pub fn start(import_id: String, object: &ObjectRef, now: OffsetDateTime, deadline: DeadlineSource) -> Self {
        Self {
            reports: report_keys(&object.key, &import_id),
            import_id,
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            etag: None,
            dataset: None,
            status: FileStatus::Running,
            rows: Counts::default(),
            resume_from: None,
            error: None,
            started_at: crate::time::rfc3339_millis(now),
            finished_at: None,
            deadline: match deadline {
                DeadlineSource::Invocation => "invocation",
                DeadlineSource::Fallback(_) => "fallback",
            },
            peak_writes_in_flight: 0,
            write_tasks_alive_after: 0,
        }
    }

    /// Ends the import with `status` and, for a file-level problem, its error.
    pub fn conclude(&mut self, status: FileStatus, error: Option<FileError>) {
        self.status = status;
        self.error = error;
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
    fn reports_are_written_outside_the_import_prefix() {
        let keys = report_keys("imports/observations/site 01/v1.csv", "01ABC");
        assert_eq!(keys.summary, "reports/observations/site 01/v1/01ABC.summary.json");
        assert_eq!(keys.rejected_rows, "reports/observations/site 01/v1/01ABC.rejected.csv");
        assert!(!keys.summary.starts_with(IMPORT_PREFIX));
    }
}
