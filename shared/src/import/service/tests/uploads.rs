//! Uploads announced through the API: the object that arrives at the chosen key is imported as uploaded by the
//! person who asked for the URL, only if it is exactly the announced file; and a running import shows its progress.

use super::*;
use crate::import::ports::UploadStore;
use crate::import::upload::{self, Refusal, Upload, UploadState};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use sha2::{Digest, Sha256};

const UPLOAD_ID: &str = "01JEQ2Z6T3M0V1ZP8Y7K4N5B6C";
const COORDINATOR: &str = "coordinator-of-s01";

fn key() -> String {
    upload::upload_key("observations", "ST-1", "S01", UPLOAD_ID)
}

fn sha256(body: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()))
}

/// The record the API writes when a coordinator announces `body`.
fn announced(body: &str) -> Upload {
    Upload {
        upload_id: UPLOAD_ID.into(),
        record_type: Upload::RECORD_TYPE.into(),
        dataset: "observations".into(),
        study: "ST-1".into(),
        site: "S01".into(),
        site_key: upload::site_key("ST-1", "S01"),
        key: key(),
        file_name: "visit 1.csv".into(),
        size_bytes: body.len() as u64,
        sha256: sha256(body),
        requested_by: COORDINATOR.into(),
        requester_issuer: "https://idp.example".into(),
        requested_at: "2026-12-05T10:00:00.000Z".into(),
        url_expires_at: "2026-12-05T10:15:00.000Z".into(),
        upload_state: UploadState::AwaitingUpload,
        job_id: None,
        refusal: None,
        arrived_at: None,
    }
}

fn imported_by(items: &[Item]) -> Vec<String> {
    let mut who: Vec<String> = items
        .iter()
        .map(|item| match item.get("importedBy") {
            Some(AttributeValue::S(who)) => who.clone(),
            other => panic!("importedBy is {other:?}"),
        })
        .collect();
    who.dedup();
    who
}

#[tokio::test]
async fn the_announced_file_is_imported_as_uploaded_by_the_person_who_asked_for_its_url() {
    let body = rows(30);
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, &key(), body.clone());
    let service = service(objects, MemoryTables::default());
    let jobs = &service.backends().jobs;
    assert!(jobs.announce(&announced(&body)).await.unwrap());

    let summary = import_one(&service, &key(), Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!(summary.rows.imported, 30);
    let stored = jobs.upload(UPLOAD_ID).await.unwrap().unwrap();
    assert_eq!(stored.upload_state, UploadState::Attached);
    assert_eq!(stored.job_id.as_deref(), Some(summary.import_id.as_str()));
    assert!(stored.arrived_at.is_some());
    // Not the event's principal (the URL's signer): the person the record names.
    assert_eq!(
        imported_by(&service.backends().rows.items("observations")),
        [COORDINATOR]
    );
    let view = jobs.job_view(&summary.import_id).await.unwrap().unwrap();
    assert_eq!(view.summary.status, FileStatus::Completed);
}

#[tokio::test]
async fn an_object_at_an_announced_key_that_is_not_the_announced_file_is_not_imported() {
    let body = rows(5);
    let other = body.replace("120", "121");
    assert_eq!(other.len(), body.len());
    for (stored, refusal) in [
        (other.as_str(), Refusal::ChecksumMismatch),
        (&body[..body.len() - 1], Refusal::SizeMismatch),
    ] {
        let objects = MemoryBucket::default();
        objects.insert(BUCKET, &key(), stored);
        let service = service(objects, MemoryTables::default());
        let jobs = &service.backends().jobs;
        assert!(jobs.announce(&announced(&body)).await.unwrap());

        let answers = run_to_end(
            &service,
            event(&[(&key(), "ObjectCreated:Put")]),
            Duration::from_secs(60),
        )
        .await;
        assert!(answers.iter().all(|a| a.files.is_empty()), "{answers:?}");
        let skipped = &answers[0].skipped;
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].reason.starts_with("refused: "), "{}", skipped[0].reason);
        assert_eq!(service.backends().objects.opened(), 0, "never read");
        assert!(service.backends().rows.items("observations").is_empty());
        let record = jobs.upload(UPLOAD_ID).await.unwrap().unwrap();
        assert_eq!(record.upload_state, UploadState::Refused);
        assert_eq!(record.refusal, Some(refusal));
        assert_eq!(record.job_id, None);
    }
}

#[tokio::test]
async fn a_key_of_the_upload_shape_that_nobody_announced_is_an_ordinary_upload() {
    let service = importing(&key(), &rows(3));
    let summary = import_one(&service, &key(), Duration::from_secs(60)).await;
    assert_eq!(summary.status, FileStatus::Completed);
    assert_eq!(imported_by(&service.backends().rows.items("observations")), ["EXAMPLE"]);
    assert_eq!(service.backends().jobs.upload(UPLOAD_ID).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn each_renewal_reports_how_far_the_running_import_has_come() {
    let body = rows(1_000);
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, body.clone());
    let service = service(objects, Slow::default());
    let summary = import_one(&service, KEY, Duration::from_secs(600)).await;
    assert_eq!(summary.status, FileStatus::Completed);

    // 40 batches of 25 rows, two at a time, a second each: 20 s of work, a renewal every 10 s.
    let reported = service.backends().jobs.progress_reported(&summary.import_id);
    assert!(!reported.is_empty(), "no renewal reported progress");
    for pair in reported.windows(2) {
        assert!(pair[0].rows_done <= pair[1].rows_done && pair[0].bytes_done <= pair[1].bytes_done);
    }
    let last = reported.last().unwrap();
    assert!(last.rows_done > 0 && last.rows_done < 1_000, "{last:?}");
    assert!(
        last.bytes_done > HEADER.len() as u64 && last.bytes_done < body.len() as u64,
        "{last:?}"
    );
    // Rows done and bytes done say the same place in the file: each row here is as long as every other.
    let row_len = (body.len() - HEADER.len() - 1) as u64 / 1_000;
    assert_eq!(last.bytes_done, HEADER.len() as u64 + 1 + last.rows_done * row_len);
    // The save at the end replaces the record: its summary says the rest.
    assert_eq!(service.backends().jobs.live_progress(&summary.import_id), None);
}
