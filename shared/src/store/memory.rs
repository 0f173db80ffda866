//! An in-memory store with the same conditional semantics as the DynamoDB adapter, for unit tests without AWS.

use super::submissions::{IdempotencyClaim, Inserted, SubmissionStore};
use super::StoreError;
use crate::submission::{SubmissionRecord, SubmissionRef};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemorySubmissionStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

#[derive(Default)]
struct State {
    records: HashMap<String, SubmissionRecord>,
    /// Claim id → (request hash, expiry, the original submission).
    claims: HashMap<String, (String, i64, SubmissionRef)>,
}

impl MemorySubmissionStore {
    /// From now on every call fails as a backend outage would.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a test; the data stays usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_available(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StoreError::backend(operation, "memory", "store marked unavailable"))
        } else {
            Ok(())
        }
    }
}

impl SubmissionStore for MemorySubmissionStore {
    async fn insert(
        &self,
        record: &SubmissionRecord,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Inserted, StoreError> {
        self.check_available("insert")?;
        let mut state = self.lock();
        if let Some(claim) = claim {
            let live = state
                .claims
                .get(&claim.id)
                .filter(|(_, expires_at, _)| *expires_at >= claim.now);
            if let Some((hash, _, original)) = live {
                return Ok(if *hash == claim.request_hash {
                    Inserted::Replayed(original.clone())
                } else {
                    Inserted::KeyReused
                });
            }
        }
        if state.records.contains_key(&record.id) {
            return Err(StoreError::backend("insert", "memory", "id already exists"));
        }
        if let Some(claim) = claim {
            state.claims.insert(
                claim.id.clone(),
                (claim.request_hash.clone(), claim.expires_at, record.reference()),
            );
        }
        state.records.insert(record.id.clone(), record.clone());
        Ok(Inserted::Created)
    }

    async fn get(&self, id: &str) -> Result<Option<SubmissionRecord>, StoreError> {
        self.check_available("get")?;
        Ok(self.lock().records.get(id).cloned())
    }
}
