//! S3 as the source of imported files and the destination of reports.

use super::{ByteRange, Object, ObjectSource, ReportBody, ReportSink, SourceError};
use crate::error::BoxError;
use crate::import::event::ObjectRef;
use crate::import::upload::ObjectFacts;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use base64::Engine;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    async fn open(&self, object: &ObjectRef, range: ByteRange) -> Result<Object, SourceError> {
        let mut get = self.client.get_object().bucket(&object.bucket).key(&object.key);
        get = match (&object.version_id, &object.etag) {
            (Some(version), _) => get.version_id(version),
            (None, Some(etag)) => get.if_match(format!("\"{}\"", etag.trim_matches('"'))),
            (None, None) => get,
        };
        if range != ByteRange::ALL {
            let to = range.to.map_or(String::new(), |to| to.saturating_sub(1).to_string());
            get = get.range(format!("bytes={}-{to}", range.from));
        }
        let output = match get.send().await {
            Ok(output) => output,
            // A range that starts at the end of the object: nothing is left to read.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(Object {
                    body: Box::new(tokio::io::empty()),
                    etag: object.etag.clone(),
                    version_id: object.version_id.clone(),
                    last_modified: None,
                    size: Some(range.from),
                })
            }
            Err(e) => {
                let message = format!("GetObject failed: {}", DisplayErrorContext(&e));
                let status = e.raw_response().map(|r| r.status().as_u16());
                return Err(match (e.as_service_error(), status) {
                    (_, Some(412)) => SourceError::Changed(message),
                    (Some(GetObjectError::NoSuchKey(_)), _) | (_, Some(404)) => SourceError::NotFound(message),
                    _ => SourceError::Unreadable(message),
                });
            }
        };
        // "bytes a-b/total" for a range; the content length for the whole object.
        let size = output
            .content_range
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|total| total.parse().ok())
            .or_else(|| output.content_length.and_then(|n| u64::try_from(n).ok()));
        Ok(Object {
            etag: output.e_tag,
            version_id: output.version_id,
            last_modified: output
                .last_modified
                .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()),
            size,
            body: Box::new(output.body.into_async_read()),
        })
    }

    async fn facts(&self, object: &ObjectRef) -> Result<ObjectFacts, SourceError> {
        let mut head = self
            .client
            .head_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled);
        head = match (&object.version_id, &object.etag) {
            (Some(version), _) => head.version_id(version),
            (None, Some(etag)) => head.if_match(format!("\"{}\"", etag.trim_matches('"'))),
            (None, None) => head,
        };
        let output = head.send().await.map_err(|e| {
            let message = format!("HeadObject failed: {}", DisplayErrorContext(&e));
            match e.raw_response().map(|r| r.status().as_u16()) {
                Some(412) => SourceError::Changed(message),
                Some(404) => SourceError::NotFound(message),
                _ => SourceError::Unreadable(message),
            }
        })?;
        let size = output
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| SourceError::Unreadable("HeadObject answered without a content length".into()))?;
        // A multipart upload's checksum is of its parts (`<base64>-<parts>`), not the whole file's SHA-256; an
        // upload without a checksum has none: then the content is hashed here.
        match output.checksum_sha256.filter(|c| !c.contains('-')) {
            Some(sha256) => Ok(ObjectFacts { size, sha256 }),
            None => self.hash(object, size).await,
        }
    }
}

impl S3Objects {
    /// The size and SHA-256 of the object version, read whole (for an object that S3 keeps no SHA-256 of).
    async fn hash(&self, object: &ObjectRef, size: u64) -> Result<ObjectFacts, SourceError> {
        let mut opened = self.open(object, ByteRange::ALL).await?;
        let mut digest = Sha256::new();
        let mut read = 0u64;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = opened
                .body
                .read(&mut buffer)
                .await
                .map_err(|e| SourceError::Unreadable(format!("reading the object to hash it failed: {e}")))?;
            if n == 0 {
                break;
            }
            digest.update(&buffer[..n]);
            read += n as u64;
        }
        if read != size {
            return Err(SourceError::Changed(format!(
                "the object had {size} bytes when asked about and {read} when read"
            )));
        }
        Ok(ObjectFacts {
            size,
            sha256: base64::engine::general_purpose::STANDARD.encode(digest.finalize()),
        })
    }
}

impl ReportSink for S3Objects {
    async fn put(&self, bucket: &str, key: &str, content_type: &str, body: ReportBody) -> Result<String, BoxError> {
        let body = match body {
            ReportBody::Bytes(bytes) => ByteStream::from(bytes),
            ReportBody::File(file) => {
                ByteStream::read_from()
                    .file(tokio::fs::File::from_std(file))
                    .build()
                    .await?
            }
        };
        let output = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("PutObject of {key} failed: {}", DisplayErrorContext(&e)))?;
        let etag = output
            .e_tag
            .ok_or_else(|| format!("PutObject of {key} answered without an ETag"))?;
        Ok(etag)
    }

    async fn append_to(&self, bucket: &str, key: &str, etag: &str, into: &mut tokio::fs::File) -> Result<(), BoxError> {
        let etag = format!("\"{}\"", etag.trim_matches('"'));
        let get = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .if_match(&etag)
            .send()
            .await;
        let output = match get {
            Ok(output) => output,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                return Err(format!(
                    "GetObject of {key} refused: the object was replaced after it was written (its ETag is no \
                     longer {etag})"
                )
                .into())
            }
            Err(e) => return Err(format!("GetObject of {key} failed: {}", DisplayErrorContext(&e)).into()),
        };
        let copy_failed = |e: std::io::Error| format!("copying {key} failed: {e}");
        let mut body = output.body.into_async_read();
        tokio::io::copy(&mut body, into).await.map_err(copy_failed)?;
        into.flush().await.map_err(copy_failed)?;
        Ok(())
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BoxError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("DeleteObject of {key} failed: {}", DisplayErrorContext(&e)).into())
    }
}
