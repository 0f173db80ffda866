//! In-memory adapters with the behaviour the import relies on, for unit tests of its decisions without AWS.

use super::{BatchSink, Item, JobStore, Object, ObjectSource, ReportBody, ReportSink, SinkError, SourceError};
use crate::error::BoxError;
use crate::import::event::ObjectRef;
use crate::import::ids::IdSecret;
use crate::import::report::FileSummary;
use crate::store::StoreError;
use std::collections::HashMap;
use std::io::Read;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, ReadBuf};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock can only come from a test; the data stays usable.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Objects by bucket and key. Reports written to it can be read back like any object.
#[derive(Default)]
pub struct MemoryBucket {
    objects: Mutex<HashMap<(String, String), Stored>>,
    refuse_puts: Mutex<bool>,
}

#[derive(Clone)]
struct Stored {
    bytes: Vec<u8>,
    content_type: Option<String>,
    /// The body breaks off after this many bytes, as a dropped connection would.
    breaks_after: Option<usize>,
}

impl MemoryBucket {
    pub fn insert(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        self.store(bucket, key, bytes.into(), None);
    }

    /// An object whose body fails with an I/O error after `breaks_after` bytes.
    pub fn insert_breaking(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>, breaks_after: usize) {
        self.store(bucket, key, bytes.into(), Some(breaks_after));
    }

    fn store(&self, bucket: &str, key: &str, bytes: Vec<u8>, breaks_after: Option<usize>) {
        let stored = Stored {
            bytes,
            content_type: None,
            breaks_after,
        };
        lock(&self.objects).insert((bucket.to_owned(), key.to_owned()), stored);
    }

    /// The content of an object (or report), if present.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        lock(&self.objects)
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|s| s.bytes.clone())
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
    async fn open(&self, object: &ObjectRef) -> Result<Object, SourceError> {
        let stored = lock(&self.objects)
            .get(&(object.bucket.clone(), object.key.clone()))
            .cloned()
            .ok_or_else(|| SourceError::NotFound(format!("no object {} in memory", object.key)))?;
        Ok(Object {
            etag: Some(format!("\"{:x}\"", stored.bytes.len())),
            version_id: object.version_id.clone(),
            last_modified: Some(OffsetDateTime::UNIX_EPOCH),
            body: Box::new(Body {
                bytes: stored.bytes,
                at: 0,
                breaks_after: stored.breaks_after,
            }),
        })
    }
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
    async fn put(&self, bucket: &str, key: &str, content_type: &str, body: ReportBody) -> Result<(), BoxError> {
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
        let stored = Stored {
            bytes,
            content_type: Some(content_type.to_owned()),
            breaks_after: None,
        };
        lock(&self.objects).insert((bucket.to_owned(), key.to_owned()), stored);
        Ok(())
    }
}

/// Every job record written, in order, and each job's id secret.
#[derive(Default)]
pub struct MemoryJobStore {
    writes: Mutex<Vec<FileSummary>>,
    secrets: Mutex<HashMap<String, IdSecret>>,
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
}

impl JobStore for MemoryJobStore {
    async fn id_secret(&self, import_id: &str, fresh: IdSecret) -> Result<IdSecret, StoreError> {
        Ok(*lock(&self.secrets).entry(import_id.to_owned()).or_insert(fresh))
    }

    async fn put(&self, job: &FileSummary, secret: &IdSecret) -> Result<(), StoreError> {
        let kept = lock(&self.secrets).get(&job.import_id).copied();
        if kept.is_some_and(|kept| kept != *secret) {
            return Err(StoreError::backend(
                "put",
                "memory",
                "the job record would lose its id secret",
            ));
        }
        lock(&self.writes).push(job.clone());
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
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<usize>, SinkError> {
        lock(&self.items).entry(table.to_owned()).or_default().extend(items);
        Ok(Vec::new())
    }
}
