//! The audit store in S3: a bucket with Object Lock in compliance mode (`template.yaml`), so that nobody — no role of
//! this stack, no administrator, not the account's root — can delete or overwrite a record before its retention
//! ends. The functions may only put new objects; each put asks S3 to refuse it if the key exists (`If-None-Match`), so
//! a batch delivered again is stored once.

use super::trail::{changes_body, changes_key, read_key};
use super::{AuditError, ChangeAudit, ChangeRecord, ReadAudit, ReadRecord};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

#[derive(Clone)]
pub struct S3AuditTrail {
    client: Client,
    bucket: String,
}

impl S3AuditTrail {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    async fn put_new(&self, key: String, body: Vec<u8>, content_type: &str) -> Result<(), AuditError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(content_type)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The key exists: this very batch was stored by an earlier attempt whose answer was lost.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(()),
            Err(e) => Err(AuditError::Write {
                source: format!("PutObject on {} failed: {}", self.bucket, DisplayErrorContext(&e)).into(),
                key,
            }),
        }
    }
}

impl ChangeAudit for S3AuditTrail {
    async fn record_changes(&self, batch: &[ChangeRecord]) -> Result<(), AuditError> {
        let Some(key) = changes_key(batch) else {
            return Ok(());
        };
        self.put_new(key, changes_body(batch)?, "application/x-ndjson").await
    }
}

impl ReadAudit for S3AuditTrail {
    async fn record_read(&self, read: &ReadRecord) -> Result<(), AuditError> {
        let body = serde_json::to_vec(read).map_err(AuditError::Encode)?;
        self.put_new(read_key(read), body, "application/json").await
    }
}
