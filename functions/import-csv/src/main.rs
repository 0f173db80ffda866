//! Lambda entry point of the CSV import: wiring only, the behaviour lives in `shared::import`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::aws;
use shared::config::{Env, ImportConfig};
use shared::import::ports::dynamodb::{DynamoJobStore, DynamoSink};
use shared::import::ports::lambda::SelfInvoke;
use shared::import::ports::s3::S3Objects;
use shared::import::{Backends, ImportService};
use shared::telemetry::{self, metrics::Metrics};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = Metrics::install(&Env::process())?;
    let config = ImportConfig::from_env(&Env::process())?;
    // Lambda names the function; an import continues in a new invocation of this same function.
    let function = Env::process().required("AWS_LAMBDA_FUNCTION_NAME")?;
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let s3 = S3Objects::new(aws::s3(&sdk));
    let backends = Backends {
        objects: s3.clone(),
        reports: s3,
        jobs: DynamoJobStore::new(dynamodb.clone(), &config.import_jobs_table),
        continuations: SelfInvoke::new(aws::lambda(&sdk), function),
        rows: Arc::new(DynamoSink::new(dynamodb)),
    };
    let service = ImportService::new(backends, config);
    let (service, metrics) = (&service, &metrics);
    run(service_fn(move |event: LambdaEvent<_>| async move {
        let answer = service.invoke(event).await;
        metrics.flush();
        answer
    }))
    .await
}
