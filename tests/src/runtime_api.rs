//! A minimal Lambda Runtime API on loopback that hands a real deadline to a function binary.
//!
//! `cargo lambda watch` sends a constant deadline, so the deadline handling of the built binary is exercised here:
//! the fixture serves one event with `lambda-runtime-deadline-ms` set to a real timestamp, records the response and
//! when it came, and notices the binary's next poll (proof that the handler returned).

use crate::http_server::Server;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Mutex};

/// What the binary did with the invocation.
#[derive(Debug)]
pub struct Outcome {
    /// `response` or `error`.
    pub kind: String,
    pub body: Value,
    /// When the result arrived, as Unix epoch milliseconds.
    pub at_ms: u64,
    /// The deadline that was handed out, as Unix epoch milliseconds.
    pub deadline_ms: u64,
    /// Peak resident memory of the function process (VmHWM), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// Whether the binary polled for the next event after answering (its handler had returned).
    pub polled_again: bool,
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The binary `name` as built by `cargo build` into the same `target/<profile>` as the running executable (a test
/// runs from `target/<profile>/deps`, a binary from `target/<profile>`).
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let mut dir = exe.parent().expect("target/<profile>");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (scripts/test does)",
        path.display()
    );
    path
}

enum Event {
    Result { kind: String, body: Bytes },
    PolledAgain,
}

/// Runs `binary` under the fixture for one invocation of `event` with `budget` until the deadline.
pub async fn invoke_once(binary: &PathBuf, event: &Value, budget: Duration, env: &[(&str, String)]) -> Outcome {
    let deadline_ms = now_ms() + budget.as_millis() as u64;
    let (events, mut received) = mpsc::channel::<Event>(4);
    let served = Arc::new(Mutex::new(false));
    let payload = Bytes::from(event.to_string());
    let server = Server::start(0, move |request, _| {
        let (events, served, payload) = (events.clone(), Arc::clone(&served), payload.clone());
        async move { Ok(route(request, events, served, payload, deadline_ms).await) }
    })
    .await;
    let addr = server.url.trim_start_matches("http://").to_owned();

    // The function's log lines, kept where the checks after the suites read them.
    let log = crate::logs::file("import-csv");
    let mut command = tokio::process::Command::new(binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", &addr)
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_FUNCTION_NAME", "import-csv")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "local")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("a second handle on the log file")))
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("start the function binary");
    let pid = child.id();

    let mut outcome = None;
    let mut polled_again = false;
    let limit = tokio::time::Instant::now() + budget + Duration::from_secs(60);
    while outcome.is_none() || !polled_again {
        let event = tokio::select! {
            event = received.recv() => event.expect("fixture alive"),
            status = child.wait() => panic!("the function exited early: {status:?}"),
            _ = tokio::time::sleep_until(limit) => panic!("no answer from the function"),
        };
        match event {
            Event::Result { kind, body } => {
                let at_ms = now_ms();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                outcome = Some((kind, body, at_ms));
            }
            Event::PolledAgain => polled_again = true,
        }
    }
    let peak_rss_kib = pid.and_then(peak_rss_kib);
    let _ = child.start_kill();
    let _ = child.wait().await;
    drop(server);
    let (kind, body, at_ms) = outcome.unwrap();
    Outcome {
        kind,
        body,
        at_ms,
        deadline_ms,
        peak_rss_kib,
        polled_again,
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn route(
    request: Request<Incoming>,
    events: mpsc::Sender<Event>,
    served: Arc<Mutex<bool>>,
    payload: Bytes,
    deadline_ms: u64,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        let mut served = served.lock().await;
        if !*served {
            *served = true;
            return Response::builder()
                .header("lambda-runtime-aws-request-id", "fixture-request-1")
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:import-csv",
                )
                .header(
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                )
                .body(Full::new(payload))
                .unwrap();
        }
        drop(served);
        let _ = events.send(Event::PolledAgain).await;
        // Like Lambda between invocations: no next event; the process waits (the test ends it).
        std::future::pending::<()>().await;
    }
    let kind = if path.ends_with("/response") {
        "response"
    } else if path.ends_with("/error") {
        "error"
    } else {
        "unexpected"
    };
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let _ = events
        .send(Event::Result {
            kind: kind.to_owned(),
            body,
        })
        .await;
    Response::builder().status(202).body(Full::new(Bytes::new())).unwrap()
}
