//! Imports of any size: the built binary continuing itself across invocations under the local Lambda
//! (real deadlines, asynchronous invocations, frozen between invocations), and a crash mid-import.

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::import_harness::{harness, rows};
use integration_tests::runtime_api::{built_binary, Lambda, Outcome};
use integration_tests::{
    alone, assert_observations_as_written, count_observations, env as var, local_aws, observations_csv,
    observations_key, s3_event, unique, upload,
};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn summary(outcome: &Outcome) -> &Value {
    &outcome.body["files"][0]
}

/// The function's settings: the template's safety margin, longer than the timeouts here (the margin shrinks to a
/// quarter of each invocation); `lease_s` is how long a dead invocation keeps its job. Its DynamoDB requests go
/// through `proxy`.
fn env(proxy: &FaultProxy, lease_s: u64) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.clone()),
        ("IMPORT_CONCURRENCY", "4".to_owned()),
        ("DEADLINE_SAFETY_MARGIN_MS", "10000".to_owned()),
        ("JOB_LEASE_SECONDS", lease_s.to_string()),
        ("RUST_LOG", "info".to_owned()),
    ]
}

/// Every batch write waits 300 ms in the proxy: with 4 writers of 25 rows each, an invocation writes at most about
/// 330 rows a second however fast the machine, so a file of a few thousand rows needs several invocations without
/// the time it would take to write a file big enough to need them at full speed. Job records do not wait.
async fn paced() -> FaultProxy {
    FaultProxy::batch_writes(&var("AWS_ENDPOINT_URL"), 1, &[Fault::Delay]).await
}

/// Rows that need about `invocations` invocations of `timeout_s` at the paced rate (a quarter of each is kept for
/// stopping).
const fn rows_for(invocations: usize, timeout_s: usize) -> usize {
    invocations * timeout_s * 3 / 4 * 330
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_needing_several_times_the_timeout_completes_across_invocations() {
    let _alone = alone().await;
    let sdk = local_aws().await;
    let (s3, dynamodb) = (shared::aws::s3(&sdk), shared::aws::dynamodb(&sdk));
    let study = unique("several-invocations");
    let key = observations_key(&study, "data.csv");
    const ROWS: usize = rows_for(4, 6);
    let mut csv = observations_csv(&study, ROWS, 10);
    csv.push_str(&format!("{study},S01,SUBJ-000,V1,LAB,BAD,1,,never\n"));
    upload(&s3, &key, csv).await;

    // Each invocation keeps a quarter of its 6 s for stopping: enough for the checkpoint and the continuation even
    // on a loaded machine (with 4 s, one took 4.6 s while release builds ran beside it).
    let proxy = paced().await;
    let mut lambda = Lambda::start(&built_binary("import-csv"), &env(&proxy, 3), Duration::from_secs(6)).await;
    lambda.invoke_async(&serde_json::to_value(s3_event(&key).await).unwrap());
    let outcomes = lambda.until_idle(Duration::from_secs(600)).await;
    let log = lambda.log_lines();
    lambda.kill().await;

    assert!(outcomes.len() >= 3, "{} invocations", outcomes.len());
    for (n, outcome) in outcomes.iter().enumerate() {
        let file = summary(outcome);
        println!(
            "invocation {}: {} ms, status {}, rows {}, peak RSS {:?} KiB",
            n + 1,
            outcome.at_ms - outcome.started_ms,
            file["status"],
            file["rows"],
            outcome.peak_rss_kib
        );
        assert_eq!(outcome.kind, "response", "{}", outcome.body);
        assert!(
            outcome.at_ms < outcome.deadline_ms,
            "invocation {} hit its timeout",
            n + 1
        );
        assert!(outcome.polled_again, "its handler returned");
        assert_eq!(file["writeTasksAliveAfter"], 0);
        let expected = if n + 1 == outcomes.len() {
            "completed"
        } else {
            "incomplete"
        };
        assert_eq!(file["status"], expected, "{file}");
    }
    let last = summary(outcomes.last().unwrap());
    assert_eq!(
        rows(last),
        (ROWS as u64 + 1, ROWS as u64, 1, 0),
        "the summary accounts for every line once"
    );
    assert_eq!(last["invocations"], outcomes.len());
    assert_eq!(count_observations(&dynamodb, &study, 10).await, ROWS as u64);
    assert_observations_as_written(&dynamodb, &study, 10).await;

    // The metrics of the import, once, for the whole file, in the log lines CloudWatch reads them from.
    let sum = |name: &str| metric_values(&log, name).iter().sum::<f64>();
    assert_eq!(sum("RowsImported"), ROWS as f64);
    assert_eq!(sum("RowsRejected"), 1.0);
    assert_eq!(sum("RowsNotReached"), 0.0);
    assert_eq!(sum("ImportsNotCompleted"), 0.0);
    let durations = metric_values(&log, "ImportDuration");
    assert_eq!(durations.len(), 1, "{durations:?}");
    let spanned = outcomes.last().unwrap().at_ms - outcomes[0].started_ms;
    assert!(
        durations[0] > 0.0 && durations[0] <= spanned as f64,
        "{durations:?} ms, {spanned} ms in all"
    );
}

/// The values of metric `name` in a function's log: CloudWatch takes them from each JSON line whose
/// `_aws.CloudWatchMetrics` (embedded metric format) declares `name` in the function's namespace, here with the
/// stack's dimension alone (the set the alarms of template.yaml read).
fn metric_values(log: &[Value], name: &str) -> Vec<f64> {
    let mut values = Vec::new();
    for line in log {
        let Some(declared) = line["_aws"]["CloudWatchMetrics"].as_array() else {
            continue;
        };
        let [directive] = declared.as_slice() else {
            panic!("one metric directive per line: {line}")
        };
        assert_eq!(directive["Namespace"], "ClinicalIngest", "{line}");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Stack"]]), "{line}");
        assert_eq!(line["Stack"], "local", "{line}");
        assert!(line["_aws"]["Timestamp"].is_u64(), "{line}");
        let names = directive["Metrics"].as_array().unwrap();
        if !names.iter().any(|m| m["Name"] == name) {
            continue;
        }
        match &line[name] {
            Value::Array(many) => values.extend(many.iter().map(|v| v.as_f64().unwrap())),
            one => values.push(one.as_f64().unwrap_or_else(|| panic!("{name} in {line}"))),
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_import_is_taken_over_when_the_event_is_retried() {
    let _alone = alone().await;
    let sdk = local_aws().await;
    let (s3, dynamodb) = (shared::aws::s3(&sdk), shared::aws::dynamodb(&sdk));
    let study = unique("crash");
    let key = observations_key(&study, "data.csv");
    const ROWS: usize = rows_for(4, 4);
    upload(&s3, &key, observations_csv(&study, ROWS, 10)).await;
    let event = serde_json::to_value(s3_event(&key).await).unwrap();
    let binary = built_binary("import-csv");
    let timeout = Duration::from_secs(4);
    let proxy = paced().await;

    // The first invocation reaches its checkpoint; the second one dies half-way. It gets a longer timeout, so that
    // it is still writing however long the poll below takes to see its rows.
    let mut lambda = Lambda::start(&binary, &env(&proxy, 20), timeout).await;
    lambda.invoke_async(&event);
    lambda.until_running(0, Duration::from_secs(60)).await;
    lambda.set_timeout(Duration::from_secs(60));
    let first = lambda.until_answered(1, Duration::from_secs(60)).await;
    assert_eq!(summary(&first[0])["status"], "incomplete", "{}", first[0].body);
    let import_id = summary(&first[0])["importId"].as_str().unwrap().to_owned();
    lambda.until_running(1, Duration::from_secs(60)).await;
    // Killed once the second invocation has written rows of its own (the table shows nothing sooner).
    let checkpointed = rows(summary(&first[0])).1;
    let written = async {
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        while count_observations(&dynamodb, &study, 10).await < checkpointed + 1_000 {
            poll.tick().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), written)
        .await
        .expect("the second invocation writes rows");
    lambda.kill().await;

    // Until the dead invocation's lease runs out unrenewed (within JOB_LEASE_SECONDS), the job is its own: the
    // event delivered again now is a duplicate.
    let h = harness(|_| {}).await;
    let job = h.job(&import_id).await;
    assert_eq!(job["status"], "running", "{job}");
    let lease_until = UNIX_EPOCH + Duration::from_millis(job["leaseUntil"].as_u64().unwrap());
    let mut retry = Lambda::start(&binary, &env(&proxy, 20), timeout).await;
    retry.invoke_async(&event);
    let early = retry.until_answered(1, Duration::from_secs(60)).await;
    assert!(SystemTime::now() < lease_until, "the lease outlasts the early retry");
    let skipped = &early[0].body["skipped"][0]["reason"];
    assert!(
        skipped.as_str().unwrap().starts_with("duplicate: another invocation"),
        "{}",
        early[0].body
    );

    // Lambda retries the event later; by then the lease has run out, and the retry takes the job over.
    let wait = lease_until.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    retry.invoke_async(&event);
    let outcomes = retry.until_idle(Duration::from_secs(600)).await;
    retry.kill().await;
    let last = summary(outcomes.last().unwrap());
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(
        rows(last),
        (ROWS as u64, ROWS as u64, 0, 0),
        "nothing lost, nothing counted twice"
    );
    assert_eq!(
        count_observations(&dynamodb, &study, 10).await,
        ROWS as u64,
        "nothing duplicated"
    );
    assert_observations_as_written(&dynamodb, &study, 10).await;
}
