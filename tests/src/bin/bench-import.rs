//! Throughput and peak memory of the built `import-csv` binary on one large file against the local stack.
//!
//! Run through `./scripts/bench [ROWS]` (default 100000), which starts the stack and builds in release mode.

use integration_tests::runtime_api::{built_binary, invoke_once};
use integration_tests::{count_observations, local_aws, observations_csv, s3_event, unique, upload};
use std::time::Duration;

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().expect("ROWS is a number"));
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let study = unique("bench");
    let key = format!("imports/observations/{study}.csv");
    let csv = observations_csv(&study, rows, 20);
    let size = csv.len();
    upload(&s3, &key, csv).await;

    let event = serde_json::to_value(s3_event(&key)).unwrap();
    let env = [("RUST_LOG", "warn".to_owned())];
    let started = integration_tests::runtime_api::now_ms();
    let outcome = invoke_once(&built_binary("import-csv"), &event, Duration::from_secs(900), &env).await;
    let elapsed = Duration::from_millis(outcome.at_ms - started);
    let summary = &outcome.body["files"][0];
    let imported = summary["rows"]["imported"].as_u64().unwrap_or(0);
    let stored = count_observations(&dynamodb, &study, 20).await;
    println!("file:        {rows} rows, {:.1} MiB", size as f64 / 1_048_576.0);
    println!("status:      {}", summary["status"]);
    println!("imported:    {imported} (stored: {stored})");
    println!(
        "elapsed:     {:.2} s (invocation, including start-up and reports)",
        elapsed.as_secs_f64()
    );
    println!("throughput:  {:.0} rows/s", imported as f64 / elapsed.as_secs_f64());
    println!(
        "peak RSS:    {} KiB",
        outcome.peak_rss_kib.map_or("unknown".into(), |k| k.to_string())
    );
    println!("peak writes: {}", summary["peakWritesInFlight"]);
    assert_eq!(stored, imported, "every imported row is stored");
}
