//! One import per object version: duplicate events, concurrent ones, and late events for older versions.

use integration_tests::import_harness::{harness, only_file, rows};
use integration_tests::{
    count_observations, observations_csv, observations_key, resource, s3_event, sequencer, unique, upload,
};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_three_times_and_concurrently_is_one_import_with_one_report() {
    let h = harness(|_| {}).await;
    let study = unique("duplicates");
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, observations_csv(&study, 2_000, 5)).await;
    let event = s3_event(&key).await;

    let budget = Duration::from_secs(60);
    let (a, b, c) = tokio::join!(
        h.invoke(event.clone(), budget),
        h.invoke(event.clone(), budget),
        h.invoke(event.clone(), budget)
    );
    let later = h.invoke(event, budget).await;
    let imported: Vec<Value> = [&a, &b, &c, &later]
        .iter()
        .flat_map(|r| r.files.iter().map(|f| serde_json::to_value(f).unwrap()))
        .collect();
    let skipped: Vec<&str> = [&a, &b, &c, &later]
        .iter()
        .flat_map(|r| r.skipped.iter().map(|s| s.reason.as_str()))
        .collect();
    assert_eq!(imported.len(), 1, "one import: {imported:?}, skipped {skipped:?}");
    assert_eq!(skipped.len(), 3);
    assert!(skipped.iter().all(|r| r.starts_with("duplicate")), "{skipped:?}");
    assert_eq!(rows(&imported[0]), (2_000, 2_000, 0, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 5).await, 2_000);
    h.check_reports(&imported[0]).await;
    let listed =
        h.s3.list_objects_v2()
            .bucket(resource("ImportBucket"))
            .prefix(format!("reports/observations/{study}/"))
            .send()
            .await
            .unwrap();
    assert_eq!(listed.contents().len(), 2, "one summary and one rejected-rows report");
}

#[tokio::test]
async fn an_older_version_arriving_after_a_newer_one_is_superseded_and_overwrites_nothing() {
    let h = harness(|_| {}).await;
    let study = unique("versions");
    let key = observations_key(&study, "data.csv");
    let old_csv = observations_csv(&study, 20, 2).replace(",mg/dL,", ",old-unit,");
    let old_version = upload(&h.s3, &key, old_csv).await.expect("a versioned bucket");
    let old_sequencer = sequencer();
    upload(&h.s3, &key, observations_csv(&study, 20, 2)).await;
    let newer = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_eq!(newer["status"], "completed");

    // The first upload's event, retried hours late.
    let mut late = serde_json::to_value(s3_event(&key).await).unwrap();
    late["Records"][0]["s3"]["object"]["versionId"] = old_version.into();
    late["Records"][0]["s3"]["object"]["sequencer"] = old_sequencer.into();
    let answer = h
        .invoke(serde_json::from_value(late).unwrap(), Duration::from_secs(60))
        .await;
    // A job of its own that ends superseded without reading a row.
    let late = only_file(&answer);
    assert_eq!(late["status"], "superseded", "{late}");
    assert_eq!(rows(&late), (0, 0, 0, 0));
    let job = h.job(late["importId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "superseded");
    for (_, item) in integration_tests::observations_of(&h.dynamodb, &study, 2).await {
        assert_eq!(item["unit"], "mg/dL", "the newer version's rows stay");
    }
}
