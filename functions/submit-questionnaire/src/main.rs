//! Lambda entry point of the questionnaire API: wiring only, the behaviour lives in `shared::api`.

use lambda_http::tracing::{Instrument, Span};
use lambda_http::{run, service_fn, Error, Request, RequestExt};
use shared::api::SubmissionApi;
use shared::audit::s3::S3AuditTrail;
use shared::aws;
use shared::config::{ApiConfig, Env};
use shared::store::DynamoSubmissionStore;
use shared::telemetry::{self, metrics::Metrics};
use std::convert::Infallible;
use tokio::sync::OnceCell;

/// mimalloc: glibc's allocator spent a quarter of the import's CPU on the small allocations of each row's item.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: at the memory sizes in template.yaml Lambda gives less than one vCPU, so worker threads would only
/// add cross-thread wake-ups.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init("questionnaire-api");
    let metrics = Metrics::install(&Env::process())?;
    let config = ApiConfig::from_env(&Env::process())?;
    // Which forms this deployment takes, where operators look first when a client's version is refused.
    for line in config.versions.describe() {
        lambda_http::tracing::info!(versions = %line, "questionnaire versions");
    }
    // The SDK's set-up (credential chain, HTTPS client, TLS roots) waits for the first request: init stays short.
    let api = OnceCell::new();
    let (api, config, metrics) = (&api, &config, &metrics);
    run(service_fn(move |request: Request| async move {
        let invocation = request
            .lambda_context_ref()
            .map_or_else(Span::none, telemetry::invocation);
        async move {
            let api = api.get_or_init(|| build(config)).await;
            let response = api.handle(request).await;
            metrics.flush();
            Ok::<_, Infallible>(response)
        }
        .instrument(invocation)
        .await
    }))
    .await
}

async fn build(config: &ApiConfig) -> SubmissionApi<DynamoSubmissionStore, S3AuditTrail> {
    let sdk = aws::sdk_config().await;
    let store = DynamoSubmissionStore::new(aws::dynamodb(&sdk), &config.submissions_table);
    let audit = S3AuditTrail::new(aws::s3(&sdk), &config.audit_bucket);
    SubmissionApi::new(store, audit, config.clone())
}
