//! The import's decisions with in-memory adapters: which status each outcome gets, and what is written where.

use super::*;
use crate::import::deadline::StopAt;
use crate::import::ports::memory::{MemoryBucket, MemoryJobStore, MemoryTables};
use crate::import::ports::{Item, Object, SinkError};
use std::time::Duration;
use tokio::time::Instant;

const EVENT: &str = include_str!("../../../../events/s3-put-observations.json");
const BUCKET: &str = "local-123456789012-us-east-1-edc-imports";
const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at";

fn config() -> ImportConfig {
    ImportConfig {
        observations_table: "observations".into(),
        submissions_table: "submissions".into(),
        import_jobs_table: "jobs".into(),
        concurrency: 2,
        safety_margin: Duration::from_secs(1),
        fallback_budget: Duration::from_secs(60),
        max_write_attempts: 2,
    }
}

type Service<O, W> = ImportService<O, MemoryBucket, MemoryJobStore, W>;

fn service<O: ObjectSource, W: BatchSink>(objects: O, rows: W) -> Service<O, W> {
    ImportService::new(
        Backends {
            objects,
            reports: MemoryBucket::default(),
            jobs: MemoryJobStore::default(),
            rows: Arc::new(rows),
        },
        config(),
    )
}

/// A bucket holding `body` under `key`, and a service reading from it into memory tables.
fn importing(key: &str, body: &str) -> Service<MemoryBucket, MemoryTables> {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, key, body);
    service(objects, MemoryTables::default())
}

fn event(keys: &[(&str, &str)]) -> S3Event {
    let mut value: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    let template = value["Records"][0].clone();
    value["Records"] = keys
        .iter()
        .map(|(key, name)| {
            let mut record = template.clone();
            record["s3"]["object"]["key"] = (*key).into();
            record["eventName"] = (*name).into();
            record
        })
        .collect();
    serde_json::from_value(value).unwrap()
}

fn within(budget: Duration) -> StopAt {
    StopAt {
        at: Instant::now() + budget,
        source: DeadlineSource::Invocation,
    }
}

async fn import_one<O: ObjectSource, W: BatchSink>(service: &Service<O, W>, key: &str, stop: StopAt) -> FileSummary {
    let mut response = service
        .handle(&event(&[(key, "ObjectCreated:Put")]), "request", stop)
        .await
        .expect("the outcome is recorded");
    assert_eq!(response.files.len(), 1, "{response:?}");
    response.files.remove(0)
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

/// The reports as written, and the job records in the order they were written.
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
    (
        String::from_utf8(rejected).unwrap(),
        serde_json::from_slice(&summary_json).unwrap(),
        history.iter().map(|job| job.status).collect(),
    )
}

#[tokio::test]
async fn a_valid_file_is_completed_with_both_reports_and_a_running_then_final_job_record() {
    let key = "imports/observations/site-01/visit.csv";
    let service = importing(key, &rows(60));
    let summary = import_one(&service, key, within(Duration::from_secs(60))).await;

    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!((summary.rows.total, summary.rows.imported), (60, 60));
    assert_eq!(summary.error, None);
    assert_eq!(summary.resume_from, None);
    assert_eq!(summary.dataset.as_deref(), Some("observations"));
    assert_eq!(service.backends().rows.items("observations").len(), 60);
    let (rejected, summary_json, statuses) = written(&service, &summary);
    assert_eq!(rejected, "line,column,code,message\n");
    assert_eq!(summary_json, serde_json::to_value(&summary).unwrap());
    assert_eq!(statuses, [FileStatus::Running, FileStatus::Completed]);
    assert_eq!(
        service.backends().reports.keys(BUCKET, "reports/"),
        [
            format!("reports/observations/site-01/visit/{}.rejected.csv", summary.import_id),
            format!("reports/observations/site-01/visit/{}.summary.json", summary.import_id),
        ]
    );
}

#[tokio::test]
async fn an_unknown_dataset_is_rejected_without_reading_the_object() {
    let key = "imports/labs/x.csv";
    let service = importing(key, &rows(5));
    let summary = import_one(&service, key, within(Duration::from_secs(60))).await;
    assert_eq!(summary.status, FileStatus::Rejected);
    assert_eq!(
        summary.error.as_ref().map(|e| e.code),
        Some(FileErrorCode::UnknownDataset)
    );
    assert_eq!(summary.etag, None, "the object was not opened");
    let (_, _, statuses) = written(&service, &summary);
    assert_eq!(statuses, [FileStatus::Rejected], "no dataset, no running record");
}

#[tokio::test]
async fn a_bad_header_rejects_the_file_and_writes_no_row() {
    let key = "imports/observations/x.csv";
    let service = importing(key, &rows(5).replacen(",unit,collected_at", ",unit", 1));
    let summary = import_one(&service, key, within(Duration::from_secs(60))).await;
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
    let summary = import_one(
        &service,
        "imports/observations/gone.csv",
        within(Duration::from_secs(60)),
    )
    .await;
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(
        summary.error.as_ref().map(|e| e.code),
        Some(FileErrorCode::ObjectNotFound)
    );
    let (_, _, statuses) = written(&service, &summary);
    assert_eq!(statuses, [FileStatus::Running, FileStatus::Failed]);
}

#[tokio::test]
async fn a_body_that_breaks_off_fails_with_read_failed_and_keeps_what_was_written() {
    let key = "imports/observations/x.csv";
    let csv = rows(200);
    let objects = MemoryBucket::default();
    objects.insert_breaking(BUCKET, key, csv.as_bytes(), csv.len() / 2);
    let service = service(objects, MemoryTables::default());
    let summary = import_one(&service, key, within(Duration::from_secs(60))).await;
    assert_eq!(summary.status, FileStatus::Failed);
    assert_eq!(summary.error.as_ref().map(|e| e.code), Some(FileErrorCode::ReadFailed));
    let resume = summary.resume_from.expect("where to resume");
    assert!(
        resume.line > 2 && resume.byte_offset as usize <= csv.len() / 2,
        "{resume:?}"
    );
    assert_eq!(
        summary.rows.imported as usize,
        service.backends().rows.items("observations").len()
    );
    assert_eq!(summary.rows.not_reached, 0);
}

/// Stores every batch after a second, as a slow table would.
#[derive(Default)]
struct Slow(MemoryTables);

impl BatchSink for Slow {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<usize>, SinkError> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.0.write_batch(table, items).await
    }
}

#[tokio::test(start_paused = true)]
async fn an_import_that_reaches_its_stop_time_is_incomplete_with_where_to_resume() {
    let key = "imports/observations/x.csv";
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, key, rows(2_000));
    let service = service(objects, Slow::default());
    let summary = import_one(&service, key, within(Duration::from_secs(5))).await;
    assert_eq!(summary.status, FileStatus::Incomplete);
    let stored = service.backends().rows.0.items("observations").len() as u64;
    assert!(stored > 0 && stored < 2_000, "{stored}");
    assert_eq!(summary.rows.imported, stored);
    let resume = summary.resume_from.expect("where to resume");
    assert!(
        resume.line >= 2 && resume.line <= summary.rows.imported + 2,
        "{resume:?}"
    );
    let (_, _, statuses) = written(&service, &summary);
    assert_eq!(statuses, [FileStatus::Running, FileStatus::Incomplete]);
}

/// A source that never answers, as a hung connection.
struct Stuck;

impl ObjectSource for Stuck {
    async fn open(&self, _: &ObjectRef) -> Result<Object, SourceError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn an_object_that_does_not_open_before_the_stop_time_is_incomplete_from_line_one() {
    let service = service(Stuck, MemoryTables::default());
    let summary = import_one(&service, "imports/observations/x.csv", within(Duration::from_secs(5))).await;
    assert_eq!(summary.status, FileStatus::Incomplete);
    assert_eq!(summary.resume_from, Some(RowPos::START));
}

/// A sink whose every write panics: stands for a bug in a write task.
struct Panicking;

impl BatchSink for Panicking {
    async fn write_batch(&self, _: &str, _: Vec<Item>) -> Result<Vec<usize>, SinkError> {
        panic!("a bug in the sink")
    }
}

#[tokio::test]
async fn rows_left_pending_by_a_failed_write_task_make_the_import_incomplete() {
    let key = "imports/observations/x.csv";
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, key, rows(30));
    let service = service(objects, Panicking);
    let summary = import_one(&service, key, within(Duration::from_secs(60))).await;
    assert_eq!(summary.status, FileStatus::Incomplete);
    assert_eq!(summary.rows.not_reached, 30);
    assert_eq!(summary.resume_from.map(|r| r.line), Some(2));
    assert_eq!(summary.write_tasks_alive_after, 0);
}

#[tokio::test]
async fn rejected_rows_are_reported_and_the_file_still_completes() {
    let key = "imports/observations/x.csv";
    let csv = format!("{}ST-1,S01,SUBJ-X,V1,VITALS,SYSBP,120,mmHg,yesterday\n", rows(3));
    let service = importing(key, &csv);
    let summary = import_one(&service, key, within(Duration::from_secs(60))).await;
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!((summary.rows.imported, summary.rows.rejected), (3, 1));
    let (rejected, _, _) = written(&service, &summary);
    assert!(rejected.contains("\n5,collected_at,invalid_format,"), "{rejected}");
}

#[tokio::test]
async fn a_report_that_cannot_be_written_fails_the_invocation_so_lambda_retries_it() {
    let key = "imports/observations/x.csv";
    let service = importing(key, &rows(3));
    service.backends().reports.refuse_puts(true);
    let error = service
        .handle(
            &event(&[(key, "ObjectCreated:Put")]),
            "request",
            within(Duration::from_secs(60)),
        )
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
    let (first, second) = ("imports/observations/a.csv", "imports/observations/b.csv");
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
