//! An import a coordinator started through the API, followed through it while the built import function works
//! through a large file across invocations with a short timeout: what the API shows rises with every invocation,
//! and between checkpoints too.

use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::uploads::{announcement, api_request, fixture_api_id, put_signed};
use integration_tests::{
    alone, count_observations, env as var, event, local_audit_trail, local_aws, observations_csv, resource,
    response_json, sequencer, unique,
};
use serde_json::Value;
use shared::api::imports::presign::S3Presigner;
use shared::api::imports::ImportApi;
use shared::audit::s3::S3AuditTrail;
use shared::config::{IdentityConfig, ImportApiConfig};
use shared::import::ports::dynamodb::DynamoJobStore;
use std::sync::Arc;
use std::time::Duration;

/// At least the size of file a site sends from a year of visits of a large study.
const ROWS: usize = 300_000;
const SUBJECTS: usize = 200;

type Api = ImportApi<DynamoJobStore, S3Presigner, S3AuditTrail>;

async fn status(api: &Api, id: &str, coordinator: &str, grant: &str) -> Value {
    let request = api_request(
        "GET",
        &format!("/imports/{id}"),
        "",
        None,
        coordinator,
        "imports/read",
        &[grant],
    );
    let response = api.handle(request).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    response_json(&response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_uploads_progress_rises_across_continuations_until_it_completes() {
    let _alone = alone().await;
    let sdk = local_aws().await;
    let (s3, dynamodb) = (shared::aws::s3(&sdk), shared::aws::dynamodb(&sdk));
    // A bucket of its own: uploads to the stack's import bucket at a key the API chose are imported by the local
    // stand-in of its notification, which would race the function run here.
    let bucket = unique("progress");
    s3.create_bucket().bucket(&bucket).send().await.expect("a bucket");
    let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(versioning)
        .send()
        .await
        .expect("versioning");
    let config = ImportApiConfig {
        bucket: bucket.clone(),
        jobs_table: resource("ImportJobsTable"),
        audit_bucket: var("AUDIT_BUCKET"),
        identity: IdentityConfig::for_api(fixture_api_id()),
        max_upload_bytes: 1 << 30,
        ..ImportApiConfig::for_tests("unused")
    };
    let api = Arc::new(ImportApi::new(
        DynamoJobStore::new(dynamodb.clone(), resource("ImportJobsTable")),
        S3Presigner::new(s3.clone()),
        local_audit_trail().await,
        config,
    ));

    let study = unique("progress");
    let (coordinator, grant) = (unique("coordinator"), format!("site:{study}/S01"));
    let content = observations_csv(&study, ROWS, SUBJECTS).into_bytes();
    let body = announcement(&study, "S01", "year-1.csv", &content);
    let request = api_request(
        "POST",
        "/imports/observations",
        "",
        Some(&body),
        &coordinator,
        "imports/upload",
        &[&grant],
    );
    let announced = api.handle(request).await;
    assert_eq!(announced.status(), 201, "{:?}", announced.body());
    let announced = response_json(&announced);
    let id = announced["importId"].as_str().unwrap().to_owned();
    let size = content.len() as u64;
    let put = put_signed(&announced["upload"], content).await;
    assert!(put.status().is_success(), "{}", put.status());
    let key = format!("imports/observations/{study}/S01/{id}.csv");
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .expect("the uploaded object");

    // The event S3 sends for the upload.
    let mut e = event("s3-put-observations.json");
    let record = &mut e["Records"][0]["s3"];
    record["bucket"]["name"] = bucket.clone().into();
    record["object"]["key"] = key.clone().into();
    record["object"]["size"] = size.into();
    record["object"]["eTag"] = head.e_tag().unwrap().trim_matches('"').into();
    record["object"]["versionId"] = head.version_id().unwrap().into();
    record["object"]["sequencer"] = sequencer().into();

    // 6 s per invocation (a quarter kept for stopping); the lease renewed every second, each renewal with progress.
    let env = [
        ("IMPORT_BUCKET", bucket.clone()),
        ("IMPORT_CONCURRENCY", "4".to_owned()),
        ("DEADLINE_SAFETY_MARGIN_MS", "10000".to_owned()),
        ("JOB_LEASE_SECONDS", "3".to_owned()),
    ];
    let mut lambda = Lambda::start(&built_binary("import-csv"), &env, Duration::from_secs(6)).await;
    // The continuation the first invocation queues is held until the API has been asked between invocations: how
    // long Lambda takes to deliver it is not something a test can wait for.
    lambda.deliver_at_most(1);
    lambda.invoke_async(&e);

    // The coordinator's tool follows the import as it runs: a look every half second.
    let follow = {
        let (api, id, coordinator, grant) = (Arc::clone(&api), id.clone(), coordinator.clone(), grant.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let view = status(&api, &id, &coordinator, &grant).await;
                let done = view["status"] == "completed" || view["status"] == "failed";
                seen.push(view);
                if done {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    lambda.until_answered(1, Duration::from_secs(60)).await;
    let between = status(&api, &id, &coordinator, &grant).await;
    assert_eq!(between["status"], "continuing", "{between}");
    assert_eq!(between["progress"]["invocations"], 1, "{between}");
    let rows_after_one = between["progress"]["rowsDone"].as_u64().unwrap();
    assert!((1..ROWS as u64).contains(&rows_after_one), "{between}");
    lambda.deliver_at_most(u64::MAX);
    let outcomes = lambda.until_idle(Duration::from_secs(900)).await;
    lambda.kill().await;
    let seen = tokio::time::timeout(Duration::from_secs(30), follow)
        .await
        .expect("the status ends")
        .unwrap();

    assert!(outcomes.len() >= 3, "{} invocations", outcomes.len());
    for (n, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.kind, "response", "invocation {}: {}", n + 1, outcome.body);
    }
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["counts"]["imported"], ROWS);
    assert_eq!(
        last["progress"],
        serde_json::json!({"rowsDone": ROWS, "bytesDone": size, "bytesTotal": size, "invocations": outcomes.len()})
    );
    assert!(last["reports"]["rejectedRowsUrl"].is_string(), "{last}");
    assert_eq!(count_observations(&dynamodb, &study, SUBJECTS).await, ROWS as u64);

    // Rising: never back, through several invocations, and between checkpoints (a renewal's progress, with when).
    let progress: Vec<(u64, u64, u64)> = seen
        .iter()
        .map(|v| {
            let p = &v["progress"];
            (
                p["invocations"].as_u64().unwrap(),
                p["rowsDone"].as_u64().unwrap(),
                p["bytesDone"].as_u64().unwrap(),
            )
        })
        .collect();
    for pair in progress.windows(2) {
        let ((i0, r0, b0), (i1, r1, b1)) = (pair[0], pair[1]);
        assert!(i0 <= i1 && r0 <= r1 && b0 <= b1, "progress went back: {pair:?}");
    }
    let invocations_seen: std::collections::BTreeSet<u64> = progress.iter().map(|p| p.0).collect();
    assert!(invocations_seen.len() >= 3, "seen at {invocations_seen:?} invocations");
    let partway: std::collections::BTreeSet<u64> = progress
        .iter()
        .map(|p| p.1)
        .filter(|rows| (1..ROWS as u64).contains(rows))
        .collect();
    assert!(partway.len() >= 3, "rows done seen part-way: {partway:?}");
    assert!(
        seen.iter()
            .any(|v| v["status"] == "running" && v["progress"]["updatedAt"].is_string()),
        "no progress between checkpoints was seen"
    );
}
