//! The DynamoDB job store keeps the job store contract the in-memory one keeps, against the local API.

use integration_tests::{local_aws, resource, unique};
use shared::import::ports::dynamodb::DynamoJobStore;

#[tokio::test]
async fn the_dynamodb_job_store_keeps_the_contract() {
    let dynamodb = shared::aws::dynamodb(&local_aws().await);
    let store = DynamoJobStore::new(dynamodb, resource("ImportJobsTable"));
    shared::import::job::contract::check_all(&store, &resource("ImportBucket"), &unique("contract")).await;
}
