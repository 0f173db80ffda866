//! Imports started through the API, as a coordinator's tool starts them: the request of the import routes (in
//! process, as API Gateway passes it on) and the upload of a file with the signed request the API answered.

use serde_json::{json, Value};

/// A request to the import routes as API Gateway's JWT authorizer passes it on: from the person `sub` in `groups`
/// (`site:<study>/<site>`, `staff`), through an app granted `scope`.
pub fn api_request(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    sub: &str,
    scope: &str,
    groups: &[&str],
) -> lambda_http::Request {
    let mut e = crate::event("http-api-submit-intake.json");
    e["rawPath"] = path.into();
    e["rawQueryString"] = query.into();
    e["requestContext"]["http"]["method"] = method.into();
    e["requestContext"]["http"]["path"] = path.into();
    e["headers"] = json!({"content-type": "application/json"});
    e["body"] = body.map_or(Value::Null, |b| b.to_string().into());
    e["isBase64Encoded"] = false.into();
    let claims = &mut e["requestContext"]["authorizer"]["jwt"]["claims"];
    claims["sub"] = sub.into();
    claims["scope"] = scope.into();
    claims["cognito:groups"] = format!("[{}]", groups.join(" ")).into();
    lambda_http::request::from_str(&e.to_string()).expect("the fixture is an API Gateway event")
}

/// The API id the fixture's request context names (the function under test must trust it).
pub fn fixture_api_id() -> String {
    crate::event("http-api-submit-intake.json")["requestContext"]["apiId"]
        .as_str()
        .expect("the fixture names its API")
        .to_owned()
}

/// The announcement of `content` for `study` and `site`.
pub fn announcement(study: &str, site: &str, file_name: &str, content: &[u8]) -> Value {
    use base64::Engine;
    use sha2::Digest;
    let sha256 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(content));
    json!({"study": study, "site": site, "fileName": file_name, "sizeBytes": content.len(), "sha256": sha256})
}

/// Sends `content` with the signed request of an announcement's answer (`upload`): its method, its URL and every
/// header it names but the length, which the HTTP client sets from the body it sends (as any client does).
pub async fn put_signed(upload: &Value, content: Vec<u8>) -> reqwest::Response {
    let method =
        reqwest::Method::from_bytes(upload["method"].as_str().expect("a method").as_bytes()).expect("a method");
    let mut request = reqwest::Client::new().request(method, upload["url"].as_str().expect("a URL"));
    for (name, value) in upload["headers"].as_object().expect("headers") {
        if name != "content-length" {
            request = request.header(name, value.as_str().expect("a header value"));
        }
    }
    request
        .body(content)
        .send()
        .await
        .expect("the upload reaches the local S3 API")
}
