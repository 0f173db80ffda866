//! A local stand-in for the identity provider's hosted sign-in, as the coordinator page uses Cognito's: the OAuth2
//! authorization code flow with PKCE (S256) at `/oauth2/authorize` and `/oauth2/token`, and `/logout`.
//!
//! It lives next to the gateway because it issues the gateway's tokens: the same claims as `local-gateway mint`
//! ([`crate::access_token_claims`]), signed with the same per-run secret, so a token the page gets by signing in is
//! one the local HTTP API accepts. Who may sign in is a fixed list of local users (`scripts/local-users.json`); the
//! sign-in page lists them instead of asking for a password. Everything else is checked as the real endpoints
//! check it: the app client, its redirect and sign-out URIs and scopes, the code's single use and short life, and
//! the code verifier against the challenge.

use crate::http_server::Server;
use crate::jwt;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A person who may sign in locally (`scripts/local-users.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    /// A fixed opaque id, never the username (as Cognito's `sub`).
    pub sub: String,
    /// `cognito:groups`: e.g. `site:CARDIO-7/S01`, `staff`.
    pub groups: Vec<String>,
}

impl User {
    pub fn from_file(path: &str) -> Vec<User> {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    }
}

/// The app client the page signs in with.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// The only redirect URI (the page's root, `http://127.0.0.1:PORT/`), also the only sign-out URI.
    pub redirect_uri: String,
    /// The scopes the client may ask for; all of them when it names none.
    pub scopes: Vec<String>,
}

impl Client {
    /// The page's origin: the token endpoint answers CORS for it.
    fn origin(&self) -> &str {
        let after_scheme = self.redirect_uri.find("://").map_or(0, |i| i + 3);
        let end = self.redirect_uri[after_scheme..]
            .find('/')
            .map_or(self.redirect_uri.len(), |i| after_scheme + i);
        &self.redirect_uri[..end]
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer the gateway's authorizer expects.
    pub issuer: String,
    pub client: Client,
    pub users: Vec<User>,
    /// The gateway's `LOCAL_JWT_SECRET`.
    pub secret: Vec<u8>,
    /// How long an issued token is valid (`expires_in`).
    pub token_lifetime: Duration,
    /// How long a code may wait for its exchange (Cognito: 5 minutes).
    pub code_lifetime: Duration,
}

pub struct IdentityProvider {
    pub url: String,
    _server: Server,
}

/// An issued code, until its one exchange.
struct Pending {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    user: User,
    expires: Instant,
}

struct State {
    settings: Settings,
    codes: Mutex<HashMap<String, Pending>>,
}

impl IdentityProvider {
    /// Serves the sign-in endpoints on `127.0.0.1:port` (0: any free port).
    pub async fn start(settings: Settings, port: u16) -> Self {
        let state = Arc::new(State {
            settings,
            codes: Mutex::new(HashMap::new()),
        });
        let server = Server::start(port, move |request, _peer| {
            let state = Arc::clone(&state);
            async move { Ok(state.handle(request).await) }
        })
        .await;
        Self {
            url: server.url.clone(),
            _server: server,
        }
    }
}

/// A validated authorization request.
struct Authorization {
    client_id: String,
    redirect_uri: String,
    scope: String,
    state: Option<String>,
    challenge: String,
}

type Params = HashMap<String, String>;

impl State {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let origin = request
            .headers()
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let query = form(request.uri().query().unwrap_or("").as_bytes());
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let body = match Limited::new(request.into_body(), 64 * 1024).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return page(StatusCode::PAYLOAD_TOO_LARGE, "Too large", "The request is too large."),
        };
        match (&method, path.as_str()) {
            (&Method::GET, "/oauth2/authorize") => self.sign_in_page(&query),
            (&Method::POST, "/oauth2/authorize") => self.sign_in(&form(&body)),
            (&Method::OPTIONS, "/oauth2/token") => self.with_cors(origin.as_deref(), token_preflight()),
            (&Method::POST, "/oauth2/token") => self.with_cors(origin.as_deref(), self.token(&form(&body))),
            (&Method::GET, "/logout") => self.logout(&query),
            _ => page(StatusCode::NOT_FOUND, "Not found", "There is nothing here."),
        }
    }

    /// The checks of `/oauth2/authorize`, on the page's request and again on the sign-in form that carries it.
    fn authorization(&self, params: &Params) -> Result<Authorization, String> {
        let client = &self.settings.client;
        let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        if get("response_type") != "code" {
            return Err("response_type must be code.".into());
        }
        if get("client_id") != client.id {
            return Err("Unknown client_id.".into());
        }
        if get("redirect_uri") != client.redirect_uri {
            return Err("redirect_uri is not a redirect URI of this client.".into());
        }
        let challenge = get("code_challenge");
        if get("code_challenge_method") != "S256" || !is_pkce_text(challenge) {
            return Err("A code_challenge with code_challenge_method S256 is required.".into());
        }
        let asked: Vec<&str> = get("scope").split_whitespace().collect();
        if let Some(unknown) = asked.iter().find(|s| !client.scopes.iter().any(|c| c == *s)) {
            return Err(format!("The client may not ask for the scope {unknown}."));
        }
        let scope = if asked.is_empty() {
            client.scopes.join(" ")
        } else {
            asked.join(" ")
        };
        Ok(Authorization {
            client_id: client.id.clone(),
            redirect_uri: client.redirect_uri.clone(),
            scope,
            state: params.get("state").cloned(),
            challenge: challenge.to_owned(),
        })
    }

    /// The sign-in page: the local users to choose from, the request carried along in hidden fields.
    fn sign_in_page(&self, params: &Params) -> Response<Full<Bytes>> {
        if let Err(reason) = self.authorization(params) {
            return page(StatusCode::BAD_REQUEST, "Sign-in refused", &reason);
        }
        let carried: String = [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        ]
        .iter()
        .filter_map(|name| params.get(*name).map(|value| (name, value)))
        .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(value)))
        .collect();
        let users: String = self
            .settings
            .users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let name = escape(&user.username);
                format!(
                    r#"<div><input type="radio" id="user-{i}" name="username" value="{name}" required><label for="user-{i}">{name}</label></div>"#
                )
            })
            .collect();
        let body = format!(
            r#"<p>Local identity provider: choose who you are.</p><form method="post" action="/oauth2/authorize">{carried}<fieldset><legend>User</legend>{users}</fieldset><button type="submit">Sign in</button></form>"#
        );
        let mut response = html(StatusCode::OK, "Sign in", &body);
        // The form posts here, and the answer redirects to the page: form-action covers the redirect too.
        let csp = format!(
            "default-src 'none'; form-action 'self' {}; frame-ancestors 'none'",
            self.settings.client.origin()
        );
        if let Ok(csp) = HeaderValue::from_str(&csp) {
            response.headers_mut().insert("content-security-policy", csp);
        }
        response
    }

    /// The sign-in form's submission: a code for the chosen user, handed to the redirect URI with the state.
    fn sign_in(&self, params: &Params) -> Response<Full<Bytes>> {
        let authorization = match self.authorization(params) {
            Ok(authorization) => authorization,
            Err(reason) => return page(StatusCode::BAD_REQUEST, "Sign-in refused", &reason),
        };
        let chosen = params.get("username").map(String::as_str).unwrap_or("");
        let Some(user) = self.settings.users.iter().find(|u| u.username == chosen) else {
            return page(StatusCode::BAD_REQUEST, "Sign-in refused", "Choose one of the users.");
        };
        let code = random_text();
        let mut location = format!("{}?code={code}", authorization.redirect_uri);
        if let Some(state) = &authorization.state {
            location.push_str("&state=");
            location.push_str(&percent_encoding::utf8_percent_encode(state, QUERY_VALUE).to_string());
        }
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(
            code,
            Pending {
                client_id: authorization.client_id,
                redirect_uri: authorization.redirect_uri,
                challenge: authorization.challenge,
                scope: authorization.scope,
                user: user.clone(),
                expires: Instant::now() + self.settings.code_lifetime,
            },
        );
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::FOUND;
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert("location", location);
        }
        response
    }

    /// The code's exchange for tokens. A code is gone once presented, whether the exchange succeeds or not.
    fn token(&self, params: &Params) -> Response<Full<Bytes>> {
        let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        if get("grant_type") != "authorization_code" {
            return oauth_error("unsupported_grant_type");
        }
        if get("client_id") != self.settings.client.id {
            return oauth_error("invalid_client");
        }
        let pending = self.codes.lock().unwrap_or_else(|e| e.into_inner()).remove(get("code"));
        let Some(pending) = pending else {
            return oauth_error("invalid_grant");
        };
        let verifier = get("code_verifier");
        let verified =
            is_pkce_text(verifier) && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == pending.challenge;
        if pending.expires <= Instant::now()
            || pending.client_id != get("client_id")
            || pending.redirect_uri != get("redirect_uri")
            || !verified
        {
            return oauth_error("invalid_grant");
        }
        let lifetime = self.settings.token_lifetime.as_secs();
        let groups: Vec<&str> = pending.user.groups.iter().map(String::as_str).collect();
        let access = crate::access_token_claims(
            &self.settings.issuer,
            &pending.client_id,
            &pending.user.sub,
            &pending.scope,
            &groups,
            lifetime,
        );
        let mut id = json!({
            "iss": self.settings.issuer,
            "sub": pending.user.sub,
            "aud": pending.client_id,
            "token_use": "id",
            "cognito:username": pending.user.username,
            "iat": access["iat"],
            "auth_time": access["iat"],
            "exp": access["exp"],
        });
        if !groups.is_empty() {
            id["cognito:groups"] = groups.into();
        }
        let body = json!({
            "access_token": jwt::mint(&self.settings.secret, &access),
            "id_token": jwt::mint(&self.settings.secret, &id),
            "token_type": "Bearer",
            "expires_in": lifetime,
        });
        json_answer(StatusCode::OK, &body)
    }

    /// Cognito's `/logout`: back to the sign-out URI, which must be one of the client's.
    fn logout(&self, params: &Params) -> Response<Full<Bytes>> {
        let client = &self.settings.client;
        let logout_uri = params.get("logout_uri").map(String::as_str).unwrap_or("");
        if params.get("client_id").map(String::as_str) != Some(&client.id) || logout_uri != client.redirect_uri {
            return page(
                StatusCode::BAD_REQUEST,
                "Sign-out refused",
                "Unknown client_id or a logout_uri that is not the client's.",
            );
        }
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::FOUND;
        if let Ok(location) = HeaderValue::from_str(logout_uri) {
            response.headers_mut().insert("location", location);
        }
        response
    }

    /// The token endpoint answers CORS for the page's origin (its answers, errors included, are read by the page).
    fn with_cors(&self, origin: Option<&str>, mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
        let headers = response.headers_mut();
        headers.insert("vary", HeaderValue::from_static("origin"));
        if origin == Some(self.settings.client.origin()) {
            if let Ok(origin) = HeaderValue::from_str(self.settings.client.origin()) {
                headers.insert("access-control-allow-origin", origin);
            }
        }
        response
    }
}

fn token_preflight() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert("access-control-allow-methods", HeaderValue::from_static("POST"));
    headers.insert("access-control-allow-headers", HeaderValue::from_static("content-type"));
    response
}

/// RFC 7636: a verifier (and an S256 challenge) is 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_text(text: &str) -> bool {
    (43..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// 256 random bits, base64url: a code no one guesses.
fn random_text() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What must be percent-encoded in a query value.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `application/x-www-form-urlencoded` (a query string or a form body); the last of a repeated name wins.
fn form(text: &[u8]) -> Params {
    String::from_utf8_lossy(text)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(name), decode(value))
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html(status: StatusCode, title: &str, body: &str) -> Response<Full<Bytes>> {
    let document = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"#
    );
    let mut response = Response::new(Full::new(Bytes::from(document)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    response
}

/// A page saying why a request was refused (the reasons name parameters, never what a person entered).
fn page(status: StatusCode, title: &str, reason: &str) -> Response<Full<Bytes>> {
    html(status, title, &format!("<p>{}</p>", escape(reason)))
}

fn json_answer(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// RFC 6749's error answer of the token endpoint.
fn oauth_error(error: &'static str) -> Response<Full<Bytes>> {
    json_answer(StatusCode::BAD_REQUEST, &json!({ "error": error }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::{Api, Gateway, Route};

    const PAGE_ROOT: &str = "http://127.0.0.1:8080/";
    const PAGE_ORIGIN: &str = "http://127.0.0.1:8080";
    const CLIENT: &str = "page-client";
    const ISSUER: &str = "https://identity.test/pool";
    const SECRET: &[u8] = b"idp test secret";

    fn settings(code_lifetime: Duration) -> Settings {
        Settings {
            issuer: ISSUER.into(),
            client: Client {
                id: CLIENT.into(),
                redirect_uri: PAGE_ROOT.into(),
                scopes: vec!["openid".into(), "imports/upload".into(), "imports/read".into()],
            },
            users: vec![
                User {
                    username: "coordinator-s01".into(),
                    sub: "sub-of-s01".into(),
                    groups: vec!["site:CARDIO-7/S01".into()],
                },
                User {
                    username: "patient-0001".into(),
                    sub: "sub-of-patient".into(),
                    groups: vec![],
                },
            ],
            secret: SECRET.to_vec(),
            token_lifetime: Duration::from_secs(3600),
            code_lifetime,
        }
    }

    async fn idp() -> IdentityProvider {
        IdentityProvider::start(settings(Duration::from_secs(300)), 0).await
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A PKCE pair: the verifier and its S256 challenge.
    fn pkce() -> (String, String) {
        let verifier = random_text();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        (verifier, challenge)
    }

    fn authorize_params<'a>(challenge: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("response_type", "code"),
            ("client_id", CLIENT),
            ("redirect_uri", redirect_uri),
            ("scope", "openid imports/upload imports/read"),
            ("state", "the state & more"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
    }

    /// Signs in as `username` through the sign-in page; the code handed to the page (after checking the state).
    async fn sign_in(idp: &IdentityProvider, challenge: &str, username: &str) -> String {
        let params = authorize_params(challenge, PAGE_ROOT);
        let page = client()
            .get(format!("{}/oauth2/authorize", idp.url))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"<button type="submit">Sign in</button>"#), "{html}");
        assert!(
            html.contains(r#"<label for="user-0">coordinator-s01</label>"#),
            "{html}"
        );
        let mut submitted = params.clone();
        submitted.push(("username", username));
        let answer = client()
            .post(format!("{}/oauth2/authorize", idp.url))
            .form(&submitted)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 302);
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let query = location
            .strip_prefix(&format!("{PAGE_ROOT}?"))
            .unwrap_or_else(|| panic!("{location}"));
        let params = form(query.as_bytes());
        assert_eq!(params["state"], "the state & more");
        params["code"].clone()
    }

    async fn exchange(idp: &IdentityProvider, code: &str, verifier: &str, redirect_uri: &str) -> (u16, Value) {
        let answer = client()
            .post(format!("{}/oauth2/token", idp.url))
            .header("origin", PAGE_ORIGIN)
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            Some(PAGE_ORIGIN)
        );
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    #[tokio::test]
    async fn a_signed_in_user_gets_a_token_the_gateway_accepts() {
        let idp = idp().await;
        let (verifier, challenge) = pkce();
        let code = sign_in(&idp, &challenge, "coordinator-s01").await;
        let (status, tokens) = exchange(&idp, &code, &verifier, PAGE_ROOT).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 3600);
        let access = tokens["access_token"].as_str().unwrap();
        let claims = jwt::verify(SECRET, access, crate::jwt_now(), ISSUER, &[CLIENT.into()]).unwrap();
        assert_eq!(claims["sub"], "sub-of-s01");
        assert_eq!(claims["cognito:groups"], json!(["site:CARDIO-7/S01"]));
        assert_eq!(claims["scope"], "openid imports/upload imports/read");
        let id = jwt::verify(
            SECRET,
            tokens["id_token"].as_str().unwrap(),
            crate::jwt_now(),
            ISSUER,
            &[CLIENT.into()],
        );
        assert_eq!(id.unwrap()["cognito:username"], "coordinator-s01");

        // the local HTTP API with the same issuer, app client and secret lets the token through to the function
        let emulator = Server::start(0, |_request, _peer| async {
            let answer = json!({"statusCode": 200, "body": "reached"});
            Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
        })
        .await;
        let api = Api {
            api_id: "QuestionnaireApi".into(),
            issuer: ISSUER.into(),
            audience: vec![CLIENT.into()],
            routes: vec![Route {
                method: "GET".into(),
                path: "/imports".into(),
                scopes: vec!["imports/read".into()],
                function: "import-api".into(),
            }],
            cors: None,
        };
        let gateway = Gateway::start(api, &emulator.url, SECRET.to_vec(), 0).await;
        let answer = client()
            .get(format!("{}/imports", gateway.url))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "reached");
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once() {
        let idp = idp().await;
        let (verifier, challenge) = pkce();
        let code = sign_in(&idp, &challenge, "patient-0001").await;
        assert_eq!(exchange(&idp, &code, &verifier, PAGE_ROOT).await.0, 200);
        let (status, error) = exchange(&idp, &code, &verifier, PAGE_ROOT).await;
        assert_eq!((status, error), (400, json!({"error": "invalid_grant"})));
    }

    #[tokio::test]
    async fn a_verifier_that_is_not_the_challenges_is_refused() {
        let idp = idp().await;
        let (_, challenge) = pkce();
        let (other_verifier, _) = pkce();
        let code = sign_in(&idp, &challenge, "coordinator-s01").await;
        let (status, error) = exchange(&idp, &code, &other_verifier, PAGE_ROOT).await;
        assert_eq!((status, error), (400, json!({"error": "invalid_grant"})));
    }

    #[tokio::test]
    async fn a_redirect_uri_other_than_the_pages_root_is_refused() {
        let idp = idp().await;
        let (verifier, challenge) = pkce();
        // at sign-in
        for elsewhere in ["http://127.0.0.1:8080/other", "https://attacker.example/", ""] {
            let answer = client()
                .get(format!("{}/oauth2/authorize", idp.url))
                .query(&authorize_params(&challenge, elsewhere))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 400, "{elsewhere}");
            assert!(answer.text().await.unwrap().contains("redirect_uri"));
        }
        // and at the exchange of a code issued for the page's root
        let code = sign_in(&idp, &challenge, "coordinator-s01").await;
        let (status, error) = exchange(&idp, &code, &verifier, "http://127.0.0.1:8080/other").await;
        assert_eq!((status, error), (400, json!({"error": "invalid_grant"})));
    }

    #[tokio::test]
    async fn an_unknown_client_or_no_s256_challenge_is_refused_at_sign_in() {
        let idp = idp().await;
        let (_, challenge) = pkce();
        let with = |name: &'static str, value: &'static str| {
            let mut params: Vec<(&str, String)> = authorize_params(&challenge, PAGE_ROOT)
                .into_iter()
                .filter(|(n, _)| *n != name)
                .map(|(n, v)| (n, v.to_owned()))
                .collect();
            if !value.is_empty() {
                params.push((name, value.to_owned()));
            }
            params
        };
        for params in [
            with("client_id", "another-client"),
            with("code_challenge_method", "plain"),
            with("code_challenge_method", ""),
            with("code_challenge", ""),
            with("scope", "openid staff/everything"),
        ] {
            let answer = client()
                .get(format!("{}/oauth2/authorize", idp.url))
                .query(&params)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 400, "{params:?}");
        }
    }

    #[tokio::test]
    async fn a_code_past_its_life_is_refused() {
        let idp = IdentityProvider::start(settings(Duration::ZERO), 0).await;
        let (verifier, challenge) = pkce();
        let code = sign_in(&idp, &challenge, "coordinator-s01").await;
        let (status, error) = exchange(&idp, &code, &verifier, PAGE_ROOT).await;
        assert_eq!((status, error), (400, json!({"error": "invalid_grant"})));
    }

    #[tokio::test]
    async fn sign_out_returns_to_the_page_and_nowhere_else() {
        let idp = idp().await;
        let logout = |uri: &'static str| {
            client()
                .get(format!("{}/logout", idp.url))
                .query(&[("client_id", CLIENT), ("logout_uri", uri)])
                .send()
        };
        let back = logout(PAGE_ROOT).await.unwrap();
        assert_eq!(back.status(), 302);
        assert_eq!(back.headers()["location"], PAGE_ROOT);
        assert_eq!(logout("https://attacker.example/").await.unwrap().status(), 400);
    }
}
