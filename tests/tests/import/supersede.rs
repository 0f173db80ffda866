//! A newer version of a file uploaded while the older one is still being imported: the older import is told to stop
//! and ends `superseded` before the newer one writes a row, so the table and its audit trail end with the newer
//! version only, each item overwritten once. Each import writes its rows through a proxy of its own that records
//! when every request arrived and was answered.

use integration_tests::audit::{streams_delivered, AuditTrail};
use integration_tests::fault_proxy::{FaultProxy, Seen};
use integration_tests::import_harness::{harness_writing_through, only_file, rows, Harness};
use integration_tests::{
    count_observations, dynamodb_at, env, local_aws, observations_csv, observations_key, observations_of, s3_event,
    unique, upload,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Large enough that the first import is still writing when the second version arrives (several seconds).
const ROWS: usize = 30_000;
const SUBJECTS: usize = 20;
/// The first import has written this many batches when the second version is uploaded.
const BATCHES_BEFORE_V2: usize = 20;
const BUDGET: Duration = Duration::from_secs(600);
/// Delivering both versions' changes to the audit trail may take a while on a loaded machine.
const DELIVERY_SECONDS: u64 = 600;

/// An import whose row writes go through a recorder of their own; its job records go straight to the local API.
async fn recorded_import() -> (Harness, FaultProxy) {
    let proxy = FaultProxy::recorder(&env("AWS_ENDPOINT_URL")).await;
    let rows = dynamodb_at(&proxy.url).await;
    let jobs = shared::aws::dynamodb(&local_aws().await);
    (harness_writing_through(rows, jobs, |_| {}).await, proxy)
}

fn batch_writes(seen: &[Seen]) -> impl Iterator<Item = &Seen> {
    seen.iter().filter(|s| s.operation == "BatchWriteItem")
}

/// The value version 1 of the file holds for row `i` (as `observations_csv` writes it), and version 2's.
fn v1_value(i: usize) -> String {
    (70 + i % 90).to_string()
}

fn v2_value(i: usize) -> String {
    format!("{}1", v1_value(i))
}

/// The row index of a stored observation or of a state in a change record (its item is `ITEM-i`).
fn row_index(item: &Value) -> usize {
    item["item"]
        .as_str()
        .and_then(|name| name.strip_prefix("ITEM-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an item written by observations_csv: {item}"))
}

fn item_key(item: &Value) -> (String, String) {
    (
        item["pk"].as_str().unwrap().to_owned(),
        item["sk"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_stops_the_older_import_before_writing_and_every_item_ends_with_the_newer_value() {
    let (a, a_proxy) = recorded_import().await;
    let (b, b_proxy) = recorded_import().await;
    let study = unique("supersede");
    let key = observations_key(&study, "data.csv");
    let v1 = observations_csv(&study, ROWS, SUBJECTS);
    // The same rows (the same item keys), every value changed.
    let v2 = v1.replace(",mg/dL,", "1,mg/dL,");
    assert_ne!(v1, v2);

    // GIVEN version 1 being imported, some of its rows written
    upload(&a.s3, &key, v1).await;
    let v1_event = s3_event(&key).await;
    let mut older = tokio::spawn(async move { a.invoke(v1_event, BUDGET).await });
    let written = a_proxy
        .stats
        .until(|seen| batch_writes(seen).filter(|s| s.answered_at.is_some()).count() >= BATCHES_BEFORE_V2);
    tokio::select! {
        _ = written => {}
        ended = &mut older => panic!("version 1's import ended before {BATCHES_BEFORE_V2} batches: {ended:?}"),
    }

    // WHEN version 2 is uploaded and its event (a later sequencer) imported
    upload(&b.s3, &key, v2).await;
    let newer = only_file(&b.invoke(s3_event(&key).await, BUDGET).await);
    let older = only_file(&older.await.expect("version 1's import does not panic"));

    // THEN the older import was superseded, the newer one imported every row
    assert_eq!(older["status"], "superseded", "{older}");
    rows(&older);
    assert_eq!(b.job(older["importId"].as_str().unwrap()).await["status"], "superseded");
    b.check_reports(&older).await;
    assert_eq!(newer["status"], "completed", "{newer}");
    assert_eq!(rows(&newer), (ROWS as u64, ROWS as u64, 0, 0), "{newer}");
    assert_eq!(b.job(newer["importId"].as_str().unwrap()).await["status"], "completed");
    b.check_reports(&newer).await;

    // ... and the table holds version 2's rows alone
    assert_eq!(count_observations(&b.dynamodb, &study, SUBJECTS).await, ROWS as u64);
    for (_, item) in observations_of(&b.dynamodb, &study, SUBJECTS).await {
        assert_eq!(item["value"], v2_value(row_index(&item)), "{item}");
        assert_eq!(item["provenance"]["importId"], newer["importId"], "{item}");
    }

    // ... and no write of the older import was still in progress when the newer one's first write arrived
    let first_newer = batch_writes(&b_proxy.stats.seen())
        .map(|s| s.at)
        .min()
        .expect("version 2's import wrote");
    let older_writes: Vec<Seen> = batch_writes(&a_proxy.stats.seen()).cloned().collect();
    assert!(older_writes.len() >= BATCHES_BEFORE_V2);
    let late: Vec<&Seen> = older_writes
        .iter()
        .filter(|s| s.answered_at.is_none_or(|answered| answered > first_newer))
        .collect();
    assert!(
        late.is_empty(),
        "{} of version 1's {} batch writes were answered after version 2's first one arrived, the first: {:?}",
        late.len(),
        older_writes.len(),
        &late[..late.len().min(3)],
    );

    // ... and the audit trail holds, for every item the older import wrote, its create and one overwrite from
    // version 1's value to version 2's; every other item was created by the newer import alone
    streams_delivered(DELIVERY_SECONDS).await;
    let changes = AuditTrail::local()
        .await
        .changes_containing(&env("OBSERVATIONS_TABLE"), &study)
        .await;
    let backwards: Vec<&Value> = changes
        .iter()
        .filter(|c| {
            let (before, after) = (&c["before"], &c["after"]);
            before.is_object()
                && before["value"] == v2_value(row_index(before))
                && after["value"] == v1_value(row_index(after))
        })
        .collect();
    assert!(
        backwards.is_empty(),
        "changes from version 2 back to version 1: {backwards:?}"
    );
    let mut by_item: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for change in &changes {
        by_item.entry(item_key(&change["key"])).or_default().push(change);
    }
    assert_eq!(by_item.len(), ROWS, "every item has its history");
    let why = |import: &Value| serde_json::json!({"kind": "import", "importId": import["importId"]});
    let mut overwritten = 0u64;
    for (item, history) in &by_item {
        match &history[..] {
            [created, changed] if created["why"] == why(&older) => {
                let i = row_index(&created["after"]);
                assert_eq!(created["change"], "create", "{item:?}: {history:?}");
                assert_eq!(created["before"], Value::Null, "{item:?}: {history:?}");
                assert_eq!(created["after"]["value"], v1_value(i), "{item:?}: {history:?}");
                assert_eq!(changed["change"], "overwrite", "{item:?}: {history:?}");
                assert_eq!(changed["why"], why(&newer), "{item:?}: {history:?}");
                assert_eq!(changed["before"], created["after"], "{item:?}: {history:?}");
                assert_eq!(changed["after"]["value"], v2_value(i), "{item:?}: {history:?}");
                overwritten += 1;
            }
            [created] => {
                assert_eq!(created["change"], "create", "{item:?}: {history:?}");
                assert_eq!(created["why"], why(&newer), "{item:?}: {history:?}");
                assert_eq!(
                    created["after"]["value"],
                    v2_value(row_index(&created["after"])),
                    "{item:?}: {history:?}"
                );
            }
            other => panic!("{item:?}: one create by either import and at most one overwrite, got {other:?}"),
        }
    }
    // The older import counted only writes it saw confirmed; one cut off by the stop may have been written too.
    assert!(
        overwritten >= rows(&older).1 && overwritten > 0,
        "{overwritten} items overwritten; {older}"
    );
}
