//! The import service in-process against the local stack, and checks of what it records.

use crate::{local_aws, resource, unique};
use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use shared::config::{Env, ImportConfig};
use shared::import::event::ImportEvent;
use shared::import::ports::dynamodb::{DynamoJobStore, DynamoSink};
use shared::import::ports::memory::MemoryContinuations;
use shared::import::ports::s3::S3Objects;
use shared::import::{Backends, ImportResponse, ImportService};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The import with the adapters the function uses, except that continuations are kept for the test to run.
pub type LocalImport = ImportService<S3Objects, S3Objects, DynamoJobStore, MemoryContinuations, DynamoSink>;

pub struct Harness {
    pub service: LocalImport,
    pub s3: aws_sdk_s3::Client,
    /// Straight to the local API, for checking what was stored.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

/// The service with the configuration `scripts/test` exports, adjusted by `tune`.
pub async fn harness(tune: impl FnOnce(&mut ImportConfig)) -> Harness {
    let dynamodb = shared::aws::dynamodb(&local_aws().await);
    harness_writing_through(dynamodb.clone(), dynamodb, tune).await
}

/// The same, with the service's row writes going through `rows` and its job records through `jobs` (e.g. clients
/// behind a fault proxy).
pub async fn harness_writing_through(
    rows: aws_sdk_dynamodb::Client,
    jobs: aws_sdk_dynamodb::Client,
    tune: impl FnOnce(&mut ImportConfig),
) -> Harness {
    let sdk = local_aws().await;
    let mut config = ImportConfig::from_env(&Env::process()).expect("scripts/test exports the import configuration");
    tune(&mut config);
    let s3 = shared::aws::s3(&sdk);
    let objects = S3Objects::new(s3.clone());
    let backends = Backends {
        objects: objects.clone(),
        reports: objects,
        jobs: Arc::new(DynamoJobStore::new(jobs, &config.import_jobs_table)),
        continuations: MemoryContinuations::default(),
        rows: Arc::new(DynamoSink::new(rows)),
    };
    Harness {
        service: ImportService::new(backends, config),
        s3,
        dynamodb: shared::aws::dynamodb(&sdk),
    }
}

fn context(budget: Duration) -> Context {
    let mut context = Context::default();
    context.request_id = unique("request");
    context.deadline = (SystemTime::now() + budget)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context
}

impl Harness {
    /// One invocation with the event; the continuations it asks for stay queued.
    pub async fn invoke(&self, event: S3Event, budget: Duration) -> ImportResponse {
        self.invoke_with(ImportEvent::S3(event), budget).await
    }

    async fn invoke_with(&self, event: ImportEvent, budget: Duration) -> ImportResponse {
        self.service
            .invoke(LambdaEvent::new(event, context(budget)))
            .await
            .expect("the import records its outcome")
    }

    /// The event, then each continuation it asks for as a new invocation, until the import ends.
    pub async fn invoke_to_end(&self, event: S3Event, budget: Duration) -> Vec<ImportResponse> {
        let mut answers = vec![self.invoke(event, budget).await];
        loop {
            let Some(next) = self.service.backends().continuations.take().pop() else {
                return answers;
            };
            let next = ImportEvent::Continue(next);
            answers.push(self.invoke_with(next, budget).await);
        }
    }

    pub async fn object(&self, key: &str) -> String {
        let out = self
            .s3
            .get_object()
            .bucket(resource("ImportBucket"))
            .key(key)
            .send()
            .await
            .unwrap();
        String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
    }

    /// The job record as stored (without its id secret).
    pub async fn job(&self, import_id: &str) -> Value {
        let mut job = self
            .dynamodb
            .get_item()
            .table_name(resource("ImportJobsTable"))
            .key("importId", aws_sdk_dynamodb::types::AttributeValue::S(import_id.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("job record");
        job.remove("idSecret").expect("the job record keeps the id secret");
        serde_dynamo::from_item(job).unwrap()
    }

    /// The summary report and the job record agree with the returned summary; only the job record keeps the
    /// import's id secret.
    pub async fn check_reports(&self, summary: &Value) -> String {
        let stored: Value =
            serde_json::from_str(&self.object(summary["reports"]["summary"].as_str().unwrap()).await).unwrap();
        assert_eq!(&stored, summary);
        let mut job = self
            .dynamodb
            .get_item()
            .table_name(resource("ImportJobsTable"))
            .key(
                "importId",
                aws_sdk_dynamodb::types::AttributeValue::S(summary["importId"].as_str().unwrap().into()),
            )
            .send()
            .await
            .unwrap()
            .item
            .expect("job record");
        let secret = job.remove("idSecret").expect("the job record keeps the id secret");
        assert_eq!(secret.as_b().map(|b| b.as_ref().len()), Ok(32));
        assert!(summary.get("idSecret").is_none() && stored.get("idSecret").is_none());
        let job: Value = serde_dynamo::from_item(job).unwrap();
        assert_eq!(job["status"], summary["status"]);
        assert_eq!(job["rows"], summary["rows"]);
        self.object(summary["reports"]["rejectedRows"].as_str().unwrap()).await
    }
}

pub fn only_file(response: &ImportResponse) -> Value {
    assert_eq!(response.files.len(), 1, "{response:?}");
    serde_json::to_value(&response.files[0]).unwrap()
}

pub fn rows(summary: &Value) -> (u64, u64, u64, u64) {
    let r = &summary["rows"];
    let get = |k: &str| r[k].as_u64().unwrap();
    let counts = (get("total"), get("imported"), get("rejected"), get("notReached"));
    assert_eq!(counts.0, counts.1 + counts.2 + counts.3, "{summary}");
    counts
}
