//! What an import tells: the summary (returned, stored as JSON under `reports/`, kept as the import-job record) and
//! the rejected-rows CSV beside it.

use super::event::{IMPORT_PREFIX, REPORT_PREFIX};
use super::tally::{Counts, RowPos};
use serde::Serialize;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub code: &'static str,
    pub message: String,
}

impl FileError {
    /// Longest message kept: the summary is also a DynamoDB item (400 KB at most) and is read by people.
    const MAX_MESSAGE: usize = 2_000;

    pub fn new(code: &'static str, message: String) -> Self {
        let message = match message.char_indices().nth(Self::MAX_MESSAGE) {
            Some((cut, _)) => format!("{}…", &message[..cut]),
            None => message,
        };
        Self { code, message }
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
        let error = FileError::new("read_failed", "é".repeat(10_000));
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
