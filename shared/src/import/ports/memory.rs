//! In-memory adapters with the behaviour the import relies on, for unit tests of its decisions without AWS.

use super::{
    BatchSink, ByteRange, Claimed, Continuations, Entered, Item, JobStore, Object, ObjectSource, ReportBody,
    ReportSink, SinkError, SourceError, UploadStore,
};
use crate::error::BoxError;
use crate::import::event::{ContinueImport, ObjectRef};
use crate::import::job::{self, Claim, Decision, Hold, Job, JobView, KeyRecord, Lease, LiveProgress, Progress, Turn};
use crate::import::report::FileSummary;
use crate::import::upload::{self, Arrival, ArrivalWrite, ObjectFacts, Upload, UploadState};
use crate::store::StoreError;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock can only come from a test; the data stays usable.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Objects by bucket and key. Reports written to it can be read back like any object.
#[derive(Default)]
pub struct MemoryBucket {
    objects: Mutex<HashMap<(String, String), Stored>>,
    opens: std::sync::atomic::AtomicUsize,
    refuse_puts: Mutex<bool>,
}

#[derive(Clone)]
struct Stored {
    /// Shared, so that a reader streams from the object without a copy of it.
    bytes: Arc<Vec<u8>>,
    /// Quoted hex of the content's SHA-256: an object replaced by other content has another ETag, as on S3.
    etag: String,
    content_type: Option<String>,
    /// The body breaks off after this many bytes, as a dropped connection would.
    breaks_after: Option<usize>,
}

impl MemoryBucket {
    /// Stores an object, replacing what the key held: an upload, or (in tests) someone swapping a report part.
    pub fn insert(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        self.store(bucket, key, bytes.into(), None);
    }

    /// An object whose body fails with an I/O error after `breaks_after` bytes.
    pub fn insert_breaking(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>, breaks_after: usize) {
        self.store(bucket, key, bytes.into(), Some(breaks_after));
    }

    fn store(&self, bucket: &str, key: &str, bytes: Vec<u8>, breaks_after: Option<usize>) {
        let stored = Stored {
            etag: etag_of(&bytes),
            bytes: Arc::new(bytes),
            content_type: None,
            breaks_after,
        };
        lock(&self.objects).insert((bucket.to_owned(), key.to_owned()), stored);
    }

    /// The content of an object (or report), if present.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        lock(&self.objects)
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|s| s.bytes.to_vec())
    }

    /// How many times an object was opened for reading.
    pub fn opened(&self) -> usize {
        self.opens.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn content_type(&self, bucket: &str, key: &str) -> Option<String> {
        lock(&self.objects)
            .get(&(bucket.to_owned(), key.to_owned()))
            .and_then(|s| s.content_type.clone())
    }

    /// Keys stored under `prefix` in `bucket`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.objects)
            .keys()
            .filter(|(b, k)| b == bucket && k.starts_with(prefix))
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// From now on, writing a report fails.
    pub fn refuse_puts(&self, refuse: bool) {
        *lock(&self.refuse_puts) = refuse;
    }
}

impl ObjectSource for MemoryBucket {
    async fn open(&self, object: &ObjectRef, range: ByteRange) -> Result<Object, SourceError> {
        self.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let stored = self.stored(object)?;
        let size = stored.bytes.len();
        let from = usize::try_from(range.from).unwrap_or(usize::MAX).min(size);
        let to = range
            .to
            .map_or(size, |to| usize::try_from(to).unwrap_or(usize::MAX).min(size));
        Ok(Object {
            etag: Some(format!("\"{size:x}\"")),
            version_id: object.version_id.clone(),
            last_modified: Some(OffsetDateTime::UNIX_EPOCH),
            size: Some(size as u64),
            body: Box::new(Body {
                bytes: stored.bytes[from..to.max(from)].to_vec(),
                at: 0,
                breaks_after: stored.breaks_after.map(|b| b.saturating_sub(from)),
            }),
        })
    }

    async fn facts(&self, object: &ObjectRef) -> Result<ObjectFacts, SourceError> {
        let stored = self.stored(object)?;
        Ok(ObjectFacts {
            size: stored.bytes.len() as u64,
            sha256: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(stored.bytes.as_slice())),
        })
    }
}

impl MemoryBucket {
    fn stored(&self, object: &ObjectRef) -> Result<Stored, SourceError> {
        lock(&self.objects)
            .get(&(object.bucket.clone(), object.key.clone()))
            .cloned()
            .ok_or_else(|| SourceError::NotFound(format!("no object {} in memory", object.key)))
    }
}

fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

/// A body served in small reads, so that readers see a stream rather than one buffer.
struct Body {
    bytes: Vec<u8>,
    at: usize,
    breaks_after: Option<usize>,
}

impl AsyncRead for Body {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let end = self.breaks_after.unwrap_or(self.bytes.len()).min(self.bytes.len());
        if self.at >= end && self.breaks_after.is_some() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset (in-memory body)",
            )));
        }
        let n = (end - self.at).min(buf.remaining()).min(4096);
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl ReportSink for MemoryBucket {
    async fn put(&self, bucket: &str, key: &str, content_type: &str, body: ReportBody) -> Result<String, BoxError> {
        if *lock(&self.refuse_puts) {
            return Err("PutObject refused (in-memory bucket)".into());
        }
        let bytes = match body {
            ReportBody::Bytes(bytes) => bytes,
            ReportBody::File(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                bytes
            }
        };
        let etag = etag_of(&bytes);
        let stored = Stored {
            bytes: Arc::new(bytes),
            etag: etag.clone(),
            content_type: Some(content_type.to_owned()),
            breaks_after: None,
        };
        lock(&self.objects).insert((bucket.to_owned(), key.to_owned()), stored);
        Ok(etag)
    }

    async fn append_to(&self, bucket: &str, key: &str, etag: &str, into: &mut tokio::fs::File) -> Result<(), BoxError> {
        let stored = lock(&self.objects)
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
            .ok_or_else(|| format!("no object {key} in memory"))?;
        if stored.etag.trim_matches('"') != etag.trim_matches('"') {
            return Err(format!("{key} was replaced after it was written (its ETag is no longer {etag})").into());
        }
        // In small writes straight from the stored bytes, as a body arrives from S3: never the object in a buffer.
        let end = stored.breaks_after.unwrap_or(usize::MAX).min(stored.bytes.len());
        for chunk in stored.bytes[..end].chunks(4096) {
            into.write_all(chunk).await?;
        }
        into.flush().await?;
        if stored.breaks_after.is_some() {
            return Err(format!("copying {key} failed: connection reset (in-memory body)").into());
        }
        Ok(())
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), BoxError> {
        lock(&self.objects).remove(&(bucket.to_owned(), key.to_owned()));
        Ok(())
    }
}

/// Jobs decided by the same rules as the DynamoDB adapter, every record written, in order, and the key records.
#[derive(Default)]
pub struct MemoryJobStore {
    jobs: Mutex<HashMap<String, Job>>,
    writes: Mutex<Vec<FileSummary>>,
    keys: Mutex<HashMap<(String, String), KeyRecord>>,
    renewals: Mutex<Vec<String>>,
    holds: Mutex<Vec<String>>,
    uploads: Mutex<std::collections::BTreeMap<String, Upload>>,
    /// The progress written with the last renewal, until the next save replaces the record.
    live: Mutex<HashMap<String, LiveProgress>>,
    /// Every progress a renewal reported, in order.
    reported: Mutex<Vec<(String, Progress)>>,
}

impl MemoryJobStore {
    /// The records written for one import, oldest first.
    pub fn history(&self, import_id: &str) -> Vec<FileSummary> {
        lock(&self.writes)
            .iter()
            .filter(|job| job.import_id == import_id)
            .cloned()
            .collect()
    }

    /// The job as stored now.
    pub fn job(&self, import_id: &str) -> Option<Job> {
        lock(&self.jobs).get(import_id).cloned()
    }

    /// How many times a lease on the job was asked to be renewed (held or not).
    pub fn renewals(&self, import_id: &str) -> usize {
        lock(&self.renewals).iter().filter(|id| *id == import_id).count()
    }

    /// How many times the job was checked before a batch.
    pub fn holds(&self, import_id: &str) -> usize {
        lock(&self.holds).iter().filter(|id| *id == import_id).count()
    }

    /// The progress the last renewal wrote, unless a save replaced the record since.
    pub fn live_progress(&self, import_id: &str) -> Option<Progress> {
        lock(&self.live).get(import_id).map(|live| live.progress)
    }

    /// Every progress the renewals of a job reported (held or not), oldest first.
    pub fn progress_reported(&self, import_id: &str) -> Vec<Progress> {
        lock(&self.reported)
            .iter()
            .filter(|(id, _)| id == import_id)
            .map(|(_, progress)| *progress)
            .collect()
    }

    /// Changes the stored job as only a test would (e.g. what an earlier invocation recorded).
    pub fn edit(&self, import_id: &str, change: impl FnOnce(&mut Job)) {
        if let Some(job) = lock(&self.jobs).get_mut(import_id) {
            change(job);
        }
    }

    /// Lets every lease run out now, as time does for an invocation that died holding one.
    pub fn expire_leases(&self) {
        for job in lock(&self.jobs).values_mut() {
            job.lease.until_ms = 0;
        }
    }
}

impl JobStore for MemoryJobStore {
    async fn claim(&self, claim: &Claim, lease: &Lease, now_ms: u64) -> Result<Claimed, StoreError> {
        let mut jobs = lock(&self.jobs);
        let stored = jobs.get(claim.import_id()).cloned();
        let claimed = match job::decide(stored, claim, lease, now_ms) {
            Decision::Create(job) | Decision::TakeOver { job, .. } => {
                jobs.insert(job.summary.import_id.clone(), (*job).clone());
                lock(&self.writes).push(job.summary.clone());
                Claimed::Ours(job)
            }
            Decision::Ours(job) => Claimed::Ours(job),
            Decision::Finished(summary) => Claimed::Finished(summary),
            Decision::Busy(summary) => Claimed::Busy(summary),
            Decision::Refused(reason) => Claimed::Refused(reason),
        };
        Ok(claimed)
    }

    async fn save(&self, job: &Job) -> Result<bool, StoreError> {
        let mut jobs = lock(&self.jobs);
        let Some(job) = jobs
            .get(&job.summary.import_id)
            .and_then(|stored| job::saved(stored, job))
        else {
            return Ok(false);
        };
        lock(&self.writes).push(job.summary.clone());
        lock(&self.live).remove(&job.summary.import_id);
        jobs.insert(job.summary.import_id.clone(), job);
        Ok(true)
    }

    async fn renew(
        &self,
        import_id: &str,
        owner: &str,
        until_ms: u64,
        now_ms: u64,
        progress: Option<Progress>,
    ) -> Result<Hold, StoreError> {
        lock(&self.renewals).push(import_id.to_owned());
        if let Some(progress) = progress {
            lock(&self.reported).push((import_id.to_owned(), progress));
        }
        let mut jobs = lock(&self.jobs);
        let held = job::hold(jobs.get(import_id), owner, now_ms);
        if let (Hold::Held, Some(job)) = (held, jobs.get_mut(import_id)) {
            job.lease.until_ms = until_ms;
            if let Some(progress) = progress {
                lock(&self.live).insert(import_id.to_owned(), LiveProgress::measured(progress, now_ms));
            }
        }
        Ok(held)
    }

    async fn hold(&self, import_id: &str, owner: &str, now_ms: u64) -> Result<Hold, StoreError> {
        lock(&self.holds).push(import_id.to_owned());
        Ok(job::hold(lock(&self.jobs).get(import_id), owner, now_ms))
    }

    async fn enter(&self, job: &Job, now_ms: u64) -> Result<Entered, StoreError> {
        let mut jobs = lock(&self.jobs);
        let mut keys = lock(&self.keys);
        let record = keys
            .entry((job.summary.bucket.clone(), job.summary.key.clone()))
            .or_default();
        let active = record.active.as_ref().and_then(|id| jobs.get(id)).cloned();
        let mine = job.summary.sequencer.as_deref().map(job::comparable);
        Ok(match job::turn(record, active.as_ref(), job, now_ms) {
            Turn::Superseded => Entered::Superseded,
            Turn::Take { .. } => {
                record.sequencer = mine;
                record.active = Some(job.summary.import_id.clone());
                Entered::Writing(*record.ids.get_or_insert(job.ids))
            }
            Turn::Stop { active } => {
                record.sequencer = mine;
                if let Some(older) = jobs.get_mut(&active) {
                    older.fenced_by = Some(job.summary.import_id.clone());
                }
                Entered::Waiting
            }
        })
    }

    async fn arrive(
        &self,
        upload_id: &str,
        key: &str,
        import_id: &str,
        facts: &ObjectFacts,
        now: &str,
    ) -> Result<Arrival, StoreError> {
        let mut uploads = lock(&self.uploads);
        let (arrival, write) = upload::arrive(uploads.get(upload_id), key, facts);
        if let Some(stored) = uploads.get_mut(upload_id) {
            match write {
                ArrivalWrite::Attach => {
                    stored.upload_state = UploadState::Attached;
                    stored.job_id = Some(import_id.to_owned());
                    stored.refusal = None;
                    stored.arrived_at = Some(now.to_owned());
                }
                ArrivalWrite::Refuse(refusal) => {
                    stored.upload_state = UploadState::Refused;
                    stored.refusal = Some(refusal);
                    stored.arrived_at = Some(now.to_owned());
                }
                ArrivalWrite::Nothing => {}
            }
        }
        Ok(arrival)
    }
}

impl UploadStore for MemoryJobStore {
    async fn announce(&self, upload: &Upload) -> Result<bool, StoreError> {
        let mut uploads = lock(&self.uploads);
        if uploads.contains_key(&upload.upload_id) || lock(&self.jobs).contains_key(&upload.upload_id) {
            return Ok(false);
        }
        uploads.insert(upload.upload_id.clone(), upload.clone());
        Ok(true)
    }

    async fn upload(&self, upload_id: &str) -> Result<Option<Upload>, StoreError> {
        Ok(lock(&self.uploads).get(upload_id).cloned())
    }

    async fn uploads_of_site(
        &self,
        site_key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Upload>, bool), StoreError> {
        let mut of_site: Vec<Upload> = lock(&self.uploads)
            .values()
            .rev()
            .filter(|u| u.site_key == site_key && after.is_none_or(|after| u.upload_id.as_str() < after))
            .take(limit + 1)
            .cloned()
            .collect();
        let more = of_site.len() > limit;
        of_site.truncate(limit);
        Ok((of_site, more))
    }

    async fn job_view(&self, import_id: &str) -> Result<Option<JobView>, StoreError> {
        let live = lock(&self.live).get(import_id).cloned();
        Ok(lock(&self.jobs).get(import_id).map(|job| JobView {
            summary: job.summary.clone(),
            live,
        }))
    }
}

/// The continuations asked for, in order.
#[derive(Default)]
pub struct MemoryContinuations {
    scheduled: Mutex<Vec<ContinueImport>>,
}

impl MemoryContinuations {
    /// Takes the continuations asked for so far.
    pub fn take(&self) -> Vec<ContinueImport> {
        std::mem::take(&mut lock(&self.scheduled))
    }
}

impl Continuations for MemoryContinuations {
    async fn schedule(&self, next: &ContinueImport) -> Result<(), BoxError> {
        lock(&self.scheduled).push(next.clone());
        Ok(())
    }
}

/// Items by table, in the order they were written.
#[derive(Default)]
pub struct MemoryTables {
    items: Mutex<HashMap<String, Vec<Item>>>,
}

impl MemoryTables {
    pub fn items(&self, table: &str) -> Vec<Item> {
        lock(&self.items).get(table).cloned().unwrap_or_default()
    }
}

impl BatchSink for MemoryTables {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        lock(&self.items).entry(table.to_owned()).or_default().extend(items);
        Ok(Vec::new())
    }
}
