//! Questionnaire versions through the API: which version a submission is read with, how stored answers of an older
//! version read back, and the upgrade to the latest shape on request.

use super::*;
use crate::questionnaire::VersionPolicy;

fn api_with(policy: &str) -> Api {
    let mut config = config(1024);
    config.versions = VersionPolicy::parse(policy).unwrap();
    SubmissionApi::new(MemorySubmissionStore::default(), MemoryAuditTrail::default(), config)
}

/// A patient enrolled in `study` (a `study:<id>` group).
fn enrolled(sub: &'static str, groups: &'static str) -> As<'static> {
    As {
        sub,
        groups,
        ..PATIENT_A
    }
}

fn get_shape(caller: As, kind: &str, id: &str, shape: &str) -> Request {
    let path = format!("/questionnaires/{kind}/{id}");
    let mut event = http_api_event(Some(caller), "GET", &path, json!({}), None);
    event["rawQueryString"] = json!(format!("shape={shape}"));
    event["queryStringParameters"] = json!({ "shape": shape });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

const V1: &str = r#"{"patientName": "Jane Example", "age": 42, "hasAllergy": true}"#;
const V2: &str = r#"{"schemaVersion": 2, "fullName": "Jane Example", "age": 42, "hasAllergy": true,
                     "smokingStatus": "former"}"#;

/// Submits and returns the stored record.
async fn submit(api: &Api, caller: As<'_>, body: &str) -> SubmissionRecord {
    let response = api.handle(post_as(caller, "intake", body)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.body());
    let id = body_json(&response)["id"].as_str().unwrap().to_owned();
    api.store().get(&id).await.unwrap().unwrap()
}

/// An intake answer as stored before version 2 existed: version 1's names, `schemaVersion` 1.
async fn stored_before_version_2(api: &Api) -> String {
    let record = SubmissionRecord {
        id: ulid::Ulid::new().to_string(),
        kind: "intake".into(),
        received_at: "2026-01-05T09:00:00.000Z".into(),
        schema_version: 1,
        request_id: "r".into(),
        submitted_by: Some("patient-a".into()),
        submitter_issuer: Some(ISSUER.into()),
        imported_by: None,
        answers: json!({"patientName": "Jane Example", "age": 42, "hasAllergy": true}),
        provenance: None,
    };
    api.store().insert(&record, None).await.unwrap();
    record.id
}

#[tokio::test]
async fn answers_stored_before_version_2_read_back_unchanged_as_version_1() {
    let api = api_with(r#"{"intake": {"current": 2, "retired": [1]}}"#);
    let id = stored_before_version_2(&api).await;
    let response = api.handle(get_as(PATIENT_A, "intake", &id)).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    let view = body_json(&response);
    assert_eq!(view["schemaVersion"], 1);
    assert_eq!(
        view["answers"],
        json!({"patientName": "Jane Example", "age": 42, "hasAllergy": true})
    );
    assert!(view.get("upgradedFrom").is_none(), "{view}");
    // Asking for the stored shape by name is the same answer.
    let stored = api.handle(get_shape(PATIENT_A, "intake", &id, "stored")).await;
    assert_eq!(body_json(&stored), view);
}

#[tokio::test]
async fn the_latest_shape_is_given_through_the_upgrade_and_says_what_was_answered() {
    let api = api_with("{}");
    let id = stored_before_version_2(&api).await;
    let response = api.handle(get_shape(PATIENT_A, "intake", &id, "latest")).await;
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
    let view = body_json(&response);
    assert_eq!(view["schemaVersion"], 2);
    assert_eq!(view["upgradedFrom"], 1);
    assert_eq!(
        view["answers"],
        json!({"fullName": "Jane Example", "age": 42, "hasAllergy": true, "smokingStatus": "unknown"})
    );
    // Answers given on the latest version are as they were, and say nothing of an upgrade.
    let v2 = submit(&api, PATIENT_A, V2).await;
    let latest = body_json(&api.handle(get_shape(PATIENT_A, "intake", &v2.id, "latest")).await);
    assert_eq!(latest["schemaVersion"], 2);
    assert_eq!(latest["answers"]["smokingStatus"], "former");
    assert!(latest.get("upgradedFrom").is_none(), "{latest}");
    // A shape the API does not know is refused, not read as the default.
    let odd = api.handle(get_shape(PATIENT_A, "intake", &id, "newest")).await;
    assert_problem(&odd, StatusCode::BAD_REQUEST, "invalid_query");
}

#[tokio::test]
async fn a_submission_is_read_with_the_version_it_names_or_the_current_one() {
    let api = api_with("{}");
    let v1 = submit(&api, PATIENT_A, V1).await;
    assert_eq!(v1.schema_version, 1, "by default the oldest live version is current");
    let v2 = submit(&api, PATIENT_A, V2).await;
    assert_eq!(v2.schema_version, 2);
    assert_eq!(
        v2.answers,
        json!({"fullName": "Jane Example", "age": 42, "hasAllergy": true, "smokingStatus": "former"}),
        "schemaVersion says which form; it is not an answer"
    );
    let explicit_v1 = submit(&api, PATIENT_A, &V1.replace('{', r#"{"schemaVersion": 1, "#)).await;
    assert_eq!(explicit_v1.schema_version, 1);

    // Version 1's body named as version 2: every difference is listed, by version 2's rules.
    let mixed = api
        .handle(post("intake", &V1.replace('{', r#"{"schemaVersion": 2, "#)))
        .await;
    let problem = assert_problem(&mixed, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let paths: Vec<&str> = problem["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/fullName", "/smokingStatus", "/patientName"]);
}

#[tokio::test]
async fn a_retired_or_unknown_version_is_refused_with_its_own_code_and_the_live_versions() {
    let api = api_with(r#"{"intake": {"retired": [1]}}"#);
    for requested in ["1", "3", "0", "-1"] {
        let body = V1.replace('{', &format!(r#"{{"schemaVersion": {requested}, "#));
        let response = api.handle(post("intake", &body)).await;
        let problem = assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_schema_version",
        );
        assert_eq!(problem["liveVersions"], json!([2]), "{requested}");
        assert!(problem.get("violations").is_none());
    }
    // Without a version, the oldest live one applies: version 2.
    let response = api.handle(post("intake", V1)).await;
    let problem = assert_problem(&response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["violations"][0]["path"], "/fullName");
    assert_eq!(submit(&api, PATIENT_A, V2).await.schema_version, 2);
    // Nothing of the refused submissions was stored.
    assert_eq!(api.store().len(), 1);
}

#[tokio::test]
async fn a_version_that_is_not_a_whole_number_is_a_violation_of_its_own() {
    let api = api_with("{}");
    for (sent, code) in [
        (r#""2""#, "wrong_type"),
        ("2.5", "wrong_type"),
        ("null", "wrong_type"),
        ("1e300", "out_of_range"),
    ] {
        let body = V1.replace('{', &format!(r#"{{"schemaVersion": {sent}, "#));
        let problem = assert_problem(
            &api.handle(post("intake", &body)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let violations = problem["violations"].as_array().unwrap();
        assert_eq!(violations.len(), 1, "{sent}");
        assert_eq!(
            (&violations[0]["path"], &violations[0]["code"]),
            (&json!("/schemaVersion"), &json!(code))
        );
    }
    // 2.0 is the integer 2, as JSON Schema counts it.
    let whole = V2.replace(r#""schemaVersion": 2"#, r#""schemaVersion": 2.0"#);
    assert_eq!(submit(&api, PATIENT_A, &whole).await.schema_version, 2);
}

#[tokio::test]
async fn the_study_of_the_caller_chooses_the_current_version() {
    let api = api_with(r#"{"intake": {"studies": {"ONCO-7": 2}}}"#);
    let onco = enrolled("patient-onco", "[study:ONCO-7]");
    let cardio = enrolled("patient-cardio", "[study:CARDIO-2]");
    let v2_body = V2.replace(r#""schemaVersion": 2, "#, "");
    assert_eq!(submit(&api, onco, &v2_body).await.schema_version, 2);
    assert_eq!(submit(&api, cardio, V1).await.schema_version, 1);
    assert_eq!(submit(&api, PATIENT_A, V1).await.schema_version, 1);
    // A site grant places a person in its study too.
    let coordinator = As {
        groups: "[site:ONCO-7/S01]",
        ..PATIENT_A
    };
    assert_eq!(submit(&api, coordinator, &v2_body).await.schema_version, 2);
    // In two studies on different versions, the form filled in must be named.
    let both = enrolled("patient-both", "[study:ONCO-7 study:CARDIO-2]");
    let problem = assert_problem(
        &api.handle(post_as(both, "intake", V1)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema_version_required",
    );
    assert_eq!(problem["liveVersions"], json!([1, 2]));
    let named = V1.replace('{', r#"{"schemaVersion": 1, "#);
    assert_eq!(submit(&api, both, &named).await.schema_version, 1);
}
