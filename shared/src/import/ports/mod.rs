//! What the import needs from outside, one small trait per capability: where objects come from, where reports and
//! job records go, and where rows are written. The S3 and DynamoDB adapters serve the function; the in-memory ones
//! let the import's decisions be tested without AWS.
//!
//! # Cancel safety
//! Every method may be dropped mid-way (the import stops at its deadline): a dropped call has either happened or
//! not, and nothing of it runs on.

pub mod dynamodb;
pub mod lambda;
pub mod memory;
pub mod s3;

use super::event::{ContinueImport, ObjectRef};
use super::job::{Claim, Hold, IdBasis, Job, JobView, Lease, Progress};
use super::report::FileSummary;
use super::upload::{Arrival, ObjectFacts, Upload};
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
    /// The whole object's size (not the range's), when the source says.
    pub size: Option<u64>,
}

/// Bytes `from` up to (not including) `to`, or to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub from: u64,
    pub to: Option<u64>,
}

impl ByteRange {
    pub const ALL: Self = Self { from: 0, to: None };
}

/// Why an object could not be opened; the message names the operation and what the backend said.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    NotFound(String),
    /// The version the import started on is no longer what the key's version or ETag names.
    #[error("{0}")]
    Changed(String),
    #[error("{0}")]
    Unreadable(String),
}

/// Where imported files are read from.
pub trait ObjectSource: Send + Sync {
    /// Opens a range of the object version the reference names: its version id, else its ETag (a ranged read of
    /// a later upload under the same key must not be mixed into an import of the earlier one).
    fn open(&self, object: &ObjectRef, range: ByteRange) -> impl Future<Output = Result<Object, SourceError>> + Send;

    /// The size of the object version the reference names, and the SHA-256 it was uploaded with (if any), without
    /// reading it: what an announced upload is checked by.
    fn facts(&self, object: &ObjectRef) -> impl Future<Output = Result<ObjectFacts, SourceError>> + Send;
}

/// A report's content: small ones in memory, the rejected rows spilled to a temporary file.
pub enum ReportBody {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

/// Where reports are written (and where the parts of a report that several invocations write are joined).
pub trait ReportSink: Send + Sync {
    /// Writes the object; returns the ETag the store gave it (quoted, as S3 gives it), by which the object as
    /// written is read back: a part replaced meanwhile has another.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: ReportBody,
    ) -> impl Future<Output = Result<String, BoxError>> + Send;

    /// Copies the object into `into`, chunk by chunk (a report can be larger than the function's memory), if it is
    /// still the one `etag` names; an object replaced since is an error that says so, and nothing of it is copied.
    /// Dropped mid-way, `into` holds the start of the object.
    fn append_to(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        into: &mut tokio::fs::File,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;

    fn delete(&self, bucket: &str, key: &str) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// What a claim gave.
#[derive(Debug)]
pub enum Claimed {
    /// The lease is ours: a new job, or one to take on from its checkpoint.
    Ours(Box<Job>),
    /// The job is over: the event is a duplicate.
    Finished(Box<FileSummary>),
    /// Another invocation holds the lease now.
    Busy(Box<FileSummary>),
    /// A continuation no job vouches for (unknown, ended, or a token not the job's).
    Refused(&'static str),
}

/// How a job stands at its object key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// The job is the key's writer; questionnaire ids come from the key's basis.
    Writing(IdBasis),
    /// A later version of the key was recorded: this one must not write.
    Superseded,
    /// An import of an older version still writes the key; it has been told to stop.
    Waiting,
}

/// Where import jobs are kept: one record per object version, and per key the latest version seen and which job may
/// write it. Every decision is one of [`crate::import::job`]'s rules, carried out as conditional writes.
///
/// # Consistency
/// Two invocations never both hold a job's lease; a save by an invocation whose lease was taken over is refused;
/// at most one job at a time is a key's writer.
pub trait JobStore: Send + Sync + 'static {
    /// Takes the lease on the job the claim names, under `lease`, as [`crate::import::job::decide`] says.
    fn claim(
        &self,
        claim: &Claim,
        lease: &Lease,
        now_ms: u64,
    ) -> impl Future<Output = Result<Claimed, StoreError>> + Send;

    /// Writes the job record, if `job.lease.owner` still holds the lease; `Ok(false)` if it was taken over.
    fn save(&self, job: &Job) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Extends the lease `owner` holds on job `import_id` to `until_ms`, if it holds it still, it has not run out
    /// (before `now_ms`) and the job has not been fenced; otherwise says which. With the renewal, the job record
    /// shows `progress`: how far the import has come since its last checkpoint.
    fn renew(
        &self,
        import_id: &str,
        owner: &str,
        until_ms: u64,
        now_ms: u64,
        progress: Option<Progress>,
    ) -> impl Future<Output = Result<Hold, StoreError>> + Send;

    /// Whether `owner` may still write for job `import_id` (a strongly consistent read).
    fn hold(&self, import_id: &str, owner: &str, now_ms: u64) -> impl Future<Output = Result<Hold, StoreError>> + Send;

    /// Records the job's version as its key's latest and makes the job the key's writer, as
    /// [`crate::import::job::turn`] says; an older import still writing is fenced, and the answer is to wait.
    fn enter(&self, job: &Job, now_ms: u64) -> impl Future<Output = Result<Entered, StoreError>> + Send;

    /// An object arrived at the key of upload `upload_id` (if one was announced there, see `upload`): attaches it
    /// to job `import_id` if it is the announced file, records the refusal if not, as
    /// [`crate::import::upload::arrive`] says. `now` is when, as stored (RFC 3339).
    fn arrive(
        &self,
        upload_id: &str,
        key: &str,
        import_id: &str,
        facts: &ObjectFacts,
        now: &str,
    ) -> impl Future<Output = Result<Arrival, StoreError>> + Send;
}

/// What the import API keeps in the jobs table: uploads announced by people (see `upload`), and a view of the jobs
/// they became. The import itself attaches arrivals through [`JobStore::arrive`].
pub trait UploadStore: Send + Sync {
    /// Records an announced upload; `Ok(false)` if its id is taken.
    fn announce(&self, upload: &Upload) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The upload record `upload_id`, if there is one (a job's id names none).
    fn upload(&self, upload_id: &str) -> impl Future<Output = Result<Option<Upload>, StoreError>> + Send;

    /// A site's uploads (`upload::site_key`), newest first, after upload `after` (the last of the page before), at
    /// most `limit`; and whether there may be more.
    fn uploads_of_site(
        &self,
        site_key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<Upload>, bool), StoreError>> + Send;

    /// The job `import_id`: its summary and the progress its last renewal wrote.
    fn job_view(&self, import_id: &str) -> impl Future<Output = Result<Option<JobView>, StoreError>> + Send;
}

/// How an import that stopped at its checkpoint goes on: in another invocation.
pub trait Continuations: Send + Sync {
    /// Arranges a new invocation that claims the job with the token (asynchronously: this returns at once).
    fn schedule(&self, next: &ContinueImport) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Whether the import may still send rows: asked before every batch request. `false` stops the whole run.
pub trait WritePermit: Send + Sync + 'static {
    fn check(&self) -> impl Future<Output = bool> + Send;
}

/// The permit of a pipeline run that has no job to lose (tests and benchmarks of the pipeline alone).
pub struct Unconditional;

impl WritePermit for Unconditional {
    async fn check(&self) -> bool {
        true
    }
}

/// Where batches of rows go. DynamoDB in production; tests put a slow, failing or recording sink in its place.
pub trait BatchSink: Send + Sync + 'static {
    /// Writes the items; returns those left unprocessed. The items are the sink's to move into its request, so a
    /// batch is built without copying them.
    fn write_batch(&self, table: &str, items: Vec<Item>) -> impl Future<Output = Result<Vec<Item>, SinkError>> + Send;
}

#[derive(Debug, Clone)]
pub struct SinkError {
    /// Throttling, a 5xx, a timeout or a broken connection: the same batch may succeed later.
    pub retryable: bool,
    pub message: String,
}

/// A store shared by the import and the API in one process (tests, the local runner): the same records for both.
impl<T: UploadStore> UploadStore for std::sync::Arc<T> {
    async fn announce(&self, upload: &Upload) -> Result<bool, StoreError> {
        (**self).announce(upload).await
    }

    async fn upload(&self, upload_id: &str) -> Result<Option<Upload>, StoreError> {
        (**self).upload(upload_id).await
    }

    async fn uploads_of_site(
        &self,
        site_key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Upload>, bool), StoreError> {
        (**self).uploads_of_site(site_key, after, limit).await
    }

    async fn job_view(&self, import_id: &str) -> Result<Option<JobView>, StoreError> {
        (**self).job_view(import_id).await
    }
}
