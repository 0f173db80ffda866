//! A site's coordinator imports a file through the HTTPS API as a coordinator's tool does: over real HTTP through the
//! local HTTP API (routes, JWT authorizer and scopes of template.yaml) to the functions, the upload with the signed
//! request to the local S3 API, and the import started by the local stand-in of the bucket's notification.

use integration_tests::uploads::{announcement, put_signed};
use integration_tests::{env, local_aws, local_token, local_token_in_groups, observations_in, unique};
use reqwest::StatusCode;
use serde_json::Value;

const COORDINATOR_APP: &str = "imports/upload imports/read";
const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at";

/// A site's coordinator: the person (with the site's grant) and their tool's token.
struct Coordinator {
    study: String,
    sub: String,
    token: String,
}

fn coordinator(study: &str, site: &str) -> Coordinator {
    let sub = unique("coordinator");
    let token = local_token_in_groups(&sub, COORDINATOR_APP, &[&format!("site:{study}/{site}")]);
    Coordinator {
        study: study.to_owned(),
        sub,
        token,
    }
}

async fn call(token: &str, method: reqwest::Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", env("API_URL")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the local HTTP API answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn announce(site: &Coordinator, as_site: &str, content: &[u8]) -> (StatusCode, Value) {
    let body = announcement(&site.study, as_site, "visit 3.csv", content);
    call(&site.token, reqwest::Method::POST, "/imports/observations", Some(&body)).await
}

async fn status(token: &str, id: &str) -> (StatusCode, Value) {
    call(token, reqwest::Method::GET, &format!("/imports/{id}"), None).await
}

/// Awaits the delivery of every upload so far to the import function, and its answer.
async fn delivered() {
    let response = reqwest::Client::new()
        .post(format!("{}/drain", env("S3_EVENTS_URL")))
        .send()
        .await
        .expect("the local S3 event stand-in answers");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
}

fn rows(study: &str, site: &str, values: &[(&str, &str)]) -> Vec<u8> {
    let mut csv = format!("{HEADER}\n");
    for (n, (value, collected)) in values.iter().enumerate() {
        csv.push_str(&format!(
            "{study},{site},SUBJ-{n},V1,VITALS,SYSBP,{value},mmHg,{collected}\n"
        ));
    }
    csv.into_bytes()
}

#[tokio::test]
async fn a_coordinator_uploads_with_the_url_follows_the_import_and_reads_the_rejected_rows() {
    let study = unique("study");
    let (one, two) = (coordinator(&study, "SITE-1"), coordinator(&study, "SITE-2"));
    let good = "2026-03-01T09:30:00Z";
    let content = rows(
        &study,
        "SITE-1",
        &[("120", good), ("118", "never"), ("121", good), ("", good)],
    );

    let (code, announced) = announce(&one, "SITE-1", &content).await;
    assert_eq!(code, StatusCode::CREATED, "{announced}");
    let id = announced["importId"].as_str().unwrap().to_owned();
    let (code, waiting) = status(&one.token, &id).await;
    assert_eq!(
        (code, &waiting["status"]),
        (StatusCode::OK, &"awaiting_upload".into()),
        "{waiting}"
    );

    let put = put_signed(&announced["upload"], content.clone()).await;
    assert!(put.status().is_success(), "{}", put.status());
    delivered().await;

    let (code, done) = status(&one.token, &id).await;
    assert_eq!(code, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["counts"],
        serde_json::json!({"total": 4, "imported": 2, "rejected": 2, "notReached": 0})
    );
    let size = content.len();
    assert_eq!(
        done["progress"],
        serde_json::json!({"rowsDone": 4, "bytesDone": size, "bytesTotal": size, "invocations": 1})
    );
    assert_eq!(
        (done["requestedBy"].as_str(), done["fileName"].as_str()),
        (Some(one.sub.as_str()), Some("visit 3.csv"))
    );

    // The rejected rows, through the short-lived link: line, column, code and message, never the value.
    let link = done["reports"]["rejectedRowsUrl"].as_str().expect("a report link");
    let report = reqwest::get(link).await.unwrap();
    assert_eq!(report.status(), StatusCode::OK);
    let report = report.text().await.unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines[0], "line,column,code,message", "{report}");
    assert_eq!(lines.len(), 3, "{report}");
    assert!(
        lines[1].starts_with("3,collected_at,") && lines[2].starts_with("5,value,missing,"),
        "{report}"
    );
    assert!(!report.contains("never"), "{report}");

    // Every row was imported as uploaded by the coordinator who asked for the URL.
    let dynamodb = shared::aws::dynamodb(&local_aws().await);
    let pks: Vec<String> = [0, 2].iter().map(|n| format!("{study}#SITE-1#SUBJ-{n}")).collect();
    let stored = observations_in(&dynamodb, &pks).await;
    assert_eq!(stored.len(), 2);
    assert!(
        stored.iter().all(|(_, item)| item["importedBy"] == one.sub.as_str()),
        "{stored:?}"
    );

    // The site's list starts with it.
    let (code, list) = call(
        &one.token,
        reqwest::Method::GET,
        &format!("/imports?study={study}&site=SITE-1"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(list["imports"][0]["importId"], id.as_str());
    assert_eq!(list["imports"][0]["status"], "completed");

    // Another site's coordinator: the import is unknown to them, and they cannot ask for a URL of this site.
    let (code, problem) = status(&two.token, &id).await;
    assert_eq!(
        (code, &problem["code"]),
        (StatusCode::NOT_FOUND, &"not_found".into()),
        "{problem}"
    );
    let (code, problem) = announce(&two, "SITE-1", &content).await;
    assert_eq!(
        (code, &problem["code"]),
        (StatusCode::FORBIDDEN, &"no_site_grant".into()),
        "{problem}"
    );
    let (code, _) = call(
        &two.token,
        reqwest::Method::GET,
        &format!("/imports?study={study}&site=SITE-1"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // A patient's token: the app may not upload (the authorizer's scope check answers before the function).
    let patient = local_token(&unique("patient"), "questionnaires/submit questionnaires/read");
    let body = announcement(&study, "SITE-1", "x.csv", &content);
    let (code, _) = call(&patient, reqwest::Method::POST, "/imports/observations", Some(&body)).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = status(&patient, &id).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
}

/// The local S3 API (moto) checks neither a pre-signed URL's signature nor the length and checksum it binds, as S3
/// does (the signed headers are checked in `shared::api::imports::presign`'s tests): here the import refuses
/// whatever arrives that is not the announced file, so that it is never imported either way.
#[tokio::test]
async fn a_file_other_than_the_announced_one_is_refused_by_s3_or_never_imported() {
    let study = unique("study");
    let one = coordinator(&study, "SITE-1");
    let good = "2026-03-01T09:30:00Z";
    let announced_content = rows(&study, "SITE-1", &[("120", good), ("121", good)]);
    let same_length = rows(&study, "SITE-1", &[("130", good), ("131", good)]);
    let longer = rows(&study, "SITE-1", &[("120", good), ("121", good), ("122", good)]);
    assert_eq!(announced_content.len(), same_length.len());

    for (sent, code) in [(same_length, "checksum_mismatch"), (longer, "size_mismatch")] {
        let (status_code, announced) = announce(&one, "SITE-1", &announced_content).await;
        assert_eq!(status_code, StatusCode::CREATED, "{announced}");
        let id = announced["importId"].as_str().unwrap().to_owned();
        let put = put_signed(&announced["upload"], sent).await;
        delivered().await;
        let (_, view) = status(&one.token, &id).await;
        if put.status().is_success() {
            assert_eq!(view["status"], "failed", "{view}");
            assert_eq!(view["error"]["code"], code, "{view}");
            assert!(view.get("counts").is_none(), "{view}");
        } else {
            assert_eq!(view["status"], "awaiting_upload", "{view}");
        }
    }
    let dynamodb = shared::aws::dynamodb(&local_aws().await);
    let pks: Vec<String> = (0..3).map(|n| format!("{study}#SITE-1#SUBJ-{n}")).collect();
    assert!(
        observations_in(&dynamodb, &pks).await.is_empty(),
        "nothing of it was imported"
    );
}
