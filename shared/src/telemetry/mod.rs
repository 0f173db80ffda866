//! Structured logging and metrics. Fields and metrics carry kinds, ids, counts, durations and error codes — never
//! names or other patient values.

pub mod logs;
pub mod metrics;

use crate::config::Env;
use std::sync::atomic::{AtomicBool, Ordering};

/// Installs the subscriber once per process: JSON lines under Lambda's JSON log format, text otherwise (see
/// [`logs`]). `default_service` is the `service` key when `POWERTOOLS_SERVICE_NAME` is unset.
pub fn init(default_service: &str) {
    logs::Setup::from_env(&Env::process(), default_service).install(std::io::stdout);
}

/// Whether an invocation is the process's first.
pub struct ColdStart(AtomicBool);

impl ColdStart {
    pub const fn new() -> Self {
        Self(AtomicBool::new(true))
    }

    /// True the first time only.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

impl Default for ColdStart {
    fn default() -> Self {
        Self::new()
    }
}

static COLD_START: ColdStart = ColdStart::new();

/// The span one invocation runs in: Lambda's request id (`function_request_id`), the function's ARN, the X-Ray trace
/// id and whether this is the process's first invocation (`cold_start`). Every line logged inside carries them.
pub fn invocation(context: &lambda_runtime::Context) -> tracing::Span {
    invocation_span(context, COLD_START.take())
}

/// At level `ERROR` so that no log filter that lets any line through disables it (a disabled span lends its fields
/// to no line).
fn invocation_span(context: &lambda_runtime::Context, cold_start: bool) -> tracing::Span {
    tracing::error_span!(
        "invocation",
        function_request_id = %context.request_id,
        function_arn = %context.invoked_function_arn,
        xray_trace_id = context.xray_trace_id.as_deref(),
        cold_start,
    )
}

#[cfg(test)]
mod tests;
