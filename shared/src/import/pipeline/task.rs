//! One write task: takes full batches from its queue and hands them to its writer.

use crate::import::ports::{BatchSink, WritePermit};
use crate::import::writer::{BatchWriter, Entry, TaskGuard};
use tokio::sync::mpsc;

pub struct WriteTask<S, P> {
    /// Counts the task as alive for as long as its future exists.
    pub alive: TaskGuard,
    pub queue: mpsc::Receiver<Vec<Entry>>,
    pub writer: BatchWriter<S, P>,
}

impl<S: BatchSink, P: WritePermit> WriteTask<S, P> {
    /// Runs until the queue is closed and drained, or until cancelled (then it stops between requests).
    pub async fn run(self) {
        let Self {
            alive: _alive,
            mut queue,
            writer,
        } = self;
        loop {
            let batch = tokio::select! {
                biased;
                _ = writer.cancel.cancelled() => return,
                batch = queue.recv() => batch,
            };
            let Some(batch) = batch else { return };
            writer.write(batch).await;
            if writer.cancel.is_cancelled() {
                return;
            }
        }
    }
}
