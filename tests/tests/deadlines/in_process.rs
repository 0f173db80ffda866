//! The import service called in-process with a `Context` whose deadline we set: the stop, the checkpoint and the
//! continuations, against the local S3 and DynamoDB APIs.

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::import_harness::{harness, harness_writing_through, only_file, rows};
use integration_tests::{
    alone, assert_exact_resume_point, count_observations, dynamodb_at, env, local_aws, observations_csv,
    observations_key, s3_event, unique, upload,
};
use std::time::{Duration, SystemTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_stops_a_large_import_cleanly_and_everything_adds_up() {
    let _alone = alone().await;
    // Every batch write waits 300 ms in the proxy: 4 writers of 25 rows write at most about 330 rows a second, so
    // 6 s end long before 4,000 rows however fast the machine. Job records go straight to the local API.
    let proxy = FaultProxy::batch_writes(&env("AWS_ENDPOINT_URL"), 1, &[Fault::Delay]).await;
    let direct = shared::aws::dynamodb(&local_aws().await);
    let h = harness_writing_through(dynamodb_at(&proxy.url).await, direct, |c| {
        c.safety_margin = Duration::from_millis(1500);
        c.concurrency = 4;
    })
    .await;
    let study = unique("deadline");
    let key = observations_key(&study, "data.csv");
    let csv = observations_csv(&study, 4_000, 10);
    upload(&h.s3, &key, csv.clone()).await;

    let budget = Duration::from_secs(6);
    // The event first (it reads the object's version from S3): the deadline counts from the invocation, as the
    // harness's does, not from before that read.
    let event = s3_event(&key).await;
    let deadline = SystemTime::now() + budget;
    let summary = only_file(&h.invoke(event, budget).await);
    let returned = SystemTime::now();

    assert!(
        returned < deadline,
        "returned {:?} after the deadline",
        returned.duration_since(deadline)
    );
    // Counted by a guard that each write task's future owns: exact. (The runtime's own task count is not: it also
    // holds the SDK's pooled connections, which stay open after the import. The pipeline's unit tests compare the
    // runtime's count with a fake sink, where no connections exist.)
    assert_eq!(summary["writeTasksAliveAfter"], 0, "no write task outlives the handler");
    assert_eq!(summary["status"], "incomplete", "{summary}");
    let (total, imported, _, _) = rows(&summary);
    assert!(imported > 0 && total < 4_000, "{summary}");
    // Every row before the resume point is stored, the point is where its line begins, and beyond it the table
    // holds only rows counted as imported or cut off at the stop time (not reached: a resumed import rewrites them).
    assert_exact_resume_point(&h.dynamodb, &study, 10, &csv, &summary).await;
    // The job record holds the checkpoint, and a continuation is asked for.
    let job = h.job(summary["importId"].as_str().unwrap()).await;
    assert_eq!(
        (&job["status"], &job["resumeFrom"]),
        (&summary["status"], &summary["resumeFrom"])
    );
    assert_eq!(h.service.backends().continuations.take().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_longer_than_an_invocation_completes_across_several_with_every_row_once() {
    let _alone = alone().await;
    let h = harness(|c| c.concurrency = 4).await;
    let study = unique("continued");
    let key = observations_key(&study, "data.csv");
    let mut csv = observations_csv(&study, 15_000, 10);
    csv.push_str(&format!("{study},S01,SUBJ-000,V1,LAB,BAD,1,,never\n"));
    upload(&h.s3, &key, csv).await;

    let answers = h.invoke_to_end(s3_event(&key).await, Duration::from_secs(3)).await;
    assert!(
        answers.len() >= 3,
        "{} invocations: {:?}",
        answers.len(),
        answers.last()
    );
    let summary = only_file(answers.last().unwrap());
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(summary["invocations"], answers.len());
    assert_eq!(rows(&summary), (15_001, 15_000, 1, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 10).await, 15_000);
    let report = h.check_reports(&summary).await;
    assert_eq!(report.lines().count(), 2, "{report}");
    assert!(report.contains("\n15002,collected_at,invalid_format,"), "{report}");
}
