//! Our own torture files through the whole import (S3 event → S3 → pipeline → DynamoDB → reports): each outcome is
//! documented in `tests/tests/torture/expected.json` and asserted here.

use integration_tests::import_harness::{harness, only_file, rows};
use integration_tests::{repo_path, s3_event, unique, upload};
use serde_json::Value;
use std::time::Duration;

const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at";
const ROW: &str = "TORTURE,S01,SUBJ-1,V1,LAB,GLUC,5.1,mmol/L,2026-03-01T09:30:00Z";

/// Files too large to keep in the repository, made here.
fn generated(name: &str) -> Vec<u8> {
    match name {
        "big_field.csv" => {
            let big = "x".repeat(10 * 1024 * 1024);
            format!(
                "{HEADER}\n{ROW}\nTORTURE,S01,SUBJ-2,V1,LAB,NOTE,\"{big}\",,2026-03-01T09:30:00Z\n{}\n",
                ROW.replace("SUBJ-1", "SUBJ-3")
            )
            .into_bytes()
        }
        "wide.csv" => {
            let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
            let row: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
            format!("{}\n{}\n", header.join(","), row.join(",")).into_bytes()
        }
        other => panic!("no generator for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_torture_file_has_its_documented_outcome() {
    let h = harness(|_| {}).await;
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(repo_path("tests/tests/torture/expected.json")).unwrap())
            .unwrap();
    let run = unique("torture");
    let mut failures = Vec::new();
    for case in &manifest {
        let name = case["file"].as_str().unwrap();
        let body = if case.get("generated").is_some() {
            generated(name)
        } else {
            std::fs::read(repo_path(&format!("tests/tests/torture/files/{name}"))).unwrap()
        };
        let key = format!("imports/observations/TORTURE/S01/{run}/{name}");
        upload(&h.s3, &key, body).await;
        let response = tokio::time::timeout(
            Duration::from_secs(120),
            h.invoke(s3_event(&key).await, Duration::from_secs(100)),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the import hangs"));
        let summary = only_file(&response);
        let (_, imported, rejected, not_reached) = rows(&summary);
        let report = h.check_reports(&summary).await;

        let mut problems = Vec::new();
        if summary["status"] != case["status"] {
            problems.push(format!("status {} (expected {})", summary["status"], case["status"]));
        }
        if let Some(error) = case.get("error") {
            if summary["error"]["code"] != *error {
                problems.push(format!("error {} (expected {error})", summary["error"]));
            }
        }
        for (field, actual) in [("imported", imported), ("rejected", rejected)] {
            if let Some(expected) = case.get(field) {
                if expected.as_u64() != Some(actual) {
                    problems.push(format!("{field} {actual} (expected {expected})"));
                }
            }
        }
        if not_reached != 0 {
            problems.push(format!("{not_reached} rows not reached"));
        }
        if let Some(expected) = case.get("rejections") {
            let found: Vec<Value> = report
                .lines()
                .skip(1)
                .map(|line| {
                    let cells: Vec<&str> = line.splitn(4, ',').collect();
                    serde_json::json!([cells[0].parse::<u64>().unwrap(), cells[1], cells[2]])
                })
                .collect();
            if found != *expected.as_array().unwrap() {
                problems.push(format!("rejections {found:?} (expected {expected})"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "torture files with other outcomes than documented:\n{}",
        failures.join("\n")
    );
}
