//! The import through a proxy that fails 10 % of DynamoDB requests.

use integration_tests::fault_proxy::FaultProxy;
use integration_tests::import_harness::{harness_writing_through, only_file, rows};
use integration_tests::{
    assert_observations_as_written, count_observations, dynamodb_at, env, observations_csv, observations_key, s3_event,
    unique, upload,
};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_under_ten_percent_faults_writes_every_valid_row_exactly_once() {
    let proxy = FaultProxy::start(&env("AWS_ENDPOINT_URL"), 0.10, 20261127, &[]).await;
    let h = harness_writing_through(dynamodb_at(&proxy.url).await, |_| {}).await;

    let study = unique("faults");
    let valid = 3_000;
    let mut csv = observations_csv(&study, valid, 10);
    for i in 0..30 {
        csv.push_str(&format!("{study},S01,SUBJ-000,V1,LAB,BAD-{i},1,,yesterday\n"));
    }
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, csv).await;

    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(300)).await);
    let stats = &proxy.stats;
    println!(
        "requests {} faults {} (throttled {}, 500 {}, reset {}, delayed {}, 500 after writing {})",
        stats.requests.load(Ordering::SeqCst),
        stats.faults(),
        stats.throttled.load(Ordering::SeqCst),
        stats.server_errors.load(Ordering::SeqCst),
        stats.resets.load(Ordering::SeqCst),
        stats.delayed.load(Ordering::SeqCst),
        stats.failed_after_forwarding.load(Ordering::SeqCst),
    );
    assert!(stats.faults() >= 10, "too few faults injected to mean anything");
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(rows(&summary), (valid as u64 + 30, valid as u64, 30, 0));

    // Exactly once: deterministic keys, so the count equals the valid rows, and every value is the file's.
    assert_eq!(count_observations(&h.dynamodb, &study, 10).await, valid as u64);
    assert_observations_as_written(&h.dynamodb, &study, 10).await;
}
