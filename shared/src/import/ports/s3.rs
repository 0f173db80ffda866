//! S3 as the source of imported files and the destination of reports.

use super::{Object, ObjectSource, ReportBody, ReportSink, SourceError};
use crate::error::BoxError;
use crate::import::event::ObjectRef;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use time::OffsetDateTime;

#[derive(Clone)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl ObjectSource for S3Objects {
    async fn open(&self, object: &ObjectRef) -> Result<Object, SourceError> {
        let output = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send()
            .await
            .map_err(|e| {
                let message = format!("GetObject failed: {}", DisplayErrorContext(&e));
                let missing = matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                if missing {
                    SourceError::NotFound(message)
                } else {
                    SourceError::Unreadable(message)
                }
            })?;
        Ok(Object {
            etag: output.e_tag,
            version_id: output.version_id,
            last_modified: output
                .last_modified
                .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()),
            body: Box::new(output.body.into_async_read()),
        })
    }
}

impl ReportSink for S3Objects {
    async fn put(&self, bucket: &str, key: &str, content_type: &str, body: ReportBody) -> Result<(), BoxError> {
        let body = match body {
            ReportBody::Bytes(bytes) => ByteStream::from(bytes),
            ReportBody::File(file) => {
                ByteStream::read_from()
                    .file(tokio::fs::File::from_std(file))
                    .build()
                    .await?
            }
        };
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("PutObject of {key} failed: {}", DisplayErrorContext(&e)).into())
    }
}
