//! Ending an invocation's work on a job: at a checkpoint (this invocation's rejected rows kept as a part of the
//! report, a new continuation token, the continuation asked for), or for good (one rejected-rows report joined from
//! the parts, the summary report, the final job record).

use super::read::Stopping;
use super::{ImportService, Outcome, CSV};
use crate::import::error::ImportError;
use crate::import::event::{Continuation, ContinueImport};
use crate::import::job::Job;
use crate::import::parts::{self, PartRef};
use crate::import::ports::{BatchSink, Continuations, JobStore, ObjectSource, ReportBody, ReportSink};
use crate::import::report::{FileError, FileStatus};
use time::OffsetDateTime;

/// This invocation's rejected rows (a temporary file) and how many it lists.
pub(super) type Rejected = Option<(std::fs::File, u64)>;

impl<O, R, J, C, W> ImportService<O, R, J, C, W>
where
    O: ObjectSource,
    R: ReportSink,
    J: JobStore,
    C: Continuations,
    W: BatchSink,
{
    /// Saves the checkpoint, keeps this invocation's rejected rows as a part of the report, lets go of the lease and
    /// asks for a new invocation to go on, with the token only the job record holds.
    pub(super) async fn continue_later(
        &self,
        mut job: Job,
        rejected: Rejected,
        stopping: Option<Stopping>,
    ) -> Result<Outcome, ImportError> {
        let import_id = job.summary.import_id.clone();
        // Up to the saved checkpoint, within the stop budget less what the continuation's request needs: a
        // checkpoint saved is always followed by its continuation (a retry of this invocation's event would carry
        // the token the checkpoint replaced), a checkpoint not saved leaves the job as the last one left it.
        let saving = self.save_checkpoint(&mut job, rejected, stopping);
        let saved = match stopping {
            Some(stopping) => tokio::time::timeout_at(stopping.save_by, saving).await.map_err(|_| {
                tracing::error!("the checkpoint could not be saved in the time left; answering with an error");
                ImportError::OutOfTime {
                    import_id: import_id.clone(),
                }
            })?,
            None => saving.await,
        };
        let Some(token) = saved? else {
            return Ok(Outcome::skipped(&job, "another invocation took over this import"));
        };
        let next = ContinueImport {
            continue_import: Continuation {
                import_id: import_id.clone(),
                token,
            },
        };
        self.backends
            .continuations
            .schedule(&next)
            .await
            .map_err(|source| ImportError::Continuation { import_id, source })?;
        self.log(&job.summary, "import continues in a new invocation");
        Ok(Outcome::File(Box::new(job.summary)))
    }

    /// Keeps this invocation's rejected rows as a part of the report and saves the checkpoint with a new token;
    /// `None` if another invocation took the job over.
    async fn save_checkpoint(
        &self,
        job: &mut Job,
        rejected: Rejected,
        stopping: Option<Stopping>,
    ) -> Result<Option<String>, ImportError> {
        let import_id = job.summary.import_id.clone();
        if let Some((rejected, _)) = rejected.filter(|(_, listed)| *listed > 0) {
            let key = job.summary.report_part(job.parts.len() + 1, &job.lease.owner);
            let body = ReportBody::File(rejected);
            let etag = self
                .put_report(&job.summary, &key, CSV, body, "a part of the rejected-rows report")
                .await?;
            job.parts.push(PartRef { key, etag });
        }
        let token = job
            .checkpoint()
            .map_err(|source| ImportError::Randomness { import_id, source })?;
        if let Some(stopping) = stopping {
            job.summary.note_stop_work(stopping.took(), stopping.margin);
        }
        Ok(self.save(job).await?.then_some(token))
    }

    /// Ends the job: one rejected-rows report (the parts of earlier invocations, then this one's rows), the
    /// summary report, and the final job record.
    pub(super) async fn finish(
        &self,
        mut job: Job,
        status: FileStatus,
        error: Option<FileError>,
        rejected: Rejected,
        stopping: Option<Stopping>,
    ) -> Result<Outcome, ImportError> {
        job.finish(status, error, OffsetDateTime::now_utc());
        let import_id = job.summary.import_id.clone();
        let fail = |what: &'static str, e: crate::error::BoxError| ImportError::report(what, &import_id, e);
        let summary = &job.summary;
        let report = parts::join(
            &self.backends.reports,
            &summary.bucket,
            &job.parts,
            rejected.map(|(lines, _)| lines),
        )
        .await
        .map_err(|e| fail("the rejected-rows report", e))?;
        let key = &summary.reports.rejected_rows;
        self.put_report(summary, key, CSV, ReportBody::File(report), "the rejected-rows report")
            .await?;
        // Noted before the summary is written, so that the report says it too: the summary and the record are
        // still to write, as long as the writes the estimate counts.
        if let Some(stopping) = stopping {
            job.summary.note_stop_work(stopping.took(), stopping.margin);
        }
        // Joined: the final record lists no parts. They are deleted once it stands, so a retry after a failure
        // before then joins them again.
        let joined = std::mem::take(&mut job.parts);
        let summary = &job.summary;
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| fail("the summary", e.into()))?;
        let key = &summary.reports.summary;
        self.put_report(
            summary,
            key,
            "application/json",
            ReportBody::Bytes(json),
            "the summary report",
        )
        .await?;
        if self.save(&job).await? {
            // Counted by the invocation whose final record stands, so that an import is counted once.
            crate::telemetry::metrics::import_ended(job.summary.ended());
            for part in joined {
                if self
                    .backends
                    .reports
                    .delete(&job.summary.bucket, &part.key)
                    .await
                    .is_err()
                {
                    tracing::warn!("a joined part of the report could not be deleted; it is left behind");
                }
            }
        } else {
            tracing::warn!("the job was taken over before its final record was written");
        }
        self.log(&job.summary, "import finished");
        Ok(Outcome::File(Box::new(job.summary)))
    }
}
