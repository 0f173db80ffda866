//! The CSV import against the local S3 and DynamoDB APIs: real streaming from S3 and real `BatchWriteItem`.

mod exactly_once;
mod in_process;
mod job_store;
mod supersede;
