//! CloudWatch metrics in embedded metric format (EMF): JSON lines in the function's log that CloudWatch turns into
//! metrics, so recording one costs no API call and no latency. The names are the contract of the alarms in
//! `template.yaml`; values are counts and durations only.
//!
//! The `metrics` facade records; `metrics_cloudwatch_embedded` aggregates and writes the EMF lines when the
//! function flushes, once per invocation, after its handler has returned (no task is left writing then).

use crate::config::{ConfigError, Env};
use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use std::time::Duration;

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

/// What one import that ended comes to, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportEnded {
    pub imported: u64,
    pub rejected: u64,
    pub not_reached: u64,
    /// Whether it ended without importing the file (the import decides which statuses those are).
    pub not_completed: bool,
    /// From its first invocation to its last, when known.
    pub duration: Option<Duration>,
}

/// An import reached a final status: its rows for the whole file, its duration, whether it failed to complete.
pub fn import_ended(ended: ImportEnded) {
    counter!(ROWS_IMPORTED).increment(ended.imported);
    counter!(ROWS_REJECTED).increment(ended.rejected);
    counter!(ROWS_NOT_REACHED).increment(ended.not_reached);
    counter!(IMPORTS_NOT_COMPLETED).increment(u64::from(ended.not_completed));
    if let Some(duration) = ended.duration {
        histogram!(IMPORT_DURATION).record(duration.as_secs_f64() * 1000.0);
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

    #[test]
    fn an_ended_import_records_its_rows_its_duration_and_whether_it_completed() {
        let ended = ImportEnded {
            imported: 40,
            rejected: 2,
            not_reached: 0,
            not_completed: false,
            duration: Some(Duration::from_millis(150_250)),
        };
        let all = recorded(|| import_ended(ended));
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

        let failed = ImportEnded {
            not_completed: true,
            duration: None,
            ..ended
        };
        let all = recorded(|| import_ended(failed));
        assert!(counters(&all).contains(&(IMPORTS_NOT_COMPLETED, 1)), "{all:?}");
        assert!(all.iter().all(|(name, ..)| name != IMPORT_DURATION), "{all:?}");
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
