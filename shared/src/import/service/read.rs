//! Reading: with the lease held and the key's turn taken, the file from its checkpoint (or its start) through the
//! pipeline until the stop time, and what the way the run ended means for the job.

use super::claim::{KeyTurn, Standing};
use super::{ImportService, Outcome};
use crate::import::dataset::{self, Dataset};
use crate::import::deadline::StopAt;
use crate::import::error::ImportError;
use crate::import::event::ObjectRef;
use crate::import::job::{Hold, Job};
use crate::import::pipeline::{CsvBody, FileFacts, Pipeline, ReadEnd, Start};
use crate::import::ports::{
    BatchSink, ByteRange, Continuations, JobStore, Object, ObjectSource, ReportSink, SourceError,
};
use crate::import::report::{FileError, FileErrorCode, FileStatus, FileSummary};
use crate::import::tally::{ReportLimit, RowPos, Tally};
use crate::import::writer::{InFlight, RetryPolicy};
use crate::provenance::Provenance;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// An invocation's final writes under way: since when (the writers' end), the margin it had, and how long a
/// job-record write took at the start (the final writes end with one, and the continuation's request).
#[derive(Debug, Clone, Copy)]
pub(super) struct Stopping {
    pub since: tokio::time::Instant,
    pub margin: Duration,
    pub save_took: Duration,
    /// When a checkpoint must be saved by, to leave the continuation's request its time before the answer.
    pub save_by: tokio::time::Instant,
}

impl Stopping {
    /// The final writes' length, as measured up to the job record's write, and that write and the continuation's
    /// request as long as a write at the start took (and half as long again).
    pub fn took(&self) -> Duration {
        self.since.elapsed() + self.save_took + self.save_took / 2
    }
}

/// How an invocation's reading ended, for the job.
pub(super) enum Ending {
    /// Final, with this status and error.
    Final(FileStatus, Option<FileError>),
    /// At a checkpoint; a continuation goes on.
    Checkpoint,
}

impl<O, R, J, C, W> ImportService<O, R, J, C, W>
where
    O: ObjectSource,
    R: ReportSink,
    J: JobStore,
    C: Continuations,
    W: BatchSink,
{
    /// With the lease held: takes the key's turn (after an older import still writing it has stopped), then works.
    pub(super) async fn carry_on(
        &self,
        mut job: Job,
        request_id: &str,
        stop: StopAt,
        now: OffsetDateTime,
        standing: &Arc<Standing>,
    ) -> Result<Outcome, ImportError> {
        if job.fenced_by.is_some() {
            return self.finish(job, FileStatus::Superseded, None, None, None).await;
        }
        job.ids = match self.enter_key(&job, stop, standing).await? {
            KeyTurn::Writing(basis) => basis,
            KeyTurn::Superseded => return self.finish(job, FileStatus::Superseded, None, None, None).await,
            KeyTurn::TimeUp => return self.continue_later(job, None, None).await,
            KeyTurn::Lost(Hold::Fenced) => return self.finish(job, FileStatus::Superseded, None, None, None).await,
            KeyTurn::Lost(_) => return Err(self.lost(&job)),
        };
        let dataset = match dataset::for_key(&job.summary.key, &self.config) {
            Ok(dataset) => dataset,
            Err(message) => {
                let error = FileError::new(FileErrorCode::UnknownDataset, message);
                return self.finish(job, FileStatus::Rejected, Some(error), None, None).await;
            }
        };
        job.summary.dataset = Some(dataset.name());
        tracing::Span::current().record("dataset", dataset.name().as_str());
        let saving = tokio::time::Instant::now();
        if !self.save(&job).await? {
            return Ok(Outcome::skipped(&job, "another invocation took over this import"));
        }
        let save_took = saving.elapsed();
        // Early enough for this invocation's own final writes against the backend as it answers now: the
        // checkpoint (a job-record write) and the continuation, about one and a half job-record writes.
        let stop = stop.adapted(save_took * 3 / 2);
        self.work(job, dataset.as_ref(), request_id, stop, now, standing, save_took)
            .await
    }

    /// Reads the file from its checkpoint (or its start) until the stop time, then continues or ends the job.
    /// `save_took`: how long a job-record write took at the start of this invocation.
    #[allow(clippy::too_many_arguments)]
    async fn work(
        &self,
        mut job: Job,
        dataset: &dyn Dataset,
        request_id: &str,
        stop: StopAt,
        now: OffsetDateTime,
        standing: &Arc<Standing>,
        save_took: Duration,
    ) -> Result<Outcome, ImportError> {
        let checkpoint = job.summary.resume_from;
        let object = job.object();
        let opened = tokio::time::timeout_at(stop.at, self.open(&job.summary, &object, dataset)).await;
        let (opened, start) = match opened {
            Err(_) => {
                let error = FileError::new(
                    FileErrorCode::NoProgress,
                    "the invocation reached its stop time before the object was open for reading",
                );
                return self.finish(job, FileStatus::Failed, Some(error), None, None).await;
            }
            Ok(Err(error)) => {
                let status = match error.code {
                    FileErrorCode::ObjectTooLarge | FileErrorCode::InvalidHeader => FileStatus::Rejected,
                    _ => FileStatus::Failed,
                };
                return self.finish(job, status, Some(error), None, None).await;
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
        let done_before = job.summary.rows.imported + job.summary.rows.rejected;
        let _ = standing.live.set((Arc::clone(&tally), done_before));
        let facts = FileFacts {
            provenance: Provenance {
                bucket: object.bucket.clone(),
                key: object.key.clone(),
                version_id: job.summary.version_id.clone(),
                etag: job.summary.etag.clone(),
                line: 0,
                import_id: job.summary.import_id.clone(),
            },
            id_secret: job.ids.secret,
            request_id: request_id.to_owned(),
            uploader: job.uploader.clone(),
            now,
            object_time: OffsetDateTime::from_unix_timestamp_nanos(i128::from(job.ids.time_ms) * 1_000_000)
                .unwrap_or(now),
        };
        let in_flight = Arc::new(InFlight::default());
        let pipeline = Pipeline {
            sink: Arc::clone(&self.backends.rows),
            permit: self.permit(&job, standing),
            stopped: standing.stopped.clone(),
            concurrency: self.config.concurrency,
            retry: RetryPolicy::new(self.config.max_write_attempts),
            grace: stop.grace(),
            in_flight: Arc::clone(&in_flight),
            max_record_bytes: self.config.max_record_bytes,
        };
        let run = pipeline.run(opened.body, dataset, &facts, start, stop.at, &tally).await;
        // The writers have ended: what is measured from here is the final writes (the grace they had is the
        // margin's, and grows with it).
        let stopping = Stopping {
            since: tokio::time::Instant::now(),
            margin: stop.margin,
            save_took,
            save_by: stop.answer_by() - (stop.margin / 10).min(Duration::from_millis(200)),
        };
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
        let rejected = Some((finished.report, finished.listed));
        match standing.lost() {
            Some(Hold::Fenced) => return self.finish(job, FileStatus::Superseded, None, rejected, None).await,
            // Whoever holds the job now goes on from its last saved checkpoint.
            Some(_) => return Err(self.lost(&job)),
            None => {}
        }
        let everything_read = run.end == ReadEnd::Eof && finished.counts.not_reached == 0;
        match ending(run.end, everything_read, progressed, self.config.max_record_bytes) {
            Ending::Checkpoint => self.continue_later(job, rejected, Some(stopping)).await,
            Ending::Final(status, error) => self.finish(job, status, error, rejected, Some(stopping)).await,
        }
    }

    fn lost(&self, job: &Job) -> ImportError {
        tracing::warn!("the lease was lost; stopping without a checkpoint");
        ImportError::LeaseLost {
            import_id: job.summary.import_id.clone(),
        }
    }

    /// Opens the object at the job's checkpoint: the whole file the first time; later the header (again: it is
    /// not kept, being file content) and the rest from the checkpoint, pinned to the same version.
    async fn open(
        &self,
        summary: &FileSummary,
        object: &ObjectRef,
        dataset: &dyn Dataset,
    ) -> Result<(Object, Start), FileError> {
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
                .open(object, ByteRange::ALL)
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
                object,
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
        let opened = self.backends.objects.open(object, rest).await.map_err(source_error)?;
        Ok((opened, Start::At { row, header }))
    }
}

/// What the end of an invocation's reading means: final (and how), or a checkpoint to go on from.
fn ending(end: ReadEnd, everything_read: bool, progressed: bool, max_record_bytes: u64) -> Ending {
    match end {
        _ if everything_read => Ending::Final(FileStatus::Completed, None),
        ReadEnd::HeaderRejected(message) => Ending::Final(
            FileStatus::Rejected,
            Some(FileError::new(FileErrorCode::InvalidHeader, message)),
        ),
        ReadEnd::RecordTooLong { at } => Ending::Final(
            FileStatus::Failed,
            Some(FileError::new(
                FileErrorCode::RecordTooLong,
                format!(
                    "the record on line {} is longer than {max_record_bytes} bytes (an unclosed quote?); the rows \
                     before it are imported or reported, none after it is read",
                    at.line
                ),
            )),
        ),
        _ if progressed => Ending::Checkpoint,
        ReadEnd::ReadFailed { message } => Ending::Final(
            FileStatus::Failed,
            Some(FileError::new(FileErrorCode::ReadFailed, message)),
        ),
        _ => Ending::Final(
            FileStatus::Failed,
            Some(FileError::new(
                FileErrorCode::NoProgress,
                "an invocation ended without finishing a single row; going on would only repeat it",
            )),
        ),
    }
}
