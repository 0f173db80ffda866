//! Patient data planted where it could leak: names, free text, cells, header names and unknown field names marked
//! with [`CANARY`], and the numbers and dates of [`canaries`] (an age and a pain level out of range, an observation
//! value, a collection time in the future), sent through every path (the HTTP API, the import in-process and the built
//! binary), valid and invalid. Each test checks the answers it gets; `scripts/phi_scan.py` then reads every log line,
//! report and job record the suites left behind and fails if any planted value is in any of them.

use integration_tests::import_harness::{harness, only_file};
use integration_tests::runtime_api::{built_binary, invoke_once};
use integration_tests::{canaries, env, local_token, planted_in, s3_event, unique, upload, CANARY};
use serde_json::{json, Value};
use std::time::Duration;

fn url(path: &str) -> String {
    format!("{}{path}", env("API_URL"))
}

async fn post(token: &str, kind: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url(&format!("/questionnaires/{kind}")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An answer may name the caller's own paths, but no message may repeat a submitted value.
fn assert_messages_value_free(answer: &Value) {
    let mut texts = vec![answer["detail"].as_str().unwrap_or("").to_owned()];
    for violation in answer["violations"].as_array().into_iter().flatten() {
        texts.push(violation["message"].as_str().unwrap_or("").to_owned());
    }
    for text in texts {
        assert_eq!(planted_in(&text), None, "a message repeats a value: {text}");
    }
}

#[tokio::test]
async fn marked_submissions_valid_and_invalid_through_the_http_api() {
    let patient = local_token(&unique("canary-patient"), "questionnaires/submit questionnaires/read");
    let name = format!("{CANARY} Jane Example");
    let (age, pain) = (canaries().age, canaries().pain_level);
    let cases = [
        ("intake", json!({"patientName": name, "age": age, "hasAllergy": false}).to_string(), 422),
        ("intake", json!({"patientName": "a".repeat(201), "age": -age, "hasAllergy": true}).to_string(), 422),
        ("daily-pain", json!({"painLevel": pain}).to_string(), 422),
        (
            "daily-pain",
            json!({"painLevel": pain, "medicationLogs": vec![json!({"drugName": CANARY, "dosage": "1 g"}); 51]})
                .to_string(),
            422,
        ),
        ("intake", json!({"patientName": name, "age": 42, "hasAllergy": false}).to_string(), 201),
        ("intake", json!({"patientName": name, "age": CANARY, "hasAllergy": CANARY}).to_string(), 422),
        (
            "intake",
            json!({"patientName": format!("{name}\u{0}"), "age": 0, "hasAllergy": true, format!("{CANARY}Note"): CANARY})
                .to_string(),
            422,
        ),
        (
            "daily-pain",
            json!({"painLevel": 4, "medicationLogs": [{"drugName": format!("{CANARY} Ibuprofen"), "dosage": "400 mg"}]})
                .to_string(),
            201,
        ),
        (
            "daily-pain",
            json!({"painLevel": CANARY, "medicationLogs": [{"drugName": format!("{CANARY}\u{202e}"), "dosage": 400}]})
                .to_string(),
            422,
        ),
        (
            "intake",
            json!({"schemaVersion": 2, "fullName": name, "age": 42, "hasAllergy": false, "smokingStatus": "never"})
                .to_string(),
            201,
        ),
        (
            "intake",
            json!({"schemaVersion": 2, "fullName": name, "age": age, "hasAllergy": false, "smokingStatus": CANARY})
                .to_string(),
            422,
        ),
        ("intake", json!({"schemaVersion": CANARY, "patientName": name, "age": 42, "hasAllergy": false}).to_string(), 422),
        ("intake", json!({"schemaVersion": 9, "patientName": name, "age": age, "hasAllergy": false}).to_string(), 422),
        ("intake", format!(r#"{{"patientName":"{name}","patientName":"{name}","age":1,"hasAllergy":true}}"#), 400),
        ("intake", format!(r#"{{"patientName":"{name}","age":"#), 400),
    ];
    for (kind, body, expected) in cases {
        let (status, answer) = post(&patient, kind, body).await;
        assert_eq!(status, expected, "{answer}");
        assert_messages_value_free(&answer);
    }
}

/// Observation rows: valid ones, and cells that break each rule, all carrying the marker or a planted value.
fn observations(study: &str) -> String {
    let c = canaries();
    let (subject, value, future) = (&c.observation_subject, &c.observation_value, &c.collected_at);
    let mut csv = String::from("study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n");
    for i in 0..20 {
        csv.push_str(&format!(
            "{study},S01,SUBJ-{i:03},V1,NOTES,COMMENT,{CANARY} note {i},mmHg,2026-03-01T09:30:00Z\n"
        ));
    }
    csv.push_str(&format!(
        "{study},S01,{subject},V1,LAB,GLUCOSE,{value},mg/dL,2026-03-01T09:30:00Z\n"
    ));
    csv.push_str(&format!("{study},S01,SUBJ-903,V1,LAB,GLUCOSE,{value},mg/dL,{future}\n"));
    csv.push_str(&format!(
        "{study},S01,SUBJ-904,V1,LAB,GLUCOSE,{value}\u{2028},mg/dL,2026-03-01T09:30:00Z\n"
    ));
    csv.push_str(&format!("{study},S01,SUBJ-900,V1,LAB,X,1,,{CANARY}-not-a-date\n"));
    csv.push_str(&format!("{study},S01, {CANARY} ,V1,LAB,X,1,,2026-03-01T09:30:00Z\n"));
    csv.push_str(&format!(
        "{study},S01,SUBJ-901,V1,LAB,X,{CANARY}\u{0},{CANARY}\u{202e},2026-03-01T09:30:00Z\n"
    ));
    csv.push_str(&format!("{study},S01,SUBJ-902,{CANARY}\n"));
    csv
}

/// Intake rows: a valid one, and ones breaking every rule with the marker or a planted age.
fn intake_rows() -> String {
    let age = canaries().age;
    let long = format!("{CANARY} {}", "a".repeat(230));
    format!(
        "patientName,age,hasAllergy\n{CANARY} Jane,42,false\n{CANARY} Joe,{CANARY},{CANARY}\n{CANARY} Ann,{age},true\n\
         {long},-{age},false\n"
    )
}

/// Daily pain rows: JSON cells broken in every way around the marker, and a planted pain level with and without too
/// many medications.
fn daily_pain_rows() -> String {
    let pain = canaries().pain_level;
    let many = format!("[{}]", vec![r#"{""drugName"":""a"",""dosage"":""1 g""}"#; 51].join(","));
    format!(
        "painLevel,medicationLogs\n3,\"[{{\"\"drugName\"\":\"\"{CANARY}\"\",\"\"dosage\"\":1}}]\"\n4,\"[{CANARY}\"\n\
         5,\"[{{\"\"{CANARY}\"\":1,\"\"{CANARY}\"\":2}}]\"\n\
         6,\"[{{\"\"drugName\"\":\"\"a\"\",\"\"dosage\"\":\"\"1\"\",\"\"{CANARY}x\"\":1}}]\"\n\
         {pain},\n{pain},\"{many}\"\n"
    )
}

#[tokio::test]
async fn marked_files_through_the_import_in_process() {
    let h = harness(|_| {}).await;
    let study = unique("canary");
    let files = [
        (
            format!("imports/observations/{study}/S01/rows.csv"),
            observations(&study),
        ),
        (
            format!("imports/observations/{study}/S01/stray-column.csv"),
            format!("study_id,site_id,subject_id,visit,form,item,value,unit,collected_at,{CANARY}col\n"),
        ),
        (
            format!("imports/observations/{study}/S01/no-header.csv"),
            format!("{study},S01,SUBJ-1,V1,LAB,{CANARY},1,,2026-03-01T09:30:00Z\n"),
        ),
        (format!("imports/questionnaires/intake/{study}.csv"), intake_rows()),
        (
            format!("imports/questionnaires/daily-pain/{study}.csv"),
            daily_pain_rows(),
        ),
    ];
    for (key, body) in files {
        upload(&h.s3, &key, body).await;
        let summary = only_file(&h.invoke(s3_event(&key).await, Duration::from_secs(60)).await);
        let report = h.check_reports(&summary).await;
        assert_eq!(
            planted_in(&report),
            None,
            "{key}: the rejected-rows report repeats a cell:\n{report}"
        );
        assert_eq!(
            planted_in(&summary.to_string()),
            None,
            "{key}: the summary repeats file content: {summary}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marked_rows_through_the_built_binary() {
    let study = unique("canary-binary");
    let s3 = shared::aws::s3(&integration_tests::local_aws().await);
    let files = [
        (
            format!("imports/observations/{study}/S01/data.csv"),
            observations(&study),
            6,
        ),
        (format!("imports/questionnaires/intake/{study}.csv"), intake_rows(), 3),
        (
            format!("imports/questionnaires/daily-pain/{study}.csv"),
            daily_pain_rows(),
            6,
        ),
    ];
    for (key, body, rejected) in files {
        upload(&s3, &key, body).await;
        let event = serde_json::to_value(s3_event(&key).await).unwrap();
        let env = [("RUST_LOG", "info".to_owned())];
        let outcome = invoke_once(&built_binary("import-csv"), &event, Duration::from_secs(60), &env).await;
        assert_eq!(outcome.kind, "response", "{:?}", outcome.body);
        assert_eq!(
            outcome.body["files"][0]["rows"]["rejected"], rejected,
            "{key}: {}",
            outcome.body
        );
        assert_eq!(planted_in(&outcome.body.to_string()), None, "{key}: {}", outcome.body);
        let report = s3
            .get_object()
            .bucket(integration_tests::resource("ImportBucket"))
            .key(outcome.body["files"][0]["reports"]["rejectedRows"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let report = String::from_utf8(report.body.collect().await.unwrap().to_vec()).unwrap();
        assert_eq!(
            planted_in(&report),
            None,
            "{key}: the rejected-rows report repeats a cell:\n{report}"
        );
    }
}
