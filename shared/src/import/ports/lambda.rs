//! Lambda as the way an import goes on: an asynchronous invocation of this same function, naming the job.
//!
//! Why not a queue: the job record already holds everything a continuation needs (checkpoint, counts, lease), so
//! the message only names the job and carries the token its record holds; an asynchronous invocation gets Lambda's
//! retries, event age limit and failure destination (`EventInvokeConfig`) without another resource to create,
//! secure and watch. A duplicated or retried continuation is harmless: only the holder of the job's lease works on
//! it, and a continuation whose token the job no longer holds is refused.

use super::Continuations;
use crate::error::BoxError;
use crate::import::event::ContinueImport;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_lambda::Client;

const INVOKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub struct SelfInvoke {
    client: Client,
    /// This function's name (Lambda sets `AWS_LAMBDA_FUNCTION_NAME`).
    function: String,
}

impl SelfInvoke {
    pub fn new(client: Client, function: impl Into<String>) -> Self {
        Self {
            client,
            function: function.into(),
        }
    }
}

impl Continuations for SelfInvoke {
    async fn schedule(&self, next: &ContinueImport) -> Result<(), BoxError> {
        let payload = serde_json::to_vec(next)?;
        let invoke = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send();
        // An asynchronous invoke is accepted at once; one that hangs is a failure (Lambda then retries this
        // invocation, and the retry takes the job on from its checkpoint).
        match tokio::time::timeout(INVOKE_TIMEOUT, invoke).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("Invoke of {} failed: {}", self.function, DisplayErrorContext(&e)).into()),
            Err(_) => Err(format!("Invoke of {} did not answer within {INVOKE_TIMEOUT:?}", self.function).into()),
        }
    }
}
