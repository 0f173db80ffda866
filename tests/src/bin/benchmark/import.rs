//! The import of one file against the local API, three ways in the same run: the built `import-csv` under the
//! local Lambda (Runtime API with real deadlines), the backend's own ceiling (a plain `BatchWriteItem` loop with
//! the same concurrency, items built beforehand), and the conventional peer (Python, csv, boto3 `batch_writer`, a
//! thread pool). Every run of a size imports the same rows, so they overwrite the same items.

use crate::stats::Spread;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::{repo_path, resource, s3_event, upload};
use serde::Serialize;
use shared::import::ports::Item;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One file to import: where its runs upload it, and its text.
pub struct File {
    pub study: String,
    pub rows: usize,
    pub csv: Vec<u8>,
}

impl File {
    pub fn key(&self, run: usize) -> String {
        format!("imports/observations/{}/S01/run-{run}.csv", self.study)
    }
}

/// What one import run of the function measured.
#[derive(Debug, Serialize)]
pub struct FunctionRun {
    pub rows_per_s: f64,
    pub cpu_us_per_row: f64,
    pub peak_rss_mib: f64,
    pub invocations: usize,
}

pub async fn function_run(s3: &aws_sdk_s3::Client, file: &File, run: usize) -> FunctionRun {
    let key = file.key(run);
    upload(s3, &key, file.csv.clone()).await;
    let event = serde_json::to_value(s3_event(&key).await).expect("an S3 event");
    let mut lambda = Lambda::start(&built_binary("import-csv"), &[], Duration::from_secs(900)).await;
    lambda.until_initialised(Duration::from_secs(60)).await;
    let before = lambda.cpu_time();
    lambda.invoke_async(&event);
    let outcomes = lambda.until_idle(Duration::from_secs(6 * 3600)).await;
    let cpu = lambda.cpu_time() - before;
    lambda.kill().await;
    let last = &outcomes.last().expect("an answer").body["files"][0];
    assert_eq!(last["status"], "completed", "the import completed: {last}");
    assert_eq!(
        last["rows"]["imported"], file.rows as u64,
        "every row was imported: {last}"
    );
    let busy: Duration = outcomes.iter().map(|o| o.latency).sum();
    let peak_kib = outcomes.iter().filter_map(|o| o.peak_rss_kib).max().unwrap_or(0);
    FunctionRun {
        rows_per_s: file.rows as f64 / busy.as_secs_f64(),
        cpu_us_per_row: cpu.as_secs_f64() * 1e6 / file.rows as f64,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        invocations: outcomes.len(),
    }
}

/// Rows per second of a plain loop of `BatchWriteItem`s (25 items, unprocessed ones sent again) from `concurrency`
/// tasks: what the backend takes at most, with nothing else in the way.
pub async fn ceiling_run(dynamodb: &aws_sdk_dynamodb::Client, items: &Arc<Vec<Item>>, concurrency: usize) -> f64 {
    let table = resource("ObservationsTable");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (dynamodb, items, next, table) = (dynamodb.clone(), Arc::clone(items), Arc::clone(&next), table.clone());
        tasks.spawn(async move {
            loop {
                let from = next.fetch_add(25, Ordering::Relaxed);
                if from >= items.len() {
                    return;
                }
                let requests: Vec<WriteRequest> = items[from..(from + 25).min(items.len())]
                    .iter()
                    .map(|item| {
                        let put = PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .expect("an item");
                        WriteRequest::builder().put_request(put).build()
                    })
                    .collect();
                write_all(&dynamodb, &table, requests).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a ceiling task");
    }
    items.len() as f64 / started.elapsed().as_secs_f64()
}

/// Sends one `BatchWriteItem` (at most 25 requests), then what the backend left unprocessed, until nothing is left.
pub async fn write_all(dynamodb: &aws_sdk_dynamodb::Client, table: &str, mut requests: Vec<WriteRequest>) {
    while !requests.is_empty() {
        let output = dynamodb
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .expect("the local API takes the batch");
        requests = output
            .unprocessed_items
            .unwrap_or_default()
            .remove(table)
            .unwrap_or_default();
    }
}

/// What one run of the Python peer measured (its own report).
#[derive(Debug, serde::Deserialize, Serialize)]
pub struct PeerRun {
    pub rows: u64,
    pub imported: u64,
    pub rejected: u64,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_kib: u64,
}

pub async fn peer_run(file: &File, run: usize, threads: usize) -> PeerRun {
    let key = file.key(run);
    let output = tokio::process::Command::new(repo_path(".venv/bin/python"))
        .arg(repo_path("benchmarks/peer/import_observations.py"))
        .args(["--bucket", &resource("ImportBucket")])
        .args(["--key", &key])
        .args(["--table", &resource("ObservationsTable")])
        .args(["--threads", &threads.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .await
        .expect("run the Python peer");
    assert!(
        output.status.success(),
        "the peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: PeerRun = serde_json::from_slice(&output.stdout).expect("the peer's JSON line");
    assert_eq!(run.imported, file.rows as u64, "the peer imported every row");
    run
}

/// Summaries of several runs of one side.
#[derive(Debug, Serialize)]
pub struct Side {
    pub rows_per_s: Spread,
    pub cpu_us_per_row: Option<Spread>,
    pub peak_rss_mib: Option<Spread>,
}

impl Side {
    pub fn of_function(runs: &[FunctionRun]) -> Self {
        Self {
            rows_per_s: Spread::of(&runs.iter().map(|r| r.rows_per_s).collect::<Vec<_>>()),
            cpu_us_per_row: Some(Spread::of(&runs.iter().map(|r| r.cpu_us_per_row).collect::<Vec<_>>())),
            peak_rss_mib: Some(Spread::of(&runs.iter().map(|r| r.peak_rss_mib).collect::<Vec<_>>())),
        }
    }

    pub fn of_peer(runs: &[PeerRun]) -> Self {
        let per_row = |r: &PeerRun| r.cpu_s * 1e6 / r.imported as f64;
        Self {
            rows_per_s: Spread::of(&runs.iter().map(|r| r.imported as f64 / r.wall_s).collect::<Vec<_>>()),
            cpu_us_per_row: Some(Spread::of(&runs.iter().map(per_row).collect::<Vec<_>>())),
            peak_rss_mib: Some(Spread::of(
                &runs.iter().map(|r| r.peak_rss_kib as f64 / 1024.0).collect::<Vec<_>>(),
            )),
        }
    }
}
