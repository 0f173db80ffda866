//! Questionnaire versions against the local DynamoDB API: answers stored before version 2 existed, a deployment
//! after the amendment (version 2 current, version 1 retired), and the deployed function over HTTP.

use super::in_process::{test_api_with, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{as_caller, env, event, local_token, response_json, submit_intake, unique};
use lambda_http::http::StatusCode;
use serde_json::{json, Value};
use shared::config::{ApiConfig, Env};
use shared::questionnaire::VersionPolicy;

/// The function's configuration from the environment, with `QUESTIONNAIRE_VERSIONS` set to `policy`.
async fn deployed_with(policy: &str) -> TestApi {
    let mut config = ApiConfig::from_env(&Env::process()).expect("scripts/test exports the function configuration");
    config.versions = VersionPolicy::parse(policy).unwrap();
    test_api_with(config).await
}

impl TestApi {
    /// `GET /questionnaires/intake/{id}` as the HTTP API passes it on, with `?shape=` when given.
    async fn get(&self, caller: &str, id: &str, shape: Option<&str>) -> (StatusCode, Value) {
        let mut event = as_caller(event("http-api-get-intake.json"), caller);
        let path = format!("/questionnaires/intake/{id}");
        event["rawPath"] = path.clone().into();
        event["requestContext"]["http"]["path"] = path.into();
        if let Some(shape) = shape {
            event["rawQueryString"] = format!("shape={shape}").into();
            event["queryStringParameters"] = json!({ "shape": shape });
        }
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let response = self.api.handle(request).await;
        (response.status(), response_json(&response))
    }
}

/// An intake answer written as the release before version 2 wrote it: version 1's names, `schemaVersion` 1, and
/// nothing a later release added.
async fn stored_by_the_release_before(d: &TestApi, caller: &str) -> String {
    let id = ulid::Ulid::new().to_string();
    let fixture = event("http-api-submit-intake.json");
    let issuer = fixture["requestContext"]["authorizer"]["jwt"]["claims"]["iss"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = [
        ("patientName", AttributeValue::S("Jane Example".into())),
        ("age", AttributeValue::N("42".into())),
        ("hasAllergy", AttributeValue::Bool(true)),
    ];
    d.dynamodb
        .put_item()
        .table_name(&d.table)
        .item("id", AttributeValue::S(id.clone()))
        .item("kind", AttributeValue::S("intake".into()))
        .item("receivedAt", AttributeValue::S("2026-03-02T08:15:00.000Z".into()))
        .item("schemaVersion", AttributeValue::N("1".into()))
        .item("requestId", AttributeValue::S("before-v2".into()))
        .item("submittedBy", AttributeValue::S(caller.into()))
        .item("submitterIssuer", AttributeValue::S(issuer))
        .item(
            "answers",
            AttributeValue::M(answers.map(|(k, v)| (k.to_owned(), v)).into()),
        )
        .send()
        .await
        .unwrap();
    id
}

const V1: fn() -> Value = || json!({"patientName": "Jane Example", "age": 42, "hasAllergy": true});

#[tokio::test]
async fn after_the_amendment_version_1_answers_read_back_unchanged_and_new_ones_are_version_2() {
    // Version 2 is current and version 1 retired: the deployment after every study has moved on.
    let d = deployed_with(r#"{"intake": {"current": 2, "retired": [1]}}"#).await;
    let caller = unique("patient");
    let id = stored_by_the_release_before(&d, &caller).await;

    let (status, view) = d.get(&caller, &id, None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["schemaVersion"], 1);
    assert_eq!(view["answers"], V1());
    assert_eq!(view["receivedAt"], "2026-03-02T08:15:00.000Z");
    assert!(view.get("upgradedFrom").is_none());

    let (status, latest) = d.get(&caller, &id, Some("latest")).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(
        (latest["schemaVersion"].clone(), latest["upgradedFrom"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        latest["answers"],
        json!({"fullName": "Jane Example", "age": 42, "hasAllergy": true, "smokingStatus": "unknown"})
    );
    // Reading it did not change it.
    assert_eq!(
        d.item(&id).await.expect("stored")["schemaVersion"],
        AttributeValue::N("1".into())
    );

    // A version-1 submission now is refused with its own code and the versions that are live.
    let mut named_v1 = V1();
    named_v1["schemaVersion"] = json!(1);
    let refused = d.api.handle(submit_intake(&caller, None, &named_v1)).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = response_json(&refused);
    assert_eq!(problem["code"], "unsupported_schema_version");
    assert_eq!(problem["liveVersions"], json!([2]));

    // A version-2 submission is stored as version 2, with version 2's names.
    let v2 = json!({"fullName": "Jane Example", "age": 43, "hasAllergy": true, "smokingStatus": "current"});
    let created = d.api.handle(submit_intake(&caller, None, &v2)).await;
    assert_eq!(created.status(), StatusCode::CREATED, "{:?}", created.body());
    let item = d
        .item(response_json(&created)["id"].as_str().unwrap())
        .await
        .expect("stored");
    assert_eq!(item["schemaVersion"], AttributeValue::N("2".into()));
    let AttributeValue::M(answers) = &item["answers"] else {
        panic!("answers must be a map")
    };
    assert_eq!(answers["smokingStatus"], AttributeValue::S("current".into()));
    assert!(!answers.contains_key("patientName"));
}

#[tokio::test]
async fn the_deployed_function_takes_both_versions_over_http_and_reads_each_as_answered() {
    let token = local_token(&unique("patient"), "questionnaires/submit questionnaires/read");
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", env("API_URL"));
    let mut ids = Vec::new();
    let v2 = json!({"schemaVersion": 2, "fullName": "Zoë Example", "age": 30, "hasAllergy": false,
                    "smokingStatus": "never"});
    for body in [V1(), v2] {
        let response = client
            .post(url("/questionnaires/intake"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let read = |id: &str, query: &str| {
        let request = client
            .get(url(&format!("/questionnaires/intake/{id}{query}")))
            .bearer_auth(&token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let v1 = read(&ids[0], "").await;
    assert_eq!((v1["schemaVersion"].clone(), v1["answers"].clone()), (json!(1), V1()));
    let v2 = read(&ids[1], "").await;
    assert_eq!(v2["schemaVersion"], 2);
    assert_eq!(v2["answers"]["fullName"], "Zoë Example");
    let upgraded = read(&ids[0], "?shape=latest").await;
    assert_eq!(upgraded["upgradedFrom"], 1);
    assert_eq!(upgraded["answers"]["smokingStatus"], "unknown");
    // A version that never existed: refused with the live versions of this deployment.
    let mut v9 = V1();
    v9["schemaVersion"] = json!(9);
    let response = client
        .post(url("/questionnaires/intake"))
        .bearer_auth(&token)
        .json(&v9)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "unsupported_schema_version");
    assert_eq!(problem["liveVersions"], json!([1, 2]));
}
