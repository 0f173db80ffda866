//! One invocation of the import: every object version its event names (or the one a continuation names), each taken
//! on from its checkpoint for as long as the invocation's time allows, then either continued in a new invocation or
//! ended with a final status, one summary and one rejected-rows report for the whole file.
//!
//! Exactly once: a job per object version, worked on only by the invocation holding its lease; rows are committed
//! below a checkpoint, so rows done again after a stop overwrite the same items and are counted once. The decisions
//! live here; all I/O goes through the ports, so each decision is unit-tested with the in-memory adapters.

use super::dataset::{self, Dataset};
use super::deadline::{self, DeadlineSource, StopAt};
use super::error::ImportError;
use super::event::{self, ImportEvent, ObjectRef, Planned};
use super::ids::{self, IdSecret};
use super::parts::{self, PartRef};
use super::pipeline::{CsvBody, FileFacts, Pipeline, ReadEnd, Start};
use super::ports::{
    BatchSink, ByteRange, Claimed, Continuations, Job, JobStore, Lease, ObjectSource, ReportBody, ReportSink,
    SourceError, VersionOrder,
};
use super::report::{FileError, FileErrorCode, FileStatus, FileSummary, ImportResponse, Skipped};
use super::tally::{ReportLimit, RowPos, Tally};
use super::writer::{InFlight, RetryPolicy};
use crate::config::ImportConfig;
use crate::provenance::Provenance;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use tracing::Instrument;

/// The import's adapters: where objects come from, where reports and job records go, how an import goes on in a
/// new invocation, where rows are written.
pub struct Backends<O, R, J, C, W> {
    pub objects: O,
    pub reports: R,
    pub jobs: J,
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
        let planned = event::plan(event, &self.config.bucket);
        for planned in planned {
            match planned {
                Planned::Import(object) => match self.import_object(&object, request_id, stop).await? {
                    Outcome::File(summary) => response.files.push(*summary),
                    Outcome::Skipped(skipped) => {
                        tracing::info!(reason = %skipped.reason, "object skipped");
                        response.skipped.push(skipped);
                    }
                },
                Planned::Ignore { key, reason } => {
                    tracing::info!(%reason, "record skipped");
                    response.skipped.push(Skipped {
                        key,
                        reason,
                        import_id: None,
                    });
                }
                Planned::Invalid { key, reason } => {
                    tracing::warn!(%reason, "record cannot be imported");
                    response.skipped.push(Skipped {
                        key,
                        reason,
                        import_id: None,
                    });
                }
            }
        }
        Ok(response)
    }

    async fn import_object(&self, object: &ObjectRef, request_id: &str, stop: StopAt) -> Result<Outcome, ImportError> {
        let import_id = ids::job_id(object);
        let span = tracing::info_span!("import", import_id = %import_id, dataset = tracing::field::Empty);
        // Boxed: the whole import is one deeply nested future, too deep for the compiler to lay out inline.
        Box::pin(self.take_on(object, import_id, request_id, stop).instrument(span)).await
    }

    /// Claims the job and, if it is ours to work on, works on it.
    async fn take_on(
        &self,
        object: &ObjectRef,
        import_id: String,
        request_id: &str,
        stop: StopAt,
    ) -> Result<Outcome, ImportError> {
        let now = OffsetDateTime::now_utc();
        let skipped = |reason: String| {
            Outcome::Skipped(Skipped {
                key: object.key.clone(),
                reason,
                import_id: Some(import_id.clone()),
            })
        };
        let fresh = Job {
            summary: FileSummary::start(import_id.clone(), object, now, stop.source),
            secret: IdSecret::generate().map_err(|e| ImportError::report("the id secret", &import_id, e))?,
            lease: Lease {
                owner: request_id.to_owned(),
                until_ms: epoch_ms(SystemTime::now() + self.config.lease),
            },
        };
        let job = match self.backends.jobs.claim(fresh, epoch_ms(SystemTime::now())).await {
            Ok(Claimed::Ours(job)) => job,
            Ok(Claimed::Finished(done)) => {
                let status = serde_json::to_value(done.status).unwrap_or_default();
                return Ok(skipped(format!(
                    "duplicate: the import of this object version has ended ({})",
                    status.as_str().unwrap_or("final")
                )));
            }
            Ok(Claimed::Busy(_)) => {
                return Ok(skipped(
                    "duplicate: another invocation is importing this object version now".into(),
                ))
            }
            Err(e) => return Err(ImportError::report("the job record", &import_id, e)),
        };
        let owner = job.lease.owner.clone();
        let work = self.carry_on(job, object, request_id, stop, now);
        self.holding_lease(&import_id, &owner, work).await
    }

    /// Renews the job's lease while `work` runs, so that duplicates keep off; once the invocation dies, renewals
    /// stop and the lease runs out within [`ImportConfig::lease`], when a retry may take the job over. The renewals
    /// end with `work`: nothing is left running when the handler returns.
    async fn holding_lease<T>(&self, import_id: &str, owner: &str, work: impl Future<Output = T>) -> T {
        let renew = async {
            let mut every = tokio::time::interval(self.config.lease / 3);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await; // the first tick is at once; the lease was just taken
            loop {
                every.tick().await;
                let now = SystemTime::now();
                let renewed = self
                    .backends
                    .jobs
                    .renew(import_id, owner, epoch_ms(now + self.config.lease), epoch_ms(now))
                    .await;
                match renewed {
                    Ok(true) => {}
                    // Let go (at a checkpoint), run out or taken over: this invocation's saves will say so.
                    Ok(false) => return std::future::pending::<Infallible>().await,
                    Err(e) => tracing::warn!(error = %crate::error::chain(&e), "the lease could not be renewed"),
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            biased;
            done = &mut work => done,
            never = renew => match never {},
        }
    }

    /// With the lease held: checks the version is the latest, then works on the job.
    async fn carry_on(
        &self,
        mut job: Job,
        object: &ObjectRef,
        request_id: &str,
        stop: StopAt,
        now: OffsetDateTime,
    ) -> Result<Outcome, ImportError> {
        let import_id = job.summary.import_id.clone();
        let skipped = |reason: String| {
            Outcome::Skipped(Skipped {
                key: object.key.clone(),
                reason,
                import_id: Some(import_id.clone()),
            })
        };
        job.summary.invocations += 1;
        job.summary.status = FileStatus::Running;
        job.summary.deadline = stop.source.into();

        // A newer version of the key may have been imported meanwhile (retries can arrive hours late).
        if let Some(sequencer) = job.summary.sequencer.clone() {
            let order = self
                .backends
                .jobs
                .record_version(&job.summary.bucket, &job.summary.key, &sequencer)
                .await
                .map_err(|e| ImportError::report("the job record", &import_id, e))?;
            if order == VersionOrder::Superseded {
                job.summary.conclude(FileStatus::Superseded, None);
                job.summary.finished_at = Some(crate::time::rfc3339_millis(OffsetDateTime::now_utc()));
                self.save(&job).await?;
                return Ok(skipped("superseded: a later version of this key was imported".into()));
            }
        }

        let dataset = match dataset::for_key(&job.summary.key, &self.config) {
            Ok(dataset) => dataset,
            Err(message) => {
                let error = FileError::new(FileErrorCode::UnknownDataset, message);
                job.summary.conclude(FileStatus::Rejected, Some(error));
                return self.finish(job, None).await;
            }
        };
        job.summary.dataset = Some(dataset.name());
        tracing::Span::current().record("dataset", dataset.name().as_str());
        if !self.save(&job).await? {
            return Ok(skipped("another invocation took over this import".into()));
        }
        self.work(job, object, dataset.as_ref(), request_id, stop, now).await
    }

    /// Reads the file from its checkpoint (or its start) until the stop time, then continues or ends the job.
    async fn work(
        &self,
        mut job: Job,
        object: &ObjectRef,
        dataset: &dyn Dataset,
        request_id: &str,
        stop: StopAt,
        now: OffsetDateTime,
    ) -> Result<Outcome, ImportError> {
        let checkpoint = job.summary.resume_from;
        let opened = tokio::time::timeout_at(stop.at, self.open(&job.summary, object, dataset)).await;
        let (opened, start) = match opened {
            Err(_) => {
                let error = FileError::new(
                    FileErrorCode::NoProgress,
                    "the invocation reached its stop time before the object was open for reading",
                );
                job.summary.conclude(FileStatus::Failed, Some(error));
                return self.finish(job, None).await;
            }
            Ok(Err(error)) => {
                let status = match error.code {
                    FileErrorCode::ObjectTooLarge | FileErrorCode::InvalidHeader => FileStatus::Rejected,
                    _ => FileStatus::Failed,
                };
                job.summary.conclude(status, Some(error));
                return self.finish(job, None).await;
            }
            Ok(Ok(opened)) => opened,
        };
        // The version read is the one every later invocation reads on from.
        job.summary.version_id = opened.version_id.clone().or(job.summary.version_id.take());
        job.summary.etag = opened.etag.clone().or(job.summary.etag.take());
        let first_row = match &start {
            Start::File => RowPos::START,
            Start::At { row, .. } => *row,
        };
        let tally = Tally::new(
            first_row,
            ReportLimit {
                max_listed: self.config.max_rejected_rows_listed,
                already_listed: job.summary.rejected_listed,
            },
        )
        .map_err(|e| ImportError::report("the rejected-rows file", &job.summary.import_id, e))?;
        let tally = Arc::new(tally);
        let facts = FileFacts {
            provenance: Provenance {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                version_id: job.summary.version_id.clone(),
                etag: job.summary.etag.clone(),
                line: 0,
                import_id: job.summary.import_id.clone(),
            },
            id_secret: job.secret,
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
            grace: stop.margin / 2,
            in_flight: Arc::clone(&in_flight),
            max_record_bytes: self.config.max_record_bytes,
        };
        let run = pipeline.run(opened.body, dataset, &facts, start, stop.at, &tally).await;
        let finished = tally
            .finish()
            .map_err(|e| ImportError::report("the rejected-rows file", &job.summary.import_id, e))?;

        let summary = &mut job.summary;
        summary.rows = summary.rows.then(finished.counts);
        summary.rejected_listed += finished.listed;
        summary.rejected_not_listed += finished.unlisted;
        summary.data_start = run.data_start.or(summary.data_start);
        summary.peak_writes_in_flight = in_flight.peak();
        summary.write_tasks_alive_after = in_flight.live_tasks();
        summary.resume_from = Some(finished.checkpoint);
        let progressed = match checkpoint {
            Some(before) => finished.checkpoint > before,
            None => finished.checkpoint.byte_offset > summary.data_start.unwrap_or(0),
        };
        let everything_read = run.end == ReadEnd::Eof && finished.counts.not_reached == 0;
        match run.end {
            _ if everything_read => {
                summary.resume_from = None;
                summary.conclude(FileStatus::Completed, None);
            }
            ReadEnd::HeaderRejected(message) => {
                summary.resume_from = None;
                summary.conclude(
                    FileStatus::Rejected,
                    Some(FileError::new(FileErrorCode::InvalidHeader, message)),
                );
            }
            ReadEnd::RecordTooLong { at } => summary.conclude(
                FileStatus::Failed,
                Some(FileError::new(
                    FileErrorCode::RecordTooLong,
                    format!(
                        "the record on line {} is longer than {} bytes (an unclosed quote?); the rows before it are \
                         imported or reported, none after it is read",
                        at.line, self.config.max_record_bytes
                    ),
                )),
            ),
            _ if progressed => {
                summary.status = FileStatus::Incomplete;
                return self.continue_later(job, object, finished.report, finished.listed).await;
            }
            ReadEnd::ReadFailed { message } => summary.conclude(
                FileStatus::Failed,
                Some(FileError::new(FileErrorCode::ReadFailed, message)),
            ),
            _ => summary.conclude(
                FileStatus::Failed,
                Some(FileError::new(
                    FileErrorCode::NoProgress,
                    "an invocation ended without finishing a single row; going on would only repeat it",
                )),
            ),
        }
        self.finish(job, Some((finished.report, finished.listed))).await
    }

    /// Opens the object at the job's checkpoint: the whole file the first time; later the header (again: it is
    /// not kept, being file content) and the rest from the checkpoint, pinned to the same version.
    async fn open(
        &self,
        summary: &FileSummary,
        object: &ObjectRef,
        dataset: &dyn Dataset,
    ) -> Result<(super::ports::Object, Start), FileError> {
        let pinned = ObjectRef {
            version_id: summary.version_id.clone(),
            etag: summary.etag.clone(),
            ..object.clone()
        };
        let source_error = |e: SourceError| {
            let code = match e {
                SourceError::NotFound(_) if summary.resume_from.is_some() => FileErrorCode::ObjectChanged,
                SourceError::NotFound(_) => FileErrorCode::ObjectNotFound,
                SourceError::Changed(_) => FileErrorCode::ObjectChanged,
                SourceError::Unreadable(_) => FileErrorCode::ObjectUnreadable,
            };
            FileError::new(code, e.to_string())
        };
        let (Some(row), Some(data_start)) = (summary.resume_from, summary.data_start) else {
            let opened = self
                .backends
                .objects
                .open(&pinned, ByteRange::ALL)
                .await
                .map_err(source_error)?;
            if let Some(size) = opened.size.filter(|size| *size > self.config.max_object_bytes) {
                return Err(FileError::new(
                    FileErrorCode::ObjectTooLarge,
                    format!(
                        "the object has {size} bytes; at most {} are imported (MAX_OBJECT_BYTES)",
                        self.config.max_object_bytes
                    ),
                ));
            }
            return Ok((opened, Start::File));
        };
        let head = self
            .backends
            .objects
            .open(
                &pinned,
                ByteRange {
                    from: 0,
                    to: Some(data_start),
                },
            )
            .await
            .map_err(source_error)?;
        let mut head = CsvBody::new(head.body, RowPos::START, self.config.max_record_bytes, true);
        let (header, _) = head
            .read_header(dataset)
            .await
            .map_err(|message| FileError::new(FileErrorCode::ObjectChanged, message))?;
        let rest = ByteRange {
            from: row.byte_offset,
            to: None,
        };
        let opened = self.backends.objects.open(&pinned, rest).await.map_err(source_error)?;
        Ok((opened, Start::At { row, header }))
    }

    /// Saves the checkpoint, keeps this invocation's rejected rows as a part of the report, lets go of the lease and
    /// asks for a new invocation to go on.
    async fn continue_later(
        &self,
        mut job: Job,
        object: &ObjectRef,
        rejected: std::fs::File,
        listed: u64,
    ) -> Result<Outcome, ImportError> {
        let import_id = job.summary.import_id.clone();
        if listed > 0 {
            let part = job.summary.report_part(job.summary.report_parts + 1);
            let body = ReportBody::File(rejected);
            let etag = self
                .put_report(&job.summary, &part, CSV, body, "a part of the rejected-rows report")
                .await?;
            job.summary.report_parts += 1;
            job.summary.report_part_etags.push(etag);
        }
        job.lease.until_ms = 0;
        if !self.save(&job).await? {
            return Ok(Outcome::Skipped(Skipped {
                key: object.key.clone(),
                reason: "another invocation took over this import".into(),
                import_id: Some(import_id),
            }));
        }
        self.backends
            .continuations
            .schedule(object)
            .await
            .map_err(|e| ImportError::report("the continuation", &import_id, e))?;
        self.log(&job.summary, "import continues in a new invocation");
        Ok(Outcome::File(Box::new(job.summary)))
    }

    /// Ends the job: one rejected-rows report (the parts of earlier invocations, then this one's rows), the
    /// summary report, and the final job record.
    async fn finish(&self, mut job: Job, rejected: Option<(std::fs::File, u64)>) -> Result<Outcome, ImportError> {
        let import_id = job.summary.import_id.clone();
        let fail = |what: &'static str, e: crate::error::BoxError| ImportError::report(what, &import_id, e);
        let summary = &mut job.summary;
        summary.finished_at = Some(crate::time::rfc3339_millis(OffsetDateTime::now_utc()));
        let (written, kept) = (summary.report_parts, summary.report_part_etags.len());
        if kept != written as usize {
            let e = format!("{written} parts were written but {kept} ETags kept: the parts cannot be verified");
            return Err(fail("the rejected-rows report", e.into()));
        }
        let parts: Vec<PartRef> = (1..=summary.report_parts)
            .zip(&summary.report_part_etags)
            .map(|(n, etag)| PartRef {
                key: summary.report_part(n),
                etag: etag.clone(),
            })
            .collect();
        let header = b"line,column,code,message\n";
        let last = rejected.map(|(lines, _)| lines);
        let report = parts::join(&self.backends.reports, &summary.bucket, header, &parts, last).await;
        let report = report.map_err(|e| fail("the rejected-rows report", e))?;
        let key = &summary.reports.rejected_rows;
        self.put_report(summary, key, CSV, ReportBody::File(report), "the rejected-rows report")
            .await?;
        for part in &parts {
            let deleted = self.backends.reports.delete(&summary.bucket, &part.key).await;
            deleted.map_err(|e| fail("a part of the rejected-rows report", e))?;
        }
        summary.report_parts = 0;
        summary.report_part_etags.clear();
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

    /// Writes report `key` of the import `summary` describes, next to its object, and gives its ETag; `what` names
    /// it in errors.
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
            .map_err(|e| ImportError::report("the job record", &job.summary.import_id, e))
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
