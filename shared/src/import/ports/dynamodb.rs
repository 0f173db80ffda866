//! DynamoDB as the destination of imported rows (`BatchWriteItem`) and of import-job records.

use super::{BatchSink, Item, JobStore, SinkError};
use crate::import::ids::IdSecret;
use crate::import::report::FileSummary;
use crate::store::StoreError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, WriteRequest};
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
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<usize>, SinkError> {
        let requests: Vec<WriteRequest> = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder().set_item(Some(item.clone())).build();
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
        let unprocessed = output
            .unprocessed_items
            .unwrap_or_default()
            .remove(table)
            .unwrap_or_default();
        // DynamoDB returns the unprocessed requests themselves; find them among ours.
        Ok(unprocessed
            .iter()
            .filter_map(|request| request.put_request.as_ref())
            .filter_map(|put| items.iter().position(|item| *item == put.item))
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

/// Import-job records, one item per import id.
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The job record's attribute that holds the id secret (binary).
const ID_SECRET: &str = "idSecret";

impl JobStore for DynamoJobStore {
    async fn id_secret(&self, import_id: &str, fresh: IdSecret) -> Result<IdSecret, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("importId", AttributeValue::S(import_id.to_owned()))
            .update_expression("SET #secret = if_not_exists(#secret, :fresh)")
            .expression_attribute_names("#secret", ID_SECRET)
            .expression_attribute_values(":fresh", AttributeValue::B(Blob::new(fresh.as_bytes())))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::backend("UpdateItem", &self.table, e))?;
        output
            .attributes
            .as_ref()
            .and_then(|a| a.get(ID_SECRET))
            .and_then(|v| v.as_b().ok())
            .and_then(|blob| IdSecret::from_bytes(blob.as_ref()))
            .ok_or_else(|| StoreError::Corrupt {
                resource: self.table.clone(),
                key: import_id.to_owned(),
                source: "the job's id secret is missing or not 32 bytes".into(),
            })
    }

    async fn put(&self, job: &FileSummary, secret: &IdSecret) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(job).map_err(|e| StoreError::Encode {
            resource: self.table.clone(),
            source: e.into(),
        })?;
        item.insert(ID_SECRET.to_owned(), AttributeValue::B(Blob::new(secret.as_bytes())));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::backend("PutItem", &self.table, e))
    }
}
