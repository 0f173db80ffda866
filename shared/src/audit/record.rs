//! The records of the audit trail, as stored: one JSON object each (a line of a batch, or an object of its own).
//!
//! The format is versioned (`version`) and every field is named for what it says; readers (Athena, a script, an
//! auditor with `jq`) need nothing of this code to read it.

use serde::Serialize;
use serde_json::{Map, Value};

/// One change of one clinical record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    /// `change`: what this line is.
    pub record: &'static str,
    pub version: u32,
    /// The table's name.
    pub table: String,
    /// The record's primary key (`pk`/`sk`, or `id`).
    pub key: Map<String, Value>,
    pub change: Change,
    /// When DynamoDB made the change (RFC 3339, UTC, milliseconds; the stream's approximate creation time).
    pub at: String,
    /// The stream record's id: a record that a retried batch wrote twice has the same id.
    pub event_id: String,
    /// Orders the changes of one record (one shard's records are in order).
    pub sequence_number: String,
    pub who: Who,
    pub why: Why,
    /// The record before the change; `None` for a create.
    pub before: Option<Map<String, Value>>,
    /// The record after the change; `None` for a delete.
    pub after: Option<Map<String, Value>>,
}

impl ChangeRecord {
    pub const VERSION: u32 = 1;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Create,
    Overwrite,
    Delete,
}

/// Who made a change or a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Who {
    /// A person through the API: the verified token's issuer and subject.
    #[serde(rename_all = "camelCase")]
    Caller {
        issuer: Option<String>,
        subject: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// Read as staff (every record) rather than as the record's own submitter.
        #[serde(skip_serializing_if = "Option::is_none")]
        staff: Option<bool>,
    },
    /// Whoever uploaded the imported file (S3's principal id of the upload; absent if S3 named none).
    Uploader { principal: Option<String> },
    /// An AWS service on its own account: DynamoDB's TTL deleting an expired item.
    Service { principal: String },
    /// A change outside this application (e.g. a delete in the console): CloudTrail's data events say who.
    Unattributed,
}

/// Why: the request or import job that made the change, or what else did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Why {
    /// An API request: its id (in the function's and the API's logs) and route.
    #[serde(rename_all = "camelCase")]
    Request {
        request_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        route: Option<String>,
    },
    /// An import job (its summary is `reports/…/<importId>.summary.json`, its record in the jobs table).
    #[serde(rename_all = "camelCase")]
    Import {
        import_id: String,
    },
    /// The item's time to live ran out.
    Expired,
    Unknown,
}

/// One read of one submission through the API, recorded before the answer is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadRecord {
    /// `read`: what this object is.
    pub record: &'static str,
    pub version: u32,
    /// This record's own id (a ULID: it sorts by time).
    pub id: String,
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    pub who: Who,
    pub why: Why,
    /// The table read.
    pub table: String,
    /// The record asked for (a submission, or an import), and its questionnaire kind or dataset.
    pub record_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub questionnaire: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    pub outcome: ReadOutcome,
}

impl ReadRecord {
    pub const VERSION: u32 = 1;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadOutcome {
    /// The record was returned to the caller.
    Returned,
    /// Answered `404`: absent, or not the caller's to read (both look alike to the caller, not to the auditor).
    NotFound,
}
