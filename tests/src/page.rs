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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CSP: &str = "default-src 'none'; script-src 'self'";

    /// A folder holding `site/` (the page: index.html, app.js, style.css, lib/util.js, .hidden) and, beside it,
    /// `secret.txt`, which no request may reach; `site/escape` links to it.
    fn folder() -> PathBuf {
        let base = std::env::temp_dir().join(crate::unique("page-server"));
        let site = base.join("site");
        std::fs::create_dir_all(site.join("lib")).unwrap();
        std::fs::write(site.join("index.html"), "<!doctype html><title>page</title>").unwrap();
        std::fs::write(site.join("app.js"), "export const a = 1;").unwrap();
        std::fs::write(site.join("style.css"), "body { margin: 0 }").unwrap();
        std::fs::write(site.join("lib/util.js"), "export const b = 2;").unwrap();
        std::fs::write(site.join(".hidden"), "hidden").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), site.join("escape")).unwrap();
        base
    }

    async fn server() -> PageServer {
        let page = PageConfig {
            headers: vec![
                ("content-security-policy".into(), CSP.into()),
                ("x-frame-options".into(), "DENY".into()),
            ],
            config: json!({"apiUrl": "http://127.0.0.1:1", "datasets": ["observations"]}),
        };
        PageServer::start(&folder().join("site"), page, 0).await
    }

    async fn get(server: &PageServer, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", server.url)).await.unwrap()
    }

    fn header(response: &reqwest::Response, name: &str) -> Option<String> {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The status of a request for exactly this path, as written (an HTTP client would normalise `..` away).
    async fn raw_status(server: &PageServer, path: &str) -> u16 {
        let address = server.url.strip_prefix("http://").unwrap();
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer[9..12].parse().unwrap_or_else(|_| panic!("{answer}"))
    }

    #[tokio::test]
    async fn the_pages_files_are_served_with_their_types_and_the_policys_headers() {
        let server = server().await;
        for (path, content_type, body) in [
            ("/", "text/html; charset=utf-8", "<!doctype html><title>page</title>"),
            (
                "/index.html",
                "text/html; charset=utf-8",
                "<!doctype html><title>page</title>",
            ),
            ("/app.js", "text/javascript; charset=utf-8", "export const a = 1;"),
            ("/lib/util.js", "text/javascript; charset=utf-8", "export const b = 2;"),
            ("/style.css", "text/css; charset=utf-8", "body { margin: 0 }"),
        ] {
            let answer = get(&server, path).await;
            assert_eq!(answer.status(), 200, "{path}");
            assert_eq!(header(&answer, "content-type").as_deref(), Some(content_type), "{path}");
            assert_eq!(
                header(&answer, "content-security-policy").as_deref(),
                Some(CSP),
                "{path}"
            );
            assert_eq!(header(&answer, "x-frame-options").as_deref(), Some("DENY"), "{path}");
            assert_eq!(answer.text().await.unwrap(), body, "{path}");
        }
        let config = get(&server, "/config.json").await;
        assert_eq!(header(&config, "content-type").as_deref(), Some("application/json"));
        assert_eq!(header(&config, "content-security-policy").as_deref(), Some(CSP));
        let config: Value = config.json().await.unwrap();
        assert_eq!(
            config,
            json!({"apiUrl": "http://127.0.0.1:1", "datasets": ["observations"]})
        );
    }

    #[tokio::test]
    async fn anything_else_is_not_found_with_the_policys_headers_too() {
        let server = server().await;
        for path in ["/missing.html", "/lib", "/lib/", "/.hidden", "/escape", "//app.js"] {
            let answer = get(&server, path).await;
            assert_eq!(answer.status(), 404, "{path}");
            assert_eq!(
                header(&answer, "content-security-policy").as_deref(),
                Some(CSP),
                "{path}"
            );
        }
        let post = reqwest::Client::new()
            .post(format!("{}/index.html", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 405);
    }

    #[tokio::test]
    async fn no_path_leads_out_of_the_pages_folder() {
        let server = server().await;
        assert_eq!(raw_status(&server, "/app.js").await, 200);
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/lib/../../secret.txt",
            "/lib/..%2f..%2fsecret.txt",
            "/lib/%2e%2e/%2e%2e/secret.txt",
            "/..%5csecret.txt",
            "/escape",
        ] {
            assert_eq!(raw_status(&server, path).await, 404, "{path}");
        }
    }
}
