//! A questionnaire submission as stored, whichever way it arrived: through the API or from a CSV backfill.

use crate::provenance::Provenance;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored submission: the typed answers plus where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionRecord {
    pub id: String,
    pub kind: String,
    /// RFC 3339, UTC, milliseconds.
    pub received_at: String,
    pub schema_version: u32,
    pub request_id: String,
    /// The `sub` of the patient (or clinician) who submitted through the API; they may read it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// The issuer of that `sub`: a subject is unique only within its issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter_issuer: Option<String>,
    /// For a CSV backfill: who uploaded the file (S3's principal id). Staff see it; patients never do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_by: Option<String>,
    /// The answers as the questionnaire type serialises them (normalised, validated).
    pub answers: Value,
    /// For submissions imported from a CSV file: the file and line they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl SubmissionRecord {
    /// Imported from a file rather than submitted by its patient: readable by staff only.
    pub fn is_imported(&self) -> bool {
        self.provenance.is_some()
    }

    pub fn reference(&self) -> SubmissionRef {
        SubmissionRef {
            id: self.id.clone(),
            kind: self.kind.clone(),
            received_at: self.received_at.clone(),
        }
    }
}

/// What identifies a stored submission to the one who submitted it; an idempotency record keeps it so that a
/// replayed request is answered exactly as the original was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionRef {
    pub id: String,
    pub kind: String,
    pub received_at: String,
}
