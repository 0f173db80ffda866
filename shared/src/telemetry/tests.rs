use super::logs::{Process, Setup};
use super::*;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Where a test's subscriber writes.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn process() -> Process {
    Process {
        service: "questionnaire-api".into(),
        function_name: Some("stack-a-SubmitQuestionnaire".into()),
        function_memory_size: Some(256),
    }
}

/// What `log` writes under the subscriber `setup` makes.
fn written(setup: Setup, log: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing::subscriber::with_default(setup.subscriber(move || writer.clone()), log);
    buffer.text()
}

/// The JSON lines `log` writes with `directives` as the filter.
fn json_lines(directives: &str, log: impl FnOnce()) -> Vec<Value> {
    let setup = Setup {
        process: process(),
        json: true,
        directives: directives.into(),
    };
    written(setup, log)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn context(request_id: &str) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = request_id.into();
    context.invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:stack-a-SubmitQuestionnaire".into();
    context.xray_trace_id = Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into());
    context
}

#[test]
fn a_json_line_has_the_powertools_keys_the_invocation_the_spans_and_the_event_fields() {
    let lines = json_lines("info", || {
        let _invocation = invocation_span(&context("lambda-request-1"), true).entered();
        let _request = tracing::info_span!("request", api_request_id = "gateway-request-1").entered();
        tracing::info!(
            status = 201u16,
            code = "accepted",
            service = "not-the-service",
            "answered"
        );
    });
    let [line] = lines.as_slice() else { panic!("{lines:?}") };
    assert_eq!(line["level"], "INFO");
    let timestamp = line["timestamp"].as_str().unwrap();
    let rfc3339_millis_utc = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").unwrap();
    assert!(rfc3339_millis_utc.is_match(timestamp), "{timestamp}");
    assert_eq!(line["message"], "answered");
    assert_eq!(line["target"], module_path!());
    assert_eq!(
        line["service"], "questionnaire-api",
        "a field does not replace a key of the line"
    );
    assert_eq!(line["function_name"], "stack-a-SubmitQuestionnaire");
    assert_eq!(line["function_memory_size"], 256);
    assert_eq!(line["function_request_id"], "lambda-request-1");
    assert_eq!(
        line["function_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:function:stack-a-SubmitQuestionnaire"
    );
    assert!(line["xray_trace_id"].as_str().unwrap().starts_with("Root=1-5759e988"));
    assert_eq!(line["cold_start"], true);
    assert_eq!(line["api_request_id"], "gateway-request-1");
    assert_eq!(line["status"], 201);
    assert_eq!(line["code"], "accepted");
    let text = line.to_string();
    assert_eq!(text.matches("\"service\"").count(), 1, "{text}");
}

#[test]
fn the_runtimes_span_gives_the_same_one_request_id_key() {
    let lines = json_lines("info", || {
        // As lambda_runtime names its span's fields.
        let _runtime = tracing::info_span!(
            "Lambda runtime invoke",
            requestId = "lambda-request-2",
            xrayTraceId = "Root=1-2"
        )
        .entered();
        tracing::warn!("outside the function's own span");
        let _invocation = invocation_span(&context("lambda-request-2"), false).entered();
        tracing::warn!("inside both");
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["function_request_id"], "lambda-request-2", "{line}");
        assert!(line["xray_trace_id"].is_string(), "{line}");
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        for other in ["requestId", "request_id", "xrayTraceId"] {
            assert!(!keys.iter().any(|k| *k == other), "{other} in {line}");
        }
    }
    assert_eq!(lines[1]["cold_start"], false);
}

#[test]
fn a_stricter_filter_drops_info_lines_but_keeps_the_invocations_fields_on_the_rest() {
    let lines = json_lines("warn", || {
        let _invocation = invocation_span(&context("lambda-request-3"), false).entered();
        let _runtime = tracing::info_span!("Lambda runtime invoke", requestId = "lambda-request-3").entered();
        tracing::info!("dropped");
        tracing::warn!("kept");
    });
    let [line] = lines.as_slice() else { panic!("{lines:?}") };
    assert_eq!(line["message"], "kept");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["function_request_id"], "lambda-request-3");
}

#[test]
fn a_filter_that_does_not_parse_falls_back_to_info() {
    let lines = json_lines("shared=loud", || {
        tracing::debug!("dropped");
        tracing::info!("kept");
    });
    let messages: Vec<&Value> = lines.iter().map(|line| &line["message"]).collect();
    assert_eq!(messages, ["kept"]);
}

#[test]
fn without_lambdas_json_format_lines_are_text() {
    let setup = Setup {
        process: process(),
        json: false,
        directives: "info".into(),
    };
    let text = written(setup, || tracing::info!(rows = 3u64, "imported"));
    assert!(text.contains("imported") && text.contains("rows=3"), "{text}");
    assert!(serde_json::from_str::<Value>(text.trim()).is_err(), "{text}");
}

#[test]
fn only_the_first_invocation_of_a_process_is_a_cold_start() {
    let cold = ColdStart::new();
    assert!(cold.take());
    assert!(!cold.take());
    assert!(!cold.take());
}

fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
    Env::from_lookup(move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
}

#[test]
fn the_setup_follows_lambdas_variables_and_rust_log() {
    let lambda = Setup::from_env(
        &env(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "FATAL"),
            ("AWS_LAMBDA_FUNCTION_NAME", "stack-a-ImportCsv"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ]),
        "csv-import",
    );
    assert!(lambda.json);
    assert_eq!(lambda.directives, "error", "tracing has no FATAL: its nearest level");
    assert_eq!(
        lambda.process,
        Process {
            service: "csv-import".into(),
            function_name: Some("stack-a-ImportCsv".into()),
            function_memory_size: Some(512),
        }
    );

    let configured = Setup::from_env(
        &env(&[
            ("AWS_LAMBDA_LOG_FORMAT", "Text"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("RUST_LOG", "info,shared::import=debug"),
            ("POWERTOOLS_SERVICE_NAME", "clinical-import"),
        ]),
        "csv-import",
    );
    assert!(!configured.json);
    assert_eq!(
        configured.directives, "info,shared::import=debug",
        "RUST_LOG decides in the process"
    );
    assert_eq!(configured.process.service, "clinical-import");
    assert_eq!(configured.process.function_name, None);

    let bare = Setup::from_env(&env(&[]), "audit-trail");
    assert!(!bare.json);
    assert_eq!(bare.directives, "info");
}
