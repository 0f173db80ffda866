//! The import's one error type, and the one place where it becomes what the Lambda runtime reports.

use crate::error::{chain, BoxError};
use crate::store::StoreError;

/// Failures that make the invocation fail, so that Lambda retries it: the outcome could not be recorded, or the
/// invocation lost its job before it could. Messages name the file by its import id, never by its key or content.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("could not write {what} of import {import_id}")]
    Report {
        what: &'static str,
        import_id: String,
        #[source]
        source: BoxError,
    },
    #[error("the job record of import {import_id} could not be read or written")]
    JobStore {
        import_id: String,
        #[source]
        source: StoreError,
    },
    #[error("the continuation of import {import_id} could not be scheduled")]
    Continuation {
        import_id: String,
        #[source]
        source: BoxError,
    },
    #[error("the upload record of import {import_id} could not be checked")]
    Upload {
        import_id: String,
        #[source]
        source: BoxError,
    },
    #[error("no random bytes for import {import_id}")]
    Randomness {
        import_id: String,
        #[source]
        source: BoxError,
    },
    /// The stop work did not end before the invocation's deadline (a backend too slow to write the checkpoint in
    /// the time left): answered as an error before the timeout; a retry goes on from the last checkpoint written.
    #[error("import {import_id} could not finish stopping before the invocation's deadline; a retry resumes from the last checkpoint written")]
    OutOfTime { import_id: String },
    /// The lease ran out before it could be renewed (or could not be confirmed): the rows done since the last
    /// checkpoint are done again by whichever invocation takes the job on, which a retry of this one can be.
    #[error("import {import_id} lost its lease before reaching a checkpoint")]
    LeaseLost { import_id: String },
}

impl ImportError {
    pub fn report(what: &'static str, import_id: &str, source: impl Into<BoxError>) -> Self {
        Self::Report {
            what,
            import_id: import_id.to_owned(),
            source: source.into(),
        }
    }

    pub fn upload(import_id: &str, source: impl Into<BoxError>) -> Self {
        Self::Upload {
            import_id: import_id.to_owned(),
            source: source.into(),
        }
    }

    pub fn job_store(import_id: &str, source: StoreError) -> Self {
        Self::JobStore {
            import_id: import_id.to_owned(),
            source,
        }
    }
}

impl From<ImportError> for lambda_runtime::Diagnostic {
    fn from(error: ImportError) -> Self {
        let error_type = match error {
            ImportError::Report { .. } => "ImportReportFailed",
            ImportError::JobStore { .. } => "ImportJobStoreFailed",
            ImportError::Continuation { .. } => "ImportContinuationFailed",
            ImportError::Upload { .. } => "ImportUploadCheckFailed",
            ImportError::Randomness { .. } => "ImportRandomnessFailed",
            ImportError::LeaseLost { .. } => "ImportLeaseLost",
            ImportError::OutOfTime { .. } => "ImportOutOfTime",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: chain(&error),
        }
    }
}
