//! What the API tells the audit trail: one structured line per request, at target `audit` (for operations: every
//! request, whatever its outcome), and for each read of a submission a [`ReadRecord`] in the audit store (the record
//! an auditor relies on; a log level cannot silence it). Writes need no record from here: DynamoDB Streams carries
//! every change to the audit trail (`crate::audit`).
//!
//! The caller is logged as the token's `sub`: an opaque identifier of the identity provider, not patient data, and
//! the one key an auditor can look up in the user pool. A keyed hash would hide it from the log's readers but also
//! make "who read this?" unanswerable without the key and a list of every user. Who may read the log is governed by
//! its log group's permissions. No submitted value, field name or header value is ever part of the line.

use super::identity::Caller;
use crate::audit::{ReadOutcome, ReadRecord, Who, Why};
use lambda_http::http::StatusCode;

/// What the line will say, filled in while the request is handled.
#[derive(Debug, Default)]
pub struct Audit {
    pub caller: Option<Caller>,
    /// The route template, e.g. `GET /questionnaires/{kind}/{id}`; `None` for a path the API does not serve.
    pub route: Option<&'static str>,
    pub kind: Option<&'static str>,
    /// The submission created, replayed or read (a ULID), once known.
    pub record_id: Option<String>,
}

impl Audit {
    /// Writes the line for a request answered with `status` (and, for an error, its stable code). The request's ids
    /// come from the spans it is written in (`function_request_id`, `api_request_id`).
    pub fn emit(&self, status: StatusCode, code: Option<&'static str>) {
        let caller = self.caller.as_ref();
        tracing::info!(
            target: "audit",
            issuer = caller.map(|c| c.issuer.as_str()),
            caller = caller.map(|c| c.subject.as_str()),
            client_id = caller.and_then(|c| c.client_id.as_deref()),
            route = self.route,
            kind = self.kind,
            record_id = self.record_id.as_deref(),
            status = status.as_u16(),
            outcome = code.unwrap_or("ok"),
            "audit"
        );
    }

    /// The audit store's record of reading submission `record_id` (known once the route is), answered with
    /// `outcome`.
    pub fn read(&self, request_id: &str, table: &str, record_id: &str, outcome: ReadOutcome) -> ReadRecord {
        let caller = self.caller.as_ref();
        ReadRecord {
            record: "read",
            version: ReadRecord::VERSION,
            id: ulid::Ulid::new().to_string(),
            at: crate::time::rfc3339_millis(time::OffsetDateTime::now_utc()),
            who: caller.map_or(Who::Unattributed, |c| Who::Caller {
                issuer: Some(c.issuer.clone()),
                subject: c.subject.clone(),
                client_id: c.client_id.clone(),
                staff: Some(c.roles.staff),
            }),
            why: Why::Request {
                request_id: request_id.to_owned(),
                route: self.route.map(str::to_owned),
            },
            table: table.to_owned(),
            record_id: record_id.to_owned(),
            questionnaire: self.kind.unwrap_or_default().to_owned(),
            dataset: None,
            outcome,
        }
    }
}
