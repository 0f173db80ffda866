//! The coordinator page served locally as CloudFront serves it: the files of `web/` (`index.html` for `/`), the
//! generated `/config.json`, and on every answer the security headers of the template's response headers policy,
//! its CSP naming the local API, S3 and identity provider (`scripts/local_stack.py page-config`). A page that needs
//! an inline script or style, or talks to another origin, breaks here as it would behind CloudFront.

use crate::http_server::Server;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `scripts/local_stack.py page-config` writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    /// `[name, value]` pairs, as CloudFront adds them.
    pub headers: Vec<(String, String)>,
    /// The body of `/config.json`.
    pub config: Value,
}

impl PageConfig {
    pub fn from_file(path: &str) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
    }
}

pub struct PageServer {
    pub url: String,
    _server: Server,
}

struct Site {
    /// Made canonical at each request (the folder may appear after the start), so that a file is served only if its
    /// own canonical path lies under it (no link out of it).
    root: PathBuf,
    config: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl PageServer {
    /// Serves the files under `root` on `127.0.0.1:port` (0: any free port).
    pub async fn start(root: &Path, page: PageConfig, port: u16) -> Self {
        let root = root.to_owned();
        let headers = page
            .headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name of the policy");
                let value = HeaderValue::from_str(value).expect("a header value of the policy");
                (name, value)
            })
            .collect();
        let site = Arc::new(Site {
            root,
            config: Bytes::from(page.config.to_string()),
            headers,
        });
        let server = Server::start(port, move |request, _peer| {
            let site = Arc::clone(&site);
            async move { Ok(site.answer(&request)) }
        })
        .await;
        Self {
            url: server.url.clone(),
            _server: server,
        }
    }
}

impl Site {
    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        let mut response = self.content(request);
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        // The page is developed here: always the files as they are now.
        headers.insert("cache-control", HeaderValue::from_static("no-cache"));
        if request.method() == Method::HEAD {
            *response.body_mut() = Full::new(Bytes::new());
        }
        response
    }

    fn content<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            response
                .headers_mut()
                .insert("allow", HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let path = request.uri().path();
        if path == "/config.json" {
            return file(self.config.clone(), "application/json");
        }
        let path = if path == "/" { "/index.html" } else { path };
        match self.file_at(path).and_then(|p| std::fs::read(&p).ok().map(|b| (p, b))) {
            Some((found, bytes)) => file(Bytes::from(bytes), content_type(&found)),
            None => plain(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    /// The file a URL path names under the root: each segment decoded, none empty, `.`, `..`, hidden or holding a
    /// separator; a regular file whose real path is under the root.
    fn file_at(&self, path: &str) -> Option<PathBuf> {
        let root = self.root.canonicalize().ok()?;
        let mut found = root.clone();
        for segment in path.strip_prefix('/')?.split('/') {
            let segment = percent_encoding::percent_decode_str(segment).decode_utf8().ok()?;
            if segment.is_empty() || segment.starts_with('.') || segment.contains(['/', '\\', '\0']) {
                return None;
            }
            found.push(segment.as_ref());
        }
        let real = found.canonicalize().ok()?;
        (real.starts_with(&root) && real.is_file()).then_some(real)
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(body: Bytes, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = file(Bytes::from_static(text.as_bytes()), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}
