//! Persistence ports and their adapters: DynamoDB for real, memory for unit tests of the decisions above them.

pub mod error;
pub mod memory;
pub mod submissions;

pub use error::StoreError;
pub use submissions::{
    is_idempotency_record, DynamoSubmissionStore, IdempotencyClaim, Inserted, KeyOwner, SubmissionStore,
};
