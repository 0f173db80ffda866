//! The built `import-csv` binary under a Lambda Runtime API fixture that hands out a real deadline. The margin leaves
//! room for the local DynamoDB API, which applies requests one at a time and is shared with the tests running beside.
//! Its DynamoDB traffic goes through a recording proxy, so what it does after answering is seen from outside.

use integration_tests::fault_proxy::FaultProxy;
use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::{
    alone, assert_exact_resume_point, env, local_aws, observations_csv, observations_key, s3_event, unique, upload,
};
use std::time::{Duration, UNIX_EPOCH};

/// How long the process is watched, running, after it answered. A write task left behind sends its next batch at
/// once; one waiting out a retry delay shows if the delay ends within this (the delays start under 50 ms and double
/// per attempt, so only a task deep in its retries could wait longer).
const WATCHED_AFTER_ANSWER: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_before_a_real_deadline_and_stops_writing() {
    let _alone = alone().await;
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let study = unique("binary");
    let key = observations_key(&study, "data.csv");
    let csv = observations_csv(&study, 80_000, 10);
    upload(&s3, &key, csv.clone()).await;

    let recorder = FaultProxy::recorder(&env("AWS_ENDPOINT_URL")).await;
    let event = serde_json::to_value(s3_event(&key).await).unwrap();
    let settings = [
        ("DEADLINE_SAFETY_MARGIN_MS", "2000".to_owned()),
        ("IMPORT_CONCURRENCY", "4".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", recorder.url.clone()),
    ];
    let timeout = Duration::from_secs(6);
    let mut lambda = Lambda::start(&built_binary("import-csv"), &settings, timeout).await;
    lambda.keep_running_between_invocations();
    // The continuation it asks for is kept, not run: any request after the answer would be a leftover.
    lambda.deliver_at_most(1);
    lambda.invoke_async(&event);
    let outcome = lambda.until_answered(1, timeout + Duration::from_secs(60)).await[0].clone();
    // Nothing can be awaited here: what is checked is that nothing happens.
    tokio::time::sleep(WATCHED_AFTER_ANSWER).await;
    assert!(!lambda.is_stopped(), "the process ran while it was watched");
    let continuations = lambda.queued();
    lambda.kill().await;

    assert_eq!(outcome.kind, "response", "{:?}", outcome.body);
    assert!(
        outcome.at_ms < outcome.deadline_ms,
        "answered {} ms late",
        outcome.at_ms - outcome.deadline_ms
    );
    assert!(
        outcome.polled_again,
        "the handler returned and the runtime loop went on"
    );
    let summary = &outcome.body["files"][0];
    assert_eq!(summary["status"], "incomplete", "{summary}");
    assert_eq!(summary["deadline"], "invocation");
    assert_eq!(summary["writeTasksAliveAfter"], 0);
    let r = &summary["rows"];
    let (total, imported) = (r["total"].as_u64().unwrap(), r["imported"].as_u64().unwrap());
    assert_eq!(
        total,
        imported + r["rejected"].as_u64().unwrap() + r["notReached"].as_u64().unwrap()
    );
    assert!(imported > 0 && total < 80_000, "{summary}");
    assert_eq!(continuations, 1, "the import asked to be continued");

    // Seen from outside: the process wrote rows, and no DynamoDB request reached the backend after its answer
    // (a request sent just before the answer may arrive a few milliseconds after it).
    let answered = UNIX_EPOCH + Duration::from_millis(outcome.at_ms);
    let seen = recorder.stats.seen();
    assert!(seen.iter().any(|s| s.operation == "BatchWriteItem"), "{seen:?}");
    let late: Vec<_> = seen
        .iter()
        .filter(|s| s.at > answered + Duration::from_millis(50))
        .collect();
    assert!(late.is_empty(), "requests after the answer: {late:?}");

    // The process is gone, so the table is final: every row before the resume point, and from it on at most the
    // rows not reached (writes cut off or not yet counted at the stop time).
    assert_exact_resume_point(&dynamodb, &study, 10, &csv, summary).await;
}
