//! The objects a publication puts: each file of the page with the content type a browser needs to use it (with
//! `X-Content-Type-Options: nosniff` from CloudFront, a module served as anything but JavaScript does not run) and
//! the caching that lets a new publication reach people at once, whole, plus `config.json`.

/// One file of the page as embedded at build time, by its path relative to `web/` (`/`-separated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFile<'a> {
    pub path: &'a str,
    pub bytes: &'a [u8],
}

/// One object to put into the page bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageObject {
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// The key of the generated configuration (the page fetches `/config.json`).
pub const CONFIG_KEY: &str = "config.json";
/// The document CloudFront serves for `/` (its default root object).
pub const INDEX_KEY: &str = "index.html";

/// Every object is revalidated on every load (a conditional GET answered 304 by its ETag while unchanged). The
/// modules import each other by fixed names, without a content hash, so any life in a browser's cache would let a
/// load after a publication run a new module beside an old one it imports; the files are small, and a 304 costs
/// a round trip, not the file.
const NO_CACHE: &str = "no-cache";

/// The content type of a page file, by its extension (case-insensitive). Unknown ones are served as opaque bytes,
/// which a browser neither runs nor renders.
pub fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The Cache-Control of an object: the same for every key (see [`NO_CACHE`]).
pub fn cache_control(_key: &str) -> &'static str {
    NO_CACHE
}

/// Why the embedded page cannot be published.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("the function was built without web/index.html: rebuild it from a checkout with the page")]
    NoIndex,
    #[error("web/{0} would replace the generated config.json: remove it from web/")]
    ConfigInWeb(String),
    #[error("web/{0} is not a plain relative path")]
    BadPath(String),
}

/// Every object of a publication: the page's files and `config_json`.
pub fn plan(files: &[PageFile<'_>], config_json: Vec<u8>) -> Result<Vec<PageObject>, PlanError> {
    let mut objects = Vec::with_capacity(files.len() + 1);
    for file in files {
        let path = file.path;
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|part| part.is_empty() || part == "..") {
            return Err(PlanError::BadPath(path.to_owned()));
        }
        if path == CONFIG_KEY {
            return Err(PlanError::ConfigInWeb(path.to_owned()));
        }
        objects.push(object(path, file.bytes.to_vec()));
    }
    if !objects.iter().any(|o| o.key == INDEX_KEY) {
        return Err(PlanError::NoIndex);
    }
    objects.push(object(CONFIG_KEY, config_json));
    Ok(objects)
}

fn object(key: &str, body: Vec<u8>) -> PageObject {
    PageObject {
        key: key.to_owned(),
        body,
        content_type: content_type(key),
        cache_control: cache_control(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &'static str) -> PageFile<'static> {
        PageFile { path, bytes: b"x" }
    }

    #[test]
    fn each_kind_of_page_file_gets_the_content_type_a_browser_uses_it_by() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("lib/upload.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("config.json"), "application/json");
        assert_eq!(content_type("logo.PNG"), "image/png");
        assert_eq!(content_type("icons/site.svg"), "image/svg+xml");
    }

    #[test]
    fn an_unknown_extension_is_served_as_bytes_that_a_browser_neither_runs_nor_renders() {
        assert_eq!(content_type("notes.md"), "application/octet-stream");
        assert_eq!(content_type("Makefile"), "application/octet-stream");
        assert_eq!(content_type("archive.js.map.gz"), "application/octet-stream");
    }

    #[test]
    fn every_object_is_revalidated_so_that_a_load_after_a_publication_runs_only_the_new_page() {
        let objects = plan(
            &[
                file("index.html"),
                file("app.js"),
                file("lib/auth.js"),
                file("style.css"),
                file("logo.png"),
            ],
            b"{}".to_vec(),
        )
        .unwrap();
        for object in &objects {
            assert_eq!(object.cache_control, "no-cache", "{}", object.key);
        }
        assert_eq!(cache_control("data/datasets.json"), "no-cache");
    }

    #[test]
    fn a_publication_puts_every_file_and_the_configuration_last() {
        let objects = plan(&[file("index.html"), file("app.js"), file("style.css")], b"{}".to_vec()).unwrap();
        let keys: Vec<_> = objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["index.html", "app.js", "style.css", "config.json"]);
        let config = objects.last().unwrap();
        assert_eq!(
            (config.content_type, config.cache_control),
            ("application/json", "no-cache")
        );
        assert_eq!(config.body, b"{}");
    }

    #[test]
    fn a_build_without_the_entry_point_or_with_its_own_config_is_not_published() {
        assert_eq!(plan(&[file("app.js")], vec![]), Err(PlanError::NoIndex));
        assert_eq!(plan(&[], vec![]), Err(PlanError::NoIndex));
        assert_eq!(
            plan(&[file("index.html"), file("config.json")], vec![]),
            Err(PlanError::ConfigInWeb("config.json".into()))
        );
        for bad in ["/index.html", "a//b.js", "../x.js", ""] {
            assert_eq!(
                plan(&[file("index.html"), file(bad)], vec![]),
                Err(PlanError::BadPath(bad.into())),
                "{bad}"
            );
        }
    }
}
