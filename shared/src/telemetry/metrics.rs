//! CloudWatch metrics in embedded metric format (EMF): JSON lines in the function's log that CloudWatch turns into
//! metrics, so recording one costs no API call and no latency. The names are the contract of the alarms in
//! `template.yaml`; values are counts and durations only.
//!
//! The `metrics` facade records; `metrics_cloudwatch_embedded` aggregates and writes the EMF lines when the
//! function flushes, once per invocation, after its handler has returned (no task is left writing then).
//!
//! Every metric has the dimension [`STACK`], the stack's name: two stacks in one account and namespace then write
//! different metrics, and each stack's alarms read its own. CloudWatch tells metrics apart by their whole dimension
//! set, so an alarm names exactly the set a metric is written with: `{Stack}` for the import's metrics,
//! `{Stack, Outcome}` for [`SUBMISSIONS`].

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
/// The dimension of every metric: the stack's name (`STACK_NAME`, which `template.yaml` sets to `AWS::StackName`).
pub const STACK: &str = "Stack";

/// The process's metrics, written to standard output in EMF.
pub struct Metrics(&'static metrics_cloudwatch_embedded::Collector);

impl Metrics {
    /// Installs the process-wide recorder; the namespace is `METRICS_NAMESPACE` (default `ClinicalIngest`), the
    /// [`STACK`] dimension `STACK_NAME` (required: without it the alarms would read none of the metrics). Once per
    /// process, in `main`.
    pub fn install<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let namespace = env.parsed_or("METRICS_NAMESPACE", "ClinicalIngest".to_owned(), |n: &String| {
            (1..=255).contains(&n.len()) && !n.starts_with("AWS/") && n.bytes().all(|b| b.is_ascii_graphic())
        })?;
        let stack = env.required("STACK_NAME")?;
        if !(stack.len() <= 255 && stack.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(ConfigError::Invalid {
                name: "STACK_NAME",
                value: stack,
                reason: "a stack name: at most 255 visible ASCII characters".into(),
            });
        }
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace.clone())
            .with_dimension(STACK, stack)
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

    /// Writes what was recorded since the last flush to standard output; a failure to write the log is logged,
    /// never fatal.
    pub fn flush(&self) {
        self.flush_to(std::io::stdout().lock());
    }

    /// Like [`Self::flush`], to `writer`: one EMF line per dimension set.
    pub fn flush_to(&self, writer: impl std::io::Write) {
        if let Err(error) = self.0.flush(writer) {
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
        assert!(
            labels.is_empty(),
            "the stack's dimension alone: the alarms name exactly that set"
        );
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

    /// The process-wide recorder, installed once for the tests of this binary. Other tests may record into it
    /// too; what is checked here is the shape of the lines, not their values.
    fn installed() -> &'static Metrics {
        static INSTALLED: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();
        INSTALLED.get_or_init(|| {
            let env = Env::from_lookup(|name| match name {
                "METRICS_NAMESPACE" => Some("ClinicalIngestTest".to_owned()),
                "STACK_NAME" => Some("stack-a".to_owned()),
                _ => None,
            });
            Metrics::install(&env).expect("the recorder installs")
        })
    }

    #[test]
    fn every_emf_line_carries_the_stack_and_names_the_dimension_set_the_alarms_read() {
        let metrics = installed();
        import_ended(ImportEnded {
            imported: 3,
            rejected: 1,
            not_reached: 0,
            not_completed: true,
            duration: Some(Duration::from_millis(20)),
        });
        submission_answered(201, None);
        let mut written = Vec::new();
        metrics.flush_to(&mut written);

        let lines: Vec<serde_json::Value> = String::from_utf8(written)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let mut seen = Vec::new();
        for line in &lines {
            let [directive] = line["_aws"]["CloudWatchMetrics"].as_array().unwrap().as_slice() else {
                panic!("one directive per line: {line}")
            };
            assert_eq!(directive["Namespace"], "ClinicalIngestTest", "{line}");
            assert_eq!(line[STACK], "stack-a", "{line}");
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                let expected = if name == SUBMISSIONS {
                    serde_json::json!([[STACK, OUTCOME]])
                } else {
                    serde_json::json!([[STACK]])
                };
                assert_eq!(directive["Dimensions"], expected, "{name} in {line}");
                seen.push(name.to_owned());
            }
        }
        for name in [
            ROWS_IMPORTED,
            ROWS_REJECTED,
            IMPORTS_NOT_COMPLETED,
            IMPORT_DURATION,
            SUBMISSIONS,
        ] {
            assert!(seen.iter().any(|s| s == name), "{name} not written: {lines:?}");
        }
    }

    #[test]
    fn the_recorder_needs_the_stacks_name() {
        let env = Env::from_lookup(|_| None);
        let Err(error) = Metrics::install(&env) else {
            panic!("installed without a stack name")
        };
        assert!(matches!(error, ConfigError::Missing("STACK_NAME")), "{error}");
    }
}
