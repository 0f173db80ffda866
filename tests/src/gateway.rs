//! A local stand-in for the HTTP API in `template.yaml`: its routes, its JWT authorizer with per-route scopes, and
//! payload format 2.0 events handed to the function through the emulator's Invoke API (`cargo lambda watch`).
//!
//! `cargo lambda watch` serves functions over HTTP itself, but without an authorizer: every request would reach the
//! function with no identity. This gateway does what API Gateway does before the function runs (route matching,
//! token checks, `401`/`403`/`404` in API Gateway's own format) and passes on the verified claims. The routes come
//! from the template (`scripts/local_stack.py api-routes`), never from a second list.
//!
//! With the API's `CorsConfiguration` it also answers CORS as API Gateway does: a preflight (`OPTIONS` with `Origin`
//! and `Access-Control-Request-Method`) on any path is answered by the gateway itself, before routes and authorizer;
//! every other answer to an allowed origin (the authorizer's `401`/`403` and a `404` included) carries
//! `Access-Control-Allow-Origin`, and CORS headers a function answers with are dropped.

use crate::http_server::Server;
use crate::jwt::{self, Refusal};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// API Gateway's payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// The HTTP API as the template defines it.
#[derive(Debug, Clone, Deserialize)]
pub struct Api {
    /// The API's id as the function is configured with it (`API_ID`): the function trusts the identity of events
    /// whose request context names this API only.
    #[serde(rename = "apiId")]
    pub api_id: String,
    pub issuer: String,
    pub audience: Vec<String>,
    pub routes: Vec<Route>,
    /// The API's `CorsConfiguration`, if it has one (its page's origin is the local page server's).
    #[serde(default)]
    pub cors: Option<Cors>,
}

/// An HTTP API's `CorsConfiguration`, as `scripts/local_stack.py api-routes` writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    /// Origins (`https://example.org`), `*`, or a scheme's every origin (`https://*`).
    pub allow_origins: Vec<String>,
    pub allow_headers: Vec<String>,
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age: Option<u64>,
    #[serde(default)]
    pub allow_credentials: bool,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if that origin is allowed.
    fn allowed(&self, origin: &str) -> Option<String> {
        self.allow_origins.iter().find_map(|allowed| {
            if allowed == "*" {
                return Some("*".to_owned());
            }
            let fits = match allowed.strip_suffix('*') {
                Some(scheme) => origin.starts_with(scheme) && origin.len() > scheme.len(),
                None => allowed.eq_ignore_ascii_case(origin),
            };
            fits.then(|| origin.to_owned())
        })
    }

    /// API Gateway's own answer to a preflight: `204`, with the configuration's headers if the origin is allowed.
    fn preflight(&self, origin: &str) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert("vary", HeaderValue::from_static("origin"));
        let Some(allow_origin) = self.allowed(origin) else {
            return response;
        };
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("access-control-allow-origin", allow_origin);
        set("access-control-allow-methods", self.allow_methods.join(","));
        if !self.allow_headers.is_empty() {
            set("access-control-allow-headers", self.allow_headers.join(","));
        }
        if let Some(max_age) = self.max_age {
            set("access-control-max-age", max_age.to_string());
        }
        if self.allow_credentials {
            set("access-control-allow-credentials", "true".to_owned());
        }
        response
    }

    /// Any answer but a preflight's: the function's own CORS headers dropped (API Gateway ignores them), the
    /// configuration's added for an allowed origin.
    fn decorate(&self, origin: Option<&str>, response: &mut Response<Full<Bytes>>) {
        let headers = response.headers_mut();
        let theirs: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in theirs {
            headers.remove(name);
        }
        headers.append("vary", HeaderValue::from_static("origin"));
        let Some(allow_origin) = origin.and_then(|origin| self.allowed(origin)) else {
            return;
        };
        if let Ok(value) = HeaderValue::from_str(&allow_origin) {
            headers.insert("access-control-allow-origin", value);
        }
        if !self.expose_headers.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&self.expose_headers.join(",")) {
                headers.insert("access-control-expose-headers", value);
            }
        }
        if self.allow_credentials {
            headers.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    /// An HTTP method, or `ANY`.
    pub method: String,
    /// With `{name}` path parameters, e.g. `/questionnaires/{kind}/{id}`.
    pub path: String,
    /// The token must hold one of these (none: any valid token).
    pub scopes: Vec<String>,
    /// The function's name for the emulator's Invoke API.
    pub function: String,
}

impl Api {
    pub fn from_file(path: &str) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    }

    /// The route for a request: a route of its method wins over an `ANY` one, as in API Gateway.
    fn find(&self, method: &str, path: &str) -> Option<(&Route, Map<String, Value>)> {
        let matching = |exact: bool| {
            self.routes.iter().find_map(|route| {
                let method_fits = if exact {
                    route.method == method
                } else {
                    route.method == "ANY"
                };
                method_fits
                    .then(|| parameters(&route.path, path))
                    .flatten()
                    .map(|p| (route, p))
            })
        };
        matching(true).or_else(|| matching(false))
    }
}

/// The path parameters if `path` fits `template` (each parameter one non-empty segment, percent-decoded).
fn parameters(template: &str, path: &str) -> Option<Map<String, Value>> {
    let (template, path): (Vec<&str>, Vec<&str>) = (
        template.trim_start_matches('/').split('/').collect(),
        path.trim_start_matches('/').split('/').collect(),
    );
    if template.len() != path.len() || path.iter().any(|s| s.is_empty()) {
        return None;
    }
    let mut found = Map::new();
    for (expected, actual) in template.iter().zip(path) {
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => {
                let decoded = percent_encoding::percent_decode_str(actual).decode_utf8_lossy();
                found.insert(name.to_owned(), Value::from(decoded.into_owned()));
            }
            None if expected == &actual => {}
            None => return None,
        }
    }
    Some(found)
}

pub struct Gateway {
    pub url: String,
    _server: Server,
}

struct State {
    api: Api,
    /// Base URL of the emulator whose Invoke API runs the functions.
    emulator: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl Gateway {
    /// Serves `api` on `127.0.0.1:port` (0: any free port).
    pub async fn start(api: Api, emulator: &str, secret: Vec<u8>, port: u16) -> Self {
        let state = Arc::new(State {
            api,
            emulator: emulator.trim_end_matches('/').to_owned(),
            secret,
            client: reqwest::Client::new(),
        });
        let server = Server::start(port, move |request, peer| {
            let state = Arc::clone(&state);
            async move { Ok(state.handle(request, peer.ip().to_string()).await) }
        })
        .await;
        Self {
            url: server.url.clone(),
            _server: server,
        }
    }
}

/// An answer of API Gateway itself: `{"message": …}` as JSON.
fn gateway_answer(status: StatusCode, message: &str, challenge: Option<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(json!({ "message": message }).to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert("www-authenticate", challenge);
    }
    response
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Claims as API Gateway passes them to the function: every value as text, lists as `[a b]`.
fn stringified(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    let items: Vec<String> = items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect();
                    format!("[{}]", items.join(" "))
                }
                other => other.to_string(),
            };
            (name.clone(), Value::from(text))
        })
        .collect()
}

impl State {
    async fn handle(&self, request: Request<Incoming>, source_ip: String) -> Response<Full<Bytes>> {
        let Some(cors) = &self.api.cors else {
            return self.route(request, source_ip).await;
        };
        let origin = request
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(origin) = &origin {
            if request.method() == hyper::Method::OPTIONS
                && request.headers().contains_key("access-control-request-method")
            {
                return cors.preflight(origin);
            }
        }
        let mut response = self.route(request, source_ip).await;
        cors.decorate(origin.as_deref(), &mut response);
        response
    }

    /// What API Gateway does without CORS: the route, its authorizer, the function.
    async fn route(&self, request: Request<Incoming>, source_ip: String) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let Some((route, path_parameters)) = self.api.find(parts.method.as_str(), &path) else {
            return gateway_answer(StatusCode::NOT_FOUND, "Not Found", None);
        };
        let claims = match self.authorize(&parts.headers, route) {
            Ok(claims) => claims,
            Err(answer) => return answer,
        };
        let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large", None),
        };
        let event = event(
            &self.api.api_id,
            &parts,
            route,
            path_parameters,
            &claims,
            &body,
            &source_ip,
        );
        self.invoke(&route.function, &event).await
    }

    /// The JWT authorizer: a valid token from the template's issuer and audience, holding one of the route's scopes.
    #[allow(clippy::result_large_err)]
    fn authorize(
        &self,
        headers: &hyper::HeaderMap,
        route: &Route,
    ) -> Result<Map<String, Value>, Response<Full<Bytes>>> {
        let unauthorized =
            |challenge: &str| gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized", Some(challenge.into()));
        let header = headers.get("authorization").and_then(|v| v.to_str().ok());
        let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
            return Err(unauthorized("Bearer"));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .unwrap_or(header)
            .trim();
        let claims =
            jwt::verify(&self.secret, token, now_s(), &self.api.issuer, &self.api.audience).map_err(|refusal| {
                let description = match refusal {
                    Refusal::Expired => "the token has expired",
                    Refusal::WrongIssuer | Refusal::WrongAudience => "the token is not for this API",
                    Refusal::Malformed | Refusal::BadSignature => "the token is not valid",
                };
                unauthorized(&format!(
                    "Bearer error=\"invalid_token\", error_description=\"{description}\""
                ))
            })?;
        let held: Vec<&str> = claims
            .get("scope")
            .and_then(Value::as_str)
            .map_or_else(Vec::new, |s| s.split_whitespace().collect());
        if !route.scopes.is_empty() && !route.scopes.iter().any(|s| held.contains(&s.as_str())) {
            let challenge = format!(
                "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token lacks the scope\"",
                route.scopes.join(" ")
            );
            return Err(gateway_answer(StatusCode::FORBIDDEN, "Forbidden", Some(challenge)));
        }
        Ok(claims)
    }

    async fn invoke(&self, function: &str, event: &Value) -> Response<Full<Bytes>> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.emulator);
        let answer = match self.client.post(url).json(event).send().await {
            Ok(answer) if answer.status().is_success() => answer.json::<Value>().await.ok(),
            _ => None,
        };
        match answer.as_ref().and_then(http_response) {
            Some(response) => response,
            None => gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", None),
        }
    }
}

/// A payload format 2.0 event, as the HTTP API `api_id` sends it for a route with a JWT authorizer.
fn event(
    api_id: &str,
    parts: &hyper::http::request::Parts,
    route: &Route,
    path_parameters: Map<String, Value>,
    claims: &Map<String, Value>,
    body: &Bytes,
    source_ip: &str,
) -> Value {
    let path = parts.uri.path();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if name == "cookie" {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let joined = match headers.get(name.as_str()).and_then(Value::as_str) {
            Some(before) => format!("{before},{value}"),
            None => value,
        };
        headers.insert(name.as_str().to_owned(), Value::from(joined));
    }
    let cookies: Vec<String> = parts
        .headers
        .get_all("cookie")
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split("; ")
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let query = parts.uri.query().unwrap_or("");
    let route_key = format!("{} {}", route.method, route.path);
    let (body, base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::from(text), false),
        Err(_) => (Value::from(STANDARD.encode(body)), true),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "cookies": cookies,
        "headers": headers,
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": api_id,
            "authorizer": { "jwt": { "claims": stringified(claims), "scopes": null } },
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": ulid::Ulid::new().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as u64,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// The HTTP response a function's payload format 2.0 answer stands for.
fn http_response(answer: &Value) -> Option<Response<Full<Bytes>>> {
    let status = StatusCode::from_u16(u16::try_from(answer.get("statusCode")?.as_u64()?).ok()?).ok()?;
    let body = match answer.get("body").and_then(Value::as_str) {
        Some(text) if answer["isBase64Encoded"] == true => Bytes::from(STANDARD.decode(text).ok()?),
        Some(text) => Bytes::from(text.to_owned()),
        None => Bytes::new(),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer.get("headers").and_then(Value::as_object).into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    for (name, values) in answer
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(name) = hyper::header::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        headers.remove(&name);
        for value in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(name.clone(), value);
            }
        }
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Api {
        let route = |method: &str, path: &str, scopes: &[&str]| Route {
            method: method.into(),
            path: path.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            function: "f".into(),
        };
        Api {
            api_id: "QuestionnaireApi".into(),
            issuer: "i".into(),
            audience: vec!["a".into()],
            cors: None,
            routes: vec![
                route("POST", "/questionnaires/{kind}", &["submit"]),
                route("ANY", "/questionnaires/{kind}", &[]),
                route("GET", "/questionnaires/{kind}/{id}", &["read", "all"]),
            ],
        }
    }

    #[test]
    fn routes_match_by_method_first_then_any_and_take_decoded_parameters() {
        let api = api();
        let (route, params) = api.find("POST", "/questionnaires/intake").unwrap();
        assert_eq!(
            (route.method.as_str(), params["kind"].as_str()),
            ("POST", Some("intake"))
        );
        assert_eq!(api.find("PUT", "/questionnaires/intake").unwrap().0.method, "ANY");
        let (_, params) = api.find("GET", "/questionnaires/intake/a%2Fb").unwrap();
        assert_eq!(params["id"], "a/b");
        assert!(api.find("GET", "/questionnaires/intake/").is_none());
        assert!(api.find("GET", "/elsewhere").is_none());
    }

    #[test]
    fn the_routes_file_names_the_api_and_every_event_carries_its_id() {
        // GIVEN the API as `scripts/local_stack.py api-routes` writes it
        let api: Api = serde_json::from_value(json!({
            "apiId": "QuestionnaireApi",
            "issuer": "i",
            "audience": ["a"],
            "routes": [{"method": "POST", "path": "/questionnaires/{kind}", "scopes": ["submit"], "function": "f"}],
        }))
        .unwrap();
        assert_eq!(api.api_id, "QuestionnaireApi");
        // WHEN a request becomes an event
        let (parts, ()) = Request::post("/questionnaires/intake?x=1")
            .body(())
            .unwrap()
            .into_parts();
        let (route, params) = api.find("POST", parts.uri.path()).unwrap();
        let claims = json!({"sub": "s"});
        let event = event(
            &api.api_id,
            &parts,
            route,
            params,
            claims.as_object().unwrap(),
            &Bytes::new(),
            "127.0.0.1",
        );
        // THEN its request context names that API, as the function's API_ID does
        assert_eq!(event["requestContext"]["apiId"], "QuestionnaireApi");
        // (and the path it was asked for)
        assert_eq!(event["rawPath"], "/questionnaires/intake");
        assert_eq!(event["requestContext"]["http"]["path"], "/questionnaires/intake");
        assert_eq!(event["rawQueryString"], "x=1");
    }

    const PAGE: &str = "http://127.0.0.1:8080";

    fn cors_api() -> Api {
        Api {
            cors: Some(Cors {
                allow_origins: vec![PAGE.into()],
                allow_headers: vec!["authorization".into(), "content-type".into()],
                allow_methods: vec!["GET".into(), "POST".into()],
                expose_headers: vec![],
                max_age: Some(600),
                allow_credentials: false,
            }),
            ..api()
        }
    }

    /// A stand-in for the emulator: counts invocations and answers 200 with a CORS header of the function's own.
    async fn emulator() -> (Server, Arc<std::sync::atomic::AtomicUsize>) {
        let invocations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&invocations);
        let server = Server::start(0, move |_request, _peer| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let answer = json!({
                    "statusCode": 200,
                    "headers": {"content-type": "application/json", "access-control-allow-origin": "*"},
                    "body": "{}",
                });
                Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
            }
        })
        .await;
        (server, invocations)
    }

    const SECRET: &[u8] = b"gateway test secret";

    fn token(scope: &str) -> String {
        jwt::mint(SECRET, &crate::access_token_claims("i", "a", "sub-1", scope, &[], 60))
    }

    fn header(response: &reqwest::Response, name: &str) -> Option<String> {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    async fn preflight(gateway: &Gateway, path: &str, origin: &str) -> reqwest::Response {
        reqwest::Client::new()
            .request(hyper::Method::OPTIONS, format!("{}{path}", gateway.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_preflight_on_any_path_is_answered_by_the_gateway_without_the_function() {
        let (emulator, invocations) = emulator().await;
        let gateway = Gateway::start(cors_api(), &emulator.url, SECRET.to_vec(), 0).await;
        for path in [
            "/questionnaires/intake",
            "/questionnaires/intake/01ABC",
            "/nowhere/at/all",
        ] {
            let answer = preflight(&gateway, path, PAGE).await;
            assert_eq!(answer.status(), 204, "{path}");
            assert_eq!(header(&answer, "access-control-allow-origin").as_deref(), Some(PAGE));
            assert_eq!(
                header(&answer, "access-control-allow-methods").as_deref(),
                Some("GET,POST")
            );
            assert_eq!(
                header(&answer, "access-control-allow-headers").as_deref(),
                Some("authorization,content-type")
            );
            assert_eq!(header(&answer, "access-control-max-age").as_deref(), Some("600"));
            assert_eq!(header(&answer, "vary").as_deref(), Some("origin"));
        }
        assert_eq!(invocations.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn every_answer_to_the_allowed_origin_carries_it_refusals_included() {
        let (emulator, invocations) = emulator().await;
        let gateway = Gateway::start(cors_api(), &emulator.url, SECRET.to_vec(), 0).await;
        let client = reqwest::Client::new();
        let get = |bearer: Option<String>| {
            let mut request = client
                .get(format!("{}/questionnaires/intake/01ABC", gateway.url))
                .header("origin", PAGE);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        // no token: the authorizer's 401; a token without the scope: its 403; then the function's answer
        for (bearer, status) in [(None, 401), (Some(token("submit")), 403), (Some(token("read")), 200)] {
            let answer = get(bearer).await.unwrap();
            assert_eq!(answer.status(), status);
            assert_eq!(
                header(&answer, "access-control-allow-origin").as_deref(),
                Some(PAGE),
                "{status}"
            );
            assert_eq!(header(&answer, "vary").as_deref(), Some("origin"), "{status}");
        }
        // (the function's own `*` was dropped: the answer names the page's origin only)
        assert_eq!(invocations.load(std::sync::atomic::Ordering::SeqCst), 1);
        let not_found = client
            .get(format!("{}/nowhere", gateway.url))
            .header("origin", PAGE)
            .send()
            .await
            .unwrap();
        assert_eq!(not_found.status(), 404);
        assert_eq!(header(&not_found, "access-control-allow-origin").as_deref(), Some(PAGE));
    }

    #[tokio::test]
    async fn another_origin_gets_no_cors_headers_and_the_functions_own_are_dropped() {
        let (emulator, _) = emulator().await;
        let gateway = Gateway::start(cors_api(), &emulator.url, SECRET.to_vec(), 0).await;
        let answer = preflight(&gateway, "/questionnaires/intake", "https://elsewhere.example").await;
        assert_eq!(answer.status(), 204);
        assert_eq!(header(&answer, "access-control-allow-origin"), None);
        assert_eq!(header(&answer, "access-control-allow-methods"), None);
        for origin in [Some("https://elsewhere.example"), None] {
            let mut request = reqwest::Client::new()
                .get(format!("{}/questionnaires/intake/01ABC", gateway.url))
                .bearer_auth(token("read"));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 200);
            assert_eq!(header(&answer, "access-control-allow-origin"), None, "{origin:?}");
        }
    }

    #[tokio::test]
    async fn without_a_cors_configuration_a_preflight_is_an_ordinary_request() {
        let (emulator, _) = emulator().await;
        let gateway = Gateway::start(api(), &emulator.url, SECRET.to_vec(), 0).await;
        // OPTIONS /questionnaires/{kind} meets the ANY route and its authorizer
        let answer = preflight(&gateway, "/questionnaires/intake", PAGE).await;
        assert_eq!(answer.status(), 401);
        assert_eq!(header(&answer, "access-control-allow-origin"), None);
    }

    #[test]
    fn allowed_origins_are_exact_every_one_or_every_one_of_a_scheme() {
        let cors = |origins: &[&str]| Cors {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            ..cors_api().cors.unwrap()
        };
        assert_eq!(cors(&[PAGE]).allowed(PAGE).as_deref(), Some(PAGE));
        assert_eq!(cors(&[PAGE]).allowed("http://127.0.0.1:8081"), None);
        assert_eq!(cors(&["*"]).allowed(PAGE).as_deref(), Some("*"));
        assert_eq!(
            cors(&["https://*"]).allowed("https://a.example").as_deref(),
            Some("https://a.example")
        );
        assert_eq!(cors(&["https://*"]).allowed(PAGE), None);
    }

    #[test]
    fn claims_reach_the_function_as_text() {
        let claims = json!({"sub": "s", "exp": 5, "aud": ["x", "y"]});
        let text = stringified(claims.as_object().unwrap());
        assert_eq!(Value::Object(text), json!({"sub": "s", "exp": "5", "aud": "[x y]"}));
    }
}
