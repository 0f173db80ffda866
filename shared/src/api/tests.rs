//! Decisions of the API, driven with the API Gateway event fixtures and the in-memory store.

use super::SubmissionApi;
use crate::config::ApiConfig;
use crate::store::memory::MemorySubmissionStore;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;

const HTTP_API_SUBMIT: &str = include_str!("../../../events/http-api-submit-intake.json");
const HTTP_API_GET: &str = include_str!("../../../events/http-api-get-intake.json");
const REST_API_SUBMIT: &str = include_str!("../../../events/rest-api-submit-daily-pain.json");

fn api() -> SubmissionApi<MemorySubmissionStore> {
    SubmissionApi::new(
        MemorySubmissionStore::default(),
        ApiConfig {
            submissions_table: "unused".into(),
            max_body_bytes: 1024,
            idempotency_ttl: Duration::from_secs(3600),
        },
    )
}

/// An HTTP API (payload 2.0) request built from the fixture with the given method, path, headers and body.
fn http_api(method: &str, path: &str, headers: Value, body: Option<&str>) -> Request {
    let mut event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"] = headers;
    event["body"] = body.map_or(Value::Null, |b| json!(b));
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn post(kind: &str, body: &str) -> Request {
    http_api(
        "POST",
        &format!("/questionnaires/{kind}"),
        json!({"content-type": "application/json"}),
        Some(body),
    )
}

fn body_json(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a text body, got {other:?}"),
    }
}

fn assert_problem(response: &Response<Body>, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "{:?}", response.body());
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body = body_json(response);
    assert_eq!(body["code"], code);
    assert_eq!(body["status"], status.as_u16());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

#[tokio::test]
async fn http_api_fixture_creates_a_submission_with_location_and_caller() {
    let api = api();
    let request = lambda_http::request::from_str(HTTP_API_SUBMIT).unwrap();
    let response = api.handle(request).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let receipt = body_json(&response);
    let id = receipt["id"].as_str().unwrap();
    assert!(ulid::Ulid::from_string(id).is_ok());
    assert_eq!(receipt["kind"], "intake");
    assert_eq!(response.headers()["location"], format!("/questionnaires/intake/{id}"));

    let stored = crate::store::SubmissionStore::get(api.store(), id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.submitted_by.as_deref(), Some("clinician-7f3a"));
    assert_eq!(stored.schema_version, 1);
    assert_eq!(stored.received_at, receipt["receivedAt"].as_str().unwrap());
    assert_eq!(
        stored.answers,
        json!({"patientName": "Jane Example", "age": 42, "hasAllergy": false})
    );
}

#[tokio::test]
async fn rest_api_fixture_with_base64_body_is_accepted() {
    let api = api();
    let response = api
        .handle(lambda_http::request::from_str(REST_API_SUBMIT).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.body());
    assert_eq!(body_json(&response)["kind"], "daily-pain");
    let id = body_json(&response)["id"].as_str().unwrap().to_owned();
    let stored = crate::store::SubmissionStore::get(api.store(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.submitted_by.as_deref(), Some("clinician-7f3a"));
}

#[tokio::test]
async fn submitted_answers_are_read_back_with_get() {
    let api = api();
    let created = api
        .handle(post("daily-pain", r#"{"painLevel": 3, "medicationLogs": []}"#))
        .await;
    let id = body_json(&created)["id"].as_str().unwrap().to_owned();

    let response = api
        .handle(http_api(
            "GET",
            &format!("/questionnaires/daily-pain/{id}"),
            json!({}),
            None,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let view = body_json(&response);
    assert_eq!(view["answers"], json!({"painLevel": 3, "medicationLogs": []}));
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["schemaVersion"], 1);

    // The same id under another kind does not exist.
    let other = api
        .handle(http_api(
            "GET",
            &format!("/questionnaires/intake/{id}"),
            json!({}),
            None,
        ))
        .await;
    assert_problem(&other, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn get_of_an_absent_or_malformed_id_is_404() {
    let api = api();
    let absent = api.handle(lambda_http::request::from_str(HTTP_API_GET).unwrap()).await;
    assert_problem(&absent, StatusCode::NOT_FOUND, "not_found");
    let malformed = api
        .handle(http_api(
            "GET",
            "/questionnaires/intake/idempotency%23x",
            json!({}),
            None,
        ))
        .await;
    assert_problem(&malformed, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn wrong_typed_age_lists_every_violation_with_422() {
    let response = api().handle(post("intake", r#"{"age":"25"}"#)).await;
    let body = assert_problem(&response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let found: Vec<(&str, &str)> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["path"].as_str().unwrap(), v["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("/patientName", "missing"),
            ("/age", "wrong_type"),
            ("/hasAllergy", "missing")
        ]
    );
    assert!(body["violations"][1]["message"].as_str().unwrap().contains("integer"));
}

#[tokio::test]
async fn malformed_empty_and_non_utf8_bodies_are_400() {
    let api = api();
    assert_problem(
        &api.handle(post("intake", "{\"age\":")).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
    assert_problem(
        &api.handle(post("intake", "")).await,
        StatusCode::BAD_REQUEST,
        "empty_body",
    );
    assert_problem(
        &api.handle(post("intake", "  \n ")).await,
        StatusCode::BAD_REQUEST,
        "empty_body",
    );

    let mut event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["body"] = json!("/w=="); // base64 of the single byte 0xFF
    event["isBase64Encoded"] = json!(true);
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_problem(&api.handle(request).await, StatusCode::BAD_REQUEST, "invalid_utf8");
}

#[tokio::test]
async fn deeply_nested_json_is_rejected_without_crashing() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let api = SubmissionApi::new(
        MemorySubmissionStore::default(),
        ApiConfig {
            submissions_table: "unused".into(),
            max_body_bytes: 1 << 20,
            idempotency_ttl: Duration::from_secs(60),
        },
    );
    assert_problem(
        &api.handle(post("intake", &deep)).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
}

#[tokio::test]
async fn content_type_must_be_json_with_utf8() {
    let api = api();
    for (content_type, ok) in [
        (Some("application/json"), true),
        (Some("Application/JSON; charset=UTF-8"), true),
        (Some("application/fhir+json"), true),
        (Some("text/plain"), false),
        (Some("application/json; charset=latin1"), false),
        (None, false),
    ] {
        let headers = content_type.map_or(json!({}), |ct| json!({"content-type": ct}));
        let body = r#"{"painLevel": 2}"#;
        let response = api
            .handle(http_api("POST", "/questionnaires/daily-pain", headers, Some(body)))
            .await;
        if ok {
            assert_eq!(response.status(), StatusCode::CREATED, "{content_type:?}");
        } else {
            assert_problem(&response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        }
    }
}

#[tokio::test]
async fn body_above_the_limit_is_413_and_at_the_limit_is_read() {
    let api = api();
    let padded = |len: usize| {
        let base = r#"{"painLevel": 2}"#;
        format!("{base}{}", " ".repeat(len - base.len()))
    };
    assert_eq!(
        api.handle(post("daily-pain", &padded(1024))).await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        &api.handle(post("daily-pain", &padded(1025))).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn unknown_kind_is_404_and_lists_known_kinds() {
    let response = api().handle(post("weekly-mood", "{}")).await;
    let body = assert_problem(&response, StatusCode::NOT_FOUND, "unknown_kind");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("intake") && detail.contains("daily-pain"), "{detail}");
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow_and_other_paths_404() {
    let api = api();
    let put = api
        .handle(http_api("PUT", "/questionnaires/intake", json!({}), None))
        .await;
    assert_problem(&put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(put.headers()["allow"], "POST");
    let delete = api
        .handle(http_api(
            "DELETE",
            "/questionnaires/intake/01JDQ6N9W3X8K2M4P5R7S9T0V1",
            json!({}),
            None,
        ))
        .await;
    assert_eq!(delete.headers()["allow"], "GET");
    for path in ["/", "/questionnaires", "/questionnaires/intake/a/b", "/other/intake"] {
        let response = api.handle(http_api("GET", path, json!({}), None)).await;
        assert_problem(&response, StatusCode::NOT_FOUND, "route_not_found");
    }
}

#[tokio::test]
async fn idempotency_key_replays_the_same_body_and_conflicts_on_a_different_one() {
    let api = api();
    let with_key = |body: &str, key: &str| {
        http_api(
            "POST",
            "/questionnaires/daily-pain",
            json!({"content-type": "application/json", "idempotency-key": key}),
            Some(body),
        )
    };
    let first = api.handle(with_key(r#"{"painLevel": 4}"#, "key-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = api.handle(with_key(r#"{ "painLevel" : 4 }"#, "key-1")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(body_json(&again), body_json(&first));
    assert_eq!(again.headers()["location"], first.headers()["location"]);
    assert_eq!(api.store().len(), 1);

    let different = api.handle(with_key(r#"{"painLevel": 5}"#, "key-1")).await;
    assert_problem(&different, StatusCode::CONFLICT, "idempotency_key_reused");
    assert_eq!(api.store().len(), 1);

    let bad_key = api.handle(with_key(r#"{"painLevel": 5}"#, "has space")).await;
    assert_problem(&bad_key, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

#[tokio::test]
async fn a_non_ascii_idempotency_key_is_400_not_a_crash() {
    let mut event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["headers"]["idempotency-key"] = json!("×ø\u{9b}");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_problem(
        &api().handle(request).await,
        StatusCode::BAD_REQUEST,
        "invalid_idempotency_key",
    );
}

#[tokio::test]
async fn a_failing_store_answers_503_and_stores_nothing() {
    let api = api();
    api.store().set_unavailable(true);
    let response = api.handle(post("daily-pain", r#"{"painLevel": 4}"#)).await;
    assert_problem(&response, StatusCode::SERVICE_UNAVAILABLE, "store_unavailable");
    assert_eq!(response.headers()["retry-after"], "1");
    api.store().set_unavailable(false);
    assert!(api.store().is_empty());
}
