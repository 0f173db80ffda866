//! The audit trail's one error type, and where it becomes what the Lambda runtime reports.

use crate::error::{chain, BoxError};

/// The audit store could not take a record. Messages name the object's key (table, day and sequence numbers, or a
/// read's id), never what a record holds.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("could not write audit object {key}")]
    Write {
        key: String,
        #[source]
        source: BoxError,
    },
    #[error("could not encode an audit record")]
    Encode(#[source] serde_json::Error),
}

impl From<AuditError> for lambda_runtime::Diagnostic {
    fn from(error: AuditError) -> Self {
        let error_type = match error {
            AuditError::Write { .. } => "AuditWriteFailed",
            AuditError::Encode(_) => "AuditEncodeFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: chain(&error),
        }
    }
}
