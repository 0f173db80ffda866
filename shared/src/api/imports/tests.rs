//! The import routes against in-memory adapters: who may announce, follow and list; what an announcement must be;
//! and the whole way from an announcement through the import to a completed status with its report links.

use super::presign::{Presigner, Signed};
use super::ImportApi;
use crate::audit::memory::MemoryAuditTrail;
use crate::audit::ReadOutcome;
use crate::config::{ImportApiConfig, ImportConfig};
use crate::error::BoxError;
use crate::import::deadline::{DeadlineSource, StopAt};
use crate::import::event::ImportEvent;
use crate::import::ports::memory::{MemoryBucket, MemoryContinuations, MemoryJobStore, MemoryTables};
use crate::import::ports::UploadStore;
use crate::import::upload::{Upload, UploadState};
use crate::import::{Backends, ImportService};
use base64::Engine;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const HTTP_API_SUBMIT: &str = include_str!("../../../../events/http-api-submit-intake.json");
const S3_EVENT: &str = include_str!("../../../../events/s3-put-observations.json");
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE";
const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at";

/// Signs nothing: a URL that names what it would do, and the headers a real signature binds.
#[derive(Default)]
struct Signer;

impl Presigner for Signer {
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        sha256: &str,
        valid_for: Duration,
    ) -> Result<Signed, BoxError> {
        Ok(Signed {
            method: "PUT".into(),
            url: format!(
                "https://{bucket}.s3.example/{key}?X-Amz-Expires={}",
                valid_for.as_secs()
            ),
            headers: vec![
                ("content-length".into(), size.to_string()),
                ("content-type".into(), super::presign::CSV.into()),
                ("x-amz-checksum-sha256".into(), sha256.into()),
            ],
        })
    }

    async fn get(&self, bucket: &str, key: &str, valid_for: Duration) -> Result<Signed, BoxError> {
        Ok(Signed {
            method: "GET".into(),
            url: format!(
                "https://{bucket}.s3.example/{key}?X-Amz-Expires={}",
                valid_for.as_secs()
            ),
            headers: Vec::new(),
        })
    }
}

type Api = ImportApi<Arc<MemoryJobStore>, Signer, MemoryAuditTrail>;

fn fixture_api_id() -> String {
    let event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["requestContext"]["apiId"].as_str().unwrap().to_owned()
}

fn api_with(jobs: Arc<MemoryJobStore>) -> Api {
    ImportApi::new(
        jobs,
        Signer,
        MemoryAuditTrail::default(),
        ImportApiConfig::for_tests(&fixture_api_id()),
    )
}

fn api() -> Api {
    api_with(Arc::default())
}

/// Who calls: the verified claims API Gateway passes on.
#[derive(Clone, Copy)]
struct As<'a> {
    sub: &'a str,
    scope: &'a str,
    groups: &'a str,
}

const COORDINATOR_1: As = As {
    sub: "coordinator-1",
    scope: "imports/upload",
    groups: "[site:STUDY/SITE-1]",
};
const COORDINATOR_2: As = As {
    sub: "coordinator-2",
    groups: "[site:STUDY/SITE-2]",
    ..COORDINATOR_1
};
const MONITOR: As = As {
    sub: "monitor",
    scope: "imports/read",
    groups: "[staff]",
};
const PATIENT: As = As {
    sub: "patient",
    scope: "questionnaires/submit questionnaires/read",
    groups: "[patients]",
};

fn request(caller: As<'_>, method: &str, path: &str, query: &str, body: Option<&Value>) -> Request {
    let mut event: Value = serde_json::from_str(HTTP_API_SUBMIT).unwrap();
    event["rawPath"] = json!(path);
    event["rawQueryString"] = json!(query);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"] = json!({"content-type": "application/json"});
    event["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    event["isBase64Encoded"] = json!(false);
    event["requestContext"]["authorizer"]["jwt"]["claims"] = json!({
        "iss": ISSUER, "sub": caller.sub, "scope": caller.scope, "client_id": "app", "cognito:groups": caller.groups
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
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
    assert_eq!(body["code"], code, "{body}");
    body
}

fn sha256(content: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(content.as_bytes()))
}

fn announcement(site: &str, content: &str) -> Value {
    json!({"study": "STUDY", "site": site, "fileName": "visit 3 (final).csv", "sizeBytes": content.len(), "sha256": sha256(content)})
}

async fn announce(api: &Api, caller: As<'_>, site: &str, content: &str) -> Response<Body> {
    api.handle(request(
        caller,
        "POST",
        "/imports/observations",
        "",
        Some(&announcement(site, content)),
    ))
    .await
}

/// Announces `content` as coordinator 1 of SITE-1; returns the import id.
async fn announced(api: &Api, content: &str) -> String {
    let response = announce(api, COORDINATOR_1, "SITE-1", content).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.body());
    body_json(&response)["importId"].as_str().unwrap().to_owned()
}

async fn status(api: &Api, caller: As<'_>, id: &str) -> Response<Body> {
    api.handle(request(caller, "GET", &format!("/imports/{id}"), "", None))
        .await
}

async fn list(api: &Api, caller: As<'_>, query: &str) -> Response<Body> {
    api.handle(request(caller, "GET", "/imports", query, None)).await
}

fn csv(rows: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

const GOOD: &str = "STUDY,SITE-1,SUBJ-1,V1,VITALS,SYSBP,120,mmHg,2026-03-01T09:30:00Z";
const BAD: &str = "STUDY,SITE-1,SUBJ-2,V1,VITALS,SYSBP,120,mmHg,yesterday";

#[tokio::test]
async fn a_coordinator_announces_a_file_and_gets_a_url_that_uploads_exactly_it_under_a_key_the_server_chose() {
    let api = api();
    let content = csv(&[GOOD]);
    let response = announce(&api, COORDINATOR_1, "SITE-1", &content).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.body());
    let body = body_json(&response);
    let id = body["importId"].as_str().unwrap();
    assert_eq!(response.headers()["location"], format!("/imports/{id}"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(body["status"], "awaiting_upload");
    let upload = &body["upload"];
    assert_eq!(upload["method"], "PUT");
    let key = format!("imports/observations/STUDY/SITE-1/{id}.csv");
    assert!(upload["url"].as_str().unwrap().contains(&key), "{upload}");
    assert!(
        !upload["url"].as_str().unwrap().contains("visit"),
        "the file name is never the key"
    );
    assert_eq!(upload["headers"]["content-length"], content.len().to_string());
    assert_eq!(upload["headers"]["content-type"], "text/csv");
    assert_eq!(upload["headers"]["x-amz-checksum-sha256"], sha256(&content));

    let record = api.uploads().upload(id).await.unwrap().unwrap();
    assert_eq!(record.key, key);
    assert_eq!(record.file_name, "visit 3 (final).csv");
    assert_eq!(
        (record.requested_by.as_str(), record.requester_issuer.as_str()),
        ("coordinator-1", ISSUER)
    );
    assert_eq!(record.upload_state, UploadState::AwaitingUpload);
    assert_eq!(record.site_key, "STUDY/SITE-1");
}

#[tokio::test]
async fn only_a_person_with_the_sites_grant_and_an_app_with_the_upload_scope_may_announce() {
    let api = api();
    let content = csv(&[GOOD]);
    assert_problem(
        &announce(&api, COORDINATOR_2, "SITE-1", &content).await,
        StatusCode::FORBIDDEN,
        "no_site_grant",
    );
    // Staff follow every site's imports; they do not upload for one.
    let staff_uploader = As {
        scope: "imports/upload",
        ..MONITOR
    };
    assert_problem(
        &announce(&api, staff_uploader, "SITE-1", &content).await,
        StatusCode::FORBIDDEN,
        "no_site_grant",
    );
    // The grant with an app that may only read.
    let reading_app = As {
        scope: "imports/read",
        ..COORDINATOR_1
    };
    assert_problem(
        &announce(&api, reading_app, "SITE-1", &content).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    assert_problem(
        &announce(&api, PATIENT, "SITE-1", &content).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let (nothing, _) = api.uploads().uploads_of_site("STUDY/SITE-1", None, 10).await.unwrap();
    assert!(nothing.is_empty());
}

#[tokio::test]
async fn an_announcement_is_checked_whole_and_its_messages_never_repeat_its_values() {
    let api = api();
    let body = json!({
        "study": "STUDY/../X", "site": "SITE-1", "sizeBytes": (1 << 20) + 1, "sha256": "c2VjcmV0LXZhbHVl", "note": "x"
    });
    let response = api
        .handle(request(COORDINATOR_1, "POST", "/imports/observations", "", Some(&body)))
        .await;
    let problem = assert_problem(&response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let found: Vec<(String, String)> = problem["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["path"].as_str().unwrap().into(), v["code"].as_str().unwrap().into()))
        .collect();
    let expected = [
        ("/note", "unknown_field"),
        ("/fileName", "missing"),
        ("/study", "invalid_format"),
        ("/sizeBytes", "out_of_range"),
        ("/sha256", "invalid_format"),
    ];
    for (path, code) in expected {
        assert!(
            found.contains(&(path.into(), code.into())),
            "{path} {code} in {found:?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:?}");
    let text = problem.to_string();
    for value in ["STUDY/../X", "c2VjcmV0LXZhbHVl", "1048577"] {
        assert!(!text.contains(value), "{value} repeated in {text}");
    }
    for dataset in ["questionnaires", "labs"] {
        let response = api
            .handle(request(
                COORDINATOR_1,
                "POST",
                &format!("/imports/{dataset}"),
                "",
                Some(&announcement("SITE-1", "x")),
            ))
            .await;
        assert_problem(&response, StatusCode::NOT_FOUND, "unknown_dataset");
    }
}

#[tokio::test]
async fn an_import_is_followed_by_its_sites_people_and_staff_and_looks_unknown_to_everyone_else() {
    let api = api();
    let id = announced(&api, &csv(&[GOOD])).await;
    for caller in [COORDINATOR_1, MONITOR] {
        let response = status(&api, caller, &id).await;
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.body());
        let body = body_json(&response);
        assert_eq!(body["status"], "awaiting_upload");
        assert_eq!(body["requestedBy"], "coordinator-1");
        assert!(body.get("reports").is_none());
    }
    let other_site = assert_problem(
        &status(&api, COORDINATOR_2, &id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let unknown_id = ulid::Ulid::new().to_string();
    let unknown = assert_problem(
        &status(&api, COORDINATOR_2, &unknown_id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let without_id = |mut problem: Value, id: &str| {
        problem["detail"] = json!(problem["detail"].as_str().unwrap().replace(id, "ID"));
        problem.as_object_mut().unwrap().remove("requestId");
        problem
    };
    assert_eq!(without_id(other_site, &id), without_id(unknown, &unknown_id));
    assert_problem(
        &status(&api, PATIENT, &id).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );

    let reads = api.audit().reads();
    let outcomes: Vec<(String, ReadOutcome)> = reads.iter().map(|r| (r.record_id.clone(), r.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (id.clone(), ReadOutcome::Returned),
            (id.clone(), ReadOutcome::Returned),
            (id.clone(), ReadOutcome::NotFound),
            (unknown_id, ReadOutcome::NotFound),
        ]
    );
    assert_eq!(reads[0].table, "jobs");
    assert_eq!(reads[0].dataset.as_deref(), Some("observations"));
}

#[tokio::test]
async fn an_upload_that_never_came_is_expired_once_its_url_and_the_grace_after_it_have_passed() {
    let api = api();
    let id = ulid::Ulid::new().to_string();
    let record = Upload {
        upload_id: id.clone(),
        record_type: Upload::RECORD_TYPE.into(),
        dataset: "observations".into(),
        study: "STUDY".into(),
        site: "SITE-1".into(),
        site_key: "STUDY/SITE-1".into(),
        key: crate::import::upload::upload_key("observations", "STUDY", "SITE-1", &id),
        file_name: "f.csv".into(),
        size_bytes: 10,
        sha256: sha256("x"),
        requested_by: "coordinator-1".into(),
        requester_issuer: ISSUER.into(),
        requested_at: "2026-01-01T10:00:00.000Z".into(),
        url_expires_at: "2026-01-01T10:15:00.000Z".into(),
        upload_state: UploadState::AwaitingUpload,
        job_id: None,
        refusal: None,
        arrived_at: None,
    };
    assert!(api.uploads().announce(&record).await.unwrap());
    assert_eq!(body_json(&status(&api, COORDINATOR_1, &id).await)["status"], "expired");
}

fn within(budget: Duration) -> StopAt {
    StopAt {
        at: tokio::time::Instant::now() + budget,
        source: DeadlineSource::Invocation,
        margin: Duration::from_secs(1),
        ends: SystemTime::now() + budget + Duration::from_secs(1),
        budget: budget + Duration::from_secs(1),
    }
}

/// The S3 event of an upload of `key` (version `v1`).
fn uploaded(key: &str) -> ImportEvent {
    let mut value: Value = serde_json::from_str(S3_EVENT).unwrap();
    value["Records"][0]["s3"]["object"]["key"] = json!(key);
    value["Records"][0]["s3"]["object"]["versionId"] = json!("v1");
    value["Records"][0]["s3"]["object"]["sequencer"] = json!("0A1B2C3D4E5F678901");
    ImportEvent::S3(serde_json::from_value(value).unwrap())
}

#[tokio::test]
async fn from_announcement_to_a_completed_import_with_progress_counts_and_report_links() {
    let jobs = Arc::new(MemoryJobStore::default());
    let api = api_with(Arc::clone(&jobs));
    let content = csv(&[GOOD, BAD, GOOD]);
    let id = announced(&api, &content).await;
    let key = api.uploads().upload(&id).await.unwrap().unwrap().key;

    let config = ImportConfig::for_tests();
    let objects = MemoryBucket::default();
    objects.insert(&config.bucket, &key, content.clone());
    let import = ImportService::new(
        Backends {
            objects,
            reports: MemoryBucket::default(),
            jobs: Arc::clone(&jobs),
            continuations: MemoryContinuations::default(),
            rows: Arc::new(MemoryTables::default()),
        },
        config,
    );
    let answer = import
        .handle(&uploaded(&key), "invocation-1", within(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(answer.files.len(), 1, "{answer:?}");

    let response = status(&api, COORDINATOR_1, &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = body_json(&response);
    assert_eq!(body["status"], "completed", "{body}");
    assert_eq!(
        body["counts"],
        json!({"total": 2 + 1, "imported": 2, "rejected": 1, "notReached": 0})
    );
    let size = content.len() as u64;
    assert_eq!(
        body["progress"],
        json!({"rowsDone": 3, "bytesDone": size, "bytesTotal": size, "invocations": 1})
    );
    let reports = &body["reports"];
    let summary_key = &answer.files[0].reports.summary;
    assert!(
        reports["summaryUrl"].as_str().unwrap().contains(summary_key.as_str()),
        "{reports}"
    );
    assert!(reports["rejectedRowsUrl"]
        .as_str()
        .unwrap()
        .ends_with(".rejected.csv?X-Amz-Expires=300"));
    let rows = import.backends().rows.items("observations");
    assert!(rows
        .iter()
        .all(|row| row["importedBy"].as_s().unwrap() == "coordinator-1"));
}

#[tokio::test]
async fn a_sites_imports_are_listed_newest_first_page_by_page_for_its_people_and_staff_only() {
    let api = api();
    let first = announced(&api, &csv(&[GOOD])).await;
    let second = announced(&api, &csv(&[GOOD, GOOD])).await;
    let third = announced(&api, &csv(&[BAD])).await;
    assert_eq!(
        announce(&api, COORDINATOR_2, "SITE-2", &csv(&[GOOD])).await.status(),
        StatusCode::CREATED
    );

    let ids = |body: &Value| -> Vec<String> {
        body["imports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["importId"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = body_json(&list(&api, MONITOR, "study=STUDY&site=SITE-1").await);
    assert_eq!(ids(&all), [third.clone(), second.clone(), first.clone()]);
    assert!(all.get("nextCursor").is_none());

    let page = body_json(&list(&api, COORDINATOR_1, "study=STUDY&site=SITE-1&limit=2").await);
    assert_eq!(ids(&page), [third, second]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let rest = body_json(
        &list(
            &api,
            COORDINATOR_1,
            &format!("study=STUDY&site=SITE-1&limit=2&cursor={cursor}"),
        )
        .await,
    );
    assert_eq!(ids(&rest), [first]);
    assert!(rest.get("nextCursor").is_none());

    assert_problem(
        &list(&api, COORDINATOR_2, "study=STUDY&site=SITE-1").await,
        StatusCode::FORBIDDEN,
        "no_site_grant",
    );
    assert_problem(
        &list(&api, COORDINATOR_1, "study=STUDY").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_problem(
        &list(&api, COORDINATOR_1, "study=STUDY&site=SITE-1&site=SITE-2").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_problem(
        &list(&api, COORDINATOR_1, "study=STUDY&site=SITE-1&limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    );
    assert_problem(
        &list(&api, COORDINATOR_1, "study=STUDY&site=SITE-1&cursor=not-a-position").await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
}

#[tokio::test]
async fn other_methods_are_answered_405_with_what_is_allowed() {
    let api = api();
    let response = api
        .handle(request(COORDINATOR_1, "DELETE", "/imports/observations", "", None))
        .await;
    assert_problem(&response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(response.headers()["allow"], "GET, POST");
    let response = api.handle(request(COORDINATOR_1, "POST", "/imports", "", None)).await;
    assert_eq!(response.headers()["allow"], "GET");
}
