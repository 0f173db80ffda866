//! DynamoDB as the destination of imported rows (`BatchWriteItem`).

use crate::import::ports::{BatchSink, Item, SinkError};
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use aws_smithy_types::retry::ProvideErrorKind;

pub struct DynamoSink {
    client: Client,
}

impl DynamoSink {
    /// Writes with a copy of `client` (same endpoint, credentials and timeouts) that makes one request per call: the
    /// batch writer is the only retry layer, so its attempt limit and backoff count every request sent.
    pub fn new(client: Client) -> Self {
        let config = client
            .config()
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        Self {
            client: Client::from_conf(config),
        }
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

/// Whether the writer may send the batch again, by the SDK's own classification (so there is one list of retryable
/// errors to trust, the SDK's): the throttling and transient error codes of its standard retries, errors the
/// service model marks retryable, any 5xx, and failures of the transport (timeout, no connection, broken response).
fn is_retryable<E: ProvideErrorKind>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let err = service.err();
            err.retryable_error_kind().is_some()
                || err
                    .code()
                    .is_some_and(|code| THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code))
                || service.raw().status().is_server_error()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError;
    use aws_sdk_dynamodb::types::error::ReplicatedWriteConflictException;
    use aws_smithy_types::body::SdkBody;

    type Error = SdkError<BatchWriteItemError, HttpResponse>;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::empty())
    }

    /// An error answer as the SDK decodes it: a code and a status.
    fn answered(status: u16, code: &str) -> Error {
        let error = BatchWriteItemError::generic(ErrorMetadata::builder().code(code).build());
        SdkError::service_error(error, response(status))
    }

    #[test]
    fn throttling_transient_codes_and_server_errors_are_retried() {
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TransactionInProgressException",
            "RequestTimeoutException",
        ] {
            assert!(is_retryable(&answered(400, code)), "{code}");
        }
        for status in [500, 502, 503, 504] {
            assert!(is_retryable(&answered(status, "SomethingNew")), "{status}");
        }
    }

    #[test]
    fn an_error_the_service_model_marks_retryable_is_retried() {
        let conflict = ReplicatedWriteConflictException::builder()
            .meta(
                ErrorMetadata::builder()
                    .code("ReplicatedWriteConflictException")
                    .build(),
            )
            .build();
        let error = BatchWriteItemError::ReplicatedWriteConflictException(conflict);
        assert!(is_retryable(&SdkError::service_error(error, response(400))));
    }

    #[test]
    fn transport_failures_are_retried() {
        assert!(is_retryable(&Error::timeout_error("no answer in time")));
        assert!(is_retryable(&Error::dispatch_failure(ConnectorError::io(
            "reset".into()
        ))));
        assert!(is_retryable(&Error::response_error("truncated", response(200))));
    }

    #[test]
    fn a_request_dynamodb_refuses_is_not_retried() {
        // The writer then splits the batch, so that only the bad rows are reported.
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "ItemCollectionSizeLimitExceededException",
        ] {
            assert!(!is_retryable(&answered(400, code)), "{code}");
        }
        assert!(!is_retryable(&Error::construction_failure("no table name")));
    }
}
