//! The smallest `lambda_runtime` function: it answers each event with the event itself. The benchmark builds it like
//! the real functions, as the floor their cold start is compared with.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
