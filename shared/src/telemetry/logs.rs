//! The functions' log lines. Under Lambda's JSON log format (`AWS_LAMBDA_LOG_FORMAT=JSON`, set by `LogFormat: JSON`
//! in `template.yaml`) each line is one JSON object with the keys of Powertools for AWS Lambda's logger, so that
//! queries written for those read ours too, and so that Lambda's log-level filtering (`ApplicationLogLevel`) reads
//! each line's `level` and `timestamp` instead of taking every line for `INFO`. Otherwise (local development) lines
//! are tracing's text format.
//!
//! The keys of a JSON line:
//! - `level` (`TRACE` … `ERROR`), `timestamp` (RFC 3339, UTC, milliseconds), `message`, and `target` (the module, or
//!   `audit` for the API's audit lines; what `RUST_LOG` directives name);
//! - the process's `service`, `function_name` and `function_memory_size`, from the environment ([`Process`]);
//! - the fields of the spans the line is in, outermost first, then the event's own fields, each under its own name.
//!   The invocation's span ([`super::invocation`]) gives `function_request_id`, `function_arn`, `xray_trace_id` and
//!   `cold_start`; the runtime's own span (`requestId`, `xrayTraceId`, `tenantId`) is written under the same
//!   snake-case names, so a line has one request id key whichever span it is in.
//!
//! A field named like one of the keys above is left out rather than written twice. Values are what the code logs:
//! ids, codes, counts, durations, never patient values.

use crate::config::Env;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// What every line of this process says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `POWERTOOLS_SERVICE_NAME` (set per function by `template.yaml`), else the function's own default.
    pub service: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`, set by Lambda.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB), set by Lambda.
    pub function_memory_size: Option<u32>,
}

impl Process {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>, default_service: &str) -> Self {
        Self {
            service: env
                .optional("POWERTOOLS_SERVICE_NAME")
                .unwrap_or_else(|| default_service.to_owned()),
            function_name: env.optional("AWS_LAMBDA_FUNCTION_NAME"),
            function_memory_size: env
                .optional("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .and_then(|size| size.trim().parse().ok()),
        }
    }
}

/// How the process logs, decided from its environment.
pub struct Setup {
    pub process: Process,
    /// Lambda's `AWS_LAMBDA_LOG_FORMAT` is `JSON`.
    pub json: bool,
    /// `RUST_LOG` directives, else the level of Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.
    pub directives: String,
}

impl Setup {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>, default_service: &str) -> Self {
        let json = env
            .optional("AWS_LAMBDA_LOG_FORMAT")
            .is_some_and(|format| format.trim().eq_ignore_ascii_case("json"));
        let directives = env
            .optional("RUST_LOG")
            .or_else(|| env.optional("AWS_LAMBDA_LOG_LEVEL").map(|level| lambda_level(&level)))
            .unwrap_or_else(|| "info".to_owned());
        Self {
            process: Process::from_env(env, default_service),
            json,
            directives,
        }
    }

    /// Installs the process-wide subscriber, writing to `writer`; once per process.
    pub fn install<W>(self, writer: W)
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        if let Err(error) = tracing::subscriber::set_global_default(self.subscriber(writer)) {
            tracing::warn!(%error, "a log subscriber was already installed; it stays");
        }
    }

    /// The subscriber [`Self::install`] installs.
    pub fn subscriber<W>(self, writer: W) -> Box<dyn Subscriber + Send + Sync>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        // Directives that do not parse are skipped; with none left, `info`.
        let filter = EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .parse_lossy(&self.directives);
        // No colour codes: the lines go to files and log groups, not terminals.
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(writer);
        if self.json {
            Box::new(
                builder
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonLines::new(self.process))
                    .finish(),
            )
        } else {
            Box::new(builder.finish())
        }
    }
}

/// Lambda's application log level (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`) as a tracing directive.
fn lambda_level(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "fatal" => "error".to_owned(),
        other => other.to_owned(),
    }
}

/// Formats each event as one JSON line with the keys described in the module documentation. Span fields must be
/// recorded as JSON (`JsonFields`), which is how [`Setup::install`] sets it up.
pub struct JsonLines {
    process: Process,
}

impl JsonLines {
    pub fn new(process: Process) -> Self {
        Self { process }
    }
}

/// The keys this formatter writes itself; fields of the same names are left out.
const OWN_KEYS: [&str; 7] = [
    "level",
    "timestamp",
    "message",
    "target",
    "service",
    "function_name",
    "function_memory_size",
];

/// Field names of lambda_runtime's invocation span, and ours for them.
const RUNTIME_NAMES: [(&str, &str); 3] = [
    ("requestId", "function_request_id"),
    ("xrayTraceId", "xray_trace_id"),
    ("tenantId", "tenant_id"),
];

#[derive(Serialize)]
struct Line<'a> {
    level: &'a str,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Value>,
    target: &'a str,
    service: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_memory_size: Option<u32>,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
            let extensions = span.extensions();
            let Some(recorded) = extensions.get::<FormattedFields<JsonFields>>() else {
                continue;
            };
            // A span without fields has recorded an empty string, not `{}`.
            if let Ok(span_fields) = serde_json::from_str::<Map<String, Value>>(&recorded.fields) {
                for (name, value) in span_fields {
                    fields.insert(runtime_name(name), value);
                }
            }
        }
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message");
        for key in OWN_KEYS {
            fields.remove(key);
        }
        let metadata = event.metadata();
        let line = Line {
            level: metadata.level().as_str(),
            timestamp: crate::time::rfc3339_millis(time::OffsetDateTime::now_utc()),
            message,
            target: metadata.target(),
            service: &self.process.service,
            function_name: self.process.function_name.as_deref(),
            function_memory_size: self.process.function_memory_size,
            fields,
        };
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

fn runtime_name(name: String) -> String {
    RUNTIME_NAMES
        .iter()
        .find(|(theirs, _)| *theirs == name)
        .map_or(name, |(_, ours)| (*ours).to_owned())
}

/// An event's fields as JSON values: numbers and booleans as such, everything else as its text.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}
