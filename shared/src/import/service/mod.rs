//! One invocation of the import: every object its event names, one after another within the invocation's time,
//! each ending with a final status, its two reports and its job record. The decisions live here; all I/O goes
//! through the ports, so each decision is unit-tested with the in-memory adapters.

use super::dataset;
use super::deadline::{self, DeadlineSource, StopAt};
use super::error::ImportError;
use super::event::{self, ObjectRef, Planned};
use super::ids::{self, IdSecret};
use super::pipeline::{FileFacts, Pipeline, ReadEnd};
use super::ports::{BatchSink, JobStore, ObjectSource, ReportBody, ReportSink, SourceError};
use super::report::{FileError, FileErrorCode, FileStatus, FileSummary, ImportResponse, Skipped};
use super::tally::{RowPos, Tally};
use super::writer::{InFlight, RetryPolicy};
use crate::config::ImportConfig;
use crate::provenance::Provenance;
use aws_lambda_events::event::s3::S3Event;
use std::sync::Arc;
use time::OffsetDateTime;
use tracing::Instrument;

/// The import's adapters: where objects come from, where reports and job records go, where rows are written.
pub struct Backends<O, R, J, W> {
    pub objects: O,
    pub reports: R,
    pub jobs: J,
    pub rows: Arc<W>,
}

pub struct ImportService<O, R, J, W> {
    backends: Backends<O, R, J, W>,
    config: ImportConfig,
}

impl<O, R, J, W> ImportService<O, R, J, W>
where
    O: ObjectSource,
    R: ReportSink,
    J: JobStore,
    W: BatchSink,
{
    pub fn new(backends: Backends<O, R, J, W>, config: ImportConfig) -> Self {
        Self { backends, config }
    }

    pub fn backends(&self) -> &Backends<O, R, J, W> {
        &self.backends
    }

    /// The stop time for an invocation whose deadline is `deadline_ms` (Unix epoch milliseconds).
    pub fn stop_at(&self, deadline_ms: u64) -> StopAt {
        let stop = deadline::stop_at(
            deadline_ms,
            std::time::SystemTime::now(),
            tokio::time::Instant::now(),
            self.config.safety_margin,
            self.config.fallback_budget,
        );
        if let DeadlineSource::Fallback(reason) = stop.source {
            tracing::warn!(
                ?reason,
                deadline_ms,
                budget_s = self.config.fallback_budget.as_secs(),
                "invocation deadline not usable; using the fallback time budget"
            );
        }
        stop
    }

    /// The Lambda handler: stop time from the invocation's deadline, then [`Self::handle`].
    pub async fn invoke(&self, event: lambda_runtime::LambdaEvent<S3Event>) -> Result<ImportResponse, ImportError> {
        let stop = self.stop_at(event.context.deadline);
        self.handle(&event.payload, &event.context.request_id, stop).await
    }

    /// Imports every object the event names, one after another, all within the invocation's time.
    pub async fn handle(&self, event: &S3Event, request_id: &str, stop: StopAt) -> Result<ImportResponse, ImportError> {
        let mut response = ImportResponse {
            files: Vec::new(),
            skipped: Vec::new(),
        };
        for planned in event::plan(event) {
            match planned {
                Planned::Import(object) => response
                    .files
                    .push(self.import_object(&object, request_id, stop).await?),
                Planned::Ignore { key, reason } => {
                    tracing::info!(%reason, "record skipped");
                    response.skipped.push(Skipped { key, reason });
                }
                Planned::Invalid { key, reason } => {
                    tracing::warn!(%reason, "record cannot be imported");
                    response.skipped.push(Skipped { key, reason });
                }
            }
        }
        Ok(response)
    }

    async fn import_object(
        &self,
        object: &ObjectRef,
        request_id: &str,
        stop: StopAt,
    ) -> Result<FileSummary, ImportError> {
        let import_id = ids::job_id(object);
        let span = tracing::info_span!("import", import_id = %import_id, dataset = tracing::field::Empty);
        let now = OffsetDateTime::now_utc();
        let summary = FileSummary::start(import_id, object, now, stop.source);
        // Boxed: the whole import is one deeply nested future, too deep for the compiler to lay out inline.
        Box::pin(self.run(summary, object, request_id, stop, now).instrument(span)).await
    }

    /// Takes the import from `running` to its final status; every path ends in [`Self::finish`].
    async fn run(
        &self,
        mut summary: FileSummary,
        object: &ObjectRef,
        request_id: &str,
        stop: StopAt,
        now: OffsetDateTime,
    ) -> Result<FileSummary, ImportError> {
        let import_id = summary.import_id.clone();
        let fresh = IdSecret::generate().map_err(|e| ImportError::report("the id secret", &import_id, e))?;
        let secret = self
            .backends
            .jobs
            .id_secret(&import_id, fresh)
            .await
            .map_err(|e| ImportError::report("the id secret", &import_id, e))?;
        let tally = Arc::new(Tally::new().map_err(|e| ImportError::report("the rejected-rows file", &import_id, e))?);
        let dataset = match dataset::for_key(&object.key, &self.config) {
            Ok(dataset) => dataset,
            Err(message) => {
                summary.conclude(
                    FileStatus::Rejected,
                    Some(FileError::new(FileErrorCode::UnknownDataset, message)),
                );
                return self.finish(summary, &tally, &secret).await;
            }
        };
        summary.dataset = Some(dataset.name());
        tracing::Span::current().record("dataset", dataset.name().as_str());
        self.put_job(&summary, &secret).await?;

        let opened = match tokio::time::timeout_at(stop.at, self.backends.objects.open(object)).await {
            Err(_) => {
                summary.resume_from = Some(RowPos::START);
                summary.conclude(FileStatus::Incomplete, None);
                return self.finish(summary, &tally, &secret).await;
            }
            Ok(Err(e)) => {
                let code = match e {
                    SourceError::NotFound(_) => FileErrorCode::ObjectNotFound,
                    SourceError::Unreadable(_) => FileErrorCode::ObjectUnreadable,
                };
                summary.conclude(FileStatus::Failed, Some(FileError::new(code, e.to_string())));
                return self.finish(summary, &tally, &secret).await;
            }
            Ok(Ok(opened)) => opened,
        };
        summary.etag = opened.etag;
        summary.version_id = opened.version_id.or(summary.version_id);
        let facts = FileFacts {
            provenance: Provenance {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                version_id: summary.version_id.clone(),
                etag: summary.etag.clone(),
                line: 0,
                import_id: summary.import_id.clone(),
            },
            id_secret: secret,
            request_id: request_id.to_owned(),
            uploader: object.uploader.clone(),
            now,
            object_time: opened.last_modified.unwrap_or(now),
        };
        let in_flight = Arc::new(InFlight::default());
        let pipeline = Pipeline {
            sink: Arc::clone(&self.backends.rows),
            concurrency: self.config.concurrency,
            retry: RetryPolicy::new(self.config.max_write_attempts),
            grace: self.config.safety_margin / 2,
            in_flight: Arc::clone(&in_flight),
        };
        let end = pipeline
            .run(opened.body, dataset.as_ref(), &facts, stop.at, &tally)
            .await;
        summary.peak_writes_in_flight = in_flight.peak();
        summary.write_tasks_alive_after = in_flight.live_tasks();
        let pending = tally.counts().not_reached > 0;
        match end {
            ReadEnd::Eof if !pending => summary.conclude(FileStatus::Completed, None),
            ReadEnd::Eof => summary.conclude(FileStatus::Incomplete, None),
            ReadEnd::Deadline { next } => {
                summary.resume_from = Some(next);
                summary.conclude(FileStatus::Incomplete, None);
            }
            ReadEnd::HeaderRejected(message) => summary.conclude(
                FileStatus::Rejected,
                Some(FileError::new(FileErrorCode::InvalidHeader, message)),
            ),
            ReadEnd::ReadFailed { next, message } => {
                summary.resume_from = Some(next);
                summary.conclude(
                    FileStatus::Failed,
                    Some(FileError::new(FileErrorCode::ReadFailed, message)),
                );
            }
        }
        self.finish(summary, &tally, &secret).await
    }

    /// Closes the accounting, then writes the rejected rows, the summary report and the final job record.
    async fn finish(
        &self,
        mut summary: FileSummary,
        tally: &Tally,
        secret: &IdSecret,
    ) -> Result<FileSummary, ImportError> {
        let finished = tally
            .finish()
            .map_err(|e| ImportError::report("the rejected-rows file", &summary.import_id, e))?;
        summary.rows = finished.counts;
        if let Some(first) = finished.first_not_reached {
            summary.resume_from = Some(summary.resume_from.map_or(first, |next| next.min(first)));
        }
        summary.finished_at = Some(crate::time::rfc3339_millis(OffsetDateTime::now_utc()));

        let reports = &self.backends.reports;
        reports
            .put(
                &summary.bucket,
                &summary.reports.rejected_rows,
                "text/csv; charset=utf-8",
                ReportBody::File(finished.report),
            )
            .await
            .map_err(|e| ImportError::report("the rejected-rows report", &summary.import_id, e))?;
        let json = serde_json::to_vec_pretty(&summary)
            .map_err(|e| ImportError::report("the summary", &summary.import_id, e))?;
        reports
            .put(
                &summary.bucket,
                &summary.reports.summary,
                "application/json",
                ReportBody::Bytes(json),
            )
            .await
            .map_err(|e| ImportError::report("the summary report", &summary.import_id, e))?;
        self.put_job(&summary, secret).await?;
        tracing::info!(
            status = ?summary.status,
            total = summary.rows.total,
            imported = summary.rows.imported,
            rejected = summary.rows.rejected,
            not_reached = summary.rows.not_reached,
            peak_writes_in_flight = summary.peak_writes_in_flight,
            write_tasks_alive_after = summary.write_tasks_alive_after,
            error = summary.error.as_ref().map(|e| e.code.as_str()),
            "import finished"
        );
        Ok(summary)
    }

    async fn put_job(&self, summary: &FileSummary, secret: &IdSecret) -> Result<(), ImportError> {
        self.backends
            .jobs
            .put(summary, secret)
            .await
            .map_err(|e| ImportError::report("the job record", &summary.import_id, e))
    }
}

#[cfg(test)]
mod tests;
