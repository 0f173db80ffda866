//! Lambda entry point of the CSV import: wiring only, the behaviour lives in `shared::import`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::config::{Env, ImportConfig};
use shared::import::writer::DynamoSink;
use shared::import::ImportService;
use shared::{aws, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = ImportConfig::from_env(&Env::process())?;
    let sdk = aws::sdk_config().await;
    let dynamodb = aws::dynamodb(&sdk);
    let service = ImportService::new(aws::s3(&sdk), dynamodb.clone(), DynamoSink::new(dynamodb), config);
    let service = &service;
    run(service_fn(move |event: LambdaEvent<_>| service.invoke(event))).await
}
