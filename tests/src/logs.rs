//! Where the tests' own log output goes: JSON lines under `.local/logs/`, like the functions' logs under the
//! emulator (`.local/watch.log`), so that the checks after the tests (`scripts/phi_scan.py`) read every log line any
//! code of ours wrote while the suites ran.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The folder of captured logs, created on first use.
pub fn dir() -> PathBuf {
    let dir = crate::repo_path(".local/logs");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// A new log file for `name` in this process, e.g. for a function binary's stderr.
pub fn file(name: &str) -> std::fs::File {
    file_at(name).1
}

/// Like [`file`], with its path, for a test that reads the log back.
pub fn file_at(name: &str) -> (PathBuf, std::fs::File) {
    let path = dir().join(format!("{name}-{}-{}.log", std::process::id(), ulid::Ulid::new()));
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    (path, file)
}

/// Sends this process's `tracing` output (info and above, as JSON) to a file of its own; once per process.
pub fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let file = std::sync::Mutex::new(file("tests"));
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(file)
            .finish();
        // Another test framework piece may have set one already; then that one keeps the output.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}
