//! Helpers for the integration tests: they run against the local AWS API and function emulator that
//! `scripts/test` starts, and read their addresses from the environment it exports.

use aws_config::SdkConfig;
use serde_json::Value;
use std::path::PathBuf;

/// A variable that `scripts/test` exports. Missing means the tests were started without the local stack.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through ./scripts/test, which starts the local stack")
    })
}

/// SDK configuration for the local AWS API; refuses anything but loopback so tests never touch a real account.
pub async fn local_aws() -> SdkConfig {
    let endpoint = env("AWS_ENDPOINT_URL");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "AWS_ENDPOINT_URL must point at the local stack, got {endpoint}"
    );
    shared::aws::sdk_config().await
}

pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// An event file from `events/`, parsed.
pub fn event(name: &str) -> Value {
    let path = repo_path(&format!("events/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A unique suffix so that concurrent tests never share items.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}
