//! Reading what the request carries: route, body, caller, idempotency key.

use super::ApiError;
use crate::error::truncate;
use crate::json::{self, JsonError};
use crate::questionnaire::decode::{Decode, Decoder};
use crate::questionnaire::Json;
use lambda_http::http::{header, HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

/// The operations of the API.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Submit { kind: &'a str },
    Fetch { kind: &'a str, id: &'a str },
}

impl Route<'_> {
    /// The templates of the routes as `template.yaml` declares them.
    pub const SUBMIT: &'static str = "POST /questionnaires/{kind}";
    pub const FETCH: &'static str = "GET /questionnaires/{kind}/{id}";

    /// The route's template, for the audit line and the metrics.
    pub fn template(&self) -> &'static str {
        match self {
            Self::Submit { .. } => Self::SUBMIT,
            Self::Fetch { .. } => Self::FETCH,
        }
    }
}

/// The request path without API Gateway's stage prefix (lambda_http adds `/{stage}` for named stages).
pub fn path_without_stage(request: &Request) -> &str {
    let path = request.uri().path();
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.as_deref(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" => path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path),
        _ => path,
    }
}

/// Maps method and path (stage already stripped) to an operation.
pub fn route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_allowed = |allow| ApiError::MethodNotAllowed {
        method: method.to_string(),
        allow,
    };
    match segments.as_slice() {
        ["questionnaires", kind] if !kind.is_empty() => match *method {
            Method::POST => Ok(Route::Submit { kind }),
            _ => Err(not_allowed("POST")),
        },
        ["questionnaires", kind, id] if !kind.is_empty() && !id.is_empty() => match *method {
            Method::GET => Ok(Route::Fetch { kind, id }),
            _ => Err(not_allowed("GET")),
        },
        _ => Err(ApiError::RouteNotFound),
    }
}

/// Checks content type and size, then parses the body as JSON.
pub fn json_body(request: &Request, limit: usize) -> Result<Value, ApiError> {
    check_content_type(request.headers())?;
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // Body is non-exhaustive; anything else is not something we can read.
        #[allow(unreachable_patterns)]
        _ => &[],
    };
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge {
            size: bytes.len(),
            limit,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::EmptyBody);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::InvalidUtf8(e.valid_up_to()))?;
    json::parse(text).map_err(|e| match e {
        JsonError::DuplicateMember { pointer } => ApiError::DuplicateMember { pointer },
        JsonError::Syntax(e) => ApiError::MalformedJson(e.to_string()),
    })
}

/// Accepts `application/json` and `application/<anything>+json`, with no charset or a UTF-8 one.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>"));
    let Some(raw) = raw else {
        return Err(ApiError::UnsupportedMediaType("none".into()));
    };
    let mut parts = raw.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    let utf8 = parts.all(|param| {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        !name.trim().eq_ignore_ascii_case("charset")
            || matches!(
                value.trim().trim_matches('"').to_ascii_lowercase().as_str(),
                "utf-8" | "utf8"
            )
    });
    if json && utf8 {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(truncate(raw, 100).into_owned()))
    }
}

/// The optional `Idempotency-Key` header, checked for shape.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| ApiError::InvalidIdempotencyKey)?;
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Some(key))
    } else {
        Err(ApiError::InvalidIdempotencyKey)
    }
}

/// The id that ties this request's records together: Lambda's request id (`function_request_id` in the function's
/// log, `integrationRequestId` in the API's access log, `why.requestId` in the audit trail, `requestId` in the stored
/// submission and in problem documents), else API Gateway's.
pub fn request_id(request: &Request) -> String {
    let lambda = request.lambda_context_ref().map(|c| c.request_id.clone());
    lambda
        .filter(|id| !id.is_empty())
        .or_else(|| gateway_request_id(request).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// API Gateway's id of the request (`requestContext.requestId`): the `requestId` of the API's access log.
pub fn gateway_request_id(request: &Request) -> Option<&str> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.as_deref(),
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.as_deref(),
        _ => None,
    }
    .filter(|id| !id.is_empty())
}

/// Takes the `schemaVersion` member out of a submission's body: the version the client filled in, if it says. Only
/// a whole number is a version (as JSON Schema counts: `2.0` is `2`); anything else is a violation of its own.
pub fn take_schema_version(body: &mut Value) -> Result<Option<i64>, ApiError> {
    let Some(sent) = body.as_object_mut().and_then(|members| members.remove(SCHEMA_VERSION)) else {
        return Ok(None);
    };
    let mut decoder = Decoder::<Json>::new();
    let pointer = format!("/{SCHEMA_VERSION}");
    let number = <i64 as Decode>::decode(&sent, &pointer, &mut decoder);
    decoder.finish(number).map(Some).map_err(ApiError::Validation)
}

/// The body member that names the questionnaire version.
pub const SCHEMA_VERSION: &str = "schemaVersion";

/// Whether `GET` asks for the answers in the kind's latest shape (`?shape=latest`) rather than as answered
/// (`?shape=stored`, the default). A misspelt value is refused rather than silently read as the default.
pub fn wants_latest_shape(request: &Request) -> Result<bool, ApiError> {
    let params = request.query_string_parameters();
    match params.all("shape").as_deref() {
        None | Some([]) | Some(["stored"]) => Ok(false),
        Some(["latest"]) => Ok(true),
        Some([_]) => Err(ApiError::InvalidQuery("shape must be stored or latest".into())),
        Some(_) => Err(ApiError::InvalidQuery("shape is given more than once".into())),
    }
}
