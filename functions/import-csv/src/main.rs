//! Lambda entry point of the CSV import: wiring only, the behaviour lives in `shared::import`.

use lambda_runtime::tracing::Instrument;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::aws;
use shared::config::{Env, ImportConfig};
use shared::import::ports::dynamodb::{DynamoJobStore, DynamoSink};
use shared::import::ports::lambda::SelfInvoke;
use shared::import::ports::s3::S3Objects;
use shared::import::{Backends, ImportService};
use shared::telemetry::{self, metrics::Metrics};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// mimalloc: glibc's allocator spent a quarter of the import's CPU on the small allocations of each row's item.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: at the memory sizes in template.yaml Lambda gives less than one vCPU, so worker threads would only
/// add cross-thread wake-ups.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init("csv-import");
    let metrics = Metrics::install(&Env::process())?;
    let config = ImportConfig::from_env(&Env::process())?;
    // Lambda names the function; an import continues in a new invocation of this same function.
    let function = Env::process().required("AWS_LAMBDA_FUNCTION_NAME")?;
    // The SDK's set-up (credential chain, HTTPS client, TLS roots) waits for the first event: init stays short.
    let service = OnceCell::new();
    let (service, config, function, metrics) = (&service, &config, &function, &metrics);
    run(service_fn(move |event: LambdaEvent<_>| async move {
        let invocation = telemetry::invocation(&event.context);
        async move {
            let service = service.get_or_init(|| build(config, function)).await;
            let answer = service.invoke(event).await;
            metrics.flush();
            answer
        }
        .instrument(invocation)
        .await
    }))
    .await
}

type Service = ImportService<S3Objects, S3Objects, DynamoJobStore, SelfInvoke, DynamoSink>;

async fn build(config: &ImportConfig, function: &str) -> Service {
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let s3 = S3Objects::new(aws::s3(&sdk));
    let backends = Backends {
        objects: s3.clone(),
        reports: s3,
        jobs: Arc::new(DynamoJobStore::new(dynamodb.clone(), &config.import_jobs_table)),
        continuations: SelfInvoke::new(aws::lambda(&sdk), function.to_owned()),
        rows: Arc::new(DynamoSink::new(dynamodb)),
    };
    ImportService::new(backends, config.clone())
}
