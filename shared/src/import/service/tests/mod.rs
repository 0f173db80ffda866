//! The import's decisions with in-memory adapters: which status each outcome gets, what is written where, how an
//! import goes on across invocations, and how duplicates, crashes and older versions are handled.

use super::*;
use crate::import::deadline::{DeadlineSource, StopAt};
use crate::import::event::ObjectRef;
use crate::import::ids;
use crate::import::job::{Claim, Hold, Lease};
use crate::import::ports::memory::{MemoryBucket, MemoryContinuations, MemoryJobStore, MemoryTables};
use crate::import::ports::Claimed;
use crate::import::ports::{ByteRange, SourceError};
use crate::import::ports::{Item, Object, SinkError};
use crate::import::report::{FileErrorCode, FileStatus};
use crate::import::upload::ObjectFacts;
use aws_lambda_events::event::s3::S3Event;
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

const EVENT: &str = include_str!("../../../../../events/s3-put-observations.json");
const BUCKET: &str = "local-123456789012-us-east-1-edc-imports";
const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at";
const KEY: &str = "imports/observations/ST-1/S01/visit.csv";

type Service<O, W> = ImportService<O, MemoryBucket, MemoryJobStore, MemoryContinuations, W>;

fn service_with<O: ObjectSource, W: BatchSink>(objects: O, rows: W, config: ImportConfig) -> Service<O, W> {
    ImportService::new(
        Backends {
            objects,
            reports: MemoryBucket::default(),
            jobs: Arc::new(MemoryJobStore::default()),
            continuations: MemoryContinuations::default(),
            rows: Arc::new(rows),
        },
        config,
    )
}

fn service<O: ObjectSource, W: BatchSink>(objects: O, rows: W) -> Service<O, W> {
    service_with(objects, rows, ImportConfig::for_tests())
}

/// A bucket holding `body` under `key`, and a service reading from it into memory tables.
fn importing(key: &str, body: &str) -> Service<MemoryBucket, MemoryTables> {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, key, body);
    service(objects, MemoryTables::default())
}

/// An S3 event with one record per `(key, event name)`, each for version `v1` with the fixture's sequencer.
fn event(keys: &[(&str, &str)]) -> ImportEvent {
    versioned(
        &keys
            .iter()
            .map(|(k, n)| (*k, *n, "v1", "0A1B2C3D4E5F678901"))
            .collect::<Vec<_>>(),
    )
}

fn versioned(records: &[(&str, &str, &str, &str)]) -> ImportEvent {
    let mut value: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    let template = value["Records"][0].clone();
    value["Records"] = records
        .iter()
        .map(|(key, name, version, sequencer)| {
            let mut record = template.clone();
            record["s3"]["object"]["key"] = (*key).into();
            record["s3"]["object"]["versionId"] = (*version).into();
            record["s3"]["object"]["sequencer"] = (*sequencer).into();
            record["eventName"] = (*name).into();
            record
        })
        .collect();
    ImportEvent::S3(serde_json::from_value::<S3Event>(value).unwrap())
}

fn within(budget: Duration) -> StopAt {
    StopAt {
        at: Instant::now() + budget,
        source: DeadlineSource::Invocation,
        margin: Duration::from_secs(1),
        ends: SystemTime::now() + budget + Duration::from_secs(1),
        budget: budget + Duration::from_secs(1),
    }
}

/// Runs the event, then every continuation it asks for, each as a new invocation with `budget`, until none is
/// left; returns every invocation's answer.
async fn run_to_end<O: ObjectSource, W: BatchSink>(
    service: &Service<O, W>,
    event: ImportEvent,
    budget: Duration,
) -> Vec<ImportResponse> {
    let mut answers = vec![service.handle(&event, "invocation-1", within(budget)).await.unwrap()];
    for n in 2..1_000 {
        let Some(next) = service.backends().continuations.take().pop() else {
            return answers;
        };
        let next = ImportEvent::Continue(next);
        answers.push(
            service
                .handle(&next, &format!("invocation-{n}"), within(budget))
                .await
                .unwrap(),
        );
    }
    panic!("the import never ended")
}

async fn import_one<O: ObjectSource, W: BatchSink>(
    service: &Service<O, W>,
    key: &str,
    budget: Duration,
) -> FileSummary {
    let answers = run_to_end(service, event(&[(key, "ObjectCreated:Put")]), budget).await;
    let mut last = answers.into_iter().last().unwrap();
    assert_eq!(last.files.len(), 1, "{last:?}");
    last.files.remove(0)
}

/// The event of an upload of [`KEY`].
fn upload_of_key() -> ImportEvent {
    event(&[(KEY, "ObjectCreated:Put")])
}

/// The object version that [`event`] names for [`KEY`].
fn object_of_event() -> ObjectRef {
    let config = ImportConfig::for_tests();
    let [Planned::Import(object, _)] = &event::plan(&upload_of_key(), &config.bucket)[..] else {
        panic!("one object to import")
    };
    object.clone()
}

/// A new job for `object` whose lease `owner` holds for `lease` from now.
fn held_job(object: &ObjectRef, owner: &str, lease: Duration) -> Job {
    let mut job = Job::start(ids::job_id(object).unwrap(), object, OffsetDateTime::now_utc()).unwrap();
    job.lease = Lease {
        owner: owner.into(),
        until_ms: epoch_ms(SystemTime::now() + lease),
    };
    job
}

fn rows(n: usize) -> String {
    let mut csv = format!("{HEADER}\n");
    for i in 0..n {
        csv.push_str(&format!(
            "ST-1,S01,SUBJ-{i:04},V1,VITALS,SYSBP,120,mmHg,2026-03-01T09:30:00Z\n"
        ));
    }
    csv
}

/// The reports as written, and the statuses the job record went through (repeats folded).
fn written<O, W>(service: &Service<O, W>, summary: &FileSummary) -> (String, serde_json::Value, Vec<FileStatus>)
where
    O: ObjectSource,
    W: BatchSink,
{
    let reports = &service.backends().reports;
    let rejected = reports
        .get(BUCKET, &summary.reports.rejected_rows)
        .expect("rejected-rows report");
    let summary_json = reports.get(BUCKET, &summary.reports.summary).expect("summary report");
    assert_eq!(
        reports.content_type(BUCKET, &summary.reports.rejected_rows).as_deref(),
        Some("text/csv; charset=utf-8")
    );
    let history = service.backends().jobs.history(&summary.import_id);
    assert_eq!(history.last(), Some(summary), "the last job record is the summary");
    let mut statuses: Vec<FileStatus> = history.iter().map(|job| job.status).collect();
    statuses.dedup();
    (
        String::from_utf8(rejected).unwrap(),
        serde_json::from_slice(&summary_json).unwrap(),
        statuses,
    )
}

#[tokio::test]
async fn a_valid_file_is_completed_with_both_reports_and_a_running_then_final_job_record() {
    let service = importing(KEY, &rows(60));
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;

    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!((summary.rows.total, summary.rows.imported), (60, 60));
    assert_eq!(
        (summary.error.clone(), summary.resume_from, summary.invocations),
        (None, None, 1)
    );
    assert_eq!(summary.dataset.as_deref(), Some("observations"));
    assert_eq!(service.backends().rows.items("observations").len(), 60);
    let (rejected, summary_json, statuses) = written(&service, &summary);
    assert_eq!(rejected, "line,column,code,message\n");
    assert_eq!(summary_json, serde_json::to_value(&summary).unwrap());
    assert_eq!(statuses, [FileStatus::Running, FileStatus::Completed]);
    assert_eq!(
        service.backends().reports.keys(BUCKET, "reports/"),
        [
            format!("reports/observations/ST-1/S01/visit/{}.rejected.csv", summary.import_id),
            format!("reports/observations/ST-1/S01/visit/{}.summary.json", summary.import_id),
        ]
    );
}

/// A source that must not be read.
struct NeverOpened;

impl ObjectSource for NeverOpened {
    async fn open(&self, _: &ObjectRef, _: ByteRange) -> Result<Object, SourceError> {
        panic!("the object was opened")
    }

    async fn facts(&self, _: &ObjectRef) -> Result<ObjectFacts, SourceError> {
        panic!("the object was asked about")
    }
}

#[tokio::test]
async fn an_unknown_dataset_is_rejected_without_reading_the_object() {
    let service = service(NeverOpened, MemoryTables::default());
    for key in ["imports/labs/x.csv", "imports/observations/no-site.csv"] {
        let summary = import_one(&service, key, Duration::from_secs(60)).await;
        assert_eq!(summary.status, FileStatus::Rejected);
        assert_eq!(
            summary.error.as_ref().map(|e| e.code),
            Some(FileErrorCode::UnknownDataset)
        );
        let (_, _, statuses) = written(&service, &summary);
        assert_eq!(statuses, [FileStatus::Running, FileStatus::Rejected]);
    }
}

#[tokio::test]
async fn a_bad_header_rejects_the_file_and_writes_no_row() {
    let service = importing(KEY, &rows(5).replacen(",unit,collected_at", ",unit", 1));
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Rejected);
    assert_eq!(
        summary.error.as_ref().map(|e| e.code),
        Some(FileErrorCode::InvalidHeader)
    );
    assert_eq!(summary.rows.total, 0);
    assert!(service.backends().rows.items("observations").is_empty());
    let (_, _, statuses) = written(&service, &summary);
    assert_eq!(statuses, [FileStatus::Running, FileStatus::Rejected]);
}

#[tokio::test]
async fn a_missing_object_fails_with_object_not_found() {
    let service = service(MemoryBucket::default(), MemoryTables::default());
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(
        summary.error.as_ref().map(|e| e.code),
        Some(FileErrorCode::ObjectNotFound)
    );
}

#[tokio::test]
async fn an_object_above_the_size_limit_is_rejected_unread() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(100));
    let mut config = ImportConfig::for_tests();
    config.max_object_bytes = 1024;
    let service = service_with(objects, MemoryTables::default(), config);
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Rejected);
    assert_eq!(
        summary.error.as_ref().map(|e| e.code),
        Some(FileErrorCode::ObjectTooLarge)
    );
    assert_eq!(summary.rows.total, 0);
}

/// Stores every batch after a second, as a slow table would.
#[derive(Default)]
struct Slow(MemoryTables);

impl BatchSink for Slow {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.0.write_batch(table, items).await
    }
}

/// [`Slow`], telling each batch as it lands.
#[derive(Default)]
struct Watched {
    slow: Slow,
    landed: tokio::sync::Notify,
}

impl BatchSink for Watched {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        let left = self.slow.write_batch(table, items).await;
        self.landed.notify_waiters();
        left
    }
}

fn unique_subjects(items: &[Item]) -> HashSet<String> {
    items.iter().map(|i| i["subjectId"].as_s().unwrap().clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_file_longer_than_an_invocation_goes_on_from_its_checkpoint_until_done_counting_each_row_once() {
    let objects = MemoryBucket::default();
    let mut csv = rows(2_000);
    csv.push_str("ST-1,S01,SUBJ-X,V1,VITALS,SYSBP,120,mmHg,yesterday\n");
    objects.insert(BUCKET, KEY, csv);
    let service = service(objects, Slow::default());
    let answers = run_to_end(&service, upload_of_key(), Duration::from_secs(5)).await;
    assert!(answers.len() >= 3, "{} invocations", answers.len());
    for answer in &answers[..answers.len() - 1] {
        let file = &answer.files[0];
        assert_eq!(file.status, FileStatus::Incomplete);
        assert!(file.resume_from.is_some() && file.write_tasks_alive_after == 0);
    }
    let summary = answers.last().unwrap().files[0].clone();
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!(summary.invocations as usize, answers.len());
    assert_eq!(
        (
            summary.rows.total,
            summary.rows.imported,
            summary.rows.rejected,
            summary.rows.not_reached
        ),
        (2_001, 2_000, 1, 0)
    );
    let stored = service.backends().rows.0.items("observations");
    assert_eq!(unique_subjects(&stored).len(), 2_000, "every valid row, each key once");
    let (rejected, _, _) = written(&service, &summary);
    assert_eq!(rejected.lines().count(), 2, "one report for the whole file: {rejected}");
    assert!(rejected.contains("\n2002,collected_at,invalid_format,"), "{rejected}");
    assert!(
        service.backends().reports.keys(BUCKET, "reports/").len() == 2,
        "the parts are gone"
    );
}

#[tokio::test(start_paused = true)]
async fn rejected_rows_of_every_invocation_end_up_in_one_report_in_file_order() {
    let objects = MemoryBucket::default();
    let mut csv = format!("{HEADER}\n");
    for i in 0..1_500 {
        let when = if i % 100 == 0 {
            "yesterday"
        } else {
            "2026-03-01T09:30:00Z"
        };
        csv.push_str(&format!("ST-1,S01,SUBJ-{i:04},V1,VITALS,SYSBP,120,mmHg,{when}\n"));
    }
    objects.insert(BUCKET, KEY, csv);
    let service = service(objects, Slow::default());
    let answers = run_to_end(&service, upload_of_key(), Duration::from_secs(5)).await;
    assert!(answers.len() >= 3);
    let summary = answers.last().unwrap().files[0].clone();
    assert_eq!((summary.rows.imported, summary.rows.rejected), (1_485, 15));
    let (rejected, _, _) = written(&service, &summary);
    let lines: Vec<u64> = rejected
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<u64> = (0..15).map(|k| k * 100 + 2).collect();
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn the_report_lists_rejected_rows_up_to_the_limit_and_counts_the_rest() {
    let objects = MemoryBucket::default();
    let mut csv = format!("{HEADER}\n");
    for i in 0..50 {
        csv.push_str(&format!("ST-1,S01,SUBJ-{i},V1,VITALS,SYSBP,120,mmHg,never\n"));
    }
    objects.insert(BUCKET, KEY, csv);
    let mut config = ImportConfig::for_tests();
    config.max_rejected_rows_listed = 10;
    let service = service_with(objects, MemoryTables::default(), config);
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!(
        (
            summary.rows.rejected,
            summary.rejected_listed,
            summary.rejected_not_listed
        ),
        (50, 10, 40)
    );
    let (rejected, _, _) = written(&service, &summary);
    assert_eq!(rejected.lines().count(), 11);
}

#[tokio::test]
async fn a_record_longer_than_the_limit_ends_the_import_there_with_the_rows_before_it_imported() {
    let mut csv = rows(3);
    // An unclosed quote: the rest of the file is one field.
    csv.push_str(&format!(
        "ST-1,S01,SUBJ-Q,V1,VITALS,SYSBP,\"{},mmHg,2026-03-01T09:30:00Z\n",
        "x".repeat(100_000)
    ));
    csv.push_str(&rows(3)[HEADER.len() + 1..]);
    let service = importing(KEY, &csv);
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(
        summary.error.as_ref().map(|e| e.code),
        Some(FileErrorCode::RecordTooLong)
    );
    assert!(
        summary.error.as_ref().unwrap().message.contains("line 5"),
        "{:?}",
        summary.error
    );
    assert_eq!(summary.rows.imported, 3);
    assert_eq!(summary.resume_from.map(|r| r.line), Some(5));
}

#[tokio::test]
async fn a_body_that_keeps_breaking_off_ends_failed_without_looping() {
    let csv = rows(200);
    let objects = MemoryBucket::default();
    objects.insert_breaking(BUCKET, KEY, csv.as_bytes(), csv.len() / 2);
    let service = service(objects, MemoryTables::default());
    let answers = run_to_end(&service, upload_of_key(), Duration::from_secs(60)).await;
    let summary = answers.last().unwrap().files[0].clone();
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(summary.error.as_ref().map(|e| e.code), Some(FileErrorCode::ReadFailed));
    assert!(answers.len() <= 3, "{} invocations", answers.len());
    let resume = summary.resume_from.expect("where the rows end");
    assert!(
        resume.line > 2 && resume.byte_offset as usize <= csv.len() / 2,
        "{resume:?}"
    );
    assert_eq!(summary.rows.imported, resume.line - 2);
}

/// A source that never answers, as a hung connection.
struct Stuck;

impl ObjectSource for Stuck {
    async fn open(&self, _: &ObjectRef, _: ByteRange) -> Result<Object, SourceError> {
        std::future::pending().await
    }

    async fn facts(&self, _: &ObjectRef) -> Result<ObjectFacts, SourceError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn an_object_that_does_not_open_before_the_stop_time_fails_rather_than_loop() {
    let service = service(Stuck, MemoryTables::default());
    let summary = import_one(&service, KEY, Duration::from_secs(5)).await;
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(summary.error.as_ref().map(|e| e.code), Some(FileErrorCode::NoProgress));
}

/// A sink whose every write panics: stands for a bug in a write task.
struct Panicking;

impl BatchSink for Panicking {
    async fn write_batch(&self, _: &str, _: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        panic!("a bug in the sink")
    }
}

#[tokio::test]
async fn rows_no_write_task_can_finish_end_the_import_without_progress() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(30));
    let service = service(objects, Panicking);
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(summary.error.as_ref().map(|e| e.code), Some(FileErrorCode::NoProgress));
    assert_eq!(summary.rows.not_reached, 30);
    assert_eq!(summary.resume_from.map(|r| r.line), Some(2));
    assert_eq!(summary.write_tasks_alive_after, 0);
}

#[tokio::test]
async fn rejected_rows_are_reported_and_the_file_still_completes() {
    let csv = format!("{}ST-1,S01,SUBJ-X,V1,VITALS,SYSBP,120,mmHg,yesterday\n", rows(3));
    let service = importing(KEY, &csv);
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!((summary.rows.imported, summary.rows.rejected), (3, 1));
    let (rejected, _, _) = written(&service, &summary);
    assert!(rejected.contains("\n5,collected_at,invalid_format,"), "{rejected}");
}

#[tokio::test]
async fn a_report_that_cannot_be_written_fails_the_invocation_so_lambda_retries_it() {
    let service = importing(KEY, &rows(3));
    service.backends().reports.refuse_puts(true);
    let error = service
        .handle(&upload_of_key(), "request", within(Duration::from_secs(60)))
        .await
        .expect_err("the outcome could not be recorded");
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "ImportReportFailed");
    assert!(
        diagnostic.error_message.contains("PutObject refused"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn records_for_other_events_and_prefixes_are_skipped_and_files_imported_in_turn() {
    let (first, second) = (
        "imports/observations/ST-1/S01/a.csv",
        "imports/observations/ST-1/S01/b.csv",
    );
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, first, rows(2));
    objects.insert(BUCKET, second, rows(4));
    let service = service(objects, MemoryTables::default());
    let records = [
        (first, "ObjectCreated:Put"),
        ("reports/observations/a/x.summary.json", "ObjectCreated:Put"),
        (second, "ObjectCreated:CompleteMultipartUpload"),
        (first, "ObjectRemoved:Delete"),
    ];
    let response = service
        .handle(&event(&records), "request", within(Duration::from_secs(60)))
        .await
        .unwrap();
    let imported: Vec<(&str, u64)> = response
        .files
        .iter()
        .map(|f| (f.key.as_str(), f.rows.imported))
        .collect();
    assert_eq!(imported, [(first, 2), (second, 4)]);
    let skipped: Vec<&str> = response.skipped.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(skipped, ["reports/observations/a/x.summary.json", first]);
}

#[tokio::test]
async fn an_event_naming_another_bucket_is_refused_and_nothing_is_read_or_written() {
    let objects = MemoryBucket::default();
    objects.insert("another-bucket", KEY, rows(5));
    let service = service_with(
        objects,
        MemoryTables::default(),
        ImportConfig {
            bucket: "another-bucket".into(),
            ..ImportConfig::for_tests()
        },
    );
    let response = service
        .handle(&upload_of_key(), "request", within(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(response.files.is_empty(), "{response:?}");
    assert_eq!(response.skipped.len(), 1, "{response:?}");
    assert_eq!(response.skipped[0].key, KEY);
    assert!(response.skipped[0].reason.contains("IMPORT_BUCKET"), "{response:?}");
    assert!(service.backends().rows.items("observations").is_empty());
    assert!(service.backends().reports.keys(BUCKET, "").is_empty());
    assert!(service.backends().reports.keys("another-bucket", "").is_empty());
    assert!(service.backends().continuations.take().is_empty());
}

#[tokio::test]
async fn an_event_delivered_again_after_the_import_ended_is_acknowledged_as_a_duplicate() {
    let service = importing(KEY, &rows(10));
    let summary = import_one(&service, KEY, Duration::from_secs(60)).await;
    let writes = service.backends().jobs.history(&summary.import_id).len();
    let again = service
        .handle(&upload_of_key(), "redelivery", within(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(again.files.is_empty());
    assert_eq!(again.skipped[0].import_id.as_deref(), Some(summary.import_id.as_str()));
    assert!(again.skipped[0].reason.starts_with("duplicate"), "{:?}", again.skipped);
    assert_eq!(
        service.backends().jobs.history(&summary.import_id).len(),
        writes,
        "nothing written again"
    );
    assert_eq!(service.backends().rows.items("observations").len(), 10);
}

#[tokio::test]
async fn an_event_delivered_again_while_another_invocation_holds_the_job_is_skipped() {
    let service = importing(KEY, &rows(10));
    let busy = held_job(&object_of_event(), "the other invocation", Duration::from_secs(600));
    let lease = busy.lease.clone();
    let claim = Claim::Event(Box::new(busy));
    let Ok(Claimed::Ours(_)) = service
        .backends()
        .jobs
        .claim(&claim, &lease, epoch_ms(SystemTime::now()))
        .await
    else {
        panic!("the other invocation holds the lease")
    };
    let answer = service
        .handle(&upload_of_key(), "duplicate", within(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(answer.files.is_empty());
    assert!(
        answer.skipped[0].reason.contains("another invocation"),
        "{:?}",
        answer.skipped
    );
    assert!(service.backends().rows.items("observations").is_empty());
}

/// A service importing 1,000 rows that write slowly, and the answer of its first invocation: stopped at its
/// checkpoint, with one continuation asked for.
async fn stopped_at_a_checkpoint() -> (Service<MemoryBucket, Slow>, ImportResponse) {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(1_000));
    let service = service(objects, Slow::default());
    let first = service
        .handle(&upload_of_key(), "first", within(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(first.files[0].status, FileStatus::Incomplete);
    (service, first)
}

#[tokio::test(start_paused = true)]
async fn a_continuation_that_never_arrives_is_made_up_for_by_the_retried_event_from_the_checkpoint() {
    // The first invocation stops at its checkpoint; its continuation is lost (say the invocation failed after it).
    let (service, first) = stopped_at_a_checkpoint().await;
    let checkpoint = first.files[0].resume_from.unwrap();
    assert!(service.backends().continuations.take().len() == 1);
    // Lambda retries the event: the job is taken on where it stopped, not started again.
    let answers = run_to_end(&service, upload_of_key(), Duration::from_secs(5)).await;
    let summary = answers.last().unwrap().files[0].clone();
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!((summary.rows.total, summary.rows.imported), (1_000, 1_000));
    assert_eq!(summary.invocations as usize, 1 + answers.len());
    let second_start = service.backends().jobs.history(&summary.import_id);
    assert!(second_start.iter().any(|job| job.resume_from == Some(checkpoint)));
    assert_eq!(
        unique_subjects(&service.backends().rows.0.items("observations")).len(),
        1_000
    );
}

#[tokio::test(start_paused = true)]
async fn an_invocation_that_dies_holding_the_job_keeps_it_until_its_lease_runs_out_then_a_retry_takes_over() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(1_000));
    let service = service(objects, Slow::default());
    let upload = upload_of_key();
    // The first invocation dies half-way through its work: no checkpoint, no release, no continuation.
    let dies = service.handle(&upload, "dies", within(Duration::from_secs(60)));
    assert!(tokio::time::timeout(Duration::from_secs(20), dies).await.is_err());
    assert!(service.backends().continuations.take().is_empty());
    let written_by_the_dead = unique_subjects(&service.backends().rows.0.items("observations")).len();
    assert!(written_by_the_dead > 0);

    // Its lease still holds: a retry now is a duplicate and does nothing.
    let early = service
        .handle(&upload, "early retry", within(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(early.files.is_empty());
    assert!(early.skipped[0].reason.contains("another invocation"), "{early:?}");

    // Once the lease has run out (nobody renews it), the retry takes the job over and finishes it.
    service.backends().jobs.expire_leases();
    let answers = run_to_end(&service, upload, Duration::from_secs(600)).await;
    let summary = answers.last().unwrap().files[0].clone();
    assert_eq!(summary.status, FileStatus::Completed, "{summary:?}");
    assert_eq!((summary.rows.total, summary.rows.imported), (1_000, 1_000));
    assert_eq!(
        unique_subjects(&service.backends().rows.0.items("observations")).len(),
        1_000
    );
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_renewed_while_the_work_runs_and_no_more_once_it_is_lost() {
    let service = importing(KEY, &rows(1));
    let object = object_of_event();
    let import_id = &ids::job_id(&object).unwrap();
    let lease = ImportConfig::for_tests().lease;
    let claim = |owner: &str| {
        let job = held_job(&object, owner, lease);
        (job.lease.clone(), Claim::Event(Box::new(job)))
    };
    let jobs = &service.backends().jobs;
    let (mine, new) = claim("me");
    let Ok(Claimed::Ours(_)) = jobs.claim(&new, &mine, epoch_ms(SystemTime::now())).await else {
        panic!("a new job is ours")
    };

    // Ten lease periods of work: renewed every third of a period, by its holder.
    let standing = claim::Standing::default();
    let answer = service
        .holding_lease(import_id, "me", &standing, async {
            tokio::time::sleep(lease * 10).await;
            42
        })
        .await;
    assert_eq!(answer, 42, "the work's own result");
    assert_eq!(jobs.renewals(import_id), 29);
    assert_eq!(jobs.job(import_id).unwrap().lease.owner, "me");
    assert_eq!(standing.lost(), None);

    // Taken over by another invocation: one renewal finds out, stops the work at once, and there is none after it.
    jobs.expire_leases();
    let (theirs, new) = claim("other");
    let Ok(Claimed::Ours(_)) = jobs.claim(&new, &theirs, epoch_ms(SystemTime::now())).await else {
        panic!("an expired lease can be taken")
    };
    let started = Instant::now();
    service
        .holding_lease(import_id, "me", &standing, async {
            tokio::select! {
                _ = tokio::time::sleep(lease * 10) => {}
                _ = standing.stopped.cancelled() => {}
            }
        })
        .await;
    assert_eq!(jobs.renewals(import_id), 30);
    assert_eq!(standing.lost(), Some(Hold::Lost));
    assert!(started.elapsed() < lease, "stopped at the first refused renewal");
    assert_eq!(jobs.job(import_id).unwrap().lease.owner, "other");
}

#[tokio::test]
async fn an_older_version_arriving_after_a_newer_one_is_superseded_and_writes_nothing() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(5));
    let service = service(objects, MemoryTables::default());
    let newer = versioned(&[(KEY, "ObjectCreated:Put", "v2", "0A1B2C3D4E5F678999")]);
    let done = run_to_end(&service, newer, Duration::from_secs(60)).await;
    assert_eq!(done[0].files[0].status, FileStatus::Completed);
    let written_before = service.backends().rows.items("observations").len();

    let older = versioned(&[(KEY, "ObjectCreated:Put", "v1", "0A1B2C3D4E5F678901")]);
    let late = service
        .handle(&older, "late retry", within(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(late.files[0].status, FileStatus::Superseded, "{late:?}");
    assert_eq!(late.files[0].rows.total, 0, "nothing read");
    assert_eq!(
        service.backends().rows.items("observations").len(),
        written_before,
        "nothing overwritten"
    );
    let job = service.backends().jobs.job(&late.files[0].import_id).unwrap();
    assert_eq!(job.summary.status, FileStatus::Superseded);
}

mod continuations;
mod stopping;
mod uploads;
mod versions;
