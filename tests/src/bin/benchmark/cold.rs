//! Cold start: a new process per run, timed from its start to its first poll for an event (init), then its first
//! invocation, for each function and for a hello-world function built the same way.
//!
//! The functions set the AWS SDK up in their first invocation, not in init, so init alone says little: the figure
//! to compare is init + first invocation of each run, beside hello-lambda doing the same minimum (SDK set-up and one
//! request to the local API).

use crate::stats::Spread;
use integration_tests::runtime_api::{built_binary, Lambda};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct ColdStart {
    /// The binary.
    pub function: String,
    /// How it was run, when the binary has more than one way (hello-lambda).
    pub variant: Option<String>,
    pub init_ms: Spread,
    pub first_invocation_ms: Spread,
    /// Init + first invocation of each run (wall time), summarised over the runs.
    pub init_plus_first_invocation_ms: Spread,
    /// The median of `init_plus_first_invocation_ms` ÷ that of hello-lambda with the SDK and one request (wall).
    pub init_plus_first_invocation_over_hello_world_wall: f64,
}

impl ColdStart {
    pub fn label(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{} ({variant})", self.function),
            None => self.function.clone(),
        }
    }
}

/// `event` makes the event of each run (a new upload for the import, a new submission for the API); `env` is given
/// to the process beside what the benchmark's own environment holds.
pub async fn measure(
    function: &str,
    variant: Option<&str>,
    env: &[(&str, String)],
    runs: usize,
    mut event: impl AsyncFnMut() -> Value,
) -> ColdStart {
    let binary = built_binary(function);
    let (mut init, mut first, mut sum) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let event = event().await;
        let mut lambda = Lambda::start(&binary, env, Duration::from_secs(60)).await;
        let init_ms = ms(lambda.until_initialised(Duration::from_secs(60)).await);
        lambda.invoke_async(&event);
        let outcome = lambda.until_answered(1, Duration::from_secs(120)).await.remove(0);
        assert_eq!(
            outcome.kind, "response",
            "{function} answered its first event: {}",
            outcome.body
        );
        lambda.kill().await;
        let first_ms = ms(outcome.latency);
        init.push(init_ms);
        first.push(first_ms);
        sum.push(init_ms + first_ms);
    }
    ColdStart {
        function: function.to_owned(),
        variant: variant.map(str::to_owned),
        init_ms: Spread::of(&init),
        first_invocation_ms: Spread::of(&first),
        init_plus_first_invocation_ms: Spread::of(&sum),
        init_plus_first_invocation_over_hello_world_wall: f64::NAN,
    }
}

/// Sets each cold start's ratio to `baseline` (init + first invocation, medians, wall time).
pub fn relate_to(cold_starts: &mut [ColdStart], baseline_ms: f64) {
    for c in cold_starts {
        c.init_plus_first_invocation_over_hello_world_wall = c.init_plus_first_invocation_ms.median / baseline_ms;
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A binary's size as built here, and as `sam build` packages it: stripped of its symbols, and that file alone in a
/// deflate zip (what `sam deploy` uploads).
#[derive(Debug, Serialize)]
pub struct Size {
    pub function: String,
    pub built_bytes: u64,
    pub stripped_bytes: u64,
    pub zipped_bytes: u64,
}

/// Strips a copy of the release binary with `strip --strip-all` and zips it as `bootstrap` with Python's `zipfile`
/// (`ZIP_DEFLATED` at its default level), as the SAM CLI zips a function's build folder.
pub fn size_as_deployed(function: &str) -> Size {
    let binary = built_binary(function);
    let dir = std::env::temp_dir().join(format!("benchmark-size-{}-{function}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let (stripped, zipped) = (dir.join("bootstrap"), dir.join("bootstrap.zip"));
    run(Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&stripped)
        .arg(&binary));
    run(Command::new(integration_tests::repo_path(".venv/bin/python"))
        .args([
            "-c",
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], 'bootstrap')",
        ])
        .arg(&zipped)
        .arg(&stripped));
    let size = Size {
        function: function.to_owned(),
        built_bytes: bytes(&binary),
        stripped_bytes: bytes(&stripped),
        zipped_bytes: bytes(&zipped),
    };
    let _ = std::fs::remove_dir_all(&dir);
    size
}

fn run(command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?}: {status}");
}

fn bytes(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}
