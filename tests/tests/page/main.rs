//! The coordinator page's publisher against the local S3 API, with a local HTTP server standing in for
//! CloudFormation's pre-signed `ResponseURL`: what a Create, an Update and a Delete leave in a versioned page bucket,
//! and the answer CloudFormation gets for each (also when a property is wrong).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Response};
use integration_tests::http_server::Server;
use integration_tests::{event, local_aws, repo_path, unique};
use serde_json::{json, Value};
use shared::page::files::{cache_control, content_type};
use shared::page::resource::{ANSWER_RESERVE, ANSWER_SEND};
use shared::page::respond::HttpsResponder;
use shared::page::s3::S3PageStore;
use shared::page::{handle, Outcome, PageFile, Status};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The answers CloudFormation would have received: (method, body), in order.
type Received = Arc<Mutex<Vec<(Method, Value)>>>;

struct Fixture {
    s3: aws_sdk_s3::Client,
    bucket: String,
    store: S3PageStore,
    responder: HttpsResponder,
    response_url: String,
    received: Received,
    _server: Server,
}

impl Fixture {
    async fn new() -> Self {
        let s3 = shared::aws::s3(&local_aws().await);
        // A bucket of its own, versioned like the template's page bucket.
        let bucket = unique("page");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create the page bucket");
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("enable versioning");
        let received: Received = Arc::default();
        let server = {
            let received = Arc::clone(&received);
            Server::start(0, move |request, _| {
                let received = Arc::clone(&received);
                async move {
                    let method = request.method().clone();
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map_err(std::io::Error::other)?
                        .to_bytes();
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    received.lock().unwrap().push((method, body));
                    Ok(Response::new(Full::new(Bytes::new())))
                }
            })
            .await
        };
        Self {
            store: S3PageStore::new(s3.clone()),
            s3,
            bucket,
            responder: HttpsResponder::new(),
            response_url: format!("{}/cloudformation-response?X-Amz-Signature=0", server.url),
            received,
            _server: server,
        }
    }

    /// The event file for sam local, pointed at this bucket and this response URL.
    fn event(&self, kind: &str) -> Value {
        let mut event = event("cloudformation-create-page.json");
        event["RequestType"] = kind.into();
        event["ResponseURL"] = self.response_url.clone().into();
        event["ResourceProperties"]["bucketName"] = self.bucket.clone().into();
        if kind != "Create" {
            event["PhysicalResourceId"] = format!("coordinator-page:{}", self.bucket).into();
        }
        event
    }

    async fn run(&self, event: Value, files: &[PageFile<'_>]) -> Outcome {
        let by = Instant::now() + Duration::from_secs(60);
        handle(event, files, &self.store, &self.responder, by)
            .await
            .expect("answered")
    }

    /// The one answer received since the last call.
    fn answer(&self) -> Value {
        let mut received = self.received.lock().unwrap();
        assert_eq!(received.len(), 1, "one answer per event: {received:?}");
        let (method, body) = received.pop().unwrap();
        assert_eq!(method, Method::PUT);
        body
    }

    async fn keys(&self) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .expect("list");
        let mut keys: Vec<_> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    async fn object(&self, key: &str) -> (Vec<u8>, String, String) {
        let object = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect(key);
        let content_type = object.content_type().unwrap_or_default().to_owned();
        let cache_control = object.cache_control().unwrap_or_default().to_owned();
        (
            object.body.collect().await.expect("body").to_vec(),
            content_type,
            cache_control,
        )
    }
}

/// The files of web/ (the page this checkout builds into the function), or, in a checkout without the page, a
/// stand-in with one file of each kind.
fn page_files() -> Vec<(String, Vec<u8>)> {
    let web = repo_path("web");
    if !web.join("index.html").is_file() {
        return [
            ("index.html", "<!doctype html><title>Imports</title>"),
            ("app.js", "import './lib/upload.js';"),
            ("lib/upload.js", "export const upload = () => {};"),
            ("style.css", "body { margin: 0 }"),
            ("logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ]
        .into_iter()
        .map(|(path, text)| (path.to_owned(), text.as_bytes().to_vec()))
        .collect();
    }
    let mut files = Vec::new();
    collect(&web, &web, &mut files);
    files.sort();
    files
}

fn collect(root: &Path, dir: &Path, into: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read web/").flatten() {
        let path = entry.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, into);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            into.push((relative, std::fs::read(&path).expect("a web/ file")));
        }
    }
}

fn as_page(files: &[(String, Vec<u8>)]) -> Vec<PageFile<'_>> {
    files.iter().map(|(path, bytes)| PageFile { path, bytes }).collect()
}

#[tokio::test]
async fn a_create_puts_every_page_file_and_the_configuration_with_their_types_and_answers_success() {
    let page = Fixture::new().await;
    let files = page_files();
    let outcome = page.run(page.event("Create"), &as_page(&files)).await;
    assert_eq!((outcome.status, outcome.published), (Status::Success, files.len() + 1));

    let mut expected: Vec<_> = files.iter().map(|(path, _)| path.clone()).collect();
    expected.push("config.json".into());
    expected.sort();
    assert_eq!(page.keys().await, expected);
    for (path, bytes) in &files {
        let (body, got_type, got_cache) = page.object(path).await;
        assert_eq!(&body, bytes, "{path}");
        assert_eq!(
            (got_type.as_str(), got_cache.as_str()),
            (content_type(path), cache_control(path)),
            "{path}"
        );
    }
    let (body, got_type, got_cache) = page.object("config.json").await;
    assert_eq!(
        (got_type.as_str(), got_cache.as_str()),
        ("application/json", "no-cache")
    );
    let config: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        config["apiUrl"],
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
    );
    assert_eq!(config["clientId"], "1example23456789012345678");
    assert_eq!(config["datasets"], json!(["observations"]));

    let answer = page.answer();
    let sent = event("cloudformation-create-page.json");
    assert_eq!(answer["Status"], "SUCCESS");
    assert_eq!(
        answer["PhysicalResourceId"],
        format!("coordinator-page:{}", page.bucket)
    );
    for field in ["StackId", "RequestId", "LogicalResourceId"] {
        assert_eq!(answer[field], sent[field], "{field}");
    }
}

#[tokio::test]
async fn an_update_republishes_the_new_page_and_configuration_and_removes_files_it_no_longer_has() {
    let page = Fixture::new().await;
    let before = [
        ("index.html".to_owned(), b"<!doctype html>1".to_vec()),
        ("old.js".to_owned(), b"export {}".to_vec()),
    ];
    page.run(page.event("Create"), &as_page(&before)).await;
    page.answer();

    let after = [
        ("index.html".to_owned(), b"<!doctype html>2".to_vec()),
        ("new.js".to_owned(), b"export {}".to_vec()),
    ];
    let mut update = page.event("Update");
    update["OldResourceProperties"] = update["ResourceProperties"].clone();
    update["ResourceProperties"]["clientId"] = "another0client".into();
    let outcome = page.run(update, &as_page(&after)).await;
    assert_eq!(
        (outcome.status, outcome.published, outcome.removed),
        (Status::Success, 3, 1)
    );
    assert_eq!(page.keys().await, ["config.json", "index.html", "new.js"]);
    assert_eq!(page.object("index.html").await.0, b"<!doctype html>2");
    let config: Value = serde_json::from_slice(&page.object("config.json").await.0).unwrap();
    assert_eq!(config["clientId"], "another0client");
    assert_eq!(page.answer()["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_delete_removes_every_version_so_the_bucket_can_be_deleted_and_succeeds_again_once_it_is_gone() {
    let page = Fixture::new().await;
    let files = page_files();
    // Twice, so that the bucket holds older versions as well.
    page.run(page.event("Create"), &as_page(&files)).await;
    page.run(page.event("Update"), &as_page(&files)).await;
    page.received.lock().unwrap().clear();

    let outcome = page.run(page.event("Delete"), &as_page(&files)).await;
    assert_eq!(outcome.status, Status::Success);
    assert_eq!(page.answer()["Status"], "SUCCESS");
    let versions = page
        .s3
        .list_object_versions()
        .bucket(&page.bucket)
        .send()
        .await
        .expect("list versions");
    assert!(
        versions.versions().is_empty() && versions.delete_markers().is_empty(),
        "{versions:?}"
    );
    page.s3
        .delete_bucket()
        .bucket(&page.bucket)
        .send()
        .await
        .expect("an emptied bucket can be deleted");

    // CloudFormation may send the Delete again (a retry): the page is gone, and that is success.
    page.run(page.event("Delete"), &as_page(&files)).await;
    assert_eq!(page.answer()["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_bad_property_is_answered_failed_with_its_reason_and_nothing_is_published() {
    let page = Fixture::new().await;
    let mut create = page.event("Create");
    create["ResourceProperties"]["tokenUrl"] = "http://clinic.auth.us-east-1.amazoncognito.com/oauth2/token".into();
    let outcome = page.run(create, &as_page(&page_files())).await;
    assert_eq!(outcome.status, Status::Failed);
    let answer = page.answer();
    assert_eq!(answer["Status"], "FAILED");
    assert_eq!(
        answer["Reason"],
        "property tokenUrl must be an https URL with a host (https://host/...)"
    );
    assert!(page.keys().await.is_empty());
}

#[tokio::test]
async fn a_response_url_that_takes_the_answer_but_never_replies_ends_the_invocation_in_an_error_before_its_deadline() {
    let page = Fixture::new().await;
    // Accepts the connection and reads the request, then never answers.
    let silent = Server::start(0, |_, _| std::future::pending()).await;
    let mut create = page.event("Create");
    create["ResponseURL"] = format!("{}/cloudformation-response?X-Amz-Signature=0", silent.url).into();
    // A bad property: the work ends at once, and what follows is the answer alone.
    create["ResourceProperties"]["clientId"] = "".into();
    let by = Instant::now() + Duration::from_secs(1);
    // The invocation's deadline: the handler must have returned by then.
    let deadline = by + ANSWER_RESERVE;
    let error = tokio::time::timeout_at(
        deadline,
        handle(create, &as_page(&page_files()), &page.store, &page.responder, by),
    )
    .await
    .expect("the handler returned before the invocation's deadline")
    .unwrap_err();
    assert!(error.to_string().contains("no reply before the deadline"), "{error}");
    assert!(ANSWER_SEND < ANSWER_RESERVE);
    assert!(page.keys().await.is_empty());
}
