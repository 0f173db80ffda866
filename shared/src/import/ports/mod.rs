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

/// Who may work on a job, until when (Unix epoch milliseconds). A lease that ran out can be taken over: the
/// invocation that held it crashed or timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until_ms: u64,
}

/// An import job as stored: its summary (the state that carries across invocations), its id secret and its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub summary: FileSummary,
    pub secret: IdSecret,
    pub lease: Lease,
}

/// What asking for a job's lease gave.
#[derive(Debug)]
pub enum Claimed {
    /// The lease is ours: a new job, or one to take on from its checkpoint.
    Ours(Job),
    /// The job is over: the event is a duplicate.
    Finished(FileSummary),
    /// Another invocation holds the lease now.
    Busy(FileSummary),
}

/// Whether the version an event names is the latest one seen for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOrder {
    Latest,
    /// A later version of the key was seen: this one must not overwrite it.
    Superseded,
}

/// Where import jobs are kept: one record per object version, and per key the latest version seen.
///
/// # Consistency
/// Every method is one conditional write (or a read and a conditional write): two invocations never both hold a
/// job's lease, and a save by an invocation whose lease was taken over is refused.
pub trait JobStore: Send + Sync {
    /// Takes the lease on job `new.summary.import_id`: creates the job as `new` if there is none, takes over one
    /// whose lease ran out before `now_ms`, or says why not. A job whose lease `new`'s owner already holds is its
    /// own: a claim written whose answer was lost, then sent again, must not lock its owner out.
    fn claim(&self, new: Job, now_ms: u64) -> impl Future<Output = Result<Claimed, StoreError>> + Send;

    /// Writes the job record, if `job.lease.owner` still holds the lease; `Ok(false)` if it was taken over.
    fn save(&self, job: &Job) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Extends the lease `owner` holds on job `import_id` to `until_ms`, if it holds it still and it has neither run
    /// out (before `now_ms`) nor been let go; `Ok(false)` if not.
    fn renew(
        &self,
        import_id: &str,
        owner: &str,
        until_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Notes `sequencer` as the latest version of the key, unless a later one was noted before.
    fn record_version(
        &self,
        bucket: &str,
        key: &str,
        sequencer: &str,
    ) -> impl Future<Output = Result<VersionOrder, StoreError>> + Send;
}

/// How an import that stopped at its checkpoint goes on: in another invocation.
pub trait Continuations: Send + Sync {
    /// Arranges a new invocation that continues the import of `object` (asynchronously: this returns at once).
    fn schedule(&self, object: &ObjectRef) -> impl Future<Output = Result<(), BoxError>> + Send;
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
