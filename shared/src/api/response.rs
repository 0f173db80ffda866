//! Response bodies.

use crate::questionnaire::Violation;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

/// RFC 9457 problem details, with a stable `code` and the per-field `violations`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem<'a> {
    pub status: u16,
    pub code: &'a str,
    pub title: &'a str,
    pub detail: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub violations: &'a [Violation],
    pub request_id: &'a str,
}

/// A JSON response. Our bodies are plain structs, which serde_json always encodes.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| String::from("{}"));
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
