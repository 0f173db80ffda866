//! The audit trail: one structured line per request, at target `audit`, enough to answer "who read (or wrote)
//! patient X's submission, when, through which app, and with what outcome".
//!
//! The caller is logged as the token's `sub`: an opaque identifier of the identity provider, not patient data, and
//! the one key an auditor can look up in the user pool. A keyed hash would hide it from the log's readers but also
//! make "who read this?" unanswerable without the key and a list of every user. Who may read the log is governed by
//! its log group's permissions. No submitted value, field name or header value is ever part of the line.

use super::identity::Caller;
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
    /// Writes the line for a request answered with `status` (and, for an error, its stable code).
    pub fn emit(&self, request_id: &str, status: StatusCode, code: Option<&'static str>) {
        let caller = self.caller.as_ref();
        tracing::info!(
            target: "audit",
            request_id,
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
}
