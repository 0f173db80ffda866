//! Lambda entry point of the import routes of the HTTP API: wiring only, the behaviour lives in `shared::api::imports`.

use lambda_http::tracing::{Instrument, Span};
use lambda_http::{run, service_fn, Error, Request, RequestExt};
use shared::api::imports::presign::S3Presigner;
use shared::api::imports::ImportApi;
use shared::audit::s3::S3AuditTrail;
use shared::aws;
use shared::config::{Env, ImportApiConfig};
use shared::import::ports::dynamodb::DynamoJobStore;
use shared::telemetry;
use std::convert::Infallible;
use tokio::sync::OnceCell;

/// mimalloc, as the other functions: one allocator behaviour across the project.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: at the memory sizes in template.yaml Lambda gives less than one vCPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init("import-api");
    let config = ImportApiConfig::from_env(&Env::process())?;
    // The SDK's set-up (credential chain, HTTPS client, TLS roots) waits for the first request: init stays short.
    let api = OnceCell::new();
    let (api, config) = (&api, &config);
    run(service_fn(move |request: Request| async move {
        let invocation = request
            .lambda_context_ref()
            .map_or_else(Span::none, telemetry::invocation);
        async move {
            let api = api.get_or_init(|| build(config)).await;
            Ok::<_, Infallible>(api.handle(request).await)
        }
        .instrument(invocation)
        .await
    }))
    .await
}

async fn build(config: &ImportApiConfig) -> ImportApi<DynamoJobStore, S3Presigner, S3AuditTrail> {
    let sdk = aws::sdk_config().await;
    let s3 = aws::s3(&sdk);
    let jobs = DynamoJobStore::new(aws::dynamodb(&sdk), &config.jobs_table);
    let audit = S3AuditTrail::new(s3.clone(), &config.audit_bucket);
    ImportApi::new(jobs, S3Presigner::new(s3), audit, config.clone())
}
