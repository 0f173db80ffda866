//! The floor the functions' cold start is compared with: the smallest `lambda_runtime` function, built like them
//! (release, mimalloc, one thread).
//!
//! With `HELLO_TABLE` set it does the least any of our functions does on a cold start: it sets up the AWS SDK
//! (credential chain, HTTP client) in `main`, so in its init, and answers each event with one DynamoDB `GetItem` of
//! a key that is not there. The functions set the SDK up in their first invocation instead, so their cold start is
//! compared with this one on init + first invocation. Without `HELLO_TABLE` it answers each event with the event
//! itself: the Lambda runtime alone.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let Ok(table) = std::env::var("HELLO_TABLE") else {
        return run(service_fn(|event: LambdaEvent<Value>| async move {
            Ok::<_, Error>(event.payload)
        }))
        .await;
    };
    let dynamodb = shared::aws::dynamodb(&shared::aws::sdk_config().await);
    let (dynamodb, table) = (&dynamodb, &table);
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let found = dynamodb
            .get_item()
            .table_name(table)
            .key("id", AttributeValue::S("hello-lambda".into()))
            .send()
            .await?;
        Ok::<_, Error>(json!({ "found": found.item.is_some() }))
    }))
    .await
}
