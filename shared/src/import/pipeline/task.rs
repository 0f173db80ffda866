//! One write task: takes rows from its queue, fills batches and hands them to its writer.

use crate::import::ports::BatchSink;
use crate::import::writer::{add_to_batch, BatchWriter, Entry, TaskGuard, BATCH_SIZE};
use tokio::sync::mpsc;

pub struct WriteTask<S> {
    /// Counts the task as alive for as long as its future exists.
    pub alive: TaskGuard,
    pub queue: mpsc::Receiver<Entry>,
    pub writer: BatchWriter<S>,
}

impl<S: BatchSink> WriteTask<S> {
    /// Runs until the queue is closed and drained, or until cancelled (then it stops between requests).
    pub async fn run(self) {
        let Self {
            alive: _alive,
            mut queue,
            writer,
        } = self;
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        loop {
            let next = tokio::select! {
                biased;
                _ = writer.cancel.cancelled() => return,
                next = queue.recv() => next,
            };
            let closed = next.is_none();
            if let Some(entry) = next {
                add_to_batch(&mut batch, entry);
            }
            if batch.len() >= BATCH_SIZE || (closed && !batch.is_empty()) {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SIZE));
                writer.write(full).await;
            }
            if closed || writer.cancel.is_cancelled() {
                return;
            }
        }
    }
}
