//! The audit trail end to end on the local stack: changes made by imports and by the API reach the write-once store
//! through the tables' streams (the local stand-in for Lambda's stream polling invokes the audit function under
//! cargo lambda watch), reads through the API are recorded before they are answered, and the store refuses to lose
//! a record.

use integration_tests::audit::{streams_delivered, AuditTrail};
use integration_tests::import_harness::{harness, only_file};
use integration_tests::{
    env, local_token, observations_csv, observations_key, observations_of, repo_path, s3_event, unique, upload,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The delivery of what the suites before wrote may take a while on a loaded machine.
const DELIVERY_SECONDS: u64 = 300;

/// The S3 event of the object now under `key`, as uploaded by `principal`.
async fn uploaded_by(key: &str, principal: &str) -> aws_lambda_events::event::s3::S3Event {
    let mut event = serde_json::to_value(s3_event(key).await).unwrap();
    event["Records"][0]["userIdentity"]["principalId"] = principal.into();
    serde_json::from_value(event).unwrap()
}

fn pk_sk(record: &Value) -> (String, String) {
    let key = &record["key"];
    (
        key["pk"].as_str().unwrap().to_owned(),
        key["sk"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_import_that_overwrites_rows_leaves_for_each_item_its_old_and_new_state_the_job_and_the_uploader() {
    let h = harness(|_| {}).await;
    let study = unique("audited");
    let key = observations_key(&study, "visit.csv");
    let first = observations_csv(&study, 12, 3);
    upload(&h.s3, &key, first.clone()).await;
    let one = only_file(
        &h.invoke(
            uploaded_by(&key, "AWS:AIDA-SITE-UPLOADER-1").await,
            Duration::from_secs(60),
        )
        .await,
    );
    assert_eq!(one["status"], "completed", "{one}");
    // A corrected file: every value changes.
    let corrected = first.replace(",mg/dL,", "1,mg/dL,");
    upload(&h.s3, &key, corrected).await;
    let two = only_file(
        &h.invoke(
            uploaded_by(&key, "AWS:AIDA-SITE-UPLOADER-2").await,
            Duration::from_secs(60),
        )
        .await,
    );
    assert_eq!(two["status"], "completed", "{two}");

    streams_delivered(DELIVERY_SECONDS).await;
    let trail = AuditTrail::local().await;
    let changes = trail.changes_containing(&env("OBSERVATIONS_TABLE"), &study).await;
    let mut by_item: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for change in &changes {
        by_item.entry(pk_sk(change)).or_default().push(change);
    }
    let stored = observations_of(&h.dynamodb, &study, 3).await;
    assert_eq!(stored.len(), 12);
    assert_eq!(by_item.len(), 12, "every item has its history: {changes:?}");
    for (_, now) in &stored {
        let item_key = (
            now["pk"].as_str().unwrap().to_owned(),
            now["sk"].as_str().unwrap().to_owned(),
        );
        let [created, overwritten] = by_item[&item_key][..] else {
            panic!("one create and one overwrite of {item_key:?}: {:?}", by_item[&item_key])
        };
        assert_eq!(created["change"], "create");
        assert_eq!(created["before"], Value::Null);
        assert_eq!(
            created["who"],
            json!({"kind": "uploader", "principal": "AWS:AIDA-SITE-UPLOADER-1"})
        );
        assert_eq!(created["why"], json!({"kind": "import", "importId": one["importId"]}));

        assert_eq!(overwritten["change"], "overwrite");
        assert_eq!(
            overwritten["before"], created["after"],
            "the old state is the one the first import wrote"
        );
        assert_eq!(&overwritten["after"], now, "the new state is the one stored");
        assert_eq!(
            overwritten["after"]["value"].as_str().unwrap(),
            format!("{}1", overwritten["before"]["value"].as_str().unwrap())
        );
        assert_eq!(
            overwritten["who"],
            json!({"kind": "uploader", "principal": "AWS:AIDA-SITE-UPLOADER-2"})
        );
        assert_eq!(
            overwritten["why"],
            json!({"kind": "import", "importId": two["importId"]})
        );
        assert_eq!(overwritten["table"], env("OBSERVATIONS_TABLE"));
        assert!(
            overwritten["at"].as_str().is_some_and(|at| at.ends_with('Z')),
            "{overwritten}"
        );
    }

    // The README's way of reading one record's history says the same.
    let (_, first_item) = &stored[0];
    let (pk, sk) = (first_item["pk"].as_str().unwrap(), first_item["sk"].as_str().unwrap());
    let printed = std::process::Command::new(repo_path(".venv/bin/python"))
        .arg(repo_path("scripts/audit_trail.py"))
        .args([
            "history",
            &env("OBSERVATIONS_TABLE"),
            &format!("pk={pk}"),
            &format!("sk={sk}"),
        ])
        .output()
        .expect("scripts/audit_trail.py runs");
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let history: Vec<Value> = String::from_utf8(printed.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expected: Vec<Value> = by_item[&(pk.to_owned(), sk.to_owned())]
        .iter()
        .map(|c| (*c).clone())
        .collect();
    assert_eq!(history, expected);
}

/// Answers of the HTTP API for a POST of `body` with an `Idempotency-Key`.
async fn post_with_key(token: &str, key: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/questionnaires/daily-pain", env("API_URL")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn get(token: &str, id: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/questionnaires/daily-pain/{id}", env("API_URL")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_submission_leaves_one_create_by_its_caller_and_a_replayed_post_leaves_none() {
    let patient = unique("audited-patient");
    let token = local_token(&patient, "questionnaires/submit questionnaires/read");
    let body = json!({"painLevel": 6});
    let (status, first) = post_with_key(&token, "visit-1", &body).await;
    assert_eq!(status, 201, "{first}");
    let (status, replayed) = post_with_key(&token, "visit-1", &body).await;
    assert_eq!((status, &replayed["id"]), (201, &first["id"]), "{replayed}");
    let id = first["id"].as_str().unwrap();

    streams_delivered(DELIVERY_SECONDS).await;
    let trail = AuditTrail::local().await;
    let changes = trail.changes_containing(&env("SUBMISSIONS_TABLE"), id).await;
    let [created] = &changes[..] else {
        panic!("exactly one change of {id}: {changes:?}")
    };
    assert_eq!(created["change"], "create");
    assert_eq!(created["key"], json!({"id": id}));
    assert_eq!(created["who"]["kind"], "caller");
    assert_eq!(created["who"]["subject"], patient.as_str());
    assert!(
        created["who"]["issuer"].as_str().is_some_and(|i| !i.is_empty()),
        "{created}"
    );
    assert_eq!(created["why"]["kind"], "request");
    assert_eq!(created["why"]["requestId"], created["after"]["requestId"]);
    assert_eq!(created["after"]["answers"], body);
    // The idempotency record beside it is not a clinical record.
    let all = trail
        .changes_containing(&env("SUBMISSIONS_TABLE"), "idempotency#")
        .await;
    assert!(all.is_empty(), "{all:?}");
}

#[tokio::test]
async fn every_read_through_the_api_is_recorded_with_who_and_outcome() {
    let (owner, other) = (unique("reader"), unique("reader"));
    let owner_token = local_token(&owner, "questionnaires/submit questionnaires/read");
    let other_token = local_token(&other, "questionnaires/submit questionnaires/read");
    let (status, receipt) = post_with_key(&owner_token, "k", &json!({"painLevel": 2})).await;
    assert_eq!(status, 201, "{receipt}");
    let id = receipt["id"].as_str().unwrap();
    assert_eq!(get(&owner_token, id).await, 200);
    assert_eq!(get(&other_token, id).await, 404);

    // Recorded before the answer: no waiting.
    let reads = AuditTrail::local().await.reads_of(id).await;
    let mut seen: Vec<(String, String)> = reads
        .iter()
        .map(|r| {
            (
                r["who"]["subject"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (owner.clone(), "returned".to_owned()),
        (other.clone(), "not_found".to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "{reads:?}");
    assert!(reads
        .iter()
        .all(|r| r["questionnaire"] == "daily-pain" && r["why"]["kind"] == "request"));
}

#[tokio::test]
async fn the_audit_store_keeps_every_record_version_whoever_asks_to_delete_it() {
    let token = local_token(&unique("kept"), "questionnaires/submit questionnaires/read");
    let (status, receipt) = post_with_key(&token, "k", &json!({"painLevel": 1})).await;
    assert_eq!(status, 201, "{receipt}");
    let id = receipt["id"].as_str().unwrap();
    assert_eq!(get(&token, id).await, 200);
    let trail = AuditTrail::local().await;
    let (key, body) = trail
        .objects("reads/")
        .await
        .into_iter()
        .find(|(_, body)| body.contains(id))
        .expect("the read's record");
    let head = trail
        .s3()
        .head_object()
        .bucket(trail.bucket())
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode().map(|m| m.as_str()), Some("COMPLIANCE"));
    let version = head.version_id().expect("a versioned bucket").to_owned();

    let deleted = trail
        .s3()
        .delete_object()
        .bucket(trail.bucket())
        .key(&key)
        .version_id(&version)
        .send()
        .await;
    assert!(deleted.is_err(), "a locked version was deleted");
    // A delete without a version (the bucket policy refuses it in AWS; the local API enforces no bucket policy) only
    // hides the record behind a marker: the record stays.
    trail
        .s3()
        .delete_object()
        .bucket(trail.bucket())
        .key(&key)
        .send()
        .await
        .unwrap();
    let kept = trail
        .s3()
        .get_object()
        .bucket(trail.bucket())
        .key(&key)
        .version_id(&version)
        .send()
        .await
        .expect("the locked version is still there")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(String::from_utf8(kept.to_vec()).unwrap(), body);
}
