//! A fault-injecting HTTP proxy on loopback, placed between a function's DynamoDB client and the local API.
//!
//! At a set rate (seeded, so a failing run can be replayed) a request is answered with a DynamoDB throttling error
//! or a 500, its connection is reset, it is delayed, or it is forwarded and then answered with a 500 anyway (the
//! write happened; the client cannot know). Everything else is forwarded unchanged.

use crate::http_server::Server;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    Reset,
    Delay,
    ServerErrorAfterForwarding,
}

const ALL: [Fault; 5] = [
    Fault::Throttle,
    Fault::ServerError,
    Fault::Reset,
    Fault::Delay,
    Fault::ServerErrorAfterForwarding,
];

/// Counts of what the proxy did.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub resets: AtomicU64,
    pub delayed: AtomicU64,
    pub failed_after_forwarding: AtomicU64,
}

impl Stats {
    pub fn faults(&self) -> u64 {
        [
            &self.throttled,
            &self.server_errors,
            &self.resets,
            &self.delayed,
            &self.failed_after_forwarding,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }

    fn count(&self, fault: Fault) {
        let counter = match fault {
            Fault::Throttle => &self.throttled,
            Fault::ServerError => &self.server_errors,
            Fault::Reset => &self.resets,
            Fault::Delay => &self.delayed,
            Fault::ServerErrorAfterForwarding => &self.failed_after_forwarding,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

pub struct FaultProxy {
    pub url: String,
    pub stats: Arc<Stats>,
    _server: Server,
}

struct Plan {
    upstream: String,
    rate: f64,
    kinds: Vec<Fault>,
    rng: Mutex<fastrand::Rng>,
    client: reqwest::Client,
    stats: Arc<Stats>,
}

impl FaultProxy {
    /// A proxy to `upstream` that injects one of `kinds` (all kinds if empty) into a `rate` share of requests.
    pub async fn start(upstream: &str, rate: f64, seed: u64, kinds: &[Fault]) -> Self {
        let stats = Arc::new(Stats::default());
        let plan = Arc::new(Plan {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rate,
            kinds: if kinds.is_empty() { ALL.to_vec() } else { kinds.to_vec() },
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            client: reqwest::Client::new(),
            stats: Arc::clone(&stats),
        });
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

impl Plan {
    fn roll(&self) -> Option<Fault> {
        let mut rng = self.rng.lock().unwrap();
        (rng.f64() < self.rate).then(|| self.kinds[rng.usize(..self.kinds.len())])
    }

    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
        self.stats.requests.fetch_add(1, Ordering::SeqCst);
        let fault = self.roll();
        if let Some(fault) = fault {
            self.stats.count(fault);
        }
        match fault {
            Some(Fault::Throttle) => return Ok(dynamodb_error(400, "ThrottlingException")),
            Some(Fault::ServerError) => return Ok(dynamodb_error(500, "InternalServerError")),
            // An error from the service makes hyper drop the connection without an answer.
            Some(Fault::Reset) => return Err(std::io::Error::other("connection reset by the test proxy")),
            Some(Fault::Delay) => tokio::time::sleep(Duration::from_millis(300)).await,
            _ => {}
        }
        let forwarded = self.forward(request).await?;
        if fault == Some(Fault::ServerErrorAfterForwarding) {
            return Ok(dynamodb_error(500, "InternalServerError"));
        }
        Ok(forwarded)
    }

    async fn forward(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut upstream = self
            .client
            .request(parts.method, format!("{}{path}", self.upstream))
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
