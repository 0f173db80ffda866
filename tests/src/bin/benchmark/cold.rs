//! Cold start: a new process per run, timed from its start to its first poll for an event (init), then its first
//! invocation, for each function and for a hello-world function built the same way.

use crate::stats::Spread;
use integration_tests::runtime_api::{built_binary, Lambda};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub function: String,
    pub binary_bytes: u64,
    pub init_ms: Spread,
    pub first_invocation_ms: Spread,
}

/// `event` makes the event of each run (a new upload for the import, a new submission for the API).
pub async fn measure(function: &str, runs: usize, mut event: impl AsyncFnMut() -> Value) -> ColdStart {
    let binary = built_binary(function);
    let (mut init, mut first) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let event = event().await;
        let mut lambda = Lambda::start(&binary, &[], Duration::from_secs(60)).await;
        init.push(ms(lambda.until_initialised(Duration::from_secs(60)).await));
        lambda.invoke_async(&event);
        let outcome = lambda.until_answered(1, Duration::from_secs(120)).await.remove(0);
        assert_eq!(
            outcome.kind, "response",
            "{function} answered its first event: {}",
            outcome.body
        );
        first.push(ms(outcome.latency));
        lambda.kill().await;
    }
    ColdStart {
        function: function.to_owned(),
        binary_bytes: std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0),
        init_ms: Spread::of(&init),
        first_invocation_ms: Spread::of(&first),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
