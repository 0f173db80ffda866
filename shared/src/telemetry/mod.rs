//! Structured logging and metrics. Fields and metrics carry kinds, ids, counts, durations and error codes — never
//! names or other patient values.

pub mod metrics;

/// Installs the subscriber once per process: honours `RUST_LOG` and Lambda's JSON log format setting.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
