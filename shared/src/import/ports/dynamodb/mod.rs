//! DynamoDB adapters: rows written in batches (`sink`), import jobs and the per-key records (`jobs`), uploads
//! announced through the API (`uploads`).

mod jobs;
mod sink;
mod uploads;

pub use jobs::DynamoJobStore;
pub use sink::DynamoSink;
pub use uploads::SITE_INDEX;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Whether a conditional write was refused because its condition did not hold.
fn condition_failed<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}
