//! The one place where an API error becomes an HTTP status, a problem+json body and a log line.
//!
//! Log lines carry codes and paths only: never a submitted value, and never a field name the caller made up (an
//! unknown field's name is replaced by `*`).

use super::response::{json, Problem};
use crate::audit::AuditError;
use crate::error::{chain, BoxError};
use crate::questionnaire::Violations;
use crate::store::StoreError;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("this API needs a bearer token from the clinic's identity provider")]
    Unauthenticated,
    #[error("the token lacks the scope this operation needs ({scope})")]
    MissingScope { scope: String },
    #[error(
        "no such resource; use /questionnaires/{{kind}}, /questionnaires/{{kind}}/{{id}}, /imports or /imports/{{id}}"
    )]
    RouteNotFound,
    #[error("unknown dataset {dataset:?}; a site can upload: {known}")]
    UnknownDataset { dataset: String, known: String },
    #[error("the person holds no grant for this study and site (a site:<study>/<site> group)")]
    NoSiteGrant,
    #[error("no import with id {id:?}")]
    ImportNotFound { id: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("the cursor is not one this API gave out; start again without it")]
    InvalidCursor,
    #[error("unknown questionnaire kind {kind:?}; known kinds: {known}")]
    UnknownKind { kind: String, known: String },
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("content type must be application/json (UTF-8), got {0:?}")]
    UnsupportedMediaType(String),
    #[error("the request body has {size} bytes; the limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("the request body is empty; send a JSON object with the answers")]
    EmptyBody,
    #[error("the request body is not valid UTF-8 (first invalid byte at offset {0})")]
    InvalidUtf8(usize),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the member {pointer} appears more than once in the body; send each member once")]
    DuplicateMember { pointer: String },
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("the submission has {} violation(s); see violations", .0.len() as u64 + .0.omitted())]
    Validation(Violations),
    #[error(
        "{kind} version {requested} is not accepted here (retired or unknown); send one of the live versions in \
         schemaVersion: {}",
        versions(live)
    )]
    UnsupportedSchemaVersion {
        kind: &'static str,
        requested: i64,
        live: Vec<u32>,
    },
    #[error(
        "the caller's studies use different versions of {kind}; say which one was filled in with schemaVersion \
         (live: {})",
        versions(live)
    )]
    SchemaVersionRequired { kind: &'static str, live: Vec<u32> },
    #[error(
        "this {kind} submission was answered on version {from}, and its answers have no reading in version {} \
         ({reason}); read it without shape=latest", from + 1
    )]
    UpgradeImpossible {
        kind: &'static str,
        from: u32,
        reason: &'static str,
    },
    #[error("no {kind} submission with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("this Idempotency-Key was already used with different answers; use a new key for a new submission")]
    IdempotencyConflict,
    #[error("the submission store is unavailable; retry later with the same Idempotency-Key")]
    StoreUnavailable(#[source] StoreError),
    #[error("the audit trail is unavailable, so the submission cannot be read now; retry later")]
    AuditUnavailable(#[source] AuditError),
    #[error("internal error; the request id identifies it in the logs")]
    Internal(#[source] BoxError),
}

fn versions(live: &[u32]) -> String {
    live.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// How many violations a log line names; the count says how many there were.
const LOGGED_VIOLATIONS: usize = 20;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::MissingScope { .. } | Self::NoSiteGrant => StatusCode::FORBIDDEN,
            Self::RouteNotFound
            | Self::UnknownKind { .. }
            | Self::NotFound { .. }
            | Self::UnknownDataset { .. }
            | Self::ImportNotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::EmptyBody
            | Self::InvalidUtf8(_)
            | Self::MalformedJson(_)
            | Self::DuplicateMember { .. }
            | Self::InvalidIdempotencyKey
            | Self::InvalidQuery(_)
            | Self::InvalidCursor => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::UnsupportedSchemaVersion { .. } | Self::SchemaVersionRequired { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::IdempotencyConflict | Self::UpgradeImpossible { .. } => StatusCode::CONFLICT,
            Self::StoreUnavailable(e) if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::AuditUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::StoreUnavailable(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine code, also logged.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::MissingScope { .. } => "insufficient_scope",
            Self::RouteNotFound => "route_not_found",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::UnknownDataset { .. } => "unknown_dataset",
            Self::NoSiteGrant => "no_site_grant",
            Self::ImportNotFound { .. } => "not_found",
            Self::InvalidQuery(_) => "invalid_query",
            Self::InvalidCursor => "invalid_cursor",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::EmptyBody => "empty_body",
            Self::InvalidUtf8(_) => "invalid_utf8",
            Self::MalformedJson(_) => "malformed_json",
            Self::DuplicateMember { .. } => "duplicate_member",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::Validation(_) => "validation_failed",
            Self::UnsupportedSchemaVersion { .. } => "unsupported_schema_version",
            Self::SchemaVersionRequired { .. } => "schema_version_required",
            Self::UpgradeImpossible { .. } => "upgrade_impossible",
            Self::NotFound { .. } => "not_found",
            Self::IdempotencyConflict => "idempotency_key_reused",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::AuditUnavailable(_) => "audit_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        let code = self.code();
        self.log(status, code);
        let (violations, omitted_violations) = match &self {
            Self::Validation(v) => (&v[..], v.omitted()),
            _ => (&[][..], 0),
        };
        let live_versions = match &self {
            Self::UnsupportedSchemaVersion { live, .. } | Self::SchemaVersionRequired { live, .. } => &live[..],
            _ => &[],
        };
        let mut response = json(
            status,
            &Problem {
                status: status.as_u16(),
                code,
                title: status.canonical_reason().unwrap_or("Error"),
                detail: self.to_string(),
                violations,
                omitted_violations,
                live_versions,
                request_id,
            },
        );
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            Self::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MissingScope { scope } => {
                // RFC 6750: the scope a new token would need. Scope names are configuration, never caller input.
                let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            Self::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::StoreUnavailable(_) | Self::AuditUnavailable(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }

    fn log(&self, status: StatusCode, code: &'static str) {
        match self {
            Self::StoreUnavailable(e) => {
                tracing::error!(status = status.as_u16(), code, cause = chain(e), "request failed")
            }
            Self::AuditUnavailable(e) => {
                tracing::error!(status = status.as_u16(), code, cause = chain(e), "request failed")
            }
            Self::Internal(e) => {
                tracing::error!(
                    status = status.as_u16(),
                    code,
                    cause = chain(e.as_ref()),
                    "request failed"
                )
            }
            Self::Validation(violations) => {
                let named: Vec<String> = violations
                    .iter()
                    .take(LOGGED_VIOLATIONS)
                    .map(|v| format!("{}:{}", v.redacted_path(), v.code))
                    .collect();
                let count = violations.len() as u64 + violations.omitted();
                tracing::info!(status = status.as_u16(), code, count, violations = ?named, "request rejected");
            }
            _ => tracing::info!(status = status.as_u16(), code, "request rejected"),
        }
    }
}
