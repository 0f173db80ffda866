//! Broken or hostile files through the built binary: each ends with a final status and a clear code, in bounded
//! memory (the peak resident memory of the function process, measured by the local Lambda).
//!
//! A test binary of its own: its uploads of tens of megabytes would slow the local S3 for the deadline-sensitive
//! import tests if they ran side by side.

use integration_tests::runtime_api::{built_binary, Lambda};
use integration_tests::{local_aws, s3_event, unique, upload};
use serde_json::Value;
use std::time::Duration;

const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n";
/// What the function may use at the most, whatever the file (a debug build; a release build needs less).
const MAX_RSS_KIB: u64 = 64 * 1024;

/// Imports `body` under `key` with the binary (extra `env`), to the end; the last summary and the peak memory.
async fn import(key: &str, body: Vec<u8>, env: &[(&'static str, String)]) -> (Value, u64) {
    let s3 = shared::aws::s3(&local_aws().await);
    upload(&s3, key, body).await;
    let mut all_env = vec![("RUST_LOG", "warn".to_owned())];
    all_env.extend_from_slice(env);
    let mut lambda = Lambda::start(&built_binary("import-csv"), &all_env, Duration::from_secs(60)).await;
    lambda.invoke_async(&serde_json::to_value(s3_event(key).await).unwrap());
    let outcomes = lambda.until_idle(Duration::from_secs(600)).await;
    lambda.kill().await;
    let peak = outcomes.iter().filter_map(|o| o.peak_rss_kib).max().unwrap_or(0);
    let last = outcomes.last().expect("an answer");
    assert_eq!(last.kind, "response", "{}", last.body);
    (last.body["files"][0].clone(), peak)
}

fn observations_key(name: &str) -> (String, String) {
    let study = unique("hostile");
    (study.clone(), format!("imports/observations/{study}/S01/{name}"))
}

fn row(study: &str, subject: usize) -> String {
    format!("{study},S01,SUBJ-{subject},V1,LAB,GLUC,5.1,mmol/L,2026-03-01T09:30:00Z\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclosed_quote_before_50_mib_ends_the_import_at_its_line() {
    let (study, key) = observations_key("unclosed.csv");
    let mut body = format!("{HEADER}{}", row(&study, 1)).into_bytes();
    body.extend_from_slice(format!("{study},S01,SUBJ-2,V1,LAB,NOTE,\"never closed,").as_bytes());
    for i in 0..1_000_000 {
        body.extend_from_slice(row(&study, i + 3).as_bytes());
    }
    assert!(body.len() > 50 << 20);
    let (summary, peak) = import(&key, body, &[]).await;
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["error"]["code"], "record_too_long");
    assert_eq!(
        (
            summary["rows"]["imported"].as_u64(),
            summary["resumeFrom"]["line"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn millions_of_blank_lines_are_skipped_in_constant_memory() {
    let (study, key) = observations_key("blank.csv");
    let mut body = format!("{HEADER}{}", row(&study, 1)).into_bytes();
    body.extend(std::iter::repeat_n(b'\n', 20_000_000));
    body.extend_from_slice(row(&study, 2).as_bytes());
    let (summary, peak) = import(&key, body, &[]).await;
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(summary["rows"]["imported"], 2);
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_cell_of_thousands_of_entries_is_refused_without_decoding_them_all() {
    let key = format!("imports/questionnaires/daily-pain/{}.csv", unique("hostile-list"));
    let entries: Vec<String> = (0..4_000)
        .map(|_| r#"{"drugName":"a","dosage":"1 mg"}"#.to_owned())
        .collect();
    let cell = format!("[{}]", entries.join(",")).replace('"', "\"\"");
    let body = format!("painLevel,medicationLogs\n3,\"{cell}\"\n4,\n").into_bytes();
    let (summary, peak) = import(&key, body, &[]).await;
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(
        (
            summary["rows"]["imported"].as_u64(),
            summary["rows"]["rejected"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let report = shared_report(&summary).await;
    assert!(
        report.contains("\n2,medicationLogs,too_many_items,must have at most 50 entries\n"),
        "{report}"
    );
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_nothing_but_bad_rows_gives_a_bounded_report_with_a_count_of_the_rest() {
    let (study, key) = observations_key("all-bad.csv");
    let mut body = HEADER.as_bytes().to_vec();
    for i in 0..100_000 {
        body.extend_from_slice(format!("{study},S01,SUBJ-{i},V1,LAB,GLUC,5.1,mmol/L,never\n").as_bytes());
    }
    let env = [("MAX_REJECTED_ROWS_LISTED", "1000".to_owned())];
    let (summary, peak) = import(&key, body, &env).await;
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(summary["rows"]["rejected"], 100_000);
    assert_eq!(
        (
            summary["rejectedListed"].as_u64(),
            summary["rejectedNotListed"].as_u64()
        ),
        (Some(1_000), Some(99_000))
    );
    assert_eq!(shared_report(&summary).await.lines().count(), 1_001);
    assert!(peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_over_the_size_limit_is_rejected_unread() {
    let (study, key) = observations_key("large.csv");
    let body = format!("{HEADER}{}", row(&study, 1).repeat(100)).into_bytes();
    let env = [("MAX_OBJECT_BYTES", "2048".to_owned())];
    let (summary, _) = import(&key, body, &env).await;
    assert_eq!(summary["status"], "rejected", "{summary}");
    assert_eq!(summary["error"]["code"], "object_too_large");
    assert_eq!(summary["rows"]["total"], 0);
}

async fn shared_report(summary: &Value) -> String {
    let s3 = shared::aws::s3(&local_aws().await);
    let out = s3
        .get_object()
        .bucket(integration_tests::resource("ImportBucket"))
        .key(summary["reports"]["rejectedRows"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}
