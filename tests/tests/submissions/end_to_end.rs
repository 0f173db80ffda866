//! Over real HTTP, the way clients call it: through the local stand-in for the HTTP API (routes, JWT authorizer and
//! scopes from `template.yaml`) to the built function under cargo lambda watch, storing into the local DynamoDB API.

use integration_tests::{env, local_token, local_token_in_groups, unique};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PATIENT: &str = "questionnaires/submit questionnaires/read";
/// A staff app's scope: what the app may do. Whether its user is staff is the user's group claim.
const STAFF_APP: &str = "questionnaires/read";

fn url(path: &str) -> String {
    format!("{}{path}", env("API_URL"))
}

async fn post_as(token: &str, kind: &str, body: impl Into<reqwest::Body>, content_type: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url(&format!("/questionnaires/{kind}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get_as(token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn patient() -> String {
    local_token(&unique("patient"), PATIENT)
}

#[tokio::test]
async fn a_patient_submits_and_reads_back_another_patient_cannot_and_staff_can() {
    let (a, b) = (patient(), patient());
    let body = json!({"patientName": "Jane Example", "age": 42, "hasAllergy": false}).to_string();
    let (status, receipt) = post_as(&a, "intake", body, "application/json").await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let path = format!("/questionnaires/intake/{}", receipt["id"].as_str().unwrap());

    let own = get_as(&a, &path).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(own.headers()["cache-control"], "no-store");
    assert_eq!(own.headers()["x-content-type-options"], "nosniff");
    let view: Value = own.json().await.unwrap();
    assert_eq!(view["answers"]["age"], 42);
    assert_eq!(view["receivedAt"], receipt["receivedAt"]);

    let theirs = get_as(&b, &path).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let staff = get_as(&local_token_in_groups(&unique("nurse"), STAFF_APP, &["staff"]), &path).await;
    assert_eq!(staff.status(), StatusCode::OK);
}

#[tokio::test]
async fn staff_rights_come_from_the_persons_group_not_from_the_apps_scopes() {
    let (a, b) = (patient(), unique("patient"));
    let body = json!({"painLevel": 2}).to_string();
    let (status, receipt) = post_as(&a, "daily-pain", body.clone(), "application/json").await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let others = format!("/questionnaires/daily-pain/{}", receipt["id"].as_str().unwrap());
    // Patient b signs in through an app that was granted every scope there is, staff-sounding ones included.
    let every_scope = "questionnaires/submit questionnaires/read questionnaires/read-all staff";
    let b_token = local_token(&b, every_scope);
    let (status, own) = post_as(&b_token, "daily-pain", body, "application/json").await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    let own = format!("/questionnaires/daily-pain/{}", own["id"].as_str().unwrap());
    assert_eq!(get_as(&b_token, &others).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get_as(&b_token, &own).await.status(), StatusCode::OK);
    // A member of the staff group reads both, through an app with the read scope only.
    let nurse = local_token_in_groups(&unique("nurse"), STAFF_APP, &["staff", "site:CARDIO-7/S01"]);
    for path in [&others, &own] {
        assert_eq!(get_as(&nurse, path).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn without_a_valid_token_or_its_scope_the_gateway_answers_before_the_function() {
    let client = reqwest::Client::new();
    let body = r#"{"painLevel": 1}"#;
    let anonymous = client
        .post(url("/questionnaires/daily-pain"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));

    let forged = format!("{}x", patient());
    let (status, _) = post_as(&forged, "daily-pain", body, "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let reader = local_token(&unique("patient"), "questionnaires/read");
    let (status, answer) = post_as(&reader, "daily-pain", body, "application/json").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
}

#[tokio::test]
async fn age_as_string_lists_wrong_type_and_both_missing_fields() {
    let (status, problem) = post_as(&patient(), "intake", r#"{"age":"25"}"#, "application/json").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<(&str, &str)> = problem["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["path"].as_str().unwrap(), v["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [
            ("/patientName", "missing"),
            ("/age", "wrong_type"),
            ("/hasAllergy", "missing")
        ]
    );
}

#[tokio::test]
async fn malformed_requests_of_every_shape_get_a_4xx_never_a_5xx() {
    let token = patient();
    let big = format!(r#"{{"painLevel": 1, "pad": "{}"}}"#, "x".repeat(70_000));
    // Each answer is the function's own problem document (its `code`), not a 4xx from something in front of it.
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("intake", b"{".to_vec(), "application/json", 400, "malformed_json"),
        ("intake", b"".to_vec(), "application/json", 400, "empty_body"),
        (
            "intake",
            b"<xml/>".to_vec(),
            "application/xml",
            415,
            "unsupported_media_type",
        ),
        (
            "daily-pain",
            big.into_bytes(),
            "application/json",
            413,
            "payload_too_large",
        ),
        ("unknown", b"{}".to_vec(), "application/json", 404, "unknown_kind"),
        (
            "daily-pain",
            br#"{"painLevel": 1e400}"#.to_vec(),
            "application/json",
            400,
            "malformed_json",
        ),
        (
            "intake",
            br#"{"patientName": "\ud800", "age": 1, "hasAllergy": true}"#.to_vec(),
            "application/json",
            400,
            "malformed_json",
        ),
        (
            "daily-pain",
            format!("{}1{}", "[".repeat(30_000), "]".repeat(30_000)).into_bytes(),
            "application/json",
            400,
            "malformed_json",
        ),
        (
            "daily-pain",
            br#"{"painLevel": 2, "painLevel": 3}"#.to_vec(),
            "application/json",
            400,
            "duplicate_member",
        ),
        (
            "daily-pain",
            b"{\"painLevel\": \xff}".to_vec(),
            "application/json",
            400,
            "invalid_utf8",
        ),
        (
            "daily-pain",
            br#"{"painLevel": 11, "extra": null}"#.to_vec(),
            "application/json",
            422,
            "validation_failed",
        ),
        (
            "intake",
            br#"{"patientName":"\u0000x","age":1,"hasAllergy":true}"#.to_vec(),
            "application/json",
            422,
            "validation_failed",
        ),
        (
            "intake",
            "{\"patientName\":\"\u{202e}\u{1F600}\",\"age\":1,\"hasAllergy\":true}".into(),
            "application/json",
            422,
            "validation_failed",
        ),
        (
            "intake",
            "{\"patientName\":\"Zoë 😀\",\"age\":1,\"hasAllergy\":true}".into(),
            "application/json",
            201,
            "",
        ),
    ];
    for (kind, body, content_type, expected, code) in cases {
        let (status, answer) = post_as(&token, kind, body, content_type).await;
        assert_eq!(status.as_u16(), expected, "{kind} {content_type}: {answer}");
        if status.is_success() {
            assert!(answer["id"].is_string(), "a receipt: {answer}");
        } else {
            assert_eq!(answer["code"], code, "{kind} {content_type}: {answer}");
            assert_eq!(answer["status"], expected, "{answer}");
        }
    }
    let wrong_method = reqwest::Client::new()
        .delete(url("/questionnaires/intake"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()["allow"], "POST");
    let problem: Value = wrong_method.json().await.unwrap();
    assert_eq!(problem["code"], "method_not_allowed", "{problem}");
}

/// An HTTP API event sent straight to the function (as anyone allowed to invoke it could), not through the API.
async fn invoke_directly(event: &Value) -> Value {
    let url = format!(
        "http://127.0.0.1:{}/2015-03-31/functions/submit-questionnaire/invocations",
        env("LAMBDA_INVOKE_PORT")
    );
    let answer = reqwest::Client::new().post(url).json(event).send().await.unwrap();
    assert!(
        answer.status().is_success(),
        "the emulator answered {}",
        answer.status()
    );
    answer.json().await.unwrap()
}

#[tokio::test]
async fn a_direct_invocation_with_forged_staff_claims_is_refused() {
    let a = patient();
    let (status, receipt) = post_as(
        &a,
        "intake",
        json!({"patientName": "Jane Example", "age": 42, "hasAllergy": false}).to_string(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let id = receipt["id"].as_str().unwrap();
    let mut event = integration_tests::event("http-api-get-intake.json");
    let path = format!("/questionnaires/intake/{id}");
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
    event["pathParameters"]["id"] = id.into();
    event["requestContext"]["authorizer"]["jwt"]["claims"] = json!({
        "iss": "https://attacker.example", "sub": "forged-nurse",
        "scope": "questionnaires/read", "cognito:groups": "[staff]"
    });
    for api_id in [json!("made-up-api"), Value::Null] {
        event["requestContext"]["apiId"] = api_id.clone();
        let answer = invoke_directly(&event).await;
        assert_eq!(answer["statusCode"], 401, "{api_id}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["code"], "unauthenticated");
        assert!(!answer.to_string().contains("Jane"), "{answer}");
    }
}
