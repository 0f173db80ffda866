//! An import job: what is kept about the import of one object version across invocations, the transitions it goes
//! through, and the rules (pure functions, in `rules`) by which invocations claim it, hand it on and stop for a newer
//! version. The job store adapters (`ports`) only carry these decisions out as conditional writes.
//!
//! # Lifecycle
//! `start` (an S3 event) → `running` → either final (`completed`, `rejected`, `failed`, `superseded`) or
//! `incomplete` at a checkpoint with a fresh continuation token → `running` again when the continuation that carries
//! the token claims it.

mod rules;

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;

pub use rules::{comparable, decide, hold, saved, turn, Claim, Decision, Hold, KeyRecord, Turn};

use super::event::ObjectRef;
use super::ids::IdSecret;
use super::parts::PartRef;
use super::report::{FileError, FileStatus, FileSummary};
use crate::error::BoxError;
use time::OffsetDateTime;

/// Who may work on a job, until when (Unix epoch milliseconds). The owner is a random nonce per claim, known only to
/// the invocation that made it: a retried event reuses its request id, never a nonce. A lease that ran out can be
/// taken over: the invocation that held it crashed or timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until_ms: u64,
}

impl Lease {
    /// A lease under a new random owner.
    pub fn new(until_ms: u64) -> Result<Self, BoxError> {
        Ok(Self {
            owner: random_token()?,
            until_ms,
        })
    }
}

/// How questionnaire ids of a key are derived: the same secret and time for every version of the key, so a
/// corrected re-upload gives each line the id it had and replaces it (see `ids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdBasis {
    pub secret: IdSecret,
    /// The time part of the ids: when the key was first imported (Unix epoch milliseconds).
    pub time_ms: u64,
}

/// An import job as stored: the public summary, and what only the job record keeps (never returned, reported or
/// logged): the id basis, the uploader, the lease, the continuation token and the fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub summary: FileSummary,
    pub ids: IdBasis,
    /// Who uploaded the object (the S3 event's principal), kept as the importer of backfilled questionnaires.
    pub uploader: Option<String>,
    pub lease: Lease,
    /// The token the next continuation must carry; replaced at every checkpoint, absent once final.
    pub continuation: Option<String>,
    /// The import of a newer version of the key that told this one to stop.
    pub fenced_by: Option<String>,
    /// The parts of the rejected-rows report that invocations before the last wrote, in order, each with the ETag
    /// it was written with (joined into the report at the end, see `parts`).
    pub parts: Vec<PartRef>,
}

impl Job {
    /// The job of an object version an S3 event names, before its first claim (which gives it its lease). The id
    /// basis is a candidate: the key's own, if it has one already, replaces it when the job enters its key.
    pub fn start(import_id: String, object: &ObjectRef, now: OffsetDateTime) -> Result<Self, BoxError> {
        let deadline = super::deadline::DeadlineSource::Invocation;
        Ok(Self {
            summary: FileSummary::start(import_id, object, now, deadline),
            ids: IdBasis {
                secret: IdSecret::generate()?,
                time_ms: (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64,
            },
            uploader: object.uploader.clone(),
            lease: Lease {
                owner: String::new(),
                until_ms: 0,
            },
            continuation: None,
            fenced_by: None,
            parts: Vec::new(),
        })
    }

    /// The object version this job imports, as recorded: a continuation reads nothing else.
    pub fn object(&self) -> ObjectRef {
        let s = &self.summary;
        ObjectRef {
            bucket: s.bucket.clone(),
            key: s.key.clone(),
            version_id: s.version_id.clone(),
            etag: s.etag.clone(),
            sequencer: s.sequencer.clone(),
            uploader: self.uploader.clone(),
        }
    }

    /// An invocation takes the job on.
    pub fn resume(&mut self, deadline: super::deadline::DeadlineSource) {
        self.summary.invocations += 1;
        self.summary.status = FileStatus::Running;
        self.summary.deadline = deadline.into();
    }

    /// Stops at the checkpoint: the lease is let go and the next continuation must carry a new token.
    pub fn checkpoint(&mut self) -> Result<String, BoxError> {
        let token = random_token()?;
        self.summary.status = FileStatus::Incomplete;
        self.continuation = Some(token.clone());
        self.lease.until_ms = 0;
        Ok(token)
    }

    /// Ends the job with `status` and, for a file-level problem, its error; no continuation may claim it again.
    pub fn finish(&mut self, status: FileStatus, error: Option<FileError>, now: OffsetDateTime) {
        debug_assert!(status.is_final(), "{status:?} is not final");
        self.summary.conclude(status, error);
        // Completed: every row was read; rejected: none is written. Otherwise the rows before it are done.
        if matches!(status, FileStatus::Completed | FileStatus::Rejected) {
            self.summary.resume_from = None;
        }
        self.summary.finished_at = Some(crate::time::rfc3339_millis(now));
        self.continuation = None;
        self.lease.until_ms = 0;
    }

    /// Ends the job because a newer version of its key is imported instead.
    pub fn supersede(&mut self, now: OffsetDateTime) {
        self.finish(FileStatus::Superseded, None, now);
    }
}

/// How far an import has come: rows committed (imported or rejected) and the bytes of the file before the first
/// row not committed. Written with each lease renewal, so that a running import shows progress between checkpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub rows_done: u64,
    pub bytes_done: u64,
}

impl Progress {
    /// As of the job's last checkpoint (or its end): `size` is the object's, the bytes done of a completed file.
    pub fn at_checkpoint(summary: &FileSummary, size: Option<u64>) -> Self {
        let bytes_done = match (summary.status, summary.resume_from, size) {
            (FileStatus::Completed, _, Some(size)) => size,
            (_, Some(at), _) => at.byte_offset,
            _ => 0,
        };
        Self {
            rows_done: summary.rows.imported + summary.rows.rejected,
            bytes_done,
        }
    }
}

/// The progress a renewal wrote, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveProgress {
    #[serde(flatten)]
    pub progress: Progress,
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
}

impl LiveProgress {
    /// `progress` as a renewal at `now_ms` (Unix epoch milliseconds) writes it: both job stores record it so.
    pub fn measured(progress: Progress, now_ms: u64) -> Self {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
            .map(crate::time::rfc3339_millis)
            .unwrap_or_default();
        Self { progress, at }
    }
}

/// An import job as the API shows it: its summary, and the progress its last renewal wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub summary: FileSummary,
    pub live: Option<LiveProgress>,
}

/// 128 random bits as hex, from the operating system's cryptographic source.
fn random_token() -> Result<String, BoxError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes: {e}"))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests;
