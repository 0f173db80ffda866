//! The import service called in-process with S3 events from `events/` and a `Context` whose deadline we set.

use integration_tests::import_harness::{harness, only_file, rows};
use integration_tests::{
    as_sent, count_observations, event, observation, observations_csv, observations_key, resource, s3_event,
    submissions_from_file, unique, upload,
};

use sha2::Digest;
use std::time::Duration;

#[tokio::test]
async fn a_file_is_imported_with_provenance_and_reports() {
    let h = harness(|_| {}).await;
    let study = unique("golden");
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, observations_csv(&study, 500, 5)).await;

    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(summary["deadline"], "invocation");
    assert_eq!(rows(&summary), (500, 500, 0, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 5).await, 500);
    assert_eq!(h.check_reports(&summary).await, "line,column,code,message\n");

    // The item names its file, object version and line.
    let item = observation(&h.dynamodb, &format!("{study}#S01#SUBJ-001"), "V1#LAB#ITEM-0000001")
        .await
        .expect("stored");
    assert_eq!(item["provenance"]["line"], 3);
    assert_eq!(item["provenance"]["key"], key);
    assert_eq!(item["provenance"]["etag"], summary["etag"]);
    assert_eq!(item["value"], "71");

    // The same version's event again is a duplicate: acknowledged, nothing imported twice.
    let again = h.invoke(s3_event(&key).await, Duration::from_secs(60)).await;
    assert!(
        again.files.is_empty() && again.skipped[0].reason.starts_with("duplicate"),
        "{again:?}"
    );
    // A new upload is a new version, imported on its own: it overwrites the same items, still 500.
    upload(&h.s3, &key, observations_csv(&study, 500, 5)).await;
    let newer = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_ne!(newer["importId"], summary["importId"]);
    assert_eq!(rows(&newer), (500, 500, 0, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 5).await, 500);
}

#[tokio::test]
async fn bad_rows_are_reported_with_line_column_and_code_and_the_rest_imported() {
    let h = harness(|_| {}).await;
    let study = unique("bad-rows");
    let mut csv = observations_csv(&study, 10, 1).into_bytes();
    csv.extend_from_slice(format!("{study},S01,SUBJ-000,V1,LAB,X,1,,not-a-date\n").as_bytes());
    csv.extend_from_slice(format!("{study},S01,SUBJ-000,V1,LAB,Y,").as_bytes());
    csv.extend_from_slice(b"\xff,,2026-03-01T09:30:00Z\n");
    csv.extend_from_slice(format!("{study},S01,SUBJ-000\n").as_bytes());
    csv.extend_from_slice(format!("{study},S01,SUBJ-000,V1,LAB,Z,1,,2026-03-01T09:30:00Z\n").as_bytes());
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, csv).await;

    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_eq!(summary["status"], "completed");
    assert_eq!(rows(&summary), (14, 11, 3, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 1).await, 11);
    let report = h.check_reports(&summary).await;
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "line,column,code,message");
    assert!(lines[1].starts_with("12,collected_at,invalid_format,"), "{report}");
    assert_eq!(lines[2], "13,value,invalid_utf8,is not valid UTF-8");
    assert_eq!(lines[3], "14,,field_count,has 3 field(s); the header has 9");
}

#[tokio::test]
async fn a_header_missing_a_column_rejects_the_file_and_writes_nothing() {
    let h = harness(|_| {}).await;
    let study = unique("bad-header");
    let csv = observations_csv(&study, 20, 1).replacen(",unit,collected_at", ",unit", 1);
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, csv).await;
    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_eq!(summary["status"], "rejected");
    assert_eq!(summary["error"]["code"], "invalid_header");
    assert!(summary["error"]["message"]
        .as_str()
        .unwrap()
        .contains("missing required column(s): collected_at"));
    assert_eq!(rows(&summary), (0, 0, 0, 0));
    assert_eq!(count_observations(&h.dynamodb, &study, 1).await, 0);
    h.check_reports(&summary).await;
}

#[tokio::test]
async fn bom_crlf_and_quoted_newlines_stream_from_s3() {
    let h = harness(|_| {}).await;
    let study = unique("bom");
    let csv = format!(
        "\u{feff}study_id,subject_id,site_id,visit,form,item,value,collected_at\r\n\
         {study},SUBJ-000,S01,V1,AE,TERM,\"Headache, mild\r\nresolved \"\"same day\"\"\",2026-03-01T09:30:00Z\r\n\
         {study},SUBJ-000,S01,V1,AE,GRADE,1,2026-03-01T09:30:00+02:00\r\n"
    );
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, csv).await;
    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_eq!(rows(&summary), (2, 2, 0, 0), "{summary}");
    let item = observation(&h.dynamodb, &format!("{study}#S01#SUBJ-000"), "V1#AE#GRADE")
        .await
        .expect("stored");
    assert_eq!(item["provenance"]["line"], 4);
}

#[tokio::test]
async fn plus_encoded_key_from_the_event_file_is_decoded() {
    let h = harness(|_| {}).await;
    let e = event("s3-put-encoded-key.json");
    let raw = e["Records"][0]["s3"]["object"]["key"].as_str().unwrap();
    assert!(raw.contains('+'));
    let decoded = shared::import::event::decode_key(raw).unwrap();
    assert_eq!(decoded, "imports/observations/CARDIO-7/site 02/week 4 visit.csv");
    let subject = unique("SUBJ");
    let csv = format!(
        "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n\
         CARDIO-7,site 02,{subject},W4,VITALS,SYSBP,120,mmHg,2026-03-01T09:30:00Z\n"
    );
    upload(&h.s3, &decoded, csv).await;
    let summary = only_file(&h.invoke(s3_event(raw).await, Duration::from_secs(60)).await);
    assert_eq!(summary["key"], decoded);
    assert_eq!(rows(&summary), (1, 1, 0, 0));
    assert_eq!(
        summary["reports"]["summary"].as_str().unwrap().split('/').nth(3),
        Some("site 02")
    );
}

#[tokio::test]
async fn several_records_are_imported_in_turn_and_foreign_keys_skipped() {
    let h = harness(|_| {}).await;
    let study = "CARDIO-7";
    upload(
        &h.s3,
        "imports/observations/CARDIO-7/S01/visit-baseline.csv",
        observations_csv(study, 30, 2),
    )
    .await;
    upload(
        &h.s3,
        "imports/questionnaires/intake/paper batch 1.csv",
        "patientName,age,hasAllergy\nJane Example,42,false\n ,0,maybe\n",
    )
    .await;
    // The event as S3 sends it for these uploads: their version ids and ETags.
    let e = as_sent(event("s3-put-several-records.json")).await;
    let response = h.invoke(e, Duration::from_secs(60)).await;
    assert_eq!(response.files.len(), 2);
    assert_eq!(response.skipped.len(), 1, "the reports/ record is skipped");
    let observations = serde_json::to_value(&response.files[0]).unwrap();
    let intake = serde_json::to_value(&response.files[1]).unwrap();
    assert_eq!(rows(&observations), (30, 30, 0, 0));
    assert_eq!(intake["dataset"], "questionnaires/intake");
    assert_eq!(rows(&intake), (2, 1, 1, 0));
    let report = h.check_reports(&intake).await;
    assert!(report.contains("3,patientName,too_short,"), "{report}");
    assert!(report.contains("3,age,out_of_range,"), "{report}");
    assert!(report.contains("3,hasAllergy,wrong_type,"), "{report}");
}

#[tokio::test]
async fn unknown_datasets_and_missing_objects_are_reported_not_fatal() {
    let h = harness(|_| {}).await;
    // Events name uploaded objects (a record naming no version and no ETag is not imported at all).
    let labs = format!("imports/labs/{}.csv", unique("x"));
    upload(&h.s3, &labs, "a,b\n1,2\n").await;
    let unknown = only_file(&h.invoke(s3_event(&labs).await, Duration::from_secs(60)).await);
    assert_eq!(
        (unknown["status"].as_str(), unknown["error"]["code"].as_str()),
        (Some("rejected"), Some("unknown_dataset"))
    );
    let mood = format!("imports/questionnaires/mood/{}.csv", unique("x"));
    upload(&h.s3, &mood, "a,b\n1,2\n").await;
    let kind = only_file(&h.invoke(s3_event(&mood).await, Duration::from_secs(60)).await);
    assert_eq!(kind["error"]["code"], "unknown_dataset");
    // The version the event names is deleted before the import reads it.
    let gone = observations_key(&unique("gone"), "data.csv");
    let version = upload(&h.s3, &gone, observations_csv("gone", 1, 1)).await;
    let event = s3_event(&gone).await;
    h.s3.delete_object()
        .bucket(resource("ImportBucket"))
        .key(&gone)
        .set_version_id(version)
        .send()
        .await
        .unwrap();
    let missing = only_file(&h.invoke(event, Duration::from_secs(60)).await);
    assert_eq!(
        (missing["status"].as_str(), missing["error"]["code"].as_str()),
        (Some("failed"), Some("object_not_found"))
    );
    h.check_reports(&missing).await;
    let other = h.invoke(s3_event("uploads/x.csv").await, Duration::from_secs(60)).await;
    assert!(other.files.is_empty());
    assert_eq!(other.skipped.len(), 1);
}

#[tokio::test]
async fn a_backfill_names_the_form_version_in_its_key_and_each_row_is_stored_as_that_version() {
    let h = harness(|_| {}).await;
    let v1_key = format!("imports/questionnaires/intake/v1/{}.csv", unique("paper"));
    let v2_key = format!("imports/questionnaires/intake/v2/{}.csv", unique("paper"));
    upload(
        &h.s3,
        &v1_key,
        "patientName,age,hasAllergy\nJane Example,42,true\nJohn Example,0,false\n",
    )
    .await;
    upload(
        &h.s3,
        &v2_key,
        "fullName,age,hasAllergy,smokingStatus\nJane Example,42,true,former\nJohn Example,40,false,sometimes\n",
    )
    .await;
    // A version-1 file where version 2 is named: refused by its header, nothing written.
    let mismatched = format!("imports/questionnaires/intake/v2/{}.csv", unique("paper"));
    upload(&h.s3, &mismatched, "patientName,age,hasAllergy\nJane Example,42,true\n").await;

    for (key, version, rejected_code) in [
        (&v1_key, "1", "3,age,out_of_range"),
        (&v2_key, "2", "3,smokingStatus,unknown_option"),
    ] {
        let summary = only_file(&h.invoke(s3_event(key).await, Duration::from_secs(60)).await);
        assert_eq!(rows(&summary), (2, 1, 1, 0), "{summary}");
        let report = h.check_reports(&summary).await;
        assert!(report.contains(rejected_code), "{report}");
        let items = submissions_from_file(&h.dynamodb, key).await;
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["schemaVersion"].as_n().unwrap(), version, "{key}");
    }
    let v1 = submissions_from_file(&h.dynamodb, &v1_key).await;
    assert!(v1[0]["answers"].as_m().unwrap().contains_key("patientName"));

    let summary = only_file(&h.invoke(s3_event(&mismatched).await, Duration::from_secs(60)).await);
    assert_eq!(summary["status"], "rejected", "{summary}");
    assert_eq!(summary["error"]["code"], "invalid_header", "{summary}");
    assert!(submissions_from_file(&h.dynamodb, &mismatched).await.is_empty());
}

#[tokio::test]
async fn backfilled_questionnaires_are_typed_submissions_readable_through_the_api() {
    let h = harness(|_| {}).await;
    let key = format!("imports/questionnaires/daily-pain/{}.csv", unique("paper"));
    let csv = "painLevel,medicationLogs\n\
               4,\"[{\"\"drugName\"\":\"\"Ibuprofen\"\",\"\"dosage\"\":\"\"400 mg\"\"}]\"\n\
               2,\n\
               11,\"[{\"\"drugName\"\":\"\"\"\"}]\"\n";
    upload(&h.s3, &key, csv).await;
    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
    assert_eq!(rows(&summary), (3, 2, 1, 0), "{summary}");
    let report = h.check_reports(&summary).await;
    assert!(report.contains("4,painLevel,out_of_range"), "{report}");
    assert!(report.contains("4,medicationLogs/0/drugName,too_short"), "{report}");
    assert!(report.contains("4,medicationLogs/0/dosage,missing"), "{report}");

    // Read a row back through the API's store: it is the same typed submission, marked as imported.
    let store = shared::store::DynamoSubmissionStore::new(h.dynamodb.clone(), resource("SubmissionsTable"));
    let stored_ids = || async {
        let items = submissions_from_file(&h.dynamodb, &key).await;
        let mut ids: Vec<String> = items.iter().map(|i| i["id"].as_s().unwrap().clone()).collect();
        ids.sort();
        ids
    };
    let ids = stored_ids().await;
    assert_eq!(ids.len(), 2);
    let record = shared::store::SubmissionStore::get(&store, &ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.submitted_by, None, "an upload is no patient's own submission");
    assert_eq!(record.imported_by.as_deref(), Some("EXAMPLE"), "the event's principal");
    let kind = shared::questionnaire::find("daily-pain").unwrap();
    let mut levels = Vec::new();
    for id in &ids {
        let stored = shared::store::SubmissionStore::get(&store, id).await.unwrap().unwrap();
        let version = kind.version(stored.schema_version).expect("a version of the kind");
        let answers = version
            .read(stored.answers)
            .expect("stored answers pass the type again");
        levels.push(answers["painLevel"].as_u64().unwrap());
    }
    levels.sort_unstable();
    assert_eq!(levels, [2, 4], "the two valid rows' answers");

    // The ids are not what anyone could compute from public facts (bucket, key, line, upload time) ...
    let object_ms = ulid::Ulid::from_string(&ids[0]).unwrap().timestamp_ms();
    for line in [2u64, 3] {
        let digest = sha2::Sha256::new()
            .chain_update(resource("ImportBucket").as_bytes())
            .chain_update([0])
            .chain_update(key.as_bytes())
            .chain_update([0])
            .chain_update(line.to_be_bytes())
            .finalize();
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        let guess = ulid::Ulid::from_parts(object_ms, u128::from_be_bytes(random)).to_string();
        assert!(!ids.contains(&guess), "line {line}'s id follows from public facts");
    }
    // ... and a redelivered event for the same object version writes no new ones: one job per object version.
    let again = h.invoke(s3_event(&key).await, Duration::from_secs(60)).await;
    assert_eq!(again.skipped[0].import_id.as_deref(), summary["importId"].as_str());
    assert_eq!(stored_ids().await, ids);
}

#[tokio::test]
async fn concurrency_against_dynamodb_stays_within_the_bound() {
    let h = harness(|c| c.concurrency = 3).await;
    let study = unique("bounded");
    let key = observations_key(&study, "data.csv");
    upload(&h.s3, &key, observations_csv(&study, 3000, 10)).await;
    let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(120)).await);
    assert_eq!(rows(&summary), (3000, 3000, 0, 0));
    let peak = summary["peakWritesInFlight"].as_u64().unwrap();
    assert!((2..=3).contains(&peak), "peak {peak}");
}
