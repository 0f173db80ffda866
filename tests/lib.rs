//! Helpers for the integration tests: they run against the local AWS API and function emulator that
//! `scripts/test` starts, and read their addresses from the environment it exports.

use aws_config::SdkConfig;
use serde_json::Value;
use std::path::PathBuf;

/// A variable that `scripts/test` exports. Missing means the tests were started without the local stack.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through ./scripts/test, which starts the local stack")
    })
}

/// SDK configuration for the local AWS API; refuses anything but loopback so tests never touch a real account.
pub async fn local_aws() -> SdkConfig {
    let endpoint = env("AWS_ENDPOINT_URL");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS_ENDPOINT_URL must point at the local stack, got {endpoint}"
    );
    shared::aws::sdk_config().await
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// An event file from `events/`, parsed.
pub fn event(name: &str) -> Value {
    let path = repo_path(&format!("events/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A unique suffix so that concurrent tests never share items.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

pub mod runtime_api;

/// The local name of a table or bucket of `template.yaml` (exported by `scripts/test` as `RESOURCE_<LogicalId>`).
pub fn resource(logical_id: &str) -> String {
    env(&format!("RESOURCE_{logical_id}"))
}

/// An S3 event from `events/` with the first record's key replaced by `raw_key` (S3's form encoding).
pub fn s3_event(raw_key: &str) -> aws_lambda_events::event::s3::S3Event {
    let mut e = event("s3-put-observations.json");
    e["Records"][0]["s3"]["object"]["key"] = raw_key.into();
    e["Records"][0]["s3"]["bucket"]["name"] = resource("ImportBucket").into();
    serde_json::from_value(e).expect("the generated S3 event deserializes")
}

/// Observations for `subjects` subjects, `rows` rows in all, in study `study`.
pub fn observations_csv(study: &str, rows: usize, subjects: usize) -> String {
    let mut csv = String::from("study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{study},S01,SUBJ-{:03},V1,LAB,ITEM-{i:07},{},mg/dL,2026-03-01T09:30:00Z\n",
            i % subjects,
            70 + i % 90
        ));
    }
    csv
}

pub async fn upload(s3: &aws_sdk_s3::Client, key: &str, body: impl Into<Vec<u8>>) {
    s3.put_object()
        .bucket(resource("ImportBucket"))
        .key(key)
        .body(body.into().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("uploading {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
}

/// Observations stored for one study (rows are spread over `subjects` subjects `SUBJ-000`…).
pub async fn count_observations(dynamodb: &aws_sdk_dynamodb::Client, study: &str, subjects: usize) -> u64 {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let mut total = 0;
    for subject in 0..subjects {
        let mut start = None;
        loop {
            let page = dynamodb
                .query()
                .table_name(resource("ObservationsTable"))
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(format!("{study}#SUBJ-{subject:03}")))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query observations");
            total += page.count as u64;
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    total
}
