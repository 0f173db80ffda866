//! An in-memory audit store with the S3 adapter's semantics (a batch stored again is stored once), for tests
//! without AWS.

use super::trail::{changes_key, read_key};
use super::{AuditError, ChangeAudit, ChangeRecord, ReadAudit, ReadRecord};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryAuditTrail {
    changes: Mutex<BTreeMap<String, Vec<ChangeRecord>>>,
    reads: Mutex<Vec<ReadRecord>>,
    unavailable: AtomicBool,
}

impl MemoryAuditTrail {
    /// From now on every write fails as an unreachable store would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The batches stored, by key.
    pub fn change_batches(&self) -> BTreeMap<String, Vec<ChangeRecord>> {
        lock(&self.changes).clone()
    }

    pub fn reads(&self) -> Vec<ReadRecord> {
        lock(&self.reads).clone()
    }

    fn check(&self, key: &str) -> Result<(), AuditError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(AuditError::Write {
                key: key.to_owned(),
                source: "audit store marked unavailable".into(),
            })
        } else {
            Ok(())
        }
    }
}

/// A panic while holding the lock can only come from a test; the data stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ChangeAudit for MemoryAuditTrail {
    async fn record_changes(&self, batch: &[ChangeRecord]) -> Result<(), AuditError> {
        let Some(key) = changes_key(batch) else {
            return Ok(());
        };
        self.check(&key)?;
        lock(&self.changes).entry(key).or_insert_with(|| batch.to_vec());
        Ok(())
    }
}

impl ReadAudit for MemoryAuditTrail {
    async fn record_read(&self, read: &ReadRecord) -> Result<(), AuditError> {
        self.check(&read_key(read))?;
        lock(&self.reads).push(read.clone());
        Ok(())
    }
}
