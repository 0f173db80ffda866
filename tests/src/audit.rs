//! Reading the audit trail the local stack keeps: the bucket the audit function and the API write to, after the
//! local stand-in for Lambda's stream polling has delivered every change made so far.

use crate::{env, local_aws};
use serde_json::Value;

/// Waits until every change the tables' streams hold now has been delivered to the audit function and recorded
/// (the local stream poller's drain endpoint; `STREAMS_URL`). Panics if that does not happen within `seconds`.
pub async fn streams_delivered(seconds: u64) {
    let url = format!("{}/drain", env("STREAMS_URL"));
    let answer = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({ "timeoutSeconds": seconds }))
        .send()
        .await
        .expect("the local stream poller answers");
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    assert!(status.is_success(), "the streams were not delivered: {status} {body}");
}

/// The audit store as tests read it.
pub struct AuditTrail {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl AuditTrail {
    pub async fn local() -> Self {
        Self {
            s3: shared::aws::s3(&local_aws().await),
            bucket: env("AUDIT_BUCKET"),
        }
    }

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Every object (key and body) under `prefix`.
    pub async fn objects(&self, prefix: &str) -> Vec<(String, String)> {
        let mut objects = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for entry in page.expect("ListObjectsV2 on the audit bucket").contents() {
                let key = entry.key().unwrap_or_default().to_owned();
                let object = match self.s3.get_object().bucket(&self.bucket).key(&key).send().await {
                    Ok(object) => object,
                    // Hidden behind a delete marker since the listing: a concurrent test checks that such a delete
                    // keeps the record's version. The record is not one this caller looks for.
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => continue,
                    Err(e) => panic!("GetObject on the audit bucket: {e:?}"),
                };
                let body = object
                    .body
                    .collect()
                    .await
                    .expect("an audit object's body")
                    .into_bytes();
                objects.push((key, String::from_utf8(body.to_vec()).expect("audit records are UTF-8")));
            }
        }
        objects
    }

    /// The change records of `table` whose line contains `needle` (cheap to test before parsing), in stream order.
    pub async fn changes_containing(&self, table: &str, needle: &str) -> Vec<Value> {
        let mut changes: Vec<Value> = self
            .objects(&format!("changes/table={table}/"))
            .await
            .iter()
            .flat_map(|(_, body)| {
                body.lines()
                    .filter(|l| l.contains(needle))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .map(|line| serde_json::from_str(&line).expect("a change record is JSON"))
            .collect();
        changes.sort_by_key(|c| {
            let sequence = c["sequenceNumber"].as_str().unwrap_or_default().to_owned();
            (sequence.len(), sequence)
        });
        changes
    }

    /// The read records of the submission `record_id`.
    pub async fn reads_of(&self, record_id: &str) -> Vec<Value> {
        self.objects("reads/")
            .await
            .into_iter()
            .filter(|(_, body)| body.contains(record_id))
            .map(|(_, body)| serde_json::from_str(&body).expect("a read record is JSON"))
            .filter(|read: &Value| read["recordId"] == record_id)
            .collect()
    }
}
