//! A backend that slows down while an import runs (DynamoDB throttling, a local API whose tables grow): the stop
//! work runs under its own budget, so every invocation answers before its timeout, and the next stops early enough
//! for the stop work the last one took.

use integration_tests::fault_proxy::FaultProxy;
use integration_tests::import_harness::rows;
use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::{
    alone, count_observations, env as var, local_aws, observations_csv, observations_key, s3_event, unique, upload,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invocation_answers_before_its_timeout_when_the_backend_slows_down() {
    let _alone = alone().await;
    let sdk = local_aws().await;
    let (s3, dynamodb) = (shared::aws::s3(&sdk), shared::aws::dynamodb(&sdk));
    let study = unique("slow-backend");
    let key = observations_key(&study, "data.csv");
    const ROWS: usize = 4_000;
    let mut csv = observations_csv(&study, ROWS, 10);
    csv.push_str(&format!("{study},S01,SUBJ-000,V1,LAB,BAD,1,,never\n"));
    upload(&s3, &key, csv).await;

    // Every DynamoDB request waits 300 ms once the first second has passed.
    let proxy = FaultProxy::slow_after(
        &var("AWS_ENDPOINT_URL"),
        Duration::from_secs(1),
        Duration::from_millis(300),
    )
    .await;
    // A configured margin of 1 s: too little for stopping against this backend (the writers' grace, the checkpoint's
    // read and write, the continuation), which the import learns after its first stop.
    let env = [
        ("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.clone()),
        ("IMPORT_CONCURRENCY", "4".to_owned()),
        ("DEADLINE_SAFETY_MARGIN_MS", "1000".to_owned()),
        ("JOB_LEASE_SECONDS", "3".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let mut lambda = Lambda::start(&built_binary("import-csv"), &env, Duration::from_secs(6)).await;
    // An invocation that answers with an error is retried, once its lease has run out (Lambda waits a minute).
    lambda.retry_errors(2, Duration::from_secs(4));
    lambda.invoke_async(&serde_json::to_value(s3_event(&key).await).unwrap());
    let outcomes = lambda.until_idle(Duration::from_secs(600)).await;
    lambda.kill().await;

    for (n, outcome) in outcomes.iter().enumerate() {
        let file = &outcome.body["files"][0];
        println!(
            "invocation {}: {} after {} ms of {} ms, status {}, stop work {}",
            n + 1,
            outcome.kind,
            outcome.at_ms - outcome.started_ms,
            outcome.deadline_ms - outcome.started_ms,
            file["status"],
            file["stopWork"]
        );
        assert!(
            outcome.at_ms < outcome.deadline_ms,
            "invocation {} answered after its timeout",
            n + 1
        );
    }
    assert!(outcomes.len() >= 3, "{} invocations", outcomes.len());
    let last = &outcomes.last().unwrap().body["files"][0];
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(rows(last), (ROWS as u64 + 1, ROWS as u64, 1, 0));
    assert_eq!(count_observations(&dynamodb, &study, 10).await, ROWS as u64);
    // The stop work measured, and a margin grown to fit it.
    let stop_work = &last["stopWork"];
    assert!(stop_work["maxMs"].as_u64().unwrap() > 0, "{stop_work}");
    let margins: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| o.body["files"][0]["stopWork"]["marginMs"].as_u64())
        .collect();
    assert!(margins.iter().any(|m| *m > 1_000), "the margin never grew: {margins:?}");
}
