//! The one place where an API error becomes an HTTP status, a problem+json body and a log line.

use super::response::{json, Problem};
use crate::error::{chain, BoxError};
use crate::questionnaire::Violation;
use crate::store::StoreError;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such resource; use /questionnaires/{{kind}} or /questionnaires/{{kind}}/{{id}}")]
    RouteNotFound,
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
    #[error("the Idempotency-Key header must be 1 to 255 visible ASCII characters")]
    InvalidIdempotencyKey,
    #[error("the submission has {} violation(s); see violations", .0.len())]
    Validation(Vec<Violation>),
    #[error("no {kind} submission with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("this Idempotency-Key was already used with different answers; use a new key for a new submission")]
    IdempotencyConflict,
    #[error("the submission store is unavailable; retry later with the same Idempotency-Key")]
    StoreUnavailable(#[source] StoreError),
    #[error("internal error; the request id identifies it in the logs")]
    Internal(#[source] BoxError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RouteNotFound | Self::UnknownKind { .. } | Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::EmptyBody | Self::InvalidUtf8(_) | Self::MalformedJson(_) | Self::InvalidIdempotencyKey => {
                StatusCode::BAD_REQUEST
            }
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyConflict => StatusCode::CONFLICT,
            Self::StoreUnavailable(e) if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::StoreUnavailable(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine code, also logged.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RouteNotFound => "route_not_found",
            Self::UnknownKind { .. } => "unknown_kind",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::EmptyBody => "empty_body",
            Self::InvalidUtf8(_) => "invalid_utf8",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::Validation(_) => "validation_failed",
            Self::NotFound { .. } => "not_found",
            Self::IdempotencyConflict => "idempotency_key_reused",
            Self::StoreUnavailable(_) => "store_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        let code = self.code();
        if status.is_server_error() {
            let cause = match &self {
                Self::StoreUnavailable(e) => chain(e),
                Self::Internal(e) => chain(e.as_ref()),
                _ => String::new(),
            };
            tracing::error!(status = status.as_u16(), code, cause, "request failed");
        } else if let Self::Validation(violations) = &self {
            let codes: Vec<String> = violations.iter().map(|v| format!("{}:{}", v.path, v.code)).collect();
            tracing::info!(status = status.as_u16(), code, violations = ?codes, "request rejected");
        } else {
            tracing::info!(status = status.as_u16(), code, "request rejected");
        }
        let mut response = json(
            status,
            &Problem {
                status: status.as_u16(),
                code,
                title: status.canonical_reason().unwrap_or("Error"),
                detail: self.to_string(),
                violations: match &self {
                    Self::Validation(v) => v.as_slice(),
                    _ => &[],
                },
                request_id,
            },
        );
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        match self {
            Self::MethodNotAllowed { allow, .. } => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static(allow));
            }
            Self::StoreUnavailable(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
