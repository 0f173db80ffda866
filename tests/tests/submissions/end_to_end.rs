//! Over real HTTP: the built function under cargo lambda watch, storing into the local DynamoDB API.

use integration_tests::env;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn url(path: &str) -> String {
    format!("{}/submit-questionnaire{path}", env("FUNCTION_URL"))
}

async fn post(kind: &str, body: impl Into<reqwest::Body>, content_type: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(url(&format!("/questionnaires/{kind}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn valid_intake_is_created_and_can_be_fetched() {
    let body = json!({"patientName": "Jane Example", "age": 42, "hasAllergy": false}).to_string();
    let (status, receipt) = post("intake", body, "application/json").await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let id = receipt["id"].as_str().unwrap();

    let fetched = reqwest::get(url(&format!("/questionnaires/intake/{id}")))
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    let view: Value = fetched.json().await.unwrap();
    assert_eq!(view["answers"]["age"], 42);
    assert_eq!(view["receivedAt"], receipt["receivedAt"]);
}

#[tokio::test]
async fn age_as_string_lists_wrong_type_and_both_missing_fields() {
    let (status, problem) = post("intake", r#"{"age":"25"}"#, "application/json").await;
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
    let big = format!(r#"{{"painLevel": 1, "pad": "{}"}}"#, "x".repeat(70_000));
    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        ("intake", b"{".to_vec(), "application/json", 400),
        ("intake", b"".to_vec(), "application/json", 400),
        ("intake", b"<xml/>".to_vec(), "application/xml", 415),
        ("daily-pain", big.into_bytes(), "application/json", 413),
        ("unknown", b"{}".to_vec(), "application/json", 404),
        (
            "daily-pain",
            br#"{"painLevel": 1e400}"#.to_vec(),
            "application/json",
            400,
        ),
        (
            "intake",
            br#"{"patientName": "\ud800", "age": 1, "hasAllergy": true}"#.to_vec(),
            "application/json",
            400,
        ),
        (
            "daily-pain",
            format!("{}1{}", "[".repeat(30_000), "]".repeat(30_000)).into_bytes(),
            "application/json",
            400,
        ),
        (
            "daily-pain",
            br#"{"painLevel": 11, "extra": null}"#.to_vec(),
            "application/json",
            422,
        ),
        (
            "intake",
            br#"{"patientName":"\u0000x","age":1,"hasAllergy":true}"#.to_vec(),
            "application/json",
            422,
        ),
        (
            "intake",
            "{\"patientName\":\"\u{202e}\u{1F600}\",\"age\":1,\"hasAllergy\":true}".into(),
            "application/json",
            201,
        ),
    ];
    // Not here: a non-UTF-8 body. cargo lambda watch answers 500 itself without invoking the function (API Gateway
    // base64-encodes such bodies instead); the in-process tests cover it with a base64 event.
    for (kind, body, content_type, expected) in cases {
        let (status, problem) = post(kind, body, content_type).await;
        assert_eq!(status.as_u16(), expected, "{kind} {content_type}: {problem}");
    }
    let wrong_method = reqwest::Client::new()
        .delete(url("/questionnaires/intake"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
}
