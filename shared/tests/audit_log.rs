//! The audit trail as it is logged. Its own test binary: the log subscriber is process-wide, and tests running
//! beside it on other threads would share (and race for) it.

use lambda_http::http::StatusCode;
use lambda_http::Request;
use serde_json::{json, Value};
use shared::api::SubmissionApi;
use shared::audit::memory::MemoryAuditTrail;
use shared::config::{ApiConfig, IdentityConfig, Scopes};
use shared::store::memory::MemorySubmissionStore;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HTTP_API_SUBMIT: &str = include_str!("../../events/http-api-submit-intake.json");
const ISSUER: &str = "https://idp.example/pool";

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn fixture() -> Value {
    serde_json::from_str(HTTP_API_SUBMIT).unwrap()
}

/// A request through the deployed API; staff are the `nurse-*` subjects (the staff group's members).
fn request(sub: &str, scope: &str, method: &str, path: &str, body: Option<String>) -> Request {
    let mut event = fixture();
    let groups = if sub.starts_with("nurse-") { "[staff]" } else { "[]" };
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"] = json!({"content-type": "application/json"});
    event["body"] = body.map_or(Value::Null, Value::from);
    event["requestContext"]["authorizer"]["jwt"]["claims"] =
        json!({"iss": ISSUER, "sub": sub, "scope": scope, "client_id": "app", "cognito:groups": groups});
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn each_request_leaves_one_audit_line_with_caller_route_record_and_outcome_and_no_values() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let api = SubmissionApi::new(
        MemorySubmissionStore::default(),
        MemoryAuditTrail::default(),
        ApiConfig {
            submissions_table: "unused".into(),
            max_body_bytes: 1024,
            idempotency_ttl: Duration::from_secs(3600),
            scopes: Scopes::default(),
            identity: IdentityConfig::for_api(fixture()["requestContext"]["apiId"].as_str().unwrap()),
            audit_bucket: "unused".into(),
            versions: Default::default(),
        },
    );
    let (patient, staff) = ("questionnaires/submit questionnaires/read", "questionnaires/read");
    let marker = "Zelda Quux-Audit";
    let invalid = json!({"patientName": marker, "age": 42, "hasAllergy": true, "secretNote": marker}).to_string();
    api.handle(request(
        "patient-a",
        patient,
        "POST",
        "/questionnaires/intake",
        Some(invalid),
    ))
    .await;
    let valid = json!({"patientName": marker, "age": 42, "hasAllergy": true}).to_string();
    let created = api
        .handle(request(
            "patient-a",
            patient,
            "POST",
            "/questionnaires/intake",
            Some(valid),
        ))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = match created.body() {
        lambda_http::Body::Text(text) => serde_json::from_str::<Value>(text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        other => panic!("{other:?}"),
    };
    let path = format!("/questionnaires/intake/{id}");
    api.handle(request("patient-b", patient, "GET", &path, None)).await;
    api.handle(request("nurse-1", staff, "GET", &path, None)).await;
    api.handle(request(
        "patient-b",
        "questionnaires/read",
        "POST",
        "/questionnaires/intake",
        None,
    ))
    .await;

    let text = logs.text();
    let audit: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["target"] == "audit")
        .map(|l| l["fields"].clone())
        .collect();
    let summary: Vec<(&str, Option<&str>, Option<&str>, &str)> = audit
        .iter()
        .map(|f| {
            (
                f["caller"].as_str().unwrap(),
                f["route"].as_str(),
                f["record_id"].as_str(),
                f["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    let (submit, read) = (
        Some("POST /questionnaires/{kind}"),
        Some("GET /questionnaires/{kind}/{id}"),
    );
    assert_eq!(
        summary,
        [
            ("patient-a", submit, None, "validation_failed"),
            ("patient-a", submit, Some(id.as_str()), "ok"),
            ("patient-b", read, Some(id.as_str()), "not_found"),
            ("nurse-1", read, Some(id.as_str()), "ok"),
            ("patient-b", submit, None, "insufficient_scope"),
        ]
    );
    assert!(audit.iter().all(|f| f["client_id"] == "app" && f["issuer"] == ISSUER));
    assert!(!text.contains("Zelda") && !text.contains("secretNote"), "{text}");
    assert!(
        text.contains("/*:unknown_field"),
        "the unknown field is logged without its name: {text}"
    );
}
