//! The built `import-csv` binary under a Lambda Runtime API fixture that hands out a real deadline.

use integration_tests::runtime_api::{built_binary, invoke_once};
use integration_tests::{count_observations, local_aws, observations_csv, s3_event, unique, upload};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_before_a_real_deadline_and_stops_writing() {
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let study = unique("binary");
    let key = format!("imports/observations/{study}.csv");
    upload(&s3, &key, observations_csv(&study, 80_000, 10)).await;

    let event = serde_json::to_value(s3_event(&key)).unwrap();
    let env = [
        ("DEADLINE_SAFETY_MARGIN_MS", "1000".to_owned()),
        ("IMPORT_CONCURRENCY", "4".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let outcome = invoke_once(&built_binary("import-csv"), &event, Duration::from_secs(4), &env).await;

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
    // Nothing keeps writing after the answer: the table holds exactly the rows reported as imported.
    assert_eq!(count_observations(&dynamodb, &study, 10).await, imported);
}
