//! Our own torture files through the whole import (S3 event → S3 → pipeline → DynamoDB → reports): each outcome is
//! documented in `tests/tests/torture/expected.json` and asserted here, down to the rows stored. Each file is
//! imported as a study of its own (the files' study id `TORTURE` is replaced), so what one stores is told apart.

use integration_tests::import_harness::{harness, only_file, rows};
use integration_tests::{observations_in, repo_path, s3_event, unique, upload};
use serde_json::Value;
use std::collections::BTreeSet;
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

/// The subjects the files name (`SUBJ-1` … `SUBJ-4`).
const SUBJECTS: [&str; 4] = ["SUBJ-1", "SUBJ-2", "SUBJ-3", "SUBJ-4"];

/// The file lines of the observations stored for `study`, as their provenance says.
async fn stored_lines(dynamodb: &aws_sdk_dynamodb::Client, study: &str) -> Vec<u64> {
    let pks: Vec<String> = SUBJECTS
        .iter()
        .map(|subject| format!("{study}#S01#{subject}"))
        .collect();
    let mut lines: Vec<u64> = observations_in(dynamodb, &pks)
        .await
        .iter()
        .map(|(_, item)| item["provenance"]["line"].as_u64().expect("a line"))
        .collect();
    lines.sort_unstable();
    lines
}

/// Replaces every `TORTURE` in the file's bytes with `study`.
fn as_study(body: &[u8], study: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.windows(7).position(|w| w == b"TORTURE") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(study.as_bytes());
        rest = &rest[at + 7..];
    }
    out.extend_from_slice(rest);
    out
}

#[test]
fn every_file_of_the_corpus_has_a_documented_outcome() {
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(repo_path("tests/tests/torture/expected.json")).unwrap())
            .unwrap();
    let documented: BTreeSet<&str> = manifest
        .iter()
        .filter(|case| case.get("generated").is_none())
        .map(|case| case["file"].as_str().unwrap())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(repo_path("tests/tests/torture/files"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    let files: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    assert_eq!(files, documented, "files/ and expected.json list the same files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_torture_file_has_its_documented_outcome() {
    let h = harness(|_| {}).await;
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(repo_path("tests/tests/torture/expected.json")).unwrap())
            .unwrap();
    let mut failures = Vec::new();
    for case in &manifest {
        let name = case["file"].as_str().unwrap();
        let body = if case.get("generated").is_some() {
            generated(name)
        } else {
            std::fs::read(repo_path(&format!("tests/tests/torture/files/{name}"))).unwrap()
        };
        let study = unique("torture");
        let key = format!("imports/observations/{study}/S01/{name}");
        upload(&h.s3, &key, as_study(&body, &study)).await;
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
        let found: Vec<Value> = report
            .lines()
            .skip(1)
            .map(|line| {
                let cells: Vec<&str> = line.splitn(4, ',').collect();
                serde_json::json!([cells[0].parse::<u64>().unwrap(), cells[1], cells[2]])
            })
            .collect();
        if let Some(expected) = case.get("rejections") {
            if found != *expected.as_array().unwrap() {
                problems.push(format!("rejections {found:?} (expected {expected})"));
            }
        }
        // What the table holds: one item per imported row, none from a rejected line.
        let stored = stored_lines(&h.dynamodb, &study).await;
        if stored.len() as u64 != imported {
            problems.push(format!("{} rows stored, {imported} imported", stored.len()));
        }
        let rejected_lines: BTreeSet<u64> = found.iter().filter_map(|f| f[0].as_u64()).collect();
        if stored.iter().any(|line| rejected_lines.contains(line)) {
            problems.push(format!(
                "stored lines {stored:?} include rejected ones {rejected_lines:?}"
            ));
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
