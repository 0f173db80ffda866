//! Helpers for the integration tests: they run against the local AWS API and function emulator that
//! `scripts/test` starts, and read their addresses from the environment it exports.

pub mod audit;
pub mod fault_proxy;
pub mod gateway;
pub mod http_server;
pub mod idp;
pub mod import_harness;
pub mod jwt;
pub mod logs;
pub mod page;
pub mod runtime_api;
pub mod uploads;

use aws_config::SdkConfig;
use serde_json::Value;
use std::path::PathBuf;

/// A variable that `scripts/test` exports. Missing means the tests were started without the local stack.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through ./scripts/test, which starts the local stack")
    })
}

/// Marks patient data in test inputs: it may be stored, but no log line, report or job record may ever hold it
/// (`scripts/phi_scan.py` checks after the suites).
pub const CANARY: &str = "PHICANARY";

/// Values planted beside [`CANARY`] where a message could repeat a number or a date rather than a text: an age and a
/// pain level out of range, an observation value (stored under `observation_subject`, where the scan finds it) and a
/// collection time in the future. None is a number or date that an id, timestamp, port, size or count of a run holds
/// by accident. Listed once, in `tests/canaries.json`, which `scripts/phi_scan.py` reads too.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Canaries {
    pub age: i64,
    pub pain_level: i64,
    pub observation_value: String,
    pub observation_subject: String,
    pub collected_at: String,
}

pub fn canaries() -> &'static Canaries {
    static CANARIES: std::sync::OnceLock<Canaries> = std::sync::OnceLock::new();
    CANARIES.get_or_init(|| serde_json::from_str(include_str!("../canaries.json")).expect("tests/canaries.json"))
}

/// The planted texts, one of which an answer, report or summary holds if it repeats a planted value: the marker, the
/// numbers as written, the collection time's date (a message might write the time another way).
pub fn canary_texts() -> [String; 5] {
    let c = canaries();
    [
        CANARY.to_owned(),
        c.age.to_string(),
        c.pain_level.to_string(),
        c.observation_value.clone(),
        c.collected_at[..10].to_owned(),
    ]
}

/// The first planted text that `text` holds, if any.
pub fn planted_in(text: &str) -> Option<String> {
    canary_texts()
        .into_iter()
        .find(|planted| text.contains(planted.as_str()))
}

/// SDK configuration for the local AWS API; refuses anything but loopback so tests never touch a real account.
/// Also sends the test process's logs where the checks after the suites read them.
pub async fn local_aws() -> SdkConfig {
    logs::capture();
    let endpoint = env("AWS_ENDPOINT_URL");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS_ENDPOINT_URL must point at the local stack, got {endpoint}"
    );
    shared::aws::sdk_config().await
}

/// A DynamoDB client for another endpoint than the local API (a fault proxy, or a port where nothing listens). An
/// endpoint on the client's own configuration wins over `AWS_ENDPOINT_URL` from the environment.
pub async fn dynamodb_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&local_aws().await)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A DynamoDB client at `endpoint` that makes one attempt per call: every failure reaches the caller's own retries.
pub async fn dynamodb_without_retries_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&local_aws().await)
            .endpoint_url(endpoint)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// The audit trail's bucket on the local S3 API, as the functions write to it (`AUDIT_BUCKET`).
pub async fn local_audit_trail() -> shared::audit::s3::S3AuditTrail {
    shared::audit::s3::S3AuditTrail::new(shared::aws::s3(&local_aws().await), env("AUDIT_BUCKET"))
}

/// A token of the local identity provider for `sub` with `scope` (space-separated), valid for 12 hours: signed with
/// `LOCAL_JWT_SECRET`, with the issuer and the first audience of the template's JWT authorizer. The person belongs
/// to no group (a patient).
pub fn local_token(sub: &str, scope: &str) -> String {
    local_token_in_groups(sub, scope, &[])
}

/// [`local_token`] for a person in `groups` (`cognito:groups`, as Cognito sets it per user): `staff`, `site:S/1`.
pub fn local_token_in_groups(sub: &str, scope: &str, groups: &[&str]) -> String {
    let api = gateway::Api::from_file(&env("GATEWAY_ROUTES"));
    let secret = hex::decode(env("LOCAL_JWT_SECRET")).expect("LOCAL_JWT_SECRET is hex");
    let client_id = api.audience.first().map_or("", String::as_str);
    let claims = access_token_claims(&api.issuer, client_id, sub, scope, groups, 12 * 3600);
    jwt::mint(&secret, &claims)
}

/// Now, in the Unix seconds that tokens' `exp` and `iat` count.
pub fn jwt_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The claims of an access token as Cognito issues them to the app `client_id`, valid for `lifetime_s` from now: the
/// one shape of every local token, whether minted for a test ([`local_token_in_groups`]) or issued by the sign-in
/// stand-in ([`idp`]).
pub fn access_token_claims(
    issuer: &str,
    client_id: &str,
    sub: &str,
    scope: &str,
    groups: &[&str],
    lifetime_s: u64,
) -> Value {
    let now = jwt_now() as u64;
    let mut claims = serde_json::json!({
        "iss": issuer,
        "sub": sub,
        "client_id": client_id,
        "token_use": "access",
        "scope": scope,
        "iat": now,
        "exp": now + lifetime_s,
    });
    if !groups.is_empty() {
        claims["cognito:groups"] = groups.into();
    }
    claims
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// An event file from `events/`, parsed.
pub fn event(name: &str) -> Value {
    let path = repo_path(&format!("events/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// An API Gateway event from `events/` as sent for another caller: the verified claims carry `sub`.
pub fn as_caller(mut event: Value, sub: &str) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub.into();
    event
}

/// The HTTP API fixture `events/http-api-submit-intake.json` from this caller (JWT `sub`), with or without an
/// `Idempotency-Key`, carrying `body`.
pub fn submit_intake(caller: &str, key: Option<&str>, body: &Value) -> lambda_http::Request {
    let mut e = as_caller(event("http-api-submit-intake.json"), caller);
    let headers = e["headers"].as_object_mut().expect("fixture headers");
    match key {
        Some(key) => headers.insert("idempotency-key".into(), key.into()),
        None => headers.remove("idempotency-key"),
    };
    e["body"] = body.to_string().into();
    lambda_http::request::from_str(&e.to_string()).expect("the fixture is an API Gateway event")
}

/// The HTTP API fixture `events/http-api-get-intake.json` from this caller for the intake submission `id`.
pub fn get_intake(caller: &str, id: &str) -> lambda_http::Request {
    let mut e = as_caller(event("http-api-get-intake.json"), caller);
    let path = format!("/questionnaires/intake/{id}");
    e["rawPath"] = path.clone().into();
    e["requestContext"]["http"]["path"] = path.into();
    lambda_http::request::from_str(&e.to_string()).expect("the fixture is an API Gateway event")
}

/// The JSON body of a handler response.
pub fn response_json(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("a JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    }
}

/// One observation item as JSON, if stored.
pub async fn observation(dynamodb: &aws_sdk_dynamodb::Client, pk: &str, sk: &str) -> Option<Value> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = dynamodb
        .get_item()
        .table_name(resource("ObservationsTable"))
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem on the observations table")
        .item?;
    Some(serde_dynamo::from_item(item).expect("an observation item"))
}

/// A unique suffix so that concurrent tests never share items.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The local name of a table or bucket of `template.yaml` (exported by `scripts/test` as `RESOURCE_<LogicalId>`).
pub fn resource(logical_id: &str) -> String {
    env(&format!("RESOURCE_{logical_id}"))
}

/// The S3 event from `events/` that S3 would send for the object now under `raw_key` (S3's form encoding): with
/// its version id, ETag and a sequencer later than any before (none of them for an object that is not there).
pub async fn s3_event(raw_key: &str) -> aws_lambda_events::event::s3::S3Event {
    let mut e = event("s3-put-observations.json");
    e["Records"][0]["s3"]["object"]["key"] = raw_key.into();
    as_sent(e).await
}

/// An S3 event from `events/` as S3 would send it now to the local bucket: each record with the version id and
/// ETag of the object under its key, and sequencers later than any before.
pub async fn as_sent(mut e: Value) -> aws_lambda_events::event::s3::S3Event {
    let s3 = shared::aws::s3(&local_aws().await);
    for record in e["Records"].as_array_mut().expect("records") {
        record["s3"]["bucket"]["name"] = resource("ImportBucket").into();
        let raw_key = record["s3"]["object"]["key"].as_str().unwrap_or_default().to_owned();
        let key = shared::import::event::decode_key(&raw_key).expect("a valid key");
        let head = s3.head_object().bucket(resource("ImportBucket")).key(&key).send().await;
        let object = record["s3"]["object"].as_object_mut().expect("an object");
        object.remove("versionId");
        match head {
            Ok(head) => {
                object.insert("eTag".into(), head.e_tag().unwrap_or_default().trim_matches('"').into());
                if let Some(version) = head.version_id() {
                    object.insert("versionId".into(), version.into());
                }
            }
            Err(_) => {
                object.remove("eTag");
            }
        }
        object.insert("sequencer".into(), sequencer().into());
    }
    serde_json::from_value(e).expect("the generated S3 event deserializes")
}

/// A sequencer as S3 makes them: hexadecimal, growing with every event.
pub fn sequencer() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos() as u64;
    let step = |last: u64| Some(last.max(now) + 1);
    let last = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, step)
        .unwrap_or(now);
    format!("{:020X}", last.max(now) + 1)
}

/// The key of an observations file of `study` at site `S01` (the site `observations_csv` writes).
pub fn observations_key(study: &str, file: &str) -> String {
    format!("imports/observations/{study}/S01/{file}")
}

/// Observations for `subjects` subjects, `rows` rows in all, in study `study`.
pub fn observations_csv(study: &str, rows: usize, subjects: usize) -> String {
    let mut csv = String::from("study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{study},S01,SUBJ-{:03},V1,LAB,ITEM-{i:07},{},mg/dL,2026-03-01T09:30:00Z\n",
            i % subjects,
            70 + i % 90
        ));
    }
    csv
}

/// The row index `i` of an observation [`observations_csv`] wrote (its item is `ITEM-i`; it is on line `i + 2`).
fn written_index(item: &Value) -> usize {
    item["item"]
        .as_str()
        .and_then(|name| name.strip_prefix("ITEM-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an item written by observations_csv: {item}"))
}

/// Asserts that every stored observation of `study` holds what [`observations_csv`] wrote for its item, under its
/// subject.
pub async fn assert_observations_as_written(dynamodb: &aws_sdk_dynamodb::Client, study: &str, subjects: usize) {
    for (subject, item) in observations_of(dynamodb, study, subjects).await {
        let i = written_index(&item);
        assert_eq!(item["value"], (70 + i % 90).to_string(), "{item}");
        assert_eq!(i % subjects, subject, "{item}");
    }
}

/// Asserts that an incomplete import of a file written by [`observations_csv`] stopped at an exact point:
/// `resumeFrom.byteOffset` is where the line `resumeFrom.line` begins in `csv`, every row before that line is stored
/// and counted, none from it on is counted, and of those the table holds at most the rows counted as not reached
/// (writes confirmed or cut off after the checkpoint: a resumed import writes them again under the same keys).
pub async fn assert_exact_resume_point(
    dynamodb: &aws_sdk_dynamodb::Client,
    study: &str,
    subjects: usize,
    csv: &str,
    summary: &Value,
) {
    let resume = &summary["resumeFrom"];
    let line = resume["line"]
        .as_u64()
        .unwrap_or_else(|| panic!("no resume line: {summary}"));
    let offset = resume["byteOffset"]
        .as_u64()
        .unwrap_or_else(|| panic!("no byte offset: {summary}")) as usize;
    assert!(line >= 2, "{summary}");
    let expected_row = csv
        .lines()
        .nth(line as usize - 1)
        .expect("the resume line is in the file");
    let rest = csv
        .get(offset..)
        .unwrap_or_else(|| panic!("byte offset {offset} is outside the file or inside a character"));
    assert!(
        rest.starts_with(&format!("{expected_row}\n")),
        "the bytes at {offset} do not begin line {line}: {:?}",
        rest.get(..80.min(rest.len()))
    );
    assert_eq!(
        csv[..offset].matches('\n').count() as u64,
        line - 1,
        "{line} lines before the offset"
    );

    // Which lines are stored, told by each item's name (ITEM-n is on line n + 2), not by the import's own records.
    let number = |field: &str| summary["rows"][field].as_u64().unwrap();
    let (mut before, mut from, mut beyond_read) = (0, 0, Vec::new());
    for (_, item) in observations_of(dynamodb, study, subjects).await {
        let stored_line = written_index(&item) as u64 + 2;
        if stored_line < line {
            before += 1;
        } else {
            from += 1;
            // Rows from the resume point on that were read are counted as not reached; none beyond them is stored.
            if stored_line >= line + number("notReached") {
                beyond_read.push(stored_line);
            }
        }
    }
    assert_eq!(before, line - 2, "every row before line {line} is stored");
    assert_eq!(
        number("imported") + number("rejected"),
        line - 2,
        "the rows counted are exactly those before the resume point: {summary}"
    );
    assert!(
        from <= number("notReached") && beyond_read.is_empty(),
        "{from} rows stored from line {line} on, lines beyond those read: {beyond_read:?}; {summary}"
    );
}

/// The items of the submissions table that `filter` selects, read over every page of the scan (a page can hold no
/// match while later ones do). `names` and `values` stand for the filter's `#names` and `:values`.
pub async fn scan_submissions(
    dynamodb: &aws_sdk_dynamodb::Client,
    filter: &str,
    names: &[(&str, &str)],
    values: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut scan = dynamodb
            .scan()
            .table_name(resource("SubmissionsTable"))
            .filter_expression(filter)
            .set_exclusive_start_key(start);
        for (name, attribute) in names {
            scan = scan.expression_attribute_names(*name, *attribute);
        }
        for (placeholder, value) in values {
            scan = scan.expression_attribute_values(*placeholder, value.clone());
        }
        let page = scan.send().await.expect("scan the submissions table");
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// The submissions imported from the file at `key` of the import bucket.
pub async fn submissions_from_file(
    dynamodb: &aws_sdk_dynamodb::Client,
    key: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let key = aws_sdk_dynamodb::types::AttributeValue::S(key.to_owned());
    scan_submissions(dynamodb, "provenance.#k = :key", &[("#k", "key")], &[(":key", key)]).await
}

/// Uploads `body` under `key` of the import bucket; the version id S3 gave it.
pub async fn upload(s3: &aws_sdk_s3::Client, key: &str, body: impl Into<Vec<u8>>) -> Option<String> {
    s3.put_object()
        .bucket(resource("ImportBucket"))
        .key(key)
        .body(body.into().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("uploading {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
        .version_id
}

/// The partition keys of one study's observations as [`observations_csv`] spreads them (`SUBJ-000`… at `S01`).
fn study_partitions(study: &str, subjects: usize) -> Vec<String> {
    (0..subjects)
        .map(|subject| format!("{study}#S01#SUBJ-{subject:03}"))
        .collect()
}

/// Observations stored for one study (rows are spread over `subjects` subjects `SUBJ-000`…), with the subject
/// index of each.
pub async fn observations_of(dynamodb: &aws_sdk_dynamodb::Client, study: &str, subjects: usize) -> Vec<(usize, Value)> {
    observations_in(dynamodb, &study_partitions(study, subjects)).await
}

/// Observations stored under the partition keys `pks`, each with the index of its key in `pks`.
pub async fn observations_in(dynamodb: &aws_sdk_dynamodb::Client, pks: &[String]) -> Vec<(usize, Value)> {
    query_partitions(dynamodb, pks, false).await.1
}

/// How many observations one study has stored (counted by DynamoDB, without reading the items).
pub async fn count_observations(dynamodb: &aws_sdk_dynamodb::Client, study: &str, subjects: usize) -> u64 {
    query_partitions(dynamodb, &study_partitions(study, subjects), true)
        .await
        .0
}

async fn query_partitions(
    dynamodb: &aws_sdk_dynamodb::Client,
    pks: &[String],
    count_only: bool,
) -> (u64, Vec<(usize, Value)>) {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let (mut count, mut items) = (0, Vec::new());
    for (index, pk) in pks.iter().enumerate() {
        let mut start = None;
        loop {
            let page = dynamodb
                .query()
                .table_name(resource("ObservationsTable"))
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .select(if count_only {
                    Select::Count
                } else {
                    Select::AllAttributes
                })
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("query observations");
            count += page.count as u64;
            for item in page.items.unwrap_or_default() {
                items.push((index, serde_dynamo::from_item(item).expect("an observation item")));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    (count, items)
}

/// Held by each test that measures time against a real deadline, so that such tests run one at a time: side by
/// side on a two-core machine they slow each other, and the local APIs, past deadlines of a few seconds.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}
