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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    /// The answers as the questionnaire type serialises them (normalised, validated).
    pub answers: Value,
    /// For submissions imported from a CSV file: the file and line they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl SubmissionRecord {
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
