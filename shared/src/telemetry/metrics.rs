//! CloudWatch metrics in embedded metric format (EMF): JSON lines in the function's log that CloudWatch turns into
//! metrics, so recording one costs no API call and no latency. The names are the contract of the alarms in
//! `template.yaml`; values are counts and durations only.
//!
//! The `metrics` facade records; `metrics_cloudwatch_embedded` aggregates and writes the EMF lines when the
//! function flushes, once per invocation, after its handler has returned (no task is left writing then).

use crate::config::{ConfigError, Env};
use crate::import::report::{FileStatus, FileSummary};
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const ROWS_IMPORTED: &str = "RowsImported";
pub const ROWS_REJECTED: &str = "RowsRejected";
pub const ROWS_NOT_REACHED: &str = "RowsNotReached";
pub const IMPORT_DURATION: &str = "ImportDuration";
pub const IMPORTS_NOT_COMPLETED: &str = "ImportsNotCompleted";
pub const SUBMISSIONS: &str = "Submissions";
/// The dimension of [`SUBMISSIONS`]: `accepted`, `replayed` or the answer's error code (a closed set).
pub const OUTCOME: &str = "Outcome";

/// The process's metrics, written to standard output in EMF.
pub struct Metrics(&'static metrics_cloudwatch_embedded::Collector);

impl Metrics {
    /// Installs the process-wide recorder; the namespace is `METRICS_NAMESPACE` (default `ClinicalIngest`). Once per
    /// process, in `main`.
    pub fn install<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let namespace = env.parsed_or("METRICS_NAMESPACE", "ClinicalIngest".to_owned(), |n: &String| {
            (1..=255).contains(&n.len()) && !n.starts_with("AWS/") && n.bytes().all(|b| b.is_ascii_graphic())
        })?;
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace.clone())
            // A counter untouched since the last flush is left out rather than written as 0 on every invocation;
            // the alarms read a missing value as 0 (FILL in the rejected-row rate, notBreaching elsewhere).
            .emit_zeros(false)
            .init()
            .map_err(|e| ConfigError::Invalid {
                name: "METRICS_NAMESPACE",
                value: namespace,
                reason: e.to_string(),
            })?;
        describe();
        Ok(Self(collector))
    }

    /// Writes what was recorded since the last flush; a failure to write the log is logged, never fatal.
    pub fn flush(&self) {
        if let Err(error) = self.0.flush(std::io::stdout().lock()) {
            tracing::warn!(%error, "metrics could not be written");
        }
    }
}

fn describe() {
    for name in [
        ROWS_IMPORTED,
        ROWS_REJECTED,
        ROWS_NOT_REACHED,
        IMPORTS_NOT_COMPLETED,
        SUBMISSIONS,
    ] {
        describe_counter!(name, Unit::Count, "");
    }
    describe_histogram!(IMPORT_DURATION, Unit::Milliseconds, "");
}

/// An import reached a final status: its rows for the whole file, how long it took from its first invocation to
/// its last, and whether it ended without importing the file (rejected or failed; a version superseded by a newer
/// upload is not an alarm).
pub fn import_ended(summary: &FileSummary) {
    counter!(ROWS_IMPORTED).increment(summary.rows.imported);
    counter!(ROWS_REJECTED).increment(summary.rows.rejected);
    counter!(ROWS_NOT_REACHED).increment(summary.rows.not_reached);
    let not_completed = matches!(summary.status, FileStatus::Rejected | FileStatus::Failed);
    counter!(IMPORTS_NOT_COMPLETED).increment(u64::from(not_completed));
    let parse = |at: &str| OffsetDateTime::parse(at, &Rfc3339).ok();
    let started = parse(&summary.started_at);
    let finished = summary.finished_at.as_deref().and_then(parse);
    if let (Some(started), Some(finished)) = (started, finished) {
        histogram!(IMPORT_DURATION).record((finished - started).as_seconds_f64() * 1000.0);
    }
}

/// The API answered a submission (`POST`) with `status` and, for an error, its code.
pub fn submission_answered(status: u16, code: Option<&'static str>) {
    let outcome = match (code, status) {
        (Some(code), _) => code,
        (None, 201) => "accepted",
        (None, _) => "replayed",
    };
    counter!(SUBMISSIONS, OUTCOME => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::tally::Counts;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    /// One metric recorded: its name, labels (dimensions) and value.
    type Recorded = (String, Vec<(String, String)>, DebugValue);

    /// What `record` recorded, by name.
    fn recorded(record: impl FnOnce()) -> Vec<Recorded> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, record);
        let mut all: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let (kind, key) = key.into_parts();
                assert!(matches!(kind, MetricKind::Counter | MetricKind::Histogram));
                let labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                (key.name().to_owned(), labels, value)
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn counters(all: &[Recorded]) -> Vec<(&str, u64)> {
        all.iter()
            .filter_map(|(name, _, value)| match value {
                DebugValue::Counter(n) => Some((name.as_str(), *n)),
                _ => None,
            })
            .collect()
    }

    fn summary(status: FileStatus, imported: u64, rejected: u64, not_reached: u64) -> FileSummary {
        let mut summary: FileSummary = serde_json::from_value(serde_json::json!({
            "importId": "i", "bucket": "b", "key": "imports/observations/a.csv", "status": "running",
            "rows": {"total": 0, "imported": 0, "rejected": 0, "notReached": 0},
            "startedAt": "2026-11-28T10:00:00.000Z", "finishedAt": "2026-11-28T10:02:30.250Z",
            "invocations": 3, "deadline": "invocation", "peakWritesInFlight": 0, "writeTasksAliveAfter": 0,
            "reports": {"summary": "reports/s.json", "rejectedRows": "reports/r.csv"}
        }))
        .unwrap();
        summary.status = status;
        summary.rows = Counts {
            total: imported + rejected + not_reached,
            imported,
            rejected,
            not_reached,
        };
        summary
    }

    #[test]
    fn an_ended_import_records_its_rows_its_duration_and_whether_it_completed() {
        let all = recorded(|| import_ended(&summary(FileStatus::Completed, 40, 2, 0)));
        assert_eq!(
            counters(&all),
            [
                (IMPORTS_NOT_COMPLETED, 0),
                (ROWS_IMPORTED, 40),
                (ROWS_NOT_REACHED, 0),
                (ROWS_REJECTED, 2)
            ]
        );
        let durations: Vec<_> = all.iter().filter(|(name, ..)| name == IMPORT_DURATION).collect();
        let [(_, labels, DebugValue::Histogram(values))] = durations.as_slice() else {
            panic!("{all:?}")
        };
        assert!(labels.is_empty(), "the alarms read the metrics without dimensions");
        assert_eq!(values.iter().map(|v| v.into_inner()).collect::<Vec<_>>(), [150_250.0]);
    }

    #[test]
    fn rejected_and_failed_imports_count_as_not_completed_a_superseded_one_does_not() {
        for (status, expected) in [
            (FileStatus::Rejected, 1),
            (FileStatus::Failed, 1),
            (FileStatus::Superseded, 0),
        ] {
            let all = recorded(|| import_ended(&summary(status, 0, 0, 7)));
            let counts = counters(&all);
            assert!(
                counts.contains(&(IMPORTS_NOT_COMPLETED, expected)),
                "{status:?}: {counts:?}"
            );
            assert!(counts.contains(&(ROWS_NOT_REACHED, 7)), "{status:?}: {counts:?}");
        }
    }

    #[test]
    fn submissions_are_counted_by_outcome() {
        let all = recorded(|| {
            submission_answered(201, None);
            submission_answered(201, None);
            submission_answered(200, None);
            submission_answered(422, Some("validation_failed"));
        });
        let by_outcome: Vec<(&str, u64)> = all
            .iter()
            .map(|(name, labels, value)| {
                assert_eq!(name, SUBMISSIONS);
                let [(dimension, outcome)] = labels.as_slice() else {
                    panic!("{labels:?}")
                };
                assert_eq!(dimension, OUTCOME);
                let DebugValue::Counter(n) = value else {
                    panic!("{value:?}")
                };
                (outcome.as_str(), *n)
            })
            .collect();
        let mut by_outcome = by_outcome;
        by_outcome.sort();
        assert_eq!(by_outcome, [("accepted", 2), ("replayed", 1), ("validation_failed", 1)]);
    }
}
