//! The import through a proxy that faults every fifth row write and every fifth other DynamoDB request. Row writes
//! go out with the SDK's retries off, so each fault reaches the import's own retry code, partial batches included.

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::import_harness::{harness_writing_through, only_file, rows};
use integration_tests::{
    assert_observations_as_written, count_observations, dynamodb_at, dynamodb_without_retries_at, env,
    observations_csv, observations_key, resource, s3_event, submissions_from_file, unique, upload,
};
use std::time::Duration;

/// Each fault kind at least this many times on row writes: the 3,000 valid rows are at least 120 batches, so with every
/// fifth batch request faulted in turn over six kinds, each kind comes at least four times.
const PER_KIND: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_under_faults_writes_every_valid_row_exactly_once() {
    let proxy = FaultProxy::start(&env("AWS_ENDPOINT_URL"), 5, &[]).await;
    let h = harness_writing_through(
        dynamodb_without_retries_at(&proxy.url).await,
        dynamodb_at(&proxy.url).await,
        |_| {},
    )
    .await;

    let study = unique("faults");
    let valid = 3_000;
    let mut csv = observations_csv(&study, valid, 10);
    for i in 0..30 {
        csv.push_str(&format!("{study},S01,SUBJ-000,V1,LAB,BAD-{i},1,,yesterday\n"));
    }
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, csv).await;

    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(300)).await);
    println!("{}", proxy.stats.summary());
    for kind in Fault::ALL {
        let injected = proxy.stats.injected(kind, Some("BatchWriteItem"));
        assert!(injected >= PER_KIND, "{kind:?} injected into {injected} batch writes");
    }
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(rows(&summary), (valid as u64 + 30, valid as u64, 30, 0));

    // Exactly once: deterministic keys, so the count equals the valid rows, and every value is the file's.
    assert_eq!(count_observations(&h.dynamodb, &study, 10).await, valid as u64);
    assert_observations_as_written(&h.dynamodb, &study, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_throttled_every_time_costs_max_write_attempts_requests_and_its_rows_are_reported() {
    // GIVEN every row write throttled, through a client with the SDK's standard retries on (as the function's own
    // client is): the row sink must not let the SDK retry under the writer's attempts.
    const ATTEMPTS: u32 = 3;
    let proxy = FaultProxy::start(&env("AWS_ENDPOINT_URL"), 1, &[Fault::Throttle]).await;
    let h = harness_writing_through(
        dynamodb_at(&proxy.url).await,
        dynamodb_at(&env("AWS_ENDPOINT_URL")).await,
        |config| {
            config.max_write_attempts = ATTEMPTS;
            // One write task, so the 60 rows go out as three batches: 25, 25 and 10.
            config.concurrency = 1;
        },
    )
    .await;
    let study = unique("throttled");
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, observations_csv(&study, 60, 3)).await;

    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    println!("{}", proxy.stats.summary());

    // THEN each batch was sent exactly ATTEMPTS times: an attempt of the writer is one request.
    let seen = proxy.stats.seen();
    assert!(
        seen.iter()
            .all(|s| s.operation == "BatchWriteItem" && s.fault == Some(Fault::Throttle)),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 3 * ATTEMPTS as usize, "{}", proxy.stats.summary());
    // AND every row is reported as not written, none lost.
    assert_eq!(rows(&summary), (60, 0, 60, 0), "{summary}");
    let report = h.check_reports(&summary).await;
    let not_written = format!("not written after {ATTEMPTS} attempts");
    let mut failed: Vec<u64> = report
        .lines()
        .filter(|line| line.contains(",write_failed,") && line.contains(&not_written))
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    failed.sort_unstable();
    assert_eq!(failed, (2..62).collect::<Vec<u64>>(), "{report}");
    assert_eq!(count_observations(&h.dynamodb, &study, 3).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questionnaire_rows_under_partial_batches_are_each_stored_once() {
    // Every second row write comes back half unprocessed, the items handed back with an attribute added (so that
    // only their key, `id`, tells them apart): every row is still stored once, with its own answer.
    let proxy = FaultProxy::start(&env("AWS_ENDPOINT_URL"), 2, &[Fault::PartialBatch]).await;
    let h = harness_writing_through(
        dynamodb_without_retries_at(&proxy.url).await,
        dynamodb_at(&env("AWS_ENDPOINT_URL")).await,
        |_| {},
    )
    .await;
    let key = format!("imports/questionnaires/daily-pain/{}.csv", unique("partial"));
    let mut csv = String::from("painLevel\n");
    for i in 0..200 {
        csv.push_str(&format!("{}\n", 1 + i % 10));
    }
    upload(&h.s3, &key, csv).await;

    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(120)).await);
    println!("{}", proxy.stats.summary());
    assert!(proxy.stats.injected(Fault::PartialBatch, Some("BatchWriteItem")) >= 4);
    assert_eq!(rows(&summary), (200, 200, 0, 0), "{summary}");

    let stored = submissions_from_file(&h.dynamodb, &key).await;
    let mut levels = Vec::new();
    for item in stored {
        let line: u64 = item["provenance"].as_m().unwrap()["line"]
            .as_n()
            .unwrap()
            .parse()
            .unwrap();
        let level = item["answers"].as_m().unwrap()["painLevel"]
            .as_n()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        levels.push((line, level));
    }
    levels.sort_unstable();
    let expected: Vec<(u64, u64)> = (0..200).map(|i| (i + 2, 1 + i % 10)).collect();
    assert_eq!(levels, expected, "each line stored once, with its own answer");
}

#[tokio::test]
async fn a_claim_written_but_answered_with_an_error_still_belongs_to_its_invocation() {
    // The job's first PutItem (the claim) is written and answered with a 500; the SDK sends it again, and the
    // condition that the job must not exist refuses the retry. The job is the invocation's own all the same.
    let proxy = FaultProxy::once(
        &env("AWS_ENDPOINT_URL"),
        "PutItem",
        1,
        Fault::ServerErrorAfterForwarding,
    )
    .await;
    let h = harness_writing_through(
        dynamodb_at(&env("AWS_ENDPOINT_URL")).await,
        dynamodb_at(&proxy.url).await,
        |_| {},
    )
    .await;
    let study = unique("claim");
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, observations_csv(&study, 100, 2)).await;

    let response = h.invoke(s3_event(&key).await, Duration::from_secs(60)).await;
    println!("{}", proxy.stats.summary());
    assert_eq!(
        proxy.stats.injected(Fault::ServerErrorAfterForwarding, Some("PutItem")),
        1
    );
    let summary = only_file(&response);
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(rows(&summary), (100, 100, 0, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 2).await, 100);
}

#[tokio::test]
async fn a_takeover_written_but_answered_with_an_error_still_belongs_to_its_invocation() {
    use shared::import::event::ObjectRef;
    use shared::import::ids::job_id;
    use shared::import::job::{Claim, Job, Lease};
    use shared::import::ports::dynamodb::DynamoJobStore;
    use shared::import::ports::{Claimed, JobStore};
    use std::time::{SystemTime, UNIX_EPOCH};

    let now_ms = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let object = ObjectRef {
        bucket: resource("ImportBucket"),
        key: observations_key(&unique("takeover"), "data.csv"),
        version_id: Some("v1".into()),
        etag: None,
        sequencer: Some("01".into()),
        uploader: None,
    };
    let claim = Claim::Event(Box::new(
        Job::start(job_id(&object).unwrap(), &object, time::OffsetDateTime::now_utc()).unwrap(),
    ));
    let lease = |owner: &str, until_ms: u64| Lease {
        owner: owner.into(),
        until_ms,
    };
    // A dead invocation's job, its lease already run out.
    let direct = DynamoJobStore::new(dynamodb_at(&env("AWS_ENDPOINT_URL")).await, resource("ImportJobsTable"));
    let first = direct
        .claim(&claim, &lease("dead-invocation", now_ms() - 1), now_ms())
        .await
        .unwrap();
    assert!(matches!(first, Claimed::Ours(_)), "{first:?}");

    // The takeover (the proxy's first PutItem) is written and answered with a 500; the SDK's retry is refused,
    // since the lease it expects to replace is gone. The job is the new invocation's all the same.
    let proxy = FaultProxy::once(
        &env("AWS_ENDPOINT_URL"),
        "PutItem",
        1,
        Fault::ServerErrorAfterForwarding,
    )
    .await;
    let faulty = DynamoJobStore::new(dynamodb_at(&proxy.url).await, resource("ImportJobsTable"));
    let taken = faulty
        .claim(&claim, &lease("retry", now_ms() + 60_000), now_ms())
        .await
        .unwrap();
    assert_eq!(
        proxy.stats.injected(Fault::ServerErrorAfterForwarding, Some("PutItem")),
        1
    );
    match taken {
        Claimed::Ours(job) => assert_eq!(job.lease.owner, "retry"),
        other => panic!("the takeover's own retry locked it out: {other:?}"),
    }
}
