//! Response bodies: what a client reads, and how it is encoded.

use crate::questionnaire::Violation;
use crate::submission::SubmissionRef;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use schemars::JsonSchema;
use serde::Serialize;

/// RFC 9457 problem details, with a stable `code` and the per-field `violations`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine code, e.g. `validation_failed`, `malformed_json`, `store_unavailable`.
    pub code: &'a str,
    pub title: &'a str,
    /// What went wrong and what to do next.
    pub detail: String,
    /// The broken rules (only with `validation_failed`), at most 100.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    #[schemars(length(max = 100))]
    pub violations: &'a [Violation],
    /// How many more rules were broken than `violations` lists.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_violations: u64,
    /// The versions of the questionnaire that are accepted (only with `unsupported_schema_version` and
    /// `schema_version_required`), oldest first.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub live_versions: &'a [u32],
    /// Identifies the request in the logs: Lambda's request id of the invocation that answered
    /// (`function_request_id` in the function's log, `integrationRequestId` in the API's access log).
    pub request_id: &'a str,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a client gets back for an accepted submission (and again for a replayed one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub id: String,
    pub kind: String,
    pub received_at: String,
}

impl From<SubmissionRef> for Receipt {
    fn from(stored: SubmissionRef) -> Self {
        Self {
            id: stored.id,
            kind: stored.kind,
            received_at: stored.received_at,
        }
    }
}

/// The body of `GET /questionnaires/{kind}/{id}`; `A` is the kind's type (for the OpenAPI document) or its JSON.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Stored{A}")]
pub struct StoredView<A> {
    pub id: String,
    pub kind: String,
    /// RFC 3339, UTC, milliseconds.
    pub received_at: String,
    /// The version the patient answered; `answers` has this version's shape unless `upgradedFrom` is present.
    pub schema_version: u32,
    /// With `?shape=latest`, for answers given on an older version: that version (and `schemaVersion` is the
    /// latest, whose shape the answers were upgraded to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u32")]
    pub upgraded_from: Option<u32>,
    /// The `sub` claim of the JWT it was submitted with (absent for imported submissions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub submitted_by: Option<String>,
    /// Who uploaded the file it was imported from; shown to staff only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub imported_by: Option<String>,
    pub answers: A,
}

/// A JSON response. Our bodies are plain structs, which serde_json always encodes.
///
/// Every answer may carry patient data (or say something about it), so none may be cached on the way or read as
/// anything but what its content type says.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"));
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
