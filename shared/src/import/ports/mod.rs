//! What the import needs from outside, one small trait per capability: where objects come from, where reports and
//! job records go, and where rows are written. The S3 and DynamoDB adapters serve the function; the in-memory ones
//! let the import's decisions be tested without AWS.
//!
//! # Cancel safety
//! Every method may be dropped mid-way (the import stops at its deadline): a dropped call has either happened or
//! not, and nothing of it runs on.

pub mod dynamodb;
pub mod memory;
pub mod s3;

use super::event::ObjectRef;
use super::ids::IdSecret;
use super::report::FileSummary;
use crate::error::BoxError;
use crate::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::future::Future;
use time::OffsetDateTime;
use tokio::io::AsyncRead;

/// A row as DynamoDB attributes.
pub type Item = HashMap<String, AttributeValue>;

/// An opened object: its body to stream and what identifies the version read.
pub struct Object {
    pub body: Box<dyn AsyncRead + Send + Unpin>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub last_modified: Option<OffsetDateTime>,
}

/// Why an object could not be opened; the message names the operation and what the backend said.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unreadable(String),
}

/// Where imported files are read from.
pub trait ObjectSource: Send + Sync {
    /// Opens the object (the version the reference names, if any) for streaming.
    fn open(&self, object: &ObjectRef) -> impl Future<Output = Result<Object, SourceError>> + Send;
}

/// A report's content: small ones in memory, the rejected rows spilled to a temporary file.
pub enum ReportBody {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

/// Where reports are written.
pub trait ReportSink: Send + Sync {
    fn put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: ReportBody,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Where the import-job record is kept, one per object version: written as `running` at the start, replaced by the
/// final summary. It also keeps the import's id secret, which no report shows.
pub trait JobStore: Send + Sync {
    /// The job's id secret: the one stored with the job, or `fresh` stored now if the job has none yet (the first
    /// import of this object version). Atomic: concurrent imports of one version get the same secret.
    fn id_secret(&self, import_id: &str, fresh: IdSecret) -> impl Future<Output = Result<IdSecret, StoreError>> + Send;

    /// Writes the job record: the summary and the secret.
    fn put(&self, job: &FileSummary, secret: &IdSecret) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where batches of rows go. DynamoDB in production; tests put a slow, failing or recording sink in its place.
pub trait BatchSink: Send + Sync + 'static {
    /// Writes the items; returns the indexes of those left unprocessed.
    fn write_batch(&self, table: &str, items: Vec<Item>) -> impl Future<Output = Result<Vec<usize>, SinkError>> + Send;
}

#[derive(Debug, Clone)]
pub struct SinkError {
    /// Throttling, a 5xx, a timeout or a broken connection: the same batch may succeed later.
    pub retryable: bool,
    pub message: String,
}
