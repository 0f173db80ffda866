//! Ending an invocation's work on a job: at a checkpoint (this invocation's rejected rows kept as a part of the
//! report, a new continuation token, the continuation asked for), or for good (one rejected-rows report joined from
//! the parts, the summary report, the final job record).

use super::{ImportService, Outcome, CSV};
use crate::import::error::ImportError;
use crate::import::event::{Continuation, ContinueImport};
use crate::import::job::Job;
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
    pub(super) async fn continue_later(&self, mut job: Job, rejected: Rejected) -> Result<Outcome, ImportError> {
        let import_id = job.summary.import_id.clone();
        if let Some((rejected, _)) = rejected.filter(|(_, listed)| *listed > 0) {
            let part = job.summary.report_part(job.summary.report_parts + 1);
            let body = ReportBody::File(rejected);
            self.put_report(&job.summary, &part, CSV, body, "a part of the rejected-rows report")
                .await?;
            job.summary.report_parts += 1;
        }
        let token = job.checkpoint().map_err(|source| ImportError::Randomness {
            import_id: import_id.clone(),
            source,
        })?;
        if !self.save(&job).await? {
            return Ok(Outcome::skipped(&job, "another invocation took over this import"));
        }
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

    /// Ends the job: one rejected-rows report (the parts of earlier invocations, then this one's rows), the
    /// summary report, and the final job record.
    pub(super) async fn finish(
        &self,
        mut job: Job,
        status: FileStatus,
        error: Option<FileError>,
        rejected: Rejected,
    ) -> Result<Outcome, ImportError> {
        job.finish(status, error, OffsetDateTime::now_utc());
        let import_id = job.summary.import_id.clone();
        let fail = |what: &'static str, e: crate::error::BoxError| ImportError::report(what, &import_id, e);
        let summary = &mut job.summary;
        let parts: Vec<String> = (1..=summary.report_parts).map(|n| summary.report_part(n)).collect();
        let mut earlier = Vec::with_capacity(parts.len());
        for part in &parts {
            let bytes = self.backends.reports.get(&summary.bucket, part).await;
            earlier.push(bytes.map_err(|e| fail("a part of the rejected-rows report", e))?);
        }
        let report = joined_report(&earlier, rejected.map(|(lines, _)| lines))
            .map_err(|e| fail("the rejected-rows report", e.into()))?;
        let key = &summary.reports.rejected_rows;
        self.put_report(summary, key, CSV, ReportBody::File(report), "the rejected-rows report")
            .await?;
        for part in &parts {
            let deleted = self.backends.reports.delete(&summary.bucket, part).await;
            deleted.map_err(|e| fail("a part of the rejected-rows report", e))?;
        }
        summary.report_parts = 0;
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
        } else {
            tracing::warn!("the job was taken over before its final record was written");
        }
        self.log(&job.summary, "import finished");
        Ok(Outcome::File(Box::new(job.summary)))
    }
}

/// The whole rejected-rows report: the header, the parts earlier invocations wrote, then the last one's rows.
fn joined_report(earlier: &[Vec<u8>], last: Option<std::fs::File>) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, Write};
    let mut report = tempfile::tempfile()?;
    report.write_all(b"line,column,code,message\n")?;
    for part in earlier {
        report.write_all(part)?;
    }
    if let Some(mut lines) = last {
        std::io::copy(&mut lines, &mut report)?;
    }
    report.rewind()?;
    Ok(report)
}
