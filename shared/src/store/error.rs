//! Errors of the storage adapters, with the operation and resource they concern.

use crate::error::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed or could not be reached; the caller may retry.
    #[error("{operation} on {resource} failed")]
    Backend {
        operation: &'static str,
        resource: String,
        #[source]
        source: BoxError,
    },
    /// An item exists but does not have the shape this code writes.
    #[error("item {key} in {resource} cannot be decoded")]
    Corrupt {
        resource: String,
        key: String,
        #[source]
        source: BoxError,
    },
    /// A value could not be encoded as an item (a bug, not a backend fault).
    #[error("cannot encode an item for {resource}")]
    Encode {
        resource: String,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    pub fn backend(operation: &'static str, resource: &str, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            operation,
            resource: resource.to_owned(),
            source: source.into(),
        }
    }

    /// Whether retrying the same request later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Backend { .. })
    }
}
