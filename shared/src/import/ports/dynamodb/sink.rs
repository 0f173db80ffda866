//! DynamoDB as the destination of imported rows (`BatchWriteItem`).

use crate::import::ports::{BatchSink, Item, SinkError};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

pub struct DynamoSink {
    client: Client,
}

impl DynamoSink {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl BatchSink for DynamoSink {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item)).build();
                put.map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, _>>()
            .map_err(|e| SinkError {
                retryable: false,
                message: format!("cannot build the batch: {e}"),
            })?;
        let output = self
            .client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| SinkError {
                retryable: is_retryable(&e),
                message: format!("BatchWriteItem on {table} failed: {}", DisplayErrorContext(&e)),
            })?;
        // DynamoDB returns the unprocessed requests themselves.
        Ok(output
            .unprocessed_items
            .unwrap_or_default()
            .remove(table)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|request| request.put_request)
            .map(|put| put.item)
            .collect())
    }
}

fn is_retryable<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            matches!(
                service.err().code(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
            )
        }
        _ => false,
    }
}
