//! Lambda entry point of the questionnaire API: wiring only, the behaviour lives in `shared::api`.

use lambda_http::{run, service_fn, Error, Request};
use shared::api::SubmissionApi;
use shared::aws;
use shared::config::{ApiConfig, Env};
use shared::store::DynamoSubmissionStore;
use shared::telemetry::{self, metrics::Metrics};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = Metrics::install(&Env::process())?;
    let config = ApiConfig::from_env(&Env::process())?;
    let sdk = aws::sdk_config().await;
    let store = DynamoSubmissionStore::new(aws::dynamodb(&sdk), &config.submissions_table);
    let api = SubmissionApi::new(store, config);
    let (api, metrics) = (&api, &metrics);
    run(service_fn(move |request: Request| async move {
        let response = api.handle(request).await;
        metrics.flush();
        Ok::<_, Infallible>(response)
    }))
    .await
}
