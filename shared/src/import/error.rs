//! The import's one error type, and the one place where it becomes what the Lambda runtime reports.

use crate::error::{chain, BoxError};

/// Failures that make the invocation fail (so Lambda retries it): the outcome could not be recorded. Messages name
/// the file by its import id, never by its key or content.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("could not write {what} of import {import_id}")]
    Report {
        what: &'static str,
        import_id: String,
        #[source]
        source: BoxError,
    },
}

impl ImportError {
    pub fn report(what: &'static str, import_id: &str, source: impl Into<BoxError>) -> Self {
        Self::Report {
            what,
            import_id: import_id.to_owned(),
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
