//! The built `import-csv` binary under a Lambda Runtime API fixture that hands out a real deadline. The margin leaves
//! room for the local DynamoDB API, which applies requests one at a time and is shared with the tests running beside.

use integration_tests::alone;
use integration_tests::runtime_api::{built_binary, invoke_once};
use integration_tests::{count_observations, local_aws, observations_csv, observations_key, s3_event, unique, upload};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_before_a_real_deadline_and_stops_writing() {
    let _alone = alone().await;
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let study = unique("binary");
    let key = observations_key(&study, "data.csv");
    upload(&s3, &key, observations_csv(&study, 80_000, 10)).await;

    let event = serde_json::to_value(s3_event(&key).await).unwrap();
    let env = [
        ("DEADLINE_SAFETY_MARGIN_MS", "2000".to_owned()),
        ("IMPORT_CONCURRENCY", "4".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let outcome = invoke_once(&built_binary("import-csv"), &event, Duration::from_secs(6), &env).await;

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
    // The process is gone, so the table is final: it holds every row reported as imported, and beyond them at most
    // rows whose write was cut off at the stop time (counted as not reached; a resumed import rewrites them).
    let stored = count_observations(&dynamodb, &study, 10).await;
    let not_reached = r["notReached"].as_u64().unwrap();
    assert!(
        imported <= stored && stored <= imported + not_reached,
        "{stored} stored; {summary}"
    );
}
