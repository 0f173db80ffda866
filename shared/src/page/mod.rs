//! The coordinator page's deployment: a CloudFormation custom resource (`Custom::CoordinatorPage` in template.yaml)
//! whose handler puts the page's files, embedded in the function at build time, and a `config.json` made from the
//! resource's properties into the page bucket that CloudFront serves.
//!
//! Why a custom resource: the page needs values only the stack knows (the API's URL) and must change whenever the
//! function's code, and so the embedded page, changes; CloudFormation then sends an Update, and a Delete before the
//! bucket goes, which empties it (CloudFormation cannot delete a bucket that holds objects).
//!
//! - [`files`]: what is put, with which content type and caching.
//! - [`config`]: the `config.json` the page reads at start, validated from the resource's properties.
//! - [`resource`]: the custom resource protocol: one event in, one answer to its `ResponseURL`, always.
//! - [`s3`] and [`respond`]: the adapters (the page bucket, the HTTPS answer).

pub mod config;
pub mod files;
pub mod resource;
pub mod respond;
pub mod s3;

use crate::error::BoxError;
use std::future::Future;

pub use config::{PageConfig, PropertyError};
pub use files::{PageFile, PageObject};
pub use resource::{handle, Outcome, Status};

/// Where the page is published (an S3 bucket; an in-memory one in tests).
pub trait PageStore: Send + Sync {
    /// Puts one object, replacing what was under its key.
    fn put(&self, bucket: &str, object: &PageObject) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// The keys of the current objects (what CloudFront would serve).
    fn keys(&self, bucket: &str) -> impl Future<Output = Result<Vec<String>, BoxError>> + Send;

    /// Removes the current objects under `keys` (absent ones are no error).
    fn remove(&self, bucket: &str, keys: &[String]) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Removes every object, every version and every delete marker, so that the bucket can be deleted; a bucket that
    /// is already gone is no error.
    fn empty(&self, bucket: &str) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Sends the custom resource's answer: an HTTP PUT of `body` to the pre-signed `url` CloudFormation gave.
pub trait Responder: Send + Sync {
    fn put(&self, url: &str, body: Vec<u8>) -> impl Future<Output = Result<(), BoxError>> + Send;
}
