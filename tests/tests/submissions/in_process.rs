//! The handler driven with the API Gateway fixtures from `events/`, storing into the real (local) DynamoDB API.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{
    dynamodb_at, env, get_intake, local_audit_trail, local_aws, response_json, scan_submissions, submit_intake, unique,
};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::api::SubmissionApi;
use shared::audit::s3::S3AuditTrail;
use shared::config::{ApiConfig, Env};
use shared::store::{DynamoSubmissionStore, IdempotencyClaim, Inserted, KeyOwner, SubmissionStore};
use shared::submission::SubmissionRecord;
use std::collections::HashMap;

/// The questionnaire API in-process, on the local DynamoDB and S3 APIs.
pub(crate) struct TestApi {
    pub(crate) api: SubmissionApi<DynamoSubmissionStore, S3AuditTrail>,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) table: String,
}

async fn test_api() -> TestApi {
    test_api_with(ApiConfig::from_env(&Env::process()).expect("scripts/test exports the function configuration")).await
}

/// The API with `config` (the function's, from the environment, with a test's changes).
pub(crate) async fn test_api_with(config: ApiConfig) -> TestApi {
    let sdk = local_aws().await;
    let table = config.submissions_table.clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    TestApi {
        api: SubmissionApi::new(
            DynamoSubmissionStore::new(dynamodb.clone(), &table),
            local_audit_trail().await,
            config,
        ),
        dynamodb,
        table,
    }
}

impl TestApi {
    pub(crate) async fn item(&self, id: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// Submissions stored for this caller (each test uses its own caller).
    async fn count_for(&self, caller: &str) -> usize {
        scan_submissions(
            &self.dynamodb,
            "submittedBy = :c",
            &[],
            &[(":c", AttributeValue::S(caller.into()))],
        )
        .await
        .len()
    }
}

#[tokio::test]
async fn intake_fixture_is_stored_with_typed_attributes_and_read_back() {
    let t = test_api().await;
    let caller = unique("caller");
    let response = t
        .api
        .handle(submit_intake(
            &caller,
            None,
            &json!({"patientName": "Jane Example", "age": 42, "hasAllergy": true}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response_json(&response)["id"].as_str().unwrap().to_owned();

    let item = t.item(&id).await.expect("the submission is stored");
    assert_eq!(item["kind"], AttributeValue::S("intake".into()));
    assert_eq!(item["submittedBy"], AttributeValue::S(caller.clone()));
    assert_eq!(item["schemaVersion"], AttributeValue::N("1".into()));
    assert_eq!(item["requestId"], AttributeValue::S("http-api-request-0001".into()));
    let AttributeValue::M(answers) = &item["answers"] else {
        panic!("answers must be a map: {:?}", item["answers"])
    };
    assert_eq!(answers["age"], AttributeValue::N("42".into()));
    assert_eq!(answers["hasAllergy"], AttributeValue::Bool(true));

    let fetched = t.api.handle(get_intake(&caller, &id)).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let view = response_json(&fetched);
    assert_eq!(
        view["answers"],
        json!({"patientName": "Jane Example", "age": 42, "hasAllergy": true})
    );
    assert_eq!(view["submittedBy"], json!(caller));
}

#[tokio::test]
async fn idempotency_key_replays_without_a_second_item_and_conflicts_on_other_answers() {
    let t = test_api().await;
    let caller = unique("caller");
    let body = json!({"patientName": "A", "age": 30, "hasAllergy": false});
    let first = t.api.handle(submit_intake(&caller, Some("visit-1"), &body)).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let replay = t.api.handle(submit_intake(&caller, Some("visit-1"), &body)).await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(response_json(&replay), response_json(&first));
    assert_eq!(t.count_for(&caller).await, 1);

    let other = json!({"patientName": "A", "age": 31, "hasAllergy": false});
    let conflict = t.api.handle(submit_intake(&caller, Some("visit-1"), &other)).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    assert_eq!(t.count_for(&caller).await, 1);

    // Keys are scoped per caller: another caller may use the same key.
    let someone_else = unique("caller");
    let theirs = t.api.handle(submit_intake(&someone_else, Some("visit-1"), &body)).await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    assert_ne!(response_json(&theirs)["id"], response_json(&first)["id"]);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_store_exactly_one_submission() {
    let t = test_api().await;
    let caller = unique("caller");
    let body = json!({"patientName": "A", "age": 30, "hasAllergy": false});
    let responses =
        futures::future::join_all((0..8).map(|_| t.api.handle(submit_intake(&caller, Some("k"), &body)))).await;
    let ids: Vec<Value> = responses
        .iter()
        .map(|r| {
            assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.body());
            response_json(r)["id"].clone()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(t.count_for(&caller).await, 1);
}

#[tokio::test]
async fn an_unreachable_backend_answers_503_never_201() {
    // A port on loopback where nothing listens: every DynamoDB call fails to connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dynamodb = dynamodb_at(&endpoint).await;
    let config = ApiConfig::from_env(&Env::process()).unwrap();
    let api = SubmissionApi::new(
        DynamoSubmissionStore::new(dynamodb, env("SUBMISSIONS_TABLE")),
        local_audit_trail().await,
        config,
    );
    let response = api
        .handle(submit_intake(
            &unique("caller"),
            Some("k"),
            &json!({"patientName": "A", "age": 30, "hasAllergy": false}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response_json(&response)["code"], "store_unavailable");
}

#[tokio::test]
async fn another_patient_reading_the_id_gets_404() {
    let t = test_api().await;
    let (owner, other) = (unique("patient"), unique("patient"));
    let created = t
        .api
        .handle(submit_intake(
            &owner,
            None,
            &json!({"patientName": "A", "age": 30, "hasAllergy": false}),
        ))
        .await;
    let id = response_json(&created)["id"].as_str().unwrap().to_owned();
    assert_eq!(t.api.handle(get_intake(&owner, &id)).await.status(), StatusCode::OK);
    let denied = t.api.handle(get_intake(&other, &id)).await;
    assert_eq!(denied.status(), StatusCode::NOT_FOUND);
    assert_eq!(response_json(&denied)["code"], "not_found");
}

fn record(caller: &str) -> SubmissionRecord {
    SubmissionRecord {
        id: ulid::Ulid::new().to_string(),
        kind: "daily-pain".into(),
        received_at: "2026-11-28T10:00:00.000Z".into(),
        schema_version: 1,
        request_id: "r".into(),
        submitted_by: Some(caller.into()),
        submitter_issuer: Some("https://issuer".into()),
        imported_by: None,
        answers: json!({"painLevel": 3}),
        provenance: None,
    }
}

#[tokio::test]
async fn an_expired_idempotency_claim_counts_as_absent_though_ttl_has_not_deleted_it() {
    let t = test_api().await;
    let store = DynamoSubmissionStore::new(t.dynamodb.clone(), &t.table);
    let caller = unique("caller");
    let owner = KeyOwner {
        issuer: "https://issuer",
        subject: &caller,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claim =
        |answers: Value, expires_at: i64| IdempotencyClaim::new("daily-pain", owner, "k", &answers, now, expires_at);

    // Remembered until a minute ago: DynamoDB's TTL deletes lazily, so the item is still there.
    let first = store
        .insert(&record(&caller), Some(&claim(json!({"painLevel": 3}), now - 60)))
        .await
        .unwrap();
    assert_eq!(first, Inserted::Created);
    // Other answers under the same key: the expired claim is taken over, not a conflict.
    let second = store
        .insert(&record(&caller), Some(&claim(json!({"painLevel": 4}), now + 3600)))
        .await
        .unwrap();
    assert_eq!(second, Inserted::Created);
    // The live claim now conflicts as usual.
    let third = store
        .insert(&record(&caller), Some(&claim(json!({"painLevel": 5}), now + 3600)))
        .await
        .unwrap();
    assert_eq!(third, Inserted::KeyReused);
    assert_eq!(t.count_for(&caller).await, 2);
}
