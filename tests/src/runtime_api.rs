//! A local Lambda for one function binary: the Runtime API with real deadlines, and the Invoke API for asynchronous
//! invocations (`InvocationType: Event`), which the function reaches through `AWS_ENDPOINT_URL_LAMBDA`.
//!
//! `cargo lambda watch` sends a constant deadline and runs Invoke synchronously, so deadlines and continuations are
//! exercised here. Like Lambda, the fixture runs one process for successive invocations and freezes it (SIGSTOP)
//! whenever it waits for its next event, thawing it (SIGCONT) to deliver one: a task left running after a handler
//! returned gets no time until the next invocation, as on Lambda. Each invocation gets `timeout` from its start.

use crate::http_server::Server;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, Notify};

/// What the binary did with one invocation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `response` or `error`.
    pub kind: String,
    pub body: Value,
    /// When the invocation was delivered and when its result arrived, as Unix epoch milliseconds.
    pub started_ms: u64,
    pub at_ms: u64,
    /// The deadline that was handed out, as Unix epoch milliseconds.
    pub deadline_ms: u64,
    /// Peak resident memory of the function process during the invocation (VmHWM, reset at its start), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// Whether the binary polled for its next event after answering (its handler had returned).
    pub polled_again: bool,
    /// From the delivery of the event (the process thawed) to its answer, at the fixture's clock.
    pub latency: Duration,
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

struct Delivery {
    id: String,
    deadline_ms: u64,
    payload: Bytes,
}

struct Running {
    id: String,
    started_ms: u64,
    deadline_ms: u64,
    started: Instant,
    payload: Bytes,
}

#[derive(Default)]
struct State {
    pid: Option<u32>,
    timeout: Duration,
    queue: VecDeque<Bytes>,
    /// The function's poll for its next event, held while nothing is queued (the process is frozen then).
    waiting: Option<oneshot::Sender<Delivery>>,
    running: Option<Running>,
    outcomes: Vec<Outcome>,
    delivered: u64,
    frozen: bool,
    /// Let the process run between invocations instead of freezing it.
    unfrozen: bool,
    /// Deliver no more invocations than this; later ones stay queued.
    max_deliveries: Option<u64>,
    /// Retry an invocation that answered with an error, up to this many times, this long after (as Lambda retries a
    /// failed asynchronous invocation); and the retries waiting.
    retries: Option<(u32, Duration)>,
    retrying: usize,
    /// Retries so far, per payload.
    attempts: std::collections::HashMap<Bytes, u32>,
    spawned: Option<Instant>,
    /// From the start of the process to its first poll for an event: its init phase.
    init: Option<Duration>,
}

impl State {
    /// Hands the next queued event to the waiting function, thawing it first.
    fn dispatch(&mut self) {
        if self.waiting.is_none() || self.queue.is_empty() || self.max_deliveries.is_some_and(|m| self.delivered >= m) {
            return;
        }
        let (Some(waiter), Some(payload)) = (self.waiting.take(), self.queue.pop_front()) else {
            return;
        };
        self.delivered += 1;
        if let Some(pid) = self.pid {
            // The peak memory of this invocation alone.
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
            if self.frozen {
                signal(pid, "CONT");
                self.frozen = false;
            }
        }
        let started_ms = now_ms();
        let delivery = Delivery {
            id: format!("fixture-invocation-{}", self.delivered),
            deadline_ms: started_ms + self.timeout.as_millis() as u64,
            payload,
        };
        self.running = Some(Running {
            id: delivery.id.clone(),
            started_ms,
            deadline_ms: delivery.deadline_ms,
            started: Instant::now(),
            payload: delivery.payload.clone(),
        });
        let _ = waiter.send(delivery);
    }
}

fn signal(pid: u32, name: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status();
}

/// User and system CPU time of a process so far, its finished threads included (`/proc/<pid>/stat`, in clock ticks
/// of 10 ms: the kernel's `USER_HZ` is 100 on Linux).
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One function process and its Lambda.
pub struct Lambda {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    child: tokio::process::Child,
    log: PathBuf,
    _server: Server,
}

impl Lambda {
    /// Starts `binary` with `env` (and the variables Lambda sets); each invocation gets `timeout`.
    pub async fn start(binary: &Path, env: &[(&str, String)], timeout: Duration) -> Self {
        let state = Arc::new(Mutex::new(State {
            timeout,
            ..State::default()
        }));
        let changed = Arc::new(Notify::new());
        let server = {
            let (state, changed) = (Arc::clone(&state), Arc::clone(&changed));
            Server::start(0, move |request, _| {
                let (state, changed) = (Arc::clone(&state), Arc::clone(&changed));
                async move { Ok(route(request, state, changed).await) }
            })
            .await
        };
        let address = server.url.trim_start_matches("http://").to_owned();
        // The function's log lines, kept where the checks after the suites read them.
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let (log_path, log) = crate::logs::file_at(&name);
        let mut command = tokio::process::Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", &address)
            .env("AWS_ENDPOINT_URL_LAMBDA", &server.url)
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            // As template.yaml's Globals set it (AWS::StackName); the local stack's name is `local`.
            .env("STACK_NAME", "local")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("a second handle on the log file")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        // Noted before the spawn: a fast binary may poll before `spawn` returns here.
        state.lock().unwrap().spawned = Some(Instant::now());
        let child = command.spawn().expect("start the function binary");
        state.lock().unwrap().pid = child.id();
        Self {
            state,
            changed,
            child,
            log: log_path,
            _server: server,
        }
    }

    /// How long the process took from its start to its first poll for an event (its init phase), once it polled.
    pub fn init_time(&self) -> Option<Duration> {
        self.state.lock().unwrap().init
    }

    /// Waits for the first poll for an event: the end of the init phase.
    pub async fn until_initialised(&mut self, limit: Duration) -> Duration {
        self.wait(limit, |state| state.init.is_some()).await;
        self.init_time().expect("the function polled")
    }

    /// CPU time (user and system) the function process has used so far.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.state.lock().unwrap().pid.expect("a running function");
        process_cpu_time(pid).expect("the function process's /proc/<pid>/stat")
    }

    /// Lets the process run while it waits for its next event, instead of freezing it as Lambda does: whatever it
    /// left running after answering goes on, in plain view.
    pub fn keep_running_between_invocations(&self) {
        self.state.lock().unwrap().unfrozen = true;
    }

    /// Delivers no more than `n` invocations in all; the asynchronous invocations queued after that stay queued
    /// until a later call raises the limit.
    pub fn deliver_at_most(&self, n: u64) {
        let mut state = self.state.lock().unwrap();
        state.max_deliveries = Some(n);
        state.dispatch();
    }

    /// Whether the process is stopped now (by the fixture's freeze, or by anything else), as the kernel says.
    pub fn is_stopped(&self) -> bool {
        let pid = self.state.lock().unwrap().pid.expect("a running function");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the function's /proc/<pid>/stat");
        // The state follows the command name, which is in parentheses and may contain spaces.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "T" || state == "t")
    }

    /// Invocations queued and not delivered.
    pub fn queued(&self) -> usize {
        self.state.lock().unwrap().queue.len()
    }

    /// Gives the invocations that start from now on `timeout` (a function's timeout changed between invocations).
    pub fn set_timeout(&self, timeout: Duration) {
        self.state.lock().unwrap().timeout = timeout;
    }

    /// Retries an invocation that answers with an error, up to `times` times, `after` its answer, as Lambda retries a
    /// failed asynchronous invocation (twice, after about one and two minutes, by default).
    pub fn retry_errors(&self, times: u32, after: Duration) {
        self.state.lock().unwrap().retries = Some((times, after));
    }

    /// Queues an asynchronous invocation with `payload`, as `Invoke` with `InvocationType: Event` does.
    pub fn invoke_async(&self, payload: &Value) {
        let mut state = self.state.lock().unwrap();
        state.queue.push_back(Bytes::from(payload.to_string()));
        state.dispatch();
    }

    /// Waits until `done` holds for the recorded outcomes (or the process is frozen with nothing queued, which
    /// also ends the wait); returns every outcome so far.
    async fn wait(&mut self, limit: Duration, done: impl Fn(&State) -> bool) -> Vec<Outcome> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.state.lock().unwrap();
                let idle =
                    state.waiting.is_some() && state.queue.is_empty() && state.running.is_none() && state.retrying == 0;
                if done(&state) || idle {
                    return state.outcomes.clone();
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                status = self.child.wait() => panic!("the function exited: {status:?}"),
                _ = tokio::time::sleep_until(until) => panic!("the function did not get there within {limit:?}"),
            }
        }
    }

    /// Runs every queued invocation, and those they queue, until the function waits with nothing left to do.
    pub async fn until_idle(&mut self, limit: Duration) -> Vec<Outcome> {
        self.wait(limit, |_| false).await
    }

    /// Waits for the `n`th outcome (and the function's poll that follows it).
    pub async fn until_answered(&mut self, n: usize, limit: Duration) -> Vec<Outcome> {
        self.wait(limit, |state| {
            state.outcomes.len() >= n && state.outcomes[n - 1].polled_again
        })
        .await
    }

    /// Waits until an invocation after the `n`th outcome is running.
    pub async fn until_running(&mut self, n: usize, limit: Duration) {
        self.wait(limit, |state| state.outcomes.len() >= n && state.running.is_some())
            .await;
    }

    /// The JSON objects the function has written to its log so far (its other lines are skipped).
    pub fn log_lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Kills the process (a crash: whatever it was doing stops here).
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Runs `binary` under the fixture for one invocation of `event` with `timeout`, then stops it; the invocations it
/// queues are not run.
pub async fn invoke_once(binary: &Path, event: &Value, timeout: Duration, env: &[(&str, String)]) -> Outcome {
    let mut lambda = Lambda::start(binary, env, timeout).await;
    lambda.invoke_async(event);
    let outcomes = lambda.until_answered(1, timeout + Duration::from_secs(60)).await;
    lambda.kill().await;
    outcomes
        .into_iter()
        .next()
        .expect("the function answered its invocation")
}

fn reply(status: u16, headers: &[(&str, String)], body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.body(Full::new(body)).unwrap()
}

async fn route(request: Request<Incoming>, state: Arc<Mutex<State>>, changed: Arc<Notify>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let event_invocation = request
        .headers()
        .get("x-amz-invocation-type")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Event"));
    if path.ends_with("/runtime/invocation/next") {
        let (sender, receiver) = oneshot::channel();
        {
            let mut state = state.lock().unwrap();
            if let Some(last) = state.outcomes.last_mut() {
                last.polled_again = true;
            }
            if state.init.is_none() {
                state.init = state.spawned.map(|spawned| spawned.elapsed());
            }
            state.waiting = Some(sender);
            // Between invocations the process is frozen, as Lambda freezes it.
            let nothing_to_deliver =
                state.queue.is_empty() || state.max_deliveries.is_some_and(|m| state.delivered >= m);
            if let Some(pid) = state
                .pid
                .filter(|_| nothing_to_deliver && !state.frozen && !state.unfrozen)
            {
                signal(pid, "STOP");
                state.frozen = true;
            }
            state.dispatch();
        }
        changed.notify_waiters();
        let Ok(delivery) = receiver.await else {
            return reply(500, &[], Bytes::new());
        };
        changed.notify_waiters();
        return reply(
            200,
            &[
                ("lambda-runtime-aws-request-id", delivery.id),
                ("lambda-runtime-deadline-ms", delivery.deadline_ms.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:import-csv".into(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
                ),
            ],
            delivery.payload,
        );
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if path.starts_with("/2015-03-31/functions/") && path.ends_with("/invocations") {
        if !event_invocation {
            return reply(
                400,
                &[],
                Bytes::from_static(b"{\"message\":\"only Event invocations\"}"),
            );
        }
        let mut state = state.lock().unwrap();
        state.queue.push_back(body);
        state.dispatch();
        drop(state);
        changed.notify_waiters();
        return reply(202, &[], Bytes::new());
    }
    let kind = if path.ends_with("/response") {
        "response"
    } else if path.ends_with("/error") {
        "error"
    } else {
        "unexpected"
    };
    let state_handle = Arc::clone(&state);
    {
        let mut state = state.lock().unwrap();
        let running = state.running.take();
        let (started_ms, deadline_ms) = running.as_ref().map_or((0, 0), |r| (r.started_ms, r.deadline_ms));
        let latency = running.as_ref().map_or(Duration::ZERO, |r| r.started.elapsed());
        let answered = running.as_ref().is_some_and(|r| path.contains(&r.id));
        if let (Some(running), Some((times, after)), true) = (&running, state.retries, answered && kind == "error") {
            let attempt = state.attempts.entry(running.payload.clone()).or_insert(0);
            if *attempt < times {
                *attempt += 1;
                state.retrying += 1;
                let (state, changed, payload) =
                    (Arc::clone(&state_handle), Arc::clone(&changed), running.payload.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let mut state = state.lock().unwrap();
                    state.retrying -= 1;
                    state.queue.push_back(payload);
                    state.dispatch();
                    drop(state);
                    changed.notify_waiters();
                });
            }
        }
        let outcome = Outcome {
            kind: if answered {
                kind.to_owned()
            } else {
                format!("{kind} (not the running invocation)")
            },
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            started_ms,
            at_ms: now_ms(),
            deadline_ms,
            peak_rss_kib: state.pid.and_then(peak_rss_kib),
            polled_again: false,
            latency,
        };
        state.outcomes.push(outcome);
    }
    changed.notify_waiters();
    reply(202, &[], Bytes::new())
}
