//! The rejected-rows report of an import that spans many invocations: the last one joins the parts the others
//! wrote without holding them in memory, and joins only parts that are still as they were written.

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::import_harness::rows;
use integration_tests::runtime_api::{built_binary, Lambda, Outcome};
use integration_tests::{alone, env, local_aws, observations_key, resource, s3_event, unique, upload};
use shared::import::ports::s3::S3Objects;
use shared::import::ports::{ReportBody, ReportSink};
use std::io::{Read, Seek};
use std::time::Duration;

/// A row with eight problems and no value of its own: six identifiers with a space after them, no value, a
/// timestamp that is not one. Each becomes eight report lines, about half a kilobyte from 26 bytes of file.
const BAD_ROW: &str = "S ,S ,S ,V ,F ,I ,,,later\n";
const PROBLEMS_PER_ROW: usize = 8;
/// Valid rows, each followed by `BAD_PER_GOOD` bad ones. The valid rows' writes set the pace of the reading (see
/// below); the bad rows make the report.
const GOOD_ROWS: usize = 5_500;
const BAD_PER_GOOD: usize = 26;

fn summary(outcome: &Outcome) -> &serde_json::Value {
    &outcome.body["files"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_of_many_parts_is_joined_in_order_without_the_last_invocation_holding_it_in_memory() {
    let _alone = alone().await;
    let s3 = shared::aws::s3(&local_aws().await);
    let study = unique("report-join");
    let key = observations_key(&study, "bad rows.csv");
    let mut csv = String::from("study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n");
    // The lines of the bad rows, in file order (the header is line 1). The valid rows name 100 items in turn: the
    // table keeps 100 observations, however many rows write them.
    let mut bad_lines = Vec::with_capacity(GOOD_ROWS * BAD_PER_GOOD);
    for i in 0..GOOD_ROWS {
        csv.push_str(&format!(
            "{study},S01,SUBJ-000,V1,LAB,ITEM-{:03},5,mg/dL,2026-03-01T09:30:00Z\n",
            i % 100
        ));
        let line = (i * (BAD_PER_GOOD + 1) + 2) as u64;
        bad_lines.extend((1..=BAD_PER_GOOD as u64).map(|n| line + n));
        csv.push_str(&BAD_ROW.repeat(BAD_PER_GOOD));
    }
    upload(&s3, &key, csv).await;

    // Every batch write of the function waits 300 ms in the proxy, and it writes one batch (25 rows) at a time: an
    // invocation of 3 s reads at most about 250 valid rows, however fast the machine (and lists their bad rows, about
    // a megabyte of report): 5,500 valid rows take 22 invocations or more. Its job record's reads and writes do not
    // wait, so that a slow machine still makes progress in each invocation.
    let proxy = FaultProxy::batch_writes(&env("AWS_ENDPOINT_URL"), 1, &[Fault::Delay]).await;
    let function_env = [
        ("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.clone()),
        ("IMPORT_CONCURRENCY", "1".to_owned()),
        ("DEADLINE_SAFETY_MARGIN_MS", "10000".to_owned()),
        ("MAX_REJECTED_ROWS_LISTED", bad_lines.len().to_string()),
        // Not renewed during an invocation: no renewal waits in the proxy.
        ("JOB_LEASE_SECONDS", "60".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let mut lambda = Lambda::start(&built_binary("import-csv"), &function_env, Duration::from_secs(3)).await;
    lambda.invoke_async(&serde_json::to_value(s3_event(&key).await).unwrap());
    let outcomes = lambda.until_idle(Duration::from_secs(600)).await;
    lambda.kill().await;

    for (n, outcome) in outcomes.iter().enumerate() {
        let file = summary(outcome);
        println!(
            "invocation {}: {} ms, status {}, rows {}, listed {}, peak RSS {:?} KiB",
            n + 1,
            outcome.at_ms - outcome.started_ms,
            file["status"],
            file["rows"],
            file["rejectedListed"],
            outcome.peak_rss_kib
        );
        assert_eq!(outcome.kind, "response", "{}", outcome.body);
    }
    let last = summary(outcomes.last().expect("an answer"));
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(
        rows(last),
        (
            bad_lines.len() as u64 + GOOD_ROWS as u64,
            GOOD_ROWS as u64,
            bad_lines.len() as u64,
            0
        )
    );
    assert_eq!(last["rejectedListed"], bad_lines.len(), "{last}");
    // The parts the last invocation joined: one from each invocation before it that listed rejected rows.
    let listed: Vec<u64> = outcomes
        .iter()
        .map(|o| summary(o)["rejectedListed"].as_u64().unwrap())
        .collect();
    let before_last = &listed[..listed.len() - 1];
    let parts = before_last
        .iter()
        .zip([0].iter().chain(before_last))
        .filter(|(now, before)| now > before)
        .count();
    assert!(parts >= 20, "{parts} parts: too few to show the join");

    // The report: every rejected row once, in file order.
    let report = s3
        .get_object()
        .bucket(resource("ImportBucket"))
        .key(last["reports"]["rejectedRows"].as_str().unwrap())
        .send()
        .await
        .expect("the rejected-rows report")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let joined_kib = report.len() as u64 / 1024;
    let mut listed: Vec<(u64, usize)> = Vec::with_capacity(bad_lines.len());
    for record in csv::Reader::from_reader(&report[..]).records() {
        let line: u64 = record.expect("a report line")[0].parse().expect("a line number");
        match listed.last_mut() {
            Some((at, problems)) if *at == line => *problems += 1,
            _ => listed.push((line, 1)),
        }
    }
    let expected = bad_lines.iter().map(|&line| (line, PROBLEMS_PER_ROW));
    if let Some((n, (found, wanted))) = listed
        .iter()
        .copied()
        .zip(expected)
        .enumerate()
        .find(|(_, (f, w))| f != w)
    {
        panic!("bad row {n}: the report lists line {found:?} (line, problems), not {wanted:?}");
    }
    assert_eq!(listed.len(), bad_lines.len(), "bad rows listed");

    // Memory: the last invocation reads and lists rows like the others, then joins the report. Holding the parts
    // in memory adds at least their size, nearly the whole report (here: 47 MiB more than the others for a 38 MiB
    // report); streaming them through a file adds a few buffers whatever the size (here: 3 to 5 MiB). Half the
    // report's size lies well between the two.
    let peaks: Vec<u64> = outcomes.iter().map(|o| o.peak_rss_kib.expect("peak RSS")).collect();
    let (last_peak, earlier) = peaks.split_last().unwrap();
    let mut earlier = earlier.to_vec();
    earlier.sort_unstable();
    let median = earlier[earlier.len() / 2];
    println!("joined report {joined_kib} KiB; last invocation's peak {last_peak} KiB, earlier median {median} KiB");
    assert!(
        last_peak.saturating_sub(median) < joined_kib / 2,
        "the last invocation's peak ({last_peak} KiB) is more than half the report ({joined_kib} KiB) above the \
         median of the others ({median} KiB)"
    );
}

#[tokio::test]
async fn a_part_replaced_in_s3_after_it_was_written_is_not_appended() {
    let _alone = alone().await;
    let s3 = shared::aws::s3(&local_aws().await);
    let reports = S3Objects::new(s3.clone());
    let bucket = resource("ImportBucket");
    let key = format!("reports/{}/part-00001.csv", unique("swapped-part"));
    let rows = || ReportBody::Bytes(b"2,value,missing,is required\n".to_vec());
    let etag = reports.put(&bucket, &key, "text/csv", rows()).await.unwrap();

    // As written, the part is appended.
    let mut file = tokio::fs::File::from_std(scratch_file());
    reports.append_to(&bucket, &key, &etag, &mut file).await.unwrap();
    assert_eq!(contents(file).await, "2,value,missing,is required\n");

    // Replaced (same key, other rows), it is refused and nothing of it is appended.
    upload(&s3, &key, "7,unit,too_long,made up\n").await;
    let mut file = tokio::fs::File::from_std(scratch_file());
    let error = reports
        .append_to(&bucket, &key, &etag, &mut file)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("replaced") && error.contains(&key), "{error}");
    assert_eq!(contents(file).await, "");
}

/// An empty file read and written through one handle, gone once the handle is (unlinked at once).
fn scratch_file() -> std::fs::File {
    let path = std::env::temp_dir().join(unique("report-join"));
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("a scratch file");
    std::fs::remove_file(&path).expect("the scratch file unlinked");
    file
}

async fn contents(file: tokio::fs::File) -> String {
    let mut file = file.into_std().await;
    file.rewind().unwrap();
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    text
}
