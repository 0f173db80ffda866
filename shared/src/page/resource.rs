//! The CloudFormation custom resource protocol for the page. CloudFormation sends Create, Update or Delete and then
//! waits for one answer PUT to the event's pre-signed `ResponseURL` — for up to an hour if none comes. So every
//! event with a `ResponseURL` is answered, whatever happens: a bad property, a failed put and the invocation's
//! deadline drawing near all become a FAILED answer with a reason, sent before the invocation ends.
//!
//! - Create and Update publish: every embedded file and `config.json`, then remove the objects the publication no
//!   longer has (a file deleted from `web/`).
//! - Delete empties the bucket (every version: it is versioned), so that CloudFormation can delete it; a bucket
//!   already empty or gone, or properties that do not even name one, are no failure — a Delete that fails would
//!   leave the stack stuck in DELETE_FAILED.
//! - The physical id names the bucket: when an Update moves the page to another bucket, the id changes and
//!   CloudFormation sends a Delete for the old one, which empties the old bucket.

use super::config::Publication;
use super::files::{plan, PageFile};
use super::{PageStore, Responder};
use crate::error::{chain, truncate, BoxError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};
use tokio::time::{timeout_at, Instant};

/// Kept before the invocation's deadline for sending the answer.
pub const ANSWER_RESERVE: Duration = Duration::from_secs(4);
/// How much of [`ANSWER_RESERVE`] the answer's PUT may take: the rest is for returning before the deadline, so
/// that a response URL that never answers ends in an error Lambda retries rather than a timed-out invocation.
pub const ANSWER_SEND: Duration = Duration::from_secs(3);
/// The time assumed when the invocation's deadline is absent, past or implausible (local emulators).
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(60);
/// Lambda never allows more than 15 minutes.
const LONGEST_PLAUSIBLE: Duration = Duration::from_secs(16 * 60);
/// CloudFormation takes answer documents of up to 4096 bytes; the reason is the only part of ours that can grow, so
/// it is cut to what keeps the serialized document below that.
const ANSWER_BYTES: usize = 4096;

/// The part of the event this resource reads. Each field is read on its own from the raw event ([`Request::read`]),
/// so that one of the wrong type still leaves the others, above all the `ResponseURL`, to answer with.
#[derive(Debug, Default)]
struct Request {
    request_type: String,
    response_url: String,
    stack_id: String,
    request_id: String,
    logical_resource_id: String,
    physical_resource_id: Option<String>,
    resource_properties: Value,
    /// The fields present with the wrong type, by name (never by value): such an event is answered FAILED.
    malformed: Vec<&'static str>,
}

impl Request {
    /// The fields of `event`; a missing one reads as empty (absent), one of the wrong type too, and is noted.
    fn read(event: &Value) -> Self {
        let mut malformed = Vec::new();
        let mut text = |name: &'static str| match event.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(value)) => Some(value.clone()),
            Some(_) => {
                malformed.push(name);
                None
            }
        };
        let response_url = text("ResponseURL").unwrap_or_default();
        let stack_id = text("StackId").unwrap_or_default();
        let request_id = text("RequestId").unwrap_or_default();
        let logical_resource_id = text("LogicalResourceId").unwrap_or_default();
        let physical_resource_id = text("PhysicalResourceId");
        let request_type = text("RequestType").unwrap_or_default();
        Self {
            request_type,
            response_url,
            stack_id,
            request_id,
            logical_resource_id,
            physical_resource_id,
            // Checked by what reads it: a Create or Update needs an object, a Delete makes do without.
            resource_properties: event.get("ResourceProperties").cloned().unwrap_or_default(),
            malformed,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
}

/// The answer document CloudFormation reads from the `ResponseURL`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Answer {
    pub status: Status,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

/// What the invocation did, as the function returns it (and logs it): no page content, no configuration values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub request_type: String,
    pub status: Status,
    pub reason: String,
    pub physical_resource_id: String,
    /// Objects put (the page's files and config.json).
    pub published: usize,
    /// Objects removed: stale ones after a publication, everything (each version) on Delete.
    pub removed: usize,
}

/// The instant the answer must be sent by: the invocation's deadline less [`ANSWER_RESERVE`]; a deadline that is
/// absent (`None`), already past or further than Lambda allows gives [`FALLBACK_BUDGET`] from now instead.
pub fn answer_by(deadline: Option<SystemTime>) -> Instant {
    answer_by_from(deadline, SystemTime::now(), Instant::now())
}

/// [`answer_by`] as seen at `now` (the same moment on both clocks).
fn answer_by_from(deadline: Option<SystemTime>, now: SystemTime, instant: Instant) -> Instant {
    let left = deadline
        .and_then(|d| d.duration_since(now).ok())
        .filter(|left| *left > ANSWER_RESERVE && *left <= LONGEST_PLAUSIBLE);
    match left {
        Some(left) => instant + (left - ANSWER_RESERVE),
        None => {
            tracing::warn!(
                ?deadline,
                "the invocation's deadline is unusable; the fallback budget applies"
            );
            instant + FALLBACK_BUDGET
        }
    }
}

/// Handles one custom resource event: does what it asks until `answer_by`, then answers its `ResponseURL`. Returns
/// an error only when there is nobody to answer (no `ResponseURL`) or the answer could not be sent: Lambda then
/// retries the invocation, which does the same work again (puts and deletes are idempotent) and answers again.
pub async fn handle<S: PageStore, R: Responder>(
    event: Value,
    files: &[PageFile<'_>],
    store: &S,
    responder: &R,
    answer_by: Instant,
) -> Result<Outcome, BoxError> {
    let request = Request::read(&event);
    if request.response_url.is_empty() {
        return Err("not a CloudFormation custom resource event: it has no ResponseURL to answer".into());
    }
    let work = act(&request, files, store);
    let outcome = match timeout_at(answer_by, work).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome {
            request_type: request.request_type.clone(),
            status: Status::Failed,
            reason: "the page was not published before the invocation's deadline; deploy again".into(),
            physical_resource_id: kept_id(&request),
            published: 0,
            removed: 0,
        },
    };
    let body = answer(&request, &outcome);
    // The PUT may take what is left of the reserve, then the invocation returns (an error: Lambda retries it).
    let send_by = answer_by + ANSWER_SEND;
    match timeout_at(send_by, responder.put(&request.response_url, body)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(format!("the answer could not be sent to CloudFormation: {}", chain(e.as_ref())).into())
        }
        Err(_) => return Err("the answer could not be sent to CloudFormation: no reply before the deadline".into()),
    }
    tracing::info!(
        request_type = %outcome.request_type,
        status = ?outcome.status,
        reason = %outcome.reason,
        published = outcome.published,
        removed = outcome.removed,
        "custom resource answered"
    );
    Ok(outcome)
}

/// The answer document for `outcome`, serialized: below [`ANSWER_BYTES`], its reason cut to fit when it is long.
fn answer(request: &Request, outcome: &Outcome) -> Vec<u8> {
    let mut document = Answer {
        status: outcome.status,
        reason: String::new(),
        physical_resource_id: outcome.physical_resource_id.clone(),
        stack_id: request.stack_id.clone(),
        request_id: request.request_id.clone(),
        logical_resource_id: request.logical_resource_id.clone(),
    };
    // A plain struct of strings: serialization cannot fail.
    let bare = serde_json::to_vec(&document).unwrap_or_default().len();
    document.reason = cut_to_bytes(&outcome.reason, (ANSWER_BYTES - 1).saturating_sub(bare));
    serde_json::to_vec(&document).unwrap_or_default()
}

/// The longest beginning of `text` whose JSON string body (escapes included) takes at most `budget` bytes, with an
/// ellipsis marking a cut: characters are up to 4 bytes in UTF-8 and control characters 6 once escaped, so counting
/// characters does not bound the size.
fn cut_to_bytes(text: &str, budget: usize) -> String {
    fn escaped(c: char) -> usize {
        match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if c < ' ' => 6,
            c => c.len_utf8(),
        }
    }
    if text.chars().map(escaped).sum::<usize>() <= budget {
        return text.to_owned();
    }
    let Some(room) = budget.checked_sub('…'.len_utf8()) else {
        return String::new();
    };
    let mut used = 0;
    let mut cut = String::new();
    for c in text.chars() {
        used += escaped(c);
        if used > room {
            break;
        }
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// The physical id of the page in `bucket`.
pub fn page_id(bucket: &str) -> String {
    format!("coordinator-page:{bucket}")
}

/// The id CloudFormation already knows (Update, Delete), or a placeholder for a Create that failed early.
fn kept_id(request: &Request) -> String {
    request
        .physical_resource_id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "coordinator-page:not-created".into())
}

async fn act<S: PageStore>(request: &Request, files: &[PageFile<'_>], store: &S) -> Outcome {
    let mut outcome = Outcome {
        request_type: request.request_type.clone(),
        status: Status::Success,
        reason: String::new(),
        physical_resource_id: kept_id(request),
        published: 0,
        removed: 0,
    };
    if !request.malformed.is_empty() {
        outcome.status = Status::Failed;
        outcome.reason = format!("the event is malformed: {} must be text", request.malformed.join(", "));
        return outcome;
    }
    let result = match request.request_type.as_str() {
        "Create" | "Update" => publish(request, files, store, &mut outcome).await,
        "Delete" => remove(request, store, &mut outcome).await,
        other => Err(format!(
            "unknown RequestType {:?}: expected Create, Update or Delete",
            truncate(other, 40)
        )
        .into()),
    };
    match result {
        Ok(()) => {}
        Err(error) => {
            outcome.status = Status::Failed;
            outcome.reason = chain(error.as_ref());
        }
    }
    outcome
}

async fn publish<S: PageStore>(
    request: &Request,
    files: &[PageFile<'_>],
    store: &S,
    outcome: &mut Outcome,
) -> Result<(), BoxError> {
    let publication = Publication::from_properties(&request.resource_properties)?;
    let objects = plan(files, publication.config.to_json())?;
    let bucket = &publication.bucket;
    for object in &objects {
        store
            .put(bucket, object)
            .await
            .map_err(|e| format!("putting {} into the page bucket: {}", object.key, chain(e.as_ref())))?;
        outcome.published += 1;
    }
    let published: BTreeSet<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    let stale: Vec<String> = store
        .keys(bucket)
        .await
        .map_err(|e| format!("listing the page bucket: {}", chain(e.as_ref())))?
        .into_iter()
        .filter(|key| !published.contains(key.as_str()))
        .collect();
    store
        .remove(bucket, &stale)
        .await
        .map_err(|e| format!("removing files the page no longer has: {}", chain(e.as_ref())))?;
    outcome.removed = stale.len();
    outcome.physical_resource_id = page_id(bucket);
    outcome.reason = format!("published {} objects, removed {}", outcome.published, outcome.removed);
    Ok(())
}

async fn remove<S: PageStore>(request: &Request, store: &S, outcome: &mut Outcome) -> Result<(), BoxError> {
    let Some(bucket) = super::config::Publication::bucket_of(&request.resource_properties) else {
        outcome.reason = "no bucket named: nothing to remove".into();
        return Ok(());
    };
    // A Create that failed before it published anything still gets a Delete (on rollback): emptying an empty
    // bucket is harmless.
    let keys = store.keys(&bucket).await.map(|k| k.len()).unwrap_or(0);
    store
        .empty(&bucket)
        .await
        .map_err(|e| format!("emptying the page bucket: {}", chain(e.as_ref())))?;
    outcome.removed = keys;
    outcome.reason = format!("removed the page ({keys} objects)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::config::tests::properties;
    use super::super::PageObject;
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A bucket in memory: current objects by key, and how many versions each key has had.
    #[derive(Default)]
    struct Memory {
        objects: Mutex<BTreeMap<(String, String), PageObject>>,
        fail_puts: bool,
        hang: bool,
    }

    impl PageStore for Memory {
        async fn put(&self, bucket: &str, object: &PageObject) -> Result<(), BoxError> {
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self.fail_puts {
                return Err("AccessDenied".into());
            }
            let key = (bucket.to_owned(), object.key.clone());
            self.objects.lock().unwrap().insert(key, object.clone());
            Ok(())
        }
        async fn keys(&self, bucket: &str) -> Result<Vec<String>, BoxError> {
            let objects = self.objects.lock().unwrap();
            Ok(objects
                .keys()
                .filter(|(b, _)| b == bucket)
                .map(|(_, k)| k.clone())
                .collect())
        }
        async fn remove(&self, bucket: &str, keys: &[String]) -> Result<(), BoxError> {
            let mut objects = self.objects.lock().unwrap();
            for key in keys {
                objects.remove(&(bucket.to_owned(), key.clone()));
            }
            Ok(())
        }
        async fn empty(&self, bucket: &str) -> Result<(), BoxError> {
            self.objects.lock().unwrap().retain(|(b, _), _| b != bucket);
            Ok(())
        }
    }

    #[derive(Default)]
    struct Answers {
        sent: Mutex<Vec<(String, Value)>>,
        refuse: bool,
        hang: bool,
    }

    impl Responder for Answers {
        async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), BoxError> {
            if self.hang {
                // Longer than any invocation (the clock is paused: this takes no real time).
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            if self.refuse {
                return Err("connection refused".into());
            }
            let body = serde_json::from_slice(&body)?;
            self.sent.lock().unwrap().push((url.to_owned(), body));
            Ok(())
        }
    }

    const FILES: [PageFile<'static>; 3] = [
        PageFile {
            path: "index.html",
            bytes: b"<!doctype html>",
        },
        PageFile {
            path: "app.js",
            bytes: b"export {}",
        },
        PageFile {
            path: "style.css",
            bytes: b"body{}",
        },
    ];
    const URL: &str = "https://cloudformation-custom-resource-response.s3.amazonaws.com/signed?X-Amz-Signature=1";

    fn event(kind: &str, properties: Value) -> Value {
        let mut event = json!({
            "RequestType": kind,
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:clinic-publish-page",
            "ResponseURL": URL,
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/clinic/1",
            "RequestId": "9db53695-b0a0-47d6-908a-ea2d8a3ab5d7",
            "ResourceType": "Custom::CoordinatorPage",
            "LogicalResourceId": "CoordinatorPage",
            "ResourceProperties": properties
        });
        if kind != "Create" {
            event["PhysicalResourceId"] = json!(page_id("clinic-page-bucket"));
        }
        event
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    async fn run(store: &Memory, answers: &Answers, event: Value) -> Outcome {
        handle(event, &FILES, store, answers, later()).await.unwrap()
    }

    fn only_answer(answers: &Answers) -> Value {
        let sent = answers.sent.lock().unwrap();
        assert_eq!(sent.len(), 1, "exactly one answer");
        assert_eq!(sent[0].0, URL);
        sent[0].1.clone()
    }

    #[tokio::test]
    async fn a_create_publishes_every_file_and_the_configuration_and_answers_success() {
        let (store, answers) = (Memory::default(), Answers::default());
        let outcome = run(&store, &answers, event("Create", properties())).await;
        assert_eq!(
            (outcome.status, outcome.published, outcome.removed),
            (Status::Success, 4, 0)
        );
        let keys = store.keys("clinic-page-bucket").await.unwrap();
        assert_eq!(keys, ["app.js", "config.json", "index.html", "style.css"]);
        assert_eq!(
            only_answer(&answers),
            json!({
                "Status": "SUCCESS",
                "Reason": "published 4 objects, removed 0",
                "PhysicalResourceId": "coordinator-page:clinic-page-bucket",
                "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/clinic/1",
                "RequestId": "9db53695-b0a0-47d6-908a-ea2d8a3ab5d7",
                "LogicalResourceId": "CoordinatorPage"
            })
        );
    }

    #[tokio::test]
    async fn an_update_republishes_and_removes_what_the_page_no_longer_has() {
        let (store, answers) = (Memory::default(), Answers::default());
        let old = PageObject {
            key: "old.js".into(),
            body: vec![],
            content_type: "",
            cache_control: "",
        };
        store.put("clinic-page-bucket", &old).await.unwrap();
        let mut changed = properties();
        changed["clientId"] = json!("another-client");
        let outcome = run(&store, &answers, event("Update", changed)).await;
        assert_eq!(
            (outcome.status, outcome.published, outcome.removed),
            (Status::Success, 4, 1)
        );
        let keys = store.keys("clinic-page-bucket").await.unwrap();
        assert!(!keys.contains(&"old.js".to_owned()));
        let config = store.objects.lock().unwrap()[&("clinic-page-bucket".into(), "config.json".into())].clone();
        let config: Value = serde_json::from_slice(&config.body).unwrap();
        assert_eq!(config["clientId"], "another-client");
    }

    #[tokio::test]
    async fn a_bad_property_answers_failed_with_a_reason_naming_it_and_puts_nothing() {
        let (store, answers) = (Memory::default(), Answers::default());
        let mut bad = properties();
        bad["authorizeUrl"] = json!("http://auth.example.org/oauth2/authorize");
        let outcome = run(&store, &answers, event("Create", bad)).await;
        assert_eq!(outcome.status, Status::Failed);
        let answer = only_answer(&answers);
        assert_eq!(answer["Status"], "FAILED");
        assert_eq!(
            answer["Reason"],
            "property authorizeUrl must be an https URL with a host (https://host/...)"
        );
        assert_eq!(answer["PhysicalResourceId"], "coordinator-page:not-created");
        assert!(store.objects.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_put_answers_failed_naming_the_object() {
        let store = Memory {
            fail_puts: true,
            ..Memory::default()
        };
        let answers = Answers::default();
        run(&store, &answers, event("Create", properties())).await;
        let answer = only_answer(&answers);
        assert_eq!(answer["Status"], "FAILED");
        assert_eq!(
            answer["Reason"],
            "putting index.html into the page bucket: AccessDenied"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn work_still_running_at_the_deadline_is_answered_failed_before_the_invocation_ends() {
        let store = Memory {
            hang: true,
            ..Memory::default()
        };
        let answers = Answers::default();
        let by = Instant::now() + Duration::from_secs(10);
        let outcome = handle(event("Update", properties()), &FILES, &store, &answers, by)
            .await
            .unwrap();
        assert_eq!(outcome.status, Status::Failed);
        assert_eq!(Instant::now(), by);
        let answer = only_answer(&answers);
        assert_eq!(answer["Status"], "FAILED");
        // An Update keeps the id CloudFormation knows.
        assert_eq!(answer["PhysicalResourceId"], "coordinator-page:clinic-page-bucket");
    }

    #[tokio::test]
    async fn a_delete_empties_the_bucket_and_succeeds_again_when_it_is_empty_or_unnamed() {
        let (store, answers) = (Memory::default(), Answers::default());
        run(&store, &answers, event("Create", properties())).await;
        answers.sent.lock().unwrap().clear();
        let mut bad = properties();
        bad["tokenUrl"] = json!("not a url");
        let outcome = run(&store, &answers, event("Delete", bad.clone())).await;
        assert_eq!((outcome.status, outcome.removed), (Status::Success, 4));
        assert!(store.objects.lock().unwrap().is_empty());
        assert_eq!(
            only_answer(&answers)["PhysicalResourceId"],
            "coordinator-page:clinic-page-bucket"
        );
        answers.sent.lock().unwrap().clear();
        assert_eq!(
            run(&store, &answers, event("Delete", bad)).await.status,
            Status::Success
        );
        answers.sent.lock().unwrap().clear();
        assert_eq!(
            run(&store, &answers, event("Delete", json!({}))).await.status,
            Status::Success
        );
        assert_eq!(only_answer(&answers)["Status"], "SUCCESS");
    }

    #[tokio::test]
    async fn an_unknown_request_type_is_answered_failed() {
        let (store, answers) = (Memory::default(), Answers::default());
        run(&store, &answers, event("Replace", properties())).await;
        let answer = only_answer(&answers);
        assert_eq!(answer["Status"], "FAILED");
        assert_eq!(
            answer["Reason"],
            "unknown RequestType \"Replace\": expected Create, Update or Delete"
        );
    }

    #[tokio::test]
    async fn an_event_without_a_response_url_or_an_unsent_answer_is_an_error_lambda_retries() {
        let (store, answers) = (Memory::default(), Answers::default());
        let mut no_url = event("Create", properties());
        no_url.as_object_mut().unwrap().remove("ResponseURL");
        assert!(handle(no_url, &FILES, &store, &answers, later()).await.is_err());
        assert!(handle(json!("x"), &FILES, &store, &answers, later()).await.is_err());
        let refusing = Answers {
            refuse: true,
            ..Answers::default()
        };
        let error = handle(event("Create", properties()), &FILES, &store, &refusing, later())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("connection refused"), "{error}");
    }

    #[tokio::test]
    async fn a_malformed_event_is_answered_failed_at_its_response_url_naming_the_fields() {
        let mut wrong_type = event("Update", properties());
        wrong_type["RequestType"] = json!(5);
        wrong_type["PhysicalResourceId"] = json!({"id": 1});
        let mut properties_text = event("Create", properties());
        properties_text["ResourceProperties"] = json!("bucketName=clinic-page-bucket");
        for (event, reason, id) in [
            (
                wrong_type,
                "the event is malformed: PhysicalResourceId, RequestType must be text",
                "coordinator-page:not-created",
            ),
            (
                properties_text,
                "the resource's properties are not an object",
                "coordinator-page:not-created",
            ),
        ] {
            let (store, answers) = (Memory::default(), Answers::default());
            let outcome = run(&store, &answers, event).await;
            assert_eq!(outcome.status, Status::Failed);
            assert_eq!(
                only_answer(&answers),
                json!({
                    "Status": "FAILED",
                    "Reason": reason,
                    "PhysicalResourceId": id,
                    "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/clinic/1",
                    "RequestId": "9db53695-b0a0-47d6-908a-ea2d8a3ab5d7",
                    "LogicalResourceId": "CoordinatorPage"
                })
            );
            assert!(store.objects.lock().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn an_event_missing_the_fields_it_echoes_is_still_answered() {
        let (store, answers) = (Memory::default(), Answers::default());
        let mut bare = event("Create", properties());
        for field in ["StackId", "RequestId", "LogicalResourceId"] {
            bare.as_object_mut().unwrap().remove(field);
        }
        bare["StackId"] = json!(["not", "text"]);
        run(&store, &answers, bare).await;
        let answer = only_answer(&answers);
        assert_eq!(answer["Status"], "FAILED");
        assert_eq!(answer["Reason"], "the event is malformed: StackId must be text");
        assert_eq!(
            (answer["StackId"].as_str(), answer["RequestId"].as_str()),
            (Some(""), Some(""))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_url_that_never_answers_ends_the_invocation_in_an_error_before_its_deadline() {
        let store = Memory::default();
        let silent = Answers {
            hang: true,
            ..Answers::default()
        };
        let by = Instant::now() + Duration::from_secs(10);
        let error = handle(event("Create", properties()), &FILES, &store, &silent, by)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("no reply before the deadline"), "{error}");
        assert_eq!(Instant::now(), by + ANSWER_SEND);
        assert!(ANSWER_SEND < ANSWER_RESERVE);
    }

    #[test]
    fn the_answer_is_due_before_the_deadline_or_within_the_fallback_when_there_is_none() {
        let (now, instant) = (SystemTime::now(), Instant::now());
        let by = answer_by_from(Some(now + Duration::from_secs(60)), now, instant);
        assert_eq!(by - instant, Duration::from_secs(60) - ANSWER_RESERVE);
        for unusable in [
            None,
            Some(SystemTime::UNIX_EPOCH),
            Some(now + ANSWER_RESERVE),
            Some(now + Duration::from_secs(3600)),
        ] {
            assert_eq!(
                answer_by_from(unusable, now, instant) - instant,
                FALLBACK_BUDGET,
                "{unusable:?}"
            );
        }
    }

    #[test]
    fn a_long_reason_is_cut_so_that_the_whole_answer_stays_below_cloudformations_limit_in_bytes() {
        let request = Request::read(&event("Create", properties()));
        // Three bytes a character in UTF-8, and escapes that take two or six bytes once serialized.
        for reason in ["名".repeat(2000), "\"\u{1}é€𝄞".repeat(1000), "x".repeat(10_000)] {
            let outcome = Outcome {
                request_type: "Create".into(),
                status: Status::Failed,
                reason: reason.clone(),
                physical_resource_id: "coordinator-page:not-created".into(),
                published: 0,
                removed: 0,
            };
            let document = answer(&request, &outcome);
            assert!(document.len() < ANSWER_BYTES, "{}", document.len());
            // Cut no shorter than it had to be: the last character and the ellipsis would not have fitted.
            assert!(document.len() >= ANSWER_BYTES - 6 - 3, "{}", document.len());
            let answer: Value = serde_json::from_slice(&document).unwrap();
            let sent = answer["Reason"].as_str().unwrap();
            let kept = sent.strip_suffix('…').expect("the cut is marked");
            assert!(reason.starts_with(kept));
            assert_eq!(answer["StackId"], request.stack_id.as_str());
        }
        let short = Outcome {
            request_type: "Create".into(),
            status: Status::Failed,
            reason: "property clientId is missing".into(),
            physical_resource_id: "p".into(),
            published: 0,
            removed: 0,
        };
        let answer: Value = serde_json::from_slice(&answer(&request, &short)).unwrap();
        assert_eq!(answer["Reason"], "property clientId is missing");
    }
}
