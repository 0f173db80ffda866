//! Warm submissions: one process answers a stream of new intake submissions (each with its own idempotency key,
//! so each is stored), after a few that warm it up, in rounds with the table emptied in between; latency per
//! invocation at the Runtime API, CPU per request from the process's own accounting.

use crate::cold::ms;
use crate::import::write_all;
use crate::stats::{percentile, Spread};
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::{as_caller, event, resource, unique};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// Invocations before the measured ones: the first opens connections and fills caches.
const WARM_UP: usize = 20;
/// Submissions queued at a time; the table is emptied between rounds.
const ROUND: usize = 250;

#[derive(Debug, Serialize)]
pub struct Submissions {
    pub requests_per_run: usize,
    pub p50_ms: Spread,
    pub p95_ms: Spread,
    pub p99_ms: Spread,
    pub cpu_us_per_request: Spread,
}

/// A new intake submission by its own patient, as API Gateway sends it after the JWT authorizer.
pub fn submission() -> Value {
    let mut e = as_caller(event("http-api-submit-intake.json"), &unique("bench-patient"));
    e["headers"]["idempotency-key"] = unique("bench").into();
    e
}

pub async fn measure(dynamodb: &aws_sdk_dynamodb::Client, requests: usize, runs: usize) -> Submissions {
    let binary = built_binary("submit-questionnaire");
    let (mut p50, mut p95, mut p99, mut cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut lambda = Lambda::start(&binary, &[], Duration::from_secs(30)).await;
        lambda.until_initialised(Duration::from_secs(60)).await;
        for _ in 0..WARM_UP {
            lambda.invoke_async(&submission());
        }
        lambda.until_idle(Duration::from_secs(120)).await;
        let mut cpu_used = Duration::ZERO;
        let mut outcomes = Vec::new();
        let mut left = requests;
        while left > 0 {
            // The local API copies the whole table in every transaction (its rollback): emptied between
            // rounds, the table stays small, so its latency does not grow with the run.
            empty_table(dynamodb).await;
            let round: Vec<Value> = (0..left.min(ROUND)).map(|_| submission()).collect();
            left -= round.len();
            let cpu_before = lambda.cpu_time();
            for e in &round {
                lambda.invoke_async(e);
            }
            outcomes = lambda.until_idle(Duration::from_secs(3600)).await;
            cpu_used += lambda.cpu_time() - cpu_before;
        }
        lambda.kill().await;
        let measured = &outcomes[WARM_UP..];
        assert_eq!(measured.len(), requests, "every submission was answered");
        for o in measured {
            assert_eq!(o.body["statusCode"], 201, "a new submission is stored: {}", o.body);
        }
        let latencies: Vec<f64> = measured.iter().map(|o| ms(o.latency)).collect();
        p50.push(percentile(&latencies, 50.0));
        p95.push(percentile(&latencies, 95.0));
        p99.push(percentile(&latencies, 99.0));
        cpu.push(cpu_used.as_secs_f64() * 1e6 / requests as f64);
    }
    Submissions {
        requests_per_run: requests,
        p50_ms: Spread::of(&p50),
        p95_ms: Spread::of(&p95),
        p99_ms: Spread::of(&p99),
        cpu_us_per_request: Spread::of(&cpu),
    }
}

/// Deletes every item of the submissions table.
async fn empty_table(dynamodb: &aws_sdk_dynamodb::Client) {
    let table = resource("SubmissionsTable");
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(&table)
            .projection_expression("id")
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the submissions table");
        for keys in page.items().chunks(25) {
            let deletes: Vec<WriteRequest> = keys
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .expect("a key");
                    WriteRequest::builder().delete_request(delete).build()
                })
                .collect();
            write_all(dynamodb, &table, deletes).await;
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return;
        }
    }
}
