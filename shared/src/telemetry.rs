//! Structured logging. Fields carry kinds, ids, counts and error codes — never names or other patient values.

/// Installs the subscriber once per process: honours `RUST_LOG` and Lambda's JSON log format setting.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
