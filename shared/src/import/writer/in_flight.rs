//! Gauges shared by the write tasks of one import: writes in flight now and at most, and tasks alive. Both are kept
//! by guards, so a cancelled or aborted write or task is never counted as still running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
    tasks: AtomicUsize,
}

impl InFlight {
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Write tasks whose future has not been dropped yet (finished, cancelled or aborted tasks are not counted).
    pub fn live_tasks(&self) -> usize {
        self.tasks.load(Ordering::SeqCst)
    }

    /// Counts a task as alive until the returned guard, owned by the task's future, is dropped.
    pub fn task_started(self: &Arc<Self>) -> TaskGuard {
        self.tasks.fetch_add(1, Ordering::SeqCst);
        TaskGuard(Arc::clone(self))
    }

    /// Counts one write as in flight until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> WriteGuard {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        WriteGuard(Arc::clone(self))
    }
}

/// Leaves the in-flight gauge on drop.
pub struct WriteGuard(Arc<InFlight>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Keeps a write task counted as alive while its future exists.
pub struct TaskGuard(Arc<InFlight>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::SeqCst);
    }
}
