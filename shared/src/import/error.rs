//! The import's one error type, and the one place where it becomes what the Lambda runtime reports.

use crate::error::{chain, BoxError};

/// Failures that make the invocation fail (so Lambda retries it): the outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("could not write {what} for {key}")]
    Report {
        what: &'static str,
        key: String,
        #[source]
        source: BoxError,
    },
}

impl ImportError {
    pub fn report(what: &'static str, key: &str, source: impl Into<BoxError>) -> Self {
        Self::Report {
            what,
            key: key.to_owned(),
            source: source.into(),
        }
    }
}

impl From<ImportError> for lambda_runtime::Diagnostic {
    fn from(error: ImportError) -> Self {
        let error_type = match error {
            ImportError::Report { .. } => "ImportReportFailed",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: chain(&error),
        }
    }
}
