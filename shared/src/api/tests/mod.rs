//! Decisions of the API, driven with the API Gateway event fixtures and the in-memory store.

use super::SubmissionApi;
use crate::audit::memory::MemoryAuditTrail;
use crate::audit::{ReadOutcome, Who, Why};
use crate::config::{ApiConfig, IdentityConfig, Scopes};
use crate::provenance::Provenance;
use crate::store::memory::MemorySubmissionStore;
use crate::store::SubmissionStore;
use crate::submission::SubmissionRecord;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;

const HTTP_API_SUBMIT: &str = include_str!("../../../../events/http-api-submit-intake.json");
const HTTP_API_GET: &str = include_str!("../../../../events/http-api-get-intake.json");
const HTTP_API_BASE64: &str = include_str!("../../../../events/http-api-submit-daily-pain.json");
const REST_API_SUBMIT: &str = include_str!("../../../../events/rest-api-submit-daily-pain.json");

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE";
const PATIENT: &str = "questionnaires/submit questionnaires/read";

/// The API the fixtures' request context names: the deployed one.
fn fixture_api_id() -> String {
    let event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["requestContext"]["apiId"].as_str().unwrap().to_owned()
}

fn config(max_body_bytes: usize) -> ApiConfig {
    ApiConfig {
        submissions_table: "unused".into(),
        max_body_bytes,
        idempotency_ttl: Duration::from_secs(3600),
        scopes: Scopes::default(),
        identity: IdentityConfig::for_api(fixture_api_id()),
        audit_bucket: "unused".into(),
        versions: Default::default(),
    }
}

type Api = SubmissionApi<MemorySubmissionStore, MemoryAuditTrail>;

fn api() -> Api {
    SubmissionApi::new(
        MemorySubmissionStore::default(),
        MemoryAuditTrail::default(),
        config(1024),
    )
}

/// Who calls: the verified claims API Gateway would pass on (`None`: no authorizer context at all).
#[derive(Clone, Copy)]
struct As<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    /// The per-user group claim as API Gateway passes a list on (`[a b]`).
    groups: &'a str,
}

const PATIENT_A: As = As {
    iss: ISSUER,
    sub: "patient-a",
    scope: PATIENT,
    groups: "[patients]",
};
const PATIENT_B: As = As {
    sub: "patient-b",
    ..PATIENT_A
};
/// A member of the staff group, through an app granted the read scope.
const NURSE: As = As {
    sub: "nurse-1",
    scope: "questionnaires/read",
    groups: "[staff site:CARDIO-7/S01]",
    ..PATIENT_A
};

/// An HTTP API (payload 2.0) request built from the fixture with the given caller, method, path, headers and body.
fn http_api(caller: Option<As>, method: &str, path: &str, headers: Value, body: Option<&str>) -> Request {
    let event = http_api_event(caller, method, path, headers, body);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// The event of [`http_api`].
fn http_api_event(caller: Option<As>, method: &str, path: &str, headers: Value, body: Option<&str>) -> Value {
    let mut event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"] = headers;
    event["body"] = body.map_or(Value::Null, |b| json!(b));
    match caller {
        Some(As {
            iss,
            sub,
            scope,
            groups,
        }) => {
            event["requestContext"]["authorizer"]["jwt"]["claims"] =
                json!({"iss": iss, "sub": sub, "scope": scope, "client_id": "app", "cognito:groups": groups});
        }
        None => {
            event["requestContext"].as_object_mut().unwrap().remove("authorizer");
        }
    }
    event
}

fn post_as(caller: As, kind: &str, body: &str) -> Request {
    http_api(
        Some(caller),
        "POST",
        &format!("/questionnaires/{kind}"),
        json!({"content-type": "application/json"}),
        Some(body),
    )
}

fn post(kind: &str, body: &str) -> Request {
    post_as(PATIENT_A, kind, body)
}

fn get_as(caller: As, kind: &str, id: &str) -> Request {
    http_api(
        Some(caller),
        "GET",
        &format!("/questionnaires/{kind}/{id}"),
        json!({}),
        None,
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

/// A daily-pain submission as the store holds it: imported (with its provenance, by `AWS:uploader`) or not (by
/// nobody).
fn stored_record(provenance: Option<Provenance>) -> SubmissionRecord {
    SubmissionRecord {
        id: ulid::Ulid::new().to_string(),
        kind: "daily-pain".into(),
        received_at: "2026-11-27T12:00:00.000Z".into(),
        schema_version: 1,
        request_id: "r".into(),
        submitted_by: None,
        submitter_issuer: None,
        imported_by: provenance.as_ref().map(|_| "AWS:uploader".into()),
        answers: json!({"painLevel": 5}),
        provenance,
    }
}

async fn submitted(api: &Api, caller: As<'_>) -> String {
    let response = api.handle(post_as(caller, "daily-pain", r#"{"painLevel": 3}"#)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.body());
    body_json(&response)["id"].as_str().unwrap().to_owned()
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

    let stored = api.store().get(id).await.unwrap().unwrap();
    assert_eq!(stored.submitted_by.as_deref(), Some("patient-7f3a9c"));
    assert_eq!(stored.imported_by, None);
    assert_eq!(stored.schema_version, 1);
    assert_eq!(stored.received_at, receipt["receivedAt"].as_str().unwrap());
    assert_eq!(
        stored.answers,
        json!({"patientName": "Jane Example", "age": 42, "hasAllergy": false})
    );
}

#[tokio::test]
async fn http_api_fixture_with_base64_body_is_accepted() {
    let api = api();
    let response = api
        .handle(lambda_http::request::from_str(HTTP_API_BASE64).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.body());
    assert_eq!(body_json(&response)["kind"], "daily-pain");
    let id = body_json(&response)["id"].as_str().unwrap().to_owned();
    let stored = api.store().get(&id).await.unwrap().unwrap();
    assert_eq!(stored.submitted_by.as_deref(), Some("patient-7f3a9c"));
    assert_eq!(stored.answers["medicationLogs"][0]["dosage"], "400 mg");
}

#[tokio::test]
async fn the_submitter_reads_it_back_and_another_patient_gets_the_same_404_as_for_nothing() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;

    let own = api.handle(get_as(PATIENT_A, "daily-pain", &id)).await;
    assert_eq!(own.status(), StatusCode::OK);
    let view = body_json(&own);
    assert_eq!(view["answers"], json!({"painLevel": 3}));
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["schemaVersion"], 1);
    assert_eq!(view["submittedBy"], "patient-a");

    let theirs = api.handle(get_as(PATIENT_B, "daily-pain", &id)).await;
    let absent = api
        .handle(get_as(PATIENT_B, "daily-pain", &ulid::Ulid::new().to_string()))
        .await;
    let theirs = assert_problem(&theirs, StatusCode::NOT_FOUND, "not_found");
    let absent = assert_problem(&absent, StatusCode::NOT_FOUND, "not_found");
    let shape = |p: &Value| p.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        shape(&theirs),
        shape(&absent),
        "nothing tells a denied id from an absent one"
    );
    assert_eq!(theirs["title"], absent["title"]);

    // The same id under another kind does not exist either.
    let other_kind = api.handle(get_as(PATIENT_A, "intake", &id)).await;
    assert_problem(&other_kind, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn submissions_are_counted_by_outcome_and_reads_are_not() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The test's runtime has one thread: the recorder stays current across the awaits.
    let _current = metrics::set_default_local_recorder(&recorder);
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    let invalid = api
        .handle(post_as(PATIENT_A, "daily-pain", r#"{"painLevel": 11}"#))
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        api.handle(get_as(PATIENT_A, "daily-pain", &id)).await.status(),
        StatusCode::OK
    );

    let mut counted: Vec<(String, Vec<String>, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key().clone();
            let labels = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
            let metrics_util::debugging::DebugValue::Counter(n) = value else {
                panic!("{key:?}: {value:?}")
            };
            (key.name().to_owned(), labels, n)
        })
        .collect();
    counted.sort();
    let outcome = |o: &str| vec![format!("Outcome={o}")];
    assert_eq!(
        counted,
        [
            ("Submissions".to_owned(), outcome("accepted"), 1),
            ("Submissions".to_owned(), outcome("validation_failed"), 1),
        ]
    );
}

#[tokio::test]
async fn staff_read_every_submission_and_imported_ones_are_staff_only() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    let staff_view = api.handle(get_as(NURSE, "daily-pain", &id)).await;
    assert_eq!(staff_view.status(), StatusCode::OK);
    assert_eq!(body_json(&staff_view)["submittedBy"], "patient-a");

    let imported = stored_record(Some(Provenance {
        bucket: "b".into(),
        key: "imports/questionnaires/daily-pain/x.csv".into(),
        version_id: None,
        etag: None,
        line: 2,
        import_id: "i".into(),
    }));
    api.store().insert(&imported, None).await.unwrap();
    let for_staff = api.handle(get_as(NURSE, "daily-pain", &imported.id)).await;
    assert_eq!(for_staff.status(), StatusCode::OK);
    assert_eq!(body_json(&for_staff)["importedBy"], "AWS:uploader");
    for patient in [
        PATIENT_A,
        As {
            sub: "AWS:uploader",
            ..PATIENT_A
        },
    ] {
        let response = api.handle(get_as(patient, "daily-pain", &imported.id)).await;
        assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    }
    // A patient's view of their own submission never names an importer.
    let own = api.handle(get_as(PATIENT_A, "daily-pain", &id)).await;
    assert!(body_json(&own).get("importedBy").is_none());
}

#[tokio::test]
async fn without_an_identity_every_route_answers_401_with_a_bearer_challenge() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    let requests = [
        http_api(
            None,
            "POST",
            "/questionnaires/intake",
            json!({"content-type": "application/json"}),
            Some("{}"),
        ),
        http_api(
            None,
            "GET",
            &format!("/questionnaires/daily-pain/{id}"),
            json!({}),
            None,
        ),
        http_api(None, "GET", "/elsewhere", json!({}), None),
        lambda_http::request::from_str(REST_API_SUBMIT).unwrap(),
    ];
    for request in requests {
        let response = api.handle(request).await;
        assert_problem(&response, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    assert_eq!(api.store().len(), 1, "nothing stored anonymously");
}

#[tokio::test]
async fn a_token_without_the_operation_scope_gets_403() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    let reader = As {
        scope: "questionnaires/read",
        ..PATIENT_A
    };
    let submitter = As {
        scope: "questionnaires/submit",
        ..PATIENT_A
    };
    let post = api.handle(post_as(reader, "daily-pain", r#"{"painLevel": 3}"#)).await;
    assert_problem(&post, StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(
        post.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"questionnaires/submit\""
    );
    let get = api.handle(get_as(submitter, "daily-pain", &id)).await;
    assert_problem(&get, StatusCode::FORBIDDEN, "insufficient_scope");
    // The staff role does not stand in for the app's read scope.
    let staff_through_a_submit_app = As {
        scope: "questionnaires/submit",
        ..NURSE
    };
    let get = api.handle(get_as(staff_through_a_submit_app, "daily-pain", &id)).await;
    assert_problem(&get, StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(api.store().len(), 1);
}

#[tokio::test]
async fn a_token_with_a_staff_scope_but_without_the_staff_group_reads_only_its_own_submissions() {
    let api = api();
    let others = submitted(&api, PATIENT_B).await;
    // A patient signed in through the staff portal's app: the app's scopes, the patient's groups.
    let patient_through_staff_app = As {
        scope: "questionnaires/read questionnaires/read-all staff",
        groups: "[patients]",
        ..PATIENT_A
    };
    let own = submitted(&api, PATIENT_A).await;
    let response = api
        .handle(get_as(patient_through_staff_app, "daily-pain", &others))
        .await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    let response = api.handle(get_as(patient_through_staff_app, "daily-pain", &own)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // A group claim that only looks like the staff group grants nothing either.
    let lookalike = As {
        groups: "[Staff staff-trainee]",
        ..patient_through_staff_app
    };
    let response = api.handle(get_as(lookalike, "daily-pain", &others)).await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_member_of_the_staff_group_reads_any_submission() {
    let api = api();
    let ids = [submitted(&api, PATIENT_A).await, submitted(&api, PATIENT_B).await];
    for id in ids {
        let response = api.handle(get_as(NURSE, "daily-pain", &id)).await;
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
        assert_eq!(body_json(&response)["id"], id.as_str());
    }
}

#[tokio::test]
async fn the_owner_check_compares_issuer_and_subject() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    // The same `sub` issued by another identity provider (or pool) is someone else.
    let namesake = As {
        iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OTHER",
        ..PATIENT_A
    };
    let response = api.handle(get_as(namesake, "daily-pain", &id)).await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        api.handle(get_as(PATIENT_A, "daily-pain", &id)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_record_that_does_not_name_its_submitters_issuer_is_nobodys_own() {
    let api = api();
    let mut record = stored_record(None);
    record.submitted_by = Some(PATIENT_A.sub.into());
    record.submitter_issuer = None;
    api.store().insert(&record, None).await.unwrap();
    let response = api.handle(get_as(PATIENT_A, "daily-pain", &record.id)).await;
    assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        api.handle(get_as(NURSE, "daily-pain", &record.id)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_direct_invocation_with_forged_staff_claims_but_without_the_apis_context_is_refused() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    let forged = |api_id: Value| {
        let path = format!("/questionnaires/daily-pain/{id}");
        let mut event = http_api_event(Some(NURSE), "GET", &path, json!({}), None);
        event["requestContext"]["apiId"] = api_id;
        lambda_http::request::from_str(&event.to_string()).unwrap()
    };
    for api_id in [json!("made-up-api"), json!(""), Value::Null] {
        let response = api.handle(forged(api_id.clone())).await;
        assert_problem(&response, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(!body_json(&response).to_string().contains(&id), "{api_id}");
    }
    // The same claims through the deployed API are staff's.
    assert_eq!(
        api.handle(forged(json!(fixture_api_id()))).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn get_of_an_absent_or_malformed_id_is_404() {
    let api = api();
    let absent = api.handle(lambda_http::request::from_str(HTTP_API_GET).unwrap()).await;
    assert_problem(&absent, StatusCode::NOT_FOUND, "not_found");
    let malformed = api.handle(get_as(PATIENT_A, "intake", "idempotency%23x")).await;
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
    let message = body["violations"][1]["message"].as_str().unwrap();
    assert!(message.contains("integer") && !message.contains("25"), "{message}");
}

#[tokio::test]
async fn a_duplicate_member_at_any_depth_is_refused_not_last_wins() {
    let api = api();
    for (body, pointer) in [
        (r#"{"patientName":"A","age":30,"age":31,"hasAllergy":false}"#, "/age"),
        (
            r#"{"painLevel":2,"medicationLogs":[{"drugName":"a","dosage":"1","dosage":"2"}]}"#,
            "/medicationLogs/0/dosage",
        ),
    ] {
        let kind = if body.contains("painLevel") {
            "daily-pain"
        } else {
            "intake"
        };
        let response = api.handle(post(kind, body)).await;
        let problem = assert_problem(&response, StatusCode::BAD_REQUEST, "duplicate_member");
        assert!(problem["detail"].as_str().unwrap().contains(pointer), "{problem}");
    }
    assert!(api.store().is_empty());
}

#[tokio::test]
async fn bidirectional_overrides_and_zero_width_characters_are_refused_in_text() {
    let api = api();
    for name in [
        "Jane\u{202e}elpmaxE",
        "Ja\u{200b}ne",
        "\u{2066}Jane\u{2069}",
        "Jane\u{feff}",
    ] {
        let body = json!({"patientName": name, "age": 30, "hasAllergy": false}).to_string();
        let problem = assert_problem(
            &api.handle(post("intake", &body)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(problem["violations"][0]["code"], "forbidden_character", "{name:?}");
    }
    let logs = json!({"painLevel": 1, "medicationLogs": [{"drugName": "a\u{200d}b", "dosage": "1 mg"}]});
    let problem = body_json(&api.handle(post("daily-pain", &logs.to_string())).await);
    assert_eq!(problem["violations"][0]["path"], "/medicationLogs/0/drugName");
}

#[tokio::test]
async fn thousands_of_bad_entries_get_a_bounded_answer_with_a_count_of_the_rest() {
    let api = SubmissionApi::new(
        MemorySubmissionStore::default(),
        MemoryAuditTrail::default(),
        config(64 * 1024),
    );
    let mut body = String::from(r#"{"painLevel":1,"medicationLogs":["#);
    while body.len() < 64 * 1024 - 10 {
        body.push_str("{},");
    }
    body.push_str("{}]}");
    assert!(body.len() <= 64 * 1024);
    let response = api.handle(post("daily-pain", &body)).await;
    let problem = assert_problem(&response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let listed = problem["violations"].as_array().unwrap().len();
    let omitted = problem["omittedViolations"].as_u64().unwrap();
    assert_eq!(listed, 100);
    // Only the 50 entries a list may have are checked (two fields missing in each), then the length itself.
    assert_eq!(omitted, 1, "{problem}");
    assert_eq!(problem["violations"][99]["path"], "/medicationLogs/49/dosage");
    assert!(response.body().len() < 20_000, "{} bytes", response.body().len());
}

#[tokio::test]
async fn every_answer_forbids_caching_and_sniffing() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    let answers = [
        api.handle(post("daily-pain", r#"{"painLevel": 3}"#)).await,
        api.handle(get_as(PATIENT_A, "daily-pain", &id)).await,
        api.handle(post("intake", "{")).await,
        api.handle(http_api(None, "GET", "/", json!({}), None)).await,
    ];
    for response in answers {
        assert_eq!(response.headers()["cache-control"], "no-store", "{}", response.status());
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{}",
            response.status()
        );
    }
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
        MemoryAuditTrail::default(),
        config(1 << 20),
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
            .handle(http_api(
                Some(PATIENT_A),
                "POST",
                "/questionnaires/daily-pain",
                headers,
                Some(body),
            ))
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
        .handle(http_api(
            Some(PATIENT_A),
            "PUT",
            "/questionnaires/intake",
            json!({}),
            None,
        ))
        .await;
    assert_problem(&put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(put.headers()["allow"], "POST");
    let delete = api
        .handle(http_api(
            Some(PATIENT_A),
            "DELETE",
            "/questionnaires/intake/01JDQ6N9W3X8K2M4P5R7S9T0V1",
            json!({}),
            None,
        ))
        .await;
    assert_eq!(delete.headers()["allow"], "GET");
    for path in ["/", "/questionnaires", "/questionnaires/intake/a/b", "/other/intake"] {
        let response = api
            .handle(http_api(Some(PATIENT_A), "GET", path, json!({}), None))
            .await;
        assert_problem(&response, StatusCode::NOT_FOUND, "route_not_found");
    }
}

fn with_key(caller: As, body: &str, key: &str) -> Request {
    http_api(
        Some(caller),
        "POST",
        "/questionnaires/daily-pain",
        json!({"content-type": "application/json", "idempotency-key": key}),
        Some(body),
    )
}

#[tokio::test]
async fn idempotency_key_replays_the_same_body_and_conflicts_on_a_different_one() {
    let api = api();
    let first = api.handle(with_key(PATIENT_A, r#"{"painLevel": 4}"#, "key-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = api.handle(with_key(PATIENT_A, r#"{ "painLevel" : 4 }"#, "key-1")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(body_json(&again), body_json(&first));
    assert_eq!(again.headers()["location"], first.headers()["location"]);
    assert_eq!(api.store().len(), 1);

    let different = api.handle(with_key(PATIENT_A, r#"{"painLevel": 5}"#, "key-1")).await;
    assert_problem(&different, StatusCode::CONFLICT, "idempotency_key_reused");
    assert_eq!(api.store().len(), 1);

    let bad_key = api
        .handle(with_key(PATIENT_A, r#"{"painLevel": 5}"#, "has space"))
        .await;
    assert_problem(&bad_key, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

#[tokio::test]
async fn the_same_idempotency_key_from_two_patients_makes_two_submissions() {
    let api = api();
    let a = api.handle(with_key(PATIENT_A, r#"{"painLevel": 4}"#, "visit-1")).await;
    let b = api.handle(with_key(PATIENT_B, r#"{"painLevel": 4}"#, "visit-1")).await;
    assert_eq!((a.status(), b.status()), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(body_json(&a)["id"], body_json(&b)["id"]);
    assert_eq!(api.store().len(), 2);
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

#[tokio::test]
async fn every_read_of_a_submission_is_recorded_with_who_why_and_outcome() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    assert!(
        api.audit().reads().is_empty(),
        "a submission is recorded by the table's stream, not as a read"
    );
    let answers = [
        api.handle(get_as(PATIENT_A, "daily-pain", &id)).await,
        api.handle(get_as(PATIENT_B, "daily-pain", &id)).await,
        api.handle(get_as(NURSE, "daily-pain", &id)).await,
    ];
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(statuses, [200, 404, 200]);
    let reads = api.audit().reads();
    let seen: Vec<(&Who, ReadOutcome, &str, &str)> = reads
        .iter()
        .map(|r| (&r.who, r.outcome, r.record_id.as_str(), r.questionnaire.as_str()))
        .collect();
    let who = |caller: As, staff: bool| Who::Caller {
        issuer: Some(ISSUER.into()),
        subject: caller.sub.into(),
        client_id: Some("app".into()),
        staff: Some(staff),
    };
    assert_eq!(
        seen,
        [
            (&who(PATIENT_A, false), ReadOutcome::Returned, id.as_str(), "daily-pain"),
            (&who(PATIENT_B, false), ReadOutcome::NotFound, id.as_str(), "daily-pain"),
            (&who(NURSE, true), ReadOutcome::Returned, id.as_str(), "daily-pain"),
        ]
    );
    for read in &reads {
        assert!(
            matches!(&read.why, Why::Request { route: Some(route), .. } if route == "GET /questionnaires/{kind}/{id}")
        );
        assert_eq!(read.table, "unused");
    }
    // Requests that read no submission are not reads.
    api.handle(get_as(PATIENT_A, "daily-pain", "not-a-ulid")).await;
    api.handle(get_as(PATIENT_A, "no-such-kind", &id)).await;
    assert_eq!(api.audit().reads().len(), 3);
}

#[tokio::test]
async fn a_read_that_cannot_be_recorded_is_answered_503_without_the_submission() {
    let api = api();
    let id = submitted(&api, PATIENT_A).await;
    api.audit().set_unavailable(true);
    let response = api.handle(get_as(PATIENT_A, "daily-pain", &id)).await;
    let body = assert_problem(&response, StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable");
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(
        body.get("answers").is_none() && !body.to_string().contains("painLevel"),
        "{body}"
    );
    // Submitting goes on: its record comes from the table's stream.
    let posted = api
        .handle(post_as(PATIENT_A, "daily-pain", r#"{"painLevel": 4}"#))
        .await;
    assert_eq!(posted.status(), StatusCode::CREATED);
}

mod versions;
