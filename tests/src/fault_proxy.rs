//! A fault-injecting, recording HTTP proxy on loopback, placed between a function's DynamoDB client and the local
//! API.
//!
//! Every `every`-th request of a kind (batch writes and other requests are counted apart) gets a fault, the faults
//! taken in turn from the list (or one fault goes to the n-th request of one operation only), so each kind is injected a known number of times whatever the timing: a DynamoDB
//! throttling error or a 500, a reset connection, a delay, a 500 after the request was forwarded (the write happened;
//! the client cannot know), or — batch writes only — a partial batch: part of it is written and the rest handed back
//! as `UnprocessedItems`, as DynamoDB does under load. Everything else is forwarded unchanged. The proxy also records
//! when each request arrived, when its answer went back and which operation it was, so a test can see traffic from
//! outside the process (and await it: [`Stats::until`]).

use crate::http_server::Server;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Throttle,
    ServerError,
    Reset,
    Delay,
    ServerErrorAfterForwarding,
    /// Batch writes only: the first half of the batch (rounded down: of one item, none) is written, the rest handed
    /// back unprocessed with one attribute added, so that only their key tells which they are.
    PartialBatch,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Reset,
        Fault::Delay,
        Fault::ServerErrorAfterForwarding,
        Fault::PartialBatch,
    ];
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: SystemTime,
    /// When the proxy handed its answer back (none for a reset connection, or while it is in progress): a request
    /// still in progress may still change the table.
    pub answered_at: Option<SystemTime>,
    /// The operation, from `X-Amz-Target` (e.g. `BatchWriteItem`).
    pub operation: String,
    pub fault: Option<Fault>,
    /// The backend's status, for a request that reached it whole.
    pub upstream: Option<u16>,
}

/// What the proxy did, per operation and per fault.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    seen: Mutex<Vec<Seen>>,
    /// Woken whenever a request arrives or is answered.
    changed: tokio::sync::Notify,
}

impl Stats {
    /// Waits until the requests so far satisfy `done` (e.g. some batch writes have been answered).
    pub async fn until(&self, done: impl Fn(&[Seen]) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so that a change between the look and the wait is not missed.
            changed.as_mut().enable();
            if done(&self.seen.lock().unwrap()) {
                return;
            }
            changed.await;
        }
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many times `fault` was injected into `operation` (any operation: `None`).
    pub fn injected(&self, fault: Fault, operation: Option<&str>) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.fault == Some(fault) && operation.is_none_or(|op| s.operation == op))
            .count()
    }

    /// Injected faults per kind, for a test's output.
    pub fn summary(&self) -> String {
        let seen = self.seen.lock().unwrap();
        let mut by_kind: HashMap<Fault, usize> = HashMap::new();
        for fault in seen.iter().filter_map(|s| s.fault) {
            *by_kind.entry(fault).or_default() += 1;
        }
        format!("{} requests, faults {by_kind:?}", seen.len())
    }
}

pub struct FaultProxy {
    pub url: String,
    pub stats: Arc<Stats>,
    _server: Server,
}

/// The n-th request of one operation (1-based) gets the fault, and no other request.
struct Once {
    operation: String,
    nth: u64,
    fault: Fault,
    seen: AtomicU64,
}

struct Plan {
    upstream: String,
    every: u64,
    batch_kinds: Vec<Fault>,
    other_kinds: Vec<Fault>,
    /// Requests so far: batch writes, others.
    counters: [AtomicU64; 2],
    once: Option<Once>,
    /// From this instant on, every request waits this long before it is forwarded.
    slow_from: Option<(std::time::Instant, Duration)>,
    client: reqwest::Client,
    stats: Arc<Stats>,
}

const BATCH_WRITE: &str = "BatchWriteItem";

impl FaultProxy {
    /// A proxy to `upstream` that injects a fault into every `every`-th request (0: none, a plain recorder), taking
    /// the kinds in turn from `kinds` (all kinds if empty; a partial batch only ever goes to a batch write).
    pub async fn start(upstream: &str, every: u64, kinds: &[Fault]) -> Self {
        let stats = Arc::new(Stats::default());
        let kinds = if kinds.is_empty() { &Fault::ALL[..] } else { kinds };
        let plan = Arc::new(Plan {
            upstream: upstream.trim_end_matches('/').to_owned(),
            every,
            batch_kinds: kinds.to_vec(),
            other_kinds: kinds.iter().copied().filter(|k| *k != Fault::PartialBatch).collect(),
            counters: Default::default(),
            once: None,
            slow_from: None,
            client: reqwest::Client::new(),
            stats: Arc::clone(&stats),
        });
        Self::serve(plan, stats).await
    }

    /// Like [`Self::start`], with faults only ever in batch writes: every other request is forwarded unchanged.
    pub async fn batch_writes(upstream: &str, every: u64, kinds: &[Fault]) -> Self {
        let stats = Arc::new(Stats::default());
        let plan = Arc::new(Plan {
            upstream: upstream.trim_end_matches('/').to_owned(),
            every,
            batch_kinds: kinds.to_vec(),
            other_kinds: Vec::new(),
            counters: Default::default(),
            once: None,
            slow_from: None,
            client: reqwest::Client::new(),
            stats: Arc::clone(&stats),
        });
        Self::serve(plan, stats).await
    }

    /// A proxy that injects `fault` into the `nth` request (from 1) of `operation` (e.g. `PutItem`) and nothing else.
    pub async fn once(upstream: &str, operation: &str, nth: u64, fault: Fault) -> Self {
        let stats = Arc::new(Stats::default());
        let plan = Arc::new(Plan {
            upstream: upstream.trim_end_matches('/').to_owned(),
            every: 0,
            batch_kinds: Vec::new(),
            other_kinds: Vec::new(),
            counters: Default::default(),
            once: Some(Once {
                operation: operation.to_owned(),
                nth,
                fault,
                seen: AtomicU64::new(0),
            }),
            slow_from: None,
            client: reqwest::Client::new(),
            stats: Arc::clone(&stats),
        });
        Self::serve(plan, stats).await
    }

    async fn serve(plan: Arc<Plan>, stats: Arc<Stats>) -> Self {
        let server = Server::start(0, move |request, _| {
            let plan = Arc::clone(&plan);
            async move { plan.handle(request).await }
        })
        .await;
        Self {
            url: server.url.clone(),
            stats,
            _server: server,
        }
    }

    /// A proxy that forwards every request unchanged, each one `delay` later once `after` has passed: a backend that
    /// slows down (DynamoDB throttling, a local API whose tables grow).
    pub async fn slow_after(upstream: &str, after: Duration, delay: Duration) -> Self {
        let stats = Arc::new(Stats::default());
        let plan = Arc::new(Plan {
            upstream: upstream.trim_end_matches('/').to_owned(),
            every: 0,
            batch_kinds: Vec::new(),
            other_kinds: Vec::new(),
            counters: Default::default(),
            once: None,
            slow_from: Some((std::time::Instant::now() + after, delay)),
            client: reqwest::Client::new(),
            stats: Arc::clone(&stats),
        });
        Self::serve(plan, stats).await
    }

    /// A proxy that injects nothing and records every request.
    pub async fn recorder(upstream: &str) -> Self {
        Self::start(upstream, 0, &[]).await
    }
}

fn dynamodb_error(status: u16, kind: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", kind)
        .body(Full::new(Bytes::from(format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"injected by the test proxy"}}"#
        ))))
        .unwrap()
}

fn operation(request: &Request<Incoming>) -> String {
    request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('.').next())
        .unwrap_or("")
        .to_owned()
}

impl Plan {
    fn pick(&self, operation: &str) -> Option<Fault> {
        if let Some(once) = &self.once {
            let hit = once.operation == operation && once.seen.fetch_add(1, Ordering::SeqCst) + 1 == once.nth;
            return hit.then_some(once.fault);
        }
        let (counter, kinds) = if operation == BATCH_WRITE {
            (&self.counters[0], &self.batch_kinds)
        } else {
            (&self.counters[1], &self.other_kinds)
        };
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if self.every == 0 || kinds.is_empty() || n % self.every != 0 {
            return None;
        }
        Some(kinds[((n / self.every - 1) % kinds.len() as u64) as usize])
    }

    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
        if let Some((from, delay)) = self.slow_from.filter(|(from, _)| std::time::Instant::now() >= *from) {
            let _ = from;
            tokio::time::sleep(delay).await;
        }
        let operation = operation(&request);
        let fault = self.pick(&operation);
        self.stats.requests.fetch_add(1, Ordering::SeqCst);
        let index = {
            let mut seen = self.stats.seen.lock().unwrap();
            seen.push(Seen {
                at: SystemTime::now(),
                answered_at: None,
                operation,
                fault,
                upstream: None,
            });
            seen.len() - 1
        };
        self.stats.changed.notify_waiters();
        let answer = self.answer(request, fault, index).await;
        if answer.is_ok() {
            self.stats.seen.lock().unwrap()[index].answered_at = Some(SystemTime::now());
            self.stats.changed.notify_waiters();
        }
        answer
    }

    async fn answer(
        &self,
        request: Request<Incoming>,
        fault: Option<Fault>,
        index: usize,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        match fault {
            Some(Fault::Throttle) => return Ok(dynamodb_error(400, "ThrottlingException")),
            Some(Fault::ServerError) => return Ok(dynamodb_error(500, "InternalServerError")),
            // An error from the service makes hyper drop the connection without an answer.
            Some(Fault::Reset) => return Err(std::io::Error::other("connection reset by the test proxy")),
            Some(Fault::Delay) => tokio::time::sleep(Duration::from_millis(300)).await,
            Some(Fault::PartialBatch) => return self.partial_batch(request).await,
            _ => {}
        }
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let forwarded = self.forward(&parts, body).await?;
        self.stats.seen.lock().unwrap()[index].upstream = Some(forwarded.status().as_u16());
        if fault == Some(Fault::ServerErrorAfterForwarding) {
            return Ok(dynamodb_error(500, "InternalServerError"));
        }
        Ok(forwarded)
    }

    /// Forwards the first half of each table's requests and answers with the rest as unprocessed, merged with what
    /// the backend itself left unprocessed.
    async fn partial_batch(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let mut batch: Value = serde_json::from_slice(&body).map_err(std::io::Error::other)?;
        let mut held = Map::new();
        if let Some(tables) = batch["RequestItems"].as_object_mut() {
            for (table, requests) in tables.iter_mut() {
                if let Some(list) = requests.as_array_mut() {
                    let mut rest = list.split_off(list.len() / 2);
                    for request in &mut rest {
                        if let Some(item) = request["PutRequest"]["Item"].as_object_mut() {
                            item.insert("heldByTestProxy".into(), json!({"BOOL": true}));
                        }
                    }
                    held.insert(table.clone(), Value::Array(rest));
                }
            }
            tables.retain(|_, requests| requests.as_array().is_some_and(|l| !l.is_empty()));
        }
        let mut answer = json!({});
        let any_left = batch["RequestItems"].as_object().is_some_and(|t| !t.is_empty());
        if any_left {
            let response = self.forward(&parts, Bytes::from(batch.to_string())).await?;
            if !response.status().is_success() {
                return Ok(response);
            }
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            answer = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        }
        let unprocessed = answer
            .as_object_mut()
            .ok_or_else(|| std::io::Error::other("a BatchWriteItem answer that is not an object"))?
            .entry("UnprocessedItems")
            .or_insert_with(|| json!({}));
        for (table, requests) in held {
            let list = unprocessed
                .as_object_mut()
                .ok_or_else(|| std::io::Error::other("UnprocessedItems that is not an object"))?
                .entry(table)
                .or_insert_with(|| json!([]));
            if let (Some(list), Value::Array(requests)) = (list.as_array_mut(), requests) {
                list.extend(requests);
            }
        }
        Ok(Response::builder()
            .status(200)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from(answer.to_string())))
            .unwrap())
    }

    async fn forward(
        &self,
        parts: &hyper::http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut upstream = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                upstream = upstream.header(name, value);
            }
        }
        let answer = upstream.send().await.map_err(std::io::Error::other)?;
        let mut response = Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                response = response.header(name, value);
            }
        }
        let bytes = answer.bytes().await.map_err(std::io::Error::other)?;
        response.body(Full::new(bytes)).map_err(std::io::Error::other)
    }
}
