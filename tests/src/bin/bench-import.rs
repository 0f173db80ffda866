//! Throughput and peak memory of the built `import-csv` binary on one large file against the local stack, under the
//! local Lambda with a real timeout: a file longer than one invocation continues in new ones, and each is measured.
//!
//! Run through `./scripts/bench [ROWS] [TIMEOUT_SECONDS]` (default 100000 rows, 900 s), which starts the stack and
//! builds in release mode.

use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::{count_observations, local_aws, observations_csv, observations_key, s3_event, unique, upload};
use std::time::Duration;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(100_000, |n| n.parse().expect("ROWS is a number"));
    let timeout: u64 = args
        .next()
        .map_or(900, |s| s.parse().expect("TIMEOUT_SECONDS is a number"));
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let study = unique("bench");
    let key = observations_key(&study, "data.csv");
    let csv = observations_csv(&study, rows, 20);
    let size = csv.len();
    upload(&s3, &key, csv).await;

    let event = serde_json::to_value(s3_event(&key).await).unwrap();
    let env = [("RUST_LOG", "warn".to_owned())];
    let mut lambda = Lambda::start(&built_binary("import-csv"), &env, Duration::from_secs(timeout)).await;
    lambda.invoke_async(&event);
    let outcomes = lambda.until_idle(Duration::from_secs(24 * 3600)).await;
    lambda.kill().await;

    println!(
        "file: {rows} rows, {:.1} MiB; function timeout {timeout} s",
        size as f64 / 1_048_576.0
    );
    println!("invocation  duration  status      rows done  this invocation  peak RSS");
    let mut before = 0;
    for (n, outcome) in outcomes.iter().enumerate() {
        let file = &outcome.body["files"][0];
        let done = file["rows"]["total"].as_u64().unwrap_or(0) - file["rows"]["notReached"].as_u64().unwrap_or(0);
        println!(
            "{:>10}  {:>6.2} s  {:<10}  {:>9}  {:>15}  {}",
            n + 1,
            (outcome.at_ms - outcome.started_ms) as f64 / 1000.0,
            file["status"].as_str().unwrap_or(&outcome.kind),
            done,
            done.saturating_sub(before),
            outcome.peak_rss_kib.map_or("unknown".into(), |k| format!("{k} KiB")),
        );
        before = done;
    }
    let last = &outcomes.last().expect("an answer").body["files"][0];
    let imported = last["rows"]["imported"].as_u64().unwrap_or(0);
    let busy_ms: u64 = outcomes.iter().map(|o| o.at_ms - o.started_ms).sum();
    let stored = count_observations(&dynamodb, &study, 20).await;
    println!("status:      {} after {} invocations", last["status"], outcomes.len());
    println!("imported:    {imported} (stored: {stored})");
    println!(
        "throughput:  {:.0} rows/s over {:.1} s of invocations",
        imported as f64 * 1000.0 / busy_ms as f64,
        busy_ms as f64 / 1000.0
    );
    assert_eq!(stored, imported, "every imported row is stored");
}
