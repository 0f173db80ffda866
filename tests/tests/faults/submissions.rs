//! The questionnaire API with a DynamoDB that fails: 503 (retryable), never a 201 without the stored item.

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::{dynamodb_at, env, local_aws, response_json, submit_intake, unique};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::api::SubmissionApi;
use shared::config::{ApiConfig, Env};
use shared::store::{DynamoSubmissionStore, SubmissionStore};

async fn api_through(proxy: &FaultProxy) -> SubmissionApi<DynamoSubmissionStore> {
    let faulty = dynamodb_at(&proxy.url).await;
    let config = ApiConfig::from_env(&Env::process()).unwrap();
    SubmissionApi::new(DynamoSubmissionStore::new(faulty, env("SUBMISSIONS_TABLE")), config)
}

fn intake() -> Value {
    json!({"patientName": "Jane Example", "age": 42, "hasAllergy": false})
}

async fn direct_store() -> DynamoSubmissionStore {
    DynamoSubmissionStore::new(shared::aws::dynamodb(&local_aws().await), env("SUBMISSIONS_TABLE"))
}

#[tokio::test]
async fn a_failing_backend_answers_503_and_stores_nothing() {
    let proxy = FaultProxy::start(
        &env("AWS_ENDPOINT_URL"),
        1.0,
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_thirty_percent_faults_every_201_is_stored_and_retries_converge_to_one_item() {
    let proxy = FaultProxy::start(&env("AWS_ENDPOINT_URL"), 0.30, 42, &[]).await;
    let api = api_through(&proxy).await;
    let store = direct_store().await;
    let mut unavailable = 0;
    for n in 0..60 {
        let caller = unique("caller");
        let key = format!("visit-{n}");
        let mut id = None;
        for _attempt in 0..10 {
            let response = api.handle(submit_intake(&caller, Some(&key), &intake())).await;
            match response.status() {
                StatusCode::CREATED => {
                    let receipt = response_json(&response);
                    let stored = store.get(receipt["id"].as_str().unwrap()).await.unwrap();
                    assert!(stored.is_some(), "201 without a stored item: {receipt}");
                    if let Some(first) = &id {
                        assert_eq!(first, &receipt["id"], "a retry created a second submission");
                    }
                    id = Some(receipt["id"].clone());
                    break;
                }
                StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
                other => panic!("unexpected {other}: {:?}", response.body()),
            }
        }
        assert!(id.is_some(), "no 201 after 10 attempts");
        // A retry after success replays the same receipt.
        let again = api.handle(submit_intake(&caller, Some(&key), &intake())).await;
        if again.status() == StatusCode::CREATED {
            assert_eq!(Some(response_json(&again)["id"].clone()), id);
        } else {
            assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    println!(
        "requests {} faults {}; 503 answers {unavailable}",
        proxy.stats.requests.load(std::sync::atomic::Ordering::SeqCst),
        proxy.stats.faults()
    );
    assert!(proxy.stats.faults() > 10);
}
