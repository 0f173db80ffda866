//! The questionnaire API with a DynamoDB that fails: 503 (retryable), never a 201 without the stored item, and a
//! retried submission stored once. The API's client makes one attempt per call here, so every injected fault reaches
//! the API's own handling (with the SDK's retries a fault would mostly be absorbed below it).

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::{
    dynamodb_without_retries_at, env, local_aws, resource, response_json, scan_submissions, submit_intake, unique,
    CANARY,
};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::api::SubmissionApi;
use shared::audit::s3::S3AuditTrail;
use shared::config::{ApiConfig, Env};
use shared::store::{DynamoSubmissionStore, SubmissionStore};
use std::collections::HashMap;

async fn api_through(proxy: &FaultProxy) -> SubmissionApi<DynamoSubmissionStore, S3AuditTrail> {
    let faulty = dynamodb_without_retries_at(&proxy.url).await;
    let config = ApiConfig::from_env(&Env::process()).unwrap();
    SubmissionApi::new(
        DynamoSubmissionStore::new(faulty, env("SUBMISSIONS_TABLE")),
        integration_tests::local_audit_trail().await,
        config,
    )
}

/// Marked, so that the scan for patient data covers what the API logs under faults.
fn intake() -> Value {
    json!({"patientName": format!("{CANARY} Jane"), "age": 42, "hasAllergy": false})
}

async fn direct() -> aws_sdk_dynamodb::Client {
    shared::aws::dynamodb(&local_aws().await)
}

/// The ids of the stored submissions of every caller whose `sub` starts with `prefix`, read from the table itself.
async fn stored_by_callers(prefix: &str) -> HashMap<String, Vec<String>> {
    let items = scan_submissions(
        &direct().await,
        "begins_with(submittedBy, :prefix)",
        &[],
        &[(":prefix", AttributeValue::S(prefix.to_owned()))],
    )
    .await;
    let mut by_caller: HashMap<String, Vec<String>> = HashMap::new();
    for item in items {
        let caller = item["submittedBy"].as_s().unwrap().clone();
        by_caller
            .entry(caller)
            .or_default()
            .push(item["id"].as_s().unwrap().clone());
    }
    by_caller
}

/// (What is stored is not checked here: with these faults no request reaches the backend.)
#[tokio::test]
async fn a_backend_that_refuses_every_request_gets_503_with_retry_after() {
    let proxy = FaultProxy::start(
        &env("AWS_ENDPOINT_URL"),
        1,
        &[Fault::ServerError, Fault::Throttle, Fault::Reset],
    )
    .await;
    let api = api_through(&proxy).await;
    for key in [None, Some("k-1")] {
        let response = api.handle(submit_intake(&unique("caller"), key, &intake())).await;
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            response.body()
        );
        assert_eq!(response_json(&response)["code"], "store_unavailable");
        assert!(response.headers().contains_key("retry-after"));
    }
    assert!(proxy.stats.requests() >= 2, "the API tried the backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_every_201_is_stored_and_retries_store_one_submission_per_key() {
    // Every third request faulted, the kinds in turn (reads and writes alike).
    let proxy = FaultProxy::start(&env("AWS_ENDPOINT_URL"), 3, &[]).await;
    let api = api_through(&proxy).await;
    let store = DynamoSubmissionStore::new(direct().await, resource("SubmissionsTable"));
    let callers = unique("retrying");
    let mut unavailable = 0;
    let mut receipts = HashMap::new();
    for n in 0..60 {
        let caller = format!("{callers}-{n:02}");
        let key = format!("visit-{n}");
        let mut ids = Vec::new();
        // A client retrying until it has an answer, then once more (a retry after a lost 201 looks like this).
        for _attempt in 0..10 {
            let response = api.handle(submit_intake(&caller, Some(&key), &intake())).await;
            match response.status() {
                StatusCode::CREATED => {
                    let receipt = response_json(&response);
                    let id = receipt["id"].as_str().unwrap().to_owned();
                    let stored = store.get(&id).await.unwrap();
                    assert!(stored.is_some(), "201 without a stored item: {receipt}");
                    ids.push(id);
                    if ids.len() == 2 {
                        break;
                    }
                }
                StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
                other => panic!("unexpected {other}: {:?}", response.body()),
            }
        }
        assert_eq!(ids.len(), 2, "no two 201s in 10 attempts");
        assert_eq!(ids[0], ids[1], "the retry after success replays the first receipt");
        receipts.insert(caller, vec![ids.swap_remove(0)]);
    }
    println!("{}; 503 answers {unavailable}", proxy.stats.summary());
    assert!(unavailable > 0, "no fault reached a caller");
    let written_then_failed = proxy.stats.seen().iter().any(|s| {
        s.fault == Some(Fault::ServerErrorAfterForwarding)
            && s.operation == "TransactWriteItems"
            && s.upstream == Some(200)
    });
    assert!(
        written_then_failed,
        "no submission was written and then answered with an error"
    );
    // Exactly the submissions answered with 201, one per caller and key: none from a retry after a lost answer.
    assert_eq!(stored_by_callers(&callers).await, receipts);
}
