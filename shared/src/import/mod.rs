//! The S3-triggered CSV import: streaming, typed rows, bounded fan-out, and a stop time derived from the invocation.

pub mod dataset;
pub mod deadline;
pub mod event;
mod lines;
pub mod pipeline;
pub mod report;
pub mod tally;
pub mod writer;

use crate::config::ImportConfig;
use crate::provenance::Provenance;
use crate::store::error::chain;
use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use deadline::{DeadlineSource, StopAt};
use event::{ObjectRef, Planned};
use pipeline::{FileFacts, Pipeline, ReadEnd};
use report::{report_keys, FileError, FileStatus, FileSummary};
use serde::Serialize;
use std::sync::Arc;
use tally::{RowPos, Tally};
use time::OffsetDateTime;
use tracing::Instrument;
use writer::{BatchSink, InFlight, RetryPolicy};

/// What the handler returns: one summary per imported file and the records it skipped.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    pub files: Vec<FileSummary>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

/// Failures that make the invocation fail (so Lambda retries it): the outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("could not write {what} for {key}")]
    Report {
        what: &'static str,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ImportError {
    fn report(what: &'static str, key: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Report {
            what,
            key: key.to_owned(),
            source: source.into(),
        }
    }
}

/// The one place where an import error becomes what the Lambda runtime reports.
impl From<ImportError> for lambda_runtime::Diagnostic {
    fn from(error: ImportError) -> Self {
        let error_type = match error {
            ImportError::Report { .. } => "ImportReportFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: chain(&error),
        }
    }
}

pub struct ImportService<S> {
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sink: Arc<S>,
    config: ImportConfig,
}

impl<S: BatchSink> ImportService<S> {
    pub fn new(s3: aws_sdk_s3::Client, dynamodb: aws_sdk_dynamodb::Client, sink: S, config: ImportConfig) -> Self {
        Self {
            s3,
            dynamodb,
            sink: Arc::new(sink),
            config,
        }
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
        let import_id = ulid::Ulid::new().to_string();
        let span = tracing::info_span!("import", import_id = %import_id, dataset = tracing::field::Empty);
        self.import_object_in_span(object, request_id, stop, import_id)
            .instrument(span)
            .await
    }

    async fn import_object_in_span(
        &self,
        object: &ObjectRef,
        request_id: &str,
        stop: StopAt,
        import_id: String,
    ) -> Result<FileSummary, ImportError> {
        let now = OffsetDateTime::now_utc();
        let mut summary = FileSummary {
            import_id: import_id.clone(),
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_id: object.version_id.clone(),
            etag: None,
            dataset: None,
            status: FileStatus::Running,
            rows: Default::default(),
            resume_from: None,
            error: None,
            started_at: crate::time::rfc3339_millis(now),
            finished_at: None,
            deadline: match stop.source {
                DeadlineSource::Invocation => "invocation",
                DeadlineSource::Fallback(_) => "fallback",
            },
            peak_writes_in_flight: 0,
            write_tasks_alive_after: 0,
            reports: report_keys(&object.key, &import_id),
        };
        let tally = Arc::new(Tally::new().map_err(|e| ImportError::report("the rejected-rows file", &object.key, e))?);

        let dataset = match dataset::for_key(&object.key, &self.config) {
            Ok(dataset) => dataset,
            Err(message) => {
                summary.status = FileStatus::Rejected;
                summary.error = Some(FileError::new("unknown_dataset", message));
                return self.finish(summary, &tally).await;
            }
        };
        summary.dataset = Some(dataset.name());
        tracing::Span::current().record("dataset", dataset.name().as_str());
        self.put_job(&summary).await?;

        let get = self
            .s3
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send();
        let output = match tokio::time::timeout_at(stop.at, get).await {
            Err(_) => {
                summary.status = FileStatus::Incomplete;
                summary.resume_from = Some(RowPos {
                    line: 1,
                    byte_offset: 0,
                });
                return self.finish(summary, &tally).await;
            }
            Ok(Err(e)) => {
                let missing = matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_)))
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                summary.status = FileStatus::Failed;
                summary.error = Some(FileError::new(
                    if missing {
                        "object_not_found"
                    } else {
                        "object_unreadable"
                    },
                    format!("GetObject failed: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
                ));
                return self.finish(summary, &tally).await;
            }
            Ok(Ok(output)) => output,
        };
        summary.etag = output.e_tag.clone();
        summary.version_id = output.version_id.clone().or(summary.version_id);
        let object_time = output
            .last_modified
            .and_then(|t| OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok())
            .unwrap_or(now);
        let facts = FileFacts {
            provenance: Provenance {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                version_id: summary.version_id.clone(),
                etag: summary.etag.clone(),
                line: 0,
                import_id: import_id.clone(),
            },
            request_id: request_id.to_owned(),
            uploader: object.uploader.clone(),
            now,
            object_time,
        };
        let in_flight = Arc::new(InFlight::default());
        let pipeline = Pipeline {
            sink: Arc::clone(&self.sink),
            concurrency: self.config.concurrency,
            retry: RetryPolicy::new(self.config.max_write_attempts),
            grace: self.config.safety_margin / 2,
            in_flight: Arc::clone(&in_flight),
        };
        let end = pipeline
            .run(output.body.into_async_read(), dataset.as_ref(), &facts, stop.at, &tally)
            .await;
        summary.peak_writes_in_flight = in_flight.peak();
        summary.write_tasks_alive_after = in_flight.live_tasks();
        let pending = tally.counts().not_reached > 0;
        match end {
            ReadEnd::Eof if !pending => summary.status = FileStatus::Completed,
            ReadEnd::Eof => summary.status = FileStatus::Incomplete,
            ReadEnd::Deadline { next } => {
                summary.status = FileStatus::Incomplete;
                summary.resume_from = Some(next);
            }
            ReadEnd::HeaderRejected(message) => {
                summary.status = FileStatus::Rejected;
                summary.error = Some(FileError::new("invalid_header", message));
            }
            ReadEnd::ReadFailed { next, message } => {
                summary.status = FileStatus::Failed;
                summary.resume_from = Some(next);
                summary.error = Some(FileError::new("read_failed", message));
            }
        }
        self.finish(summary, &tally).await
    }

    /// Closes the accounting, then writes the rejected rows, the summary report and the final job record.
    async fn finish(&self, mut summary: FileSummary, tally: &Tally) -> Result<FileSummary, ImportError> {
        let finished = tally
            .finish()
            .map_err(|e| ImportError::report("the rejected-rows file", &summary.key, e))?;
        summary.rows = finished.counts;
        if let Some(first) = finished.first_not_reached {
            summary.resume_from = Some(summary.resume_from.map_or(first, |next| next.min(first)));
        }
        summary.finished_at = Some(crate::time::rfc3339_millis(OffsetDateTime::now_utc()));

        let rejected = ByteStream::read_from()
            .file(tokio::fs::File::from_std(finished.report))
            .build()
            .await
            .map_err(|e| ImportError::report("the rejected-rows report", &summary.key, e))?;
        self.put_object(
            &summary,
            &summary.reports.rejected_rows,
            "text/csv; charset=utf-8",
            rejected,
        )
        .await?;
        let json =
            serde_json::to_vec_pretty(&summary).map_err(|e| ImportError::report("the summary", &summary.key, e))?;
        self.put_object(
            &summary,
            &summary.reports.summary,
            "application/json",
            ByteStream::from(json),
        )
        .await?;
        self.put_job(&summary).await?;
        tracing::info!(
            status = ?summary.status,
            total = summary.rows.total,
            imported = summary.rows.imported,
            rejected = summary.rows.rejected,
            not_reached = summary.rows.not_reached,
            peak_writes_in_flight = summary.peak_writes_in_flight,
            write_tasks_alive_after = summary.write_tasks_alive_after,
            error = summary.error.as_ref().map(|e| e.code),
            "import finished"
        );
        Ok(summary)
    }

    async fn put_object(
        &self,
        summary: &FileSummary,
        key: &str,
        content_type: &str,
        body: ByteStream,
    ) -> Result<(), ImportError> {
        self.s3
            .put_object()
            .bucket(&summary.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ImportError::report("a report", &summary.key, e))
    }

    async fn put_job(&self, summary: &FileSummary) -> Result<(), ImportError> {
        let item =
            serde_dynamo::to_item(summary).map_err(|e| ImportError::report("the job record", &summary.key, e))?;
        self.dynamodb
            .put_item()
            .table_name(&self.config.import_jobs_table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ImportError::report("the job record", &summary.key, e))
    }
}
