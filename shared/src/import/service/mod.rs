//! One invocation of the import: every object version its event names (or the job a continuation names), each taken
//! on from its checkpoint for as long as the invocation's time allows, then either continued in a new invocation or
//! ended with a final status, one summary and one rejected-rows report for the whole file.
//!
//! By phase: `claim` (the job's lease, the key's turn, the renewals and the check before each batch), `read` (the
//! file from its checkpoint through the pipeline, and what the run's end means for the job), `end` (checkpoint and
//! continuation, or the final reports). The rules are `job`'s; all I/O goes through the ports, so each decision is
//! unit-tested with the in-memory adapters.

mod claim;
mod end;
mod read;

use super::deadline::{self, DeadlineSource, StopAt};
use super::error::ImportError;
use super::event::ObjectRef;
use super::event::{self, ImportEvent, Planned};
use super::job::{Claim, Job};
use super::ports::{BatchSink, Continuations, JobStore, ObjectSource, ReportBody, ReportSink, SourceError};
use super::report::{FileSummary, ImportResponse, Skipped};
use super::upload::{self, Arrival};
use crate::config::ImportConfig;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::Instrument;

/// The import's adapters: where objects come from, where reports and job records go, how an import goes on in a
/// new invocation, where rows are written.
pub struct Backends<O, R, J, C, W> {
    pub objects: O,
    pub reports: R,
    /// Shared with the check before each batch, which runs in the write tasks.
    pub jobs: Arc<J>,
    pub continuations: C,
    pub rows: Arc<W>,
}

pub struct ImportService<O, R, J, C, W> {
    backends: Backends<O, R, J, C, W>,
    config: ImportConfig,
}

/// What became of one object this invocation.
enum Outcome {
    File(Box<FileSummary>),
    Skipped(Skipped),
}

impl Outcome {
    fn skipped(job: &Job, reason: impl Into<String>) -> Self {
        Self::Skipped(Skipped {
            key: job.summary.key.clone(),
            reason: reason.into(),
            import_id: Some(job.summary.import_id.clone()),
        })
    }
}

/// The content type of the rejected-rows report and its parts.
const CSV: &str = "text/csv; charset=utf-8";

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl<O, R, J, C, W> ImportService<O, R, J, C, W>
where
    O: ObjectSource,
    R: ReportSink,
    J: JobStore,
    C: Continuations,
    W: BatchSink,
{
    pub fn new(backends: Backends<O, R, J, C, W>, config: ImportConfig) -> Self {
        Self { backends, config }
    }

    pub fn backends(&self) -> &Backends<O, R, J, C, W> {
        &self.backends
    }

    /// The stop time for an invocation whose deadline is `deadline_ms` (Unix epoch milliseconds).
    pub fn stop_at(&self, deadline_ms: u64) -> StopAt {
        let stop = deadline::stop_at(
            deadline_ms,
            SystemTime::now(),
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
    pub async fn invoke(&self, event: lambda_runtime::LambdaEvent<ImportEvent>) -> Result<ImportResponse, ImportError> {
        let stop = self.stop_at(event.context.deadline);
        self.handle(&event.payload, &event.context.request_id, stop).await
    }

    /// Imports (or continues importing) every object the event names, one after another, within the time given.
    pub async fn handle(
        &self,
        event: &ImportEvent,
        request_id: &str,
        stop: StopAt,
    ) -> Result<ImportResponse, ImportError> {
        let mut response = ImportResponse {
            files: Vec::new(),
            skipped: Vec::new(),
        };
        for planned in event::plan(event, &self.config.bucket) {
            let claim = match planned {
                Planned::Import(object, import_id) => {
                    let now = time::OffsetDateTime::now_utc();
                    let mut fresh =
                        Job::start(import_id.clone(), &object, now).map_err(|source| ImportError::Randomness {
                            import_id: import_id.clone(),
                            source,
                        })?;
                    // Boxed, as the import below: the handler's future is otherwise too deep to lay out.
                    match Box::pin(self.arrival(&object, &import_id, now)).await? {
                        Arrival::NotAnnounced => {}
                        Arrival::Attached { requested_by } => fresh.uploader = Some(requested_by),
                        Arrival::Refused(refusal) => {
                            tracing::warn!(%import_id, refusal = refusal.as_str(), "upload refused");
                            response.skipped.push(Skipped {
                                key: object.key,
                                reason: format!("refused: {}", refusal.message()),
                                import_id: Some(import_id),
                            });
                            continue;
                        }
                    }
                    Claim::Event(Box::new(fresh))
                }
                Planned::Continue(next) => Claim::Continue {
                    import_id: next.import_id,
                    token: next.token,
                },
                Planned::Ignore { key, reason } => {
                    tracing::info!(%reason, "record skipped");
                    response.skipped.push(Skipped {
                        key,
                        reason,
                        import_id: None,
                    });
                    continue;
                }
                Planned::Invalid { key, reason } => {
                    tracing::warn!(%reason, "record cannot be imported");
                    response.skipped.push(Skipped {
                        key,
                        reason,
                        import_id: None,
                    });
                    continue;
                }
            };
            // At level ERROR so that whatever the filter lets through carries the import's id.
            let span = tracing::error_span!("import", import_id = %claim.import_id(), dataset = tracing::field::Empty);
            // Boxed: the whole import is one deeply nested future, too deep for the compiler to lay out inline.
            match Box::pin(self.take_on(claim, request_id, stop).instrument(span)).await? {
                Outcome::File(summary) => response.files.push(*summary),
                Outcome::Skipped(skipped) => {
                    tracing::info!(reason = %skipped.reason, "object skipped");
                    response.skipped.push(skipped);
                }
            }
        }
        Ok(response)
    }

    /// Whether an object arrived at the key of an upload announced through the API, and if so whether it is the
    /// announced file. The upload record, which this project wrote, says who uploaded it; the event's principal is
    /// then only the signer of the URL.
    async fn arrival(
        &self,
        object: &ObjectRef,
        import_id: &str,
        now: time::OffsetDateTime,
    ) -> Result<Arrival, ImportError> {
        let Some(upload_id) = upload::upload_id_of(&object.key) else {
            return Ok(Arrival::NotAnnounced);
        };
        let facts = match self.backends.objects.facts(object).await {
            Ok(facts) => facts,
            // Gone already: the import records that, whoever uploaded it.
            Err(SourceError::NotFound(_)) => return Ok(Arrival::NotAnnounced),
            Err(e) => return Err(ImportError::upload(import_id, e)),
        };
        let at = crate::time::rfc3339_millis(now);
        let arrived = self
            .backends
            .jobs
            .arrive(upload_id, &object.key, import_id, &facts, &at)
            .await;
        arrived.map_err(|e| ImportError::upload(import_id, e))
    }

    /// Writes report `key` of the import `summary` describes, next to its object; `what` names it in errors.
    /// Returns the ETag it was written with.
    async fn put_report(
        &self,
        summary: &FileSummary,
        key: &str,
        content_type: &str,
        body: ReportBody,
        what: &'static str,
    ) -> Result<String, ImportError> {
        let put = self
            .backends
            .reports
            .put(&summary.bucket, key, content_type, body)
            .await;
        put.map_err(|e| ImportError::report(what, &summary.import_id, e))
    }

    /// Writes the job record while this invocation holds the lease; `false` if another one took it over.
    async fn save(&self, job: &Job) -> Result<bool, ImportError> {
        self.backends
            .jobs
            .save(job)
            .await
            .map_err(|e| ImportError::job_store(&job.summary.import_id, e))
    }

    fn log(&self, summary: &FileSummary, message: &str) {
        tracing::info!(
            status = ?summary.status,
            invocations = summary.invocations,
            total = summary.rows.total,
            imported = summary.rows.imported,
            rejected = summary.rows.rejected,
            not_reached = summary.rows.not_reached,
            resume_line = summary.resume_from.map(|r| r.line),
            peak_writes_in_flight = summary.peak_writes_in_flight,
            write_tasks_alive_after = summary.write_tasks_alive_after,
            error = summary.error.as_ref().map(|e| e.code.as_str()),
            "{message}"
        );
    }
}

#[cfg(test)]
mod tests;
