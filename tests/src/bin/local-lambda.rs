//! Runs one function binary under the local Lambda (`integration_tests::runtime_api`): real deadlines, asynchronous
//! invocations for the continuations it sends itself, the process frozen between invocations. Sends one event
//! asynchronously and prints a line per invocation as it ends, then the last invocation's answer.
//!
//! For `import-csv`: how a large file is imported by a chain of invocations, each stopping at its checkpoint before
//! its deadline.

use integration_tests::runtime_api::{Lambda, Outcome};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: local-lambda [--timeout SECONDS] [--env NAME=VALUE]... BINARY EVENT_FILE

Runs the function BINARY under a local Lambda with real deadlines: each invocation gets SECONDS (default 6) from
its start, asynchronous Invoke calls (InvocationType Event) to AWS_ENDPOINT_URL_LAMBDA are queued and run by the same
process, and the process is frozen between invocations, as on Lambda. Sends the event in EVENT_FILE (JSON)
asynchronously and waits until no invocation is left.

Prints one line per invocation as it ends (its number, duration, status, rows so far and where the next one resumes),
then the last invocation's answer as JSON. The function gets this process's environment (the tables, buckets and
AWS_ENDPOINT_URL of the local stack) and each --env on top; its log lines go to .local/logs/.

Exits 1 when the last invocation's files are not all completed, an invocation failed or one ran into its timeout;
2 on a usage error.";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(6);
/// Lambda's longest timeout.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug, PartialEq)]
struct Args {
    binary: PathBuf,
    event: PathBuf,
    timeout: Duration,
    env: Vec<(String, String)>,
}

#[derive(Debug, PartialEq)]
enum Command {
    Run(Args),
    Help,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let (mut timeout, mut env, mut positional) = (DEFAULT_TIMEOUT, Vec::new(), Vec::new());
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--timeout" => timeout = parse_timeout(&value("--timeout")?)?,
            "--env" => {
                let pair = value("--env")?;
                match pair.split_once('=') {
                    Some((name, v)) if !name.is_empty() => env.push((name.to_owned(), v.to_owned())),
                    _ => return Err(format!("--env takes NAME=VALUE, got {pair:?}")),
                }
            }
            option if option.starts_with('-') => return Err(format!("unknown option {option}")),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let [binary, event]: [PathBuf; 2] = positional
        .try_into()
        .map_err(|given: Vec<PathBuf>| format!("expected BINARY and EVENT_FILE, got {} arguments", given.len()))?;
    Ok(Command::Run(Args {
        binary,
        event,
        timeout,
        env,
    }))
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let refused = || format!("--timeout takes seconds, more than 0 and at most 900, got {text:?}");
    let seconds: f64 = text.parse().map_err(|_| refused())?;
    if !(seconds > 0.0 && seconds <= LONGEST_TIMEOUT.as_secs_f64()) {
        return Err(refused());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn ran_into_timeout(outcome: &Outcome) -> bool {
    outcome.at_ms >= outcome.deadline_ms
}

/// One line for the `n`th invocation (from 1): how long it took, and per file its status, the rows counted so far
/// (across invocations) and the checkpoint the next invocation resumes from.
fn describe(n: usize, outcome: &Outcome, timeout: Duration) -> String {
    let took = Duration::from_millis(outcome.at_ms.saturating_sub(outcome.started_ms));
    let mut line = format!(
        "invocation {n}: {:.2} s of {} s",
        took.as_secs_f64(),
        timeout.as_secs_f64()
    );
    if ran_into_timeout(outcome) {
        line.push_str(", TIMED OUT");
    }
    if outcome.kind != "response" {
        let error_type = outcome.body["errorType"].as_str().unwrap_or("unknown");
        line.push_str(&format!(", {} ({error_type})", outcome.kind));
        return line;
    }
    for file in files(outcome) {
        let rows = &file["rows"];
        line.push_str(&format!(
            ", {}, imported {}, rejected {}",
            file["status"].as_str().unwrap_or("?"),
            rows["imported"],
            rows["rejected"],
        ));
        // Rows read after the last committed one: the next invocation reads them again from `resumeFrom`.
        if rows["notReached"].as_u64().is_some_and(|n| n > 0) {
            line.push_str(&format!(", notReached {}", rows["notReached"]));
        }
        let resume = &file["resumeFrom"];
        if !resume.is_null() {
            line.push_str(&format!(
                ", resumeFrom line {} (byte {})",
                resume["line"], resume["byteOffset"]
            ));
        }
    }
    for skipped in outcome.body["skipped"].as_array().into_iter().flatten() {
        line.push_str(&format!(
            ", skipped {} ({})",
            skipped["key"].as_str().unwrap_or("?"),
            skipped["reason"].as_str().unwrap_or("?")
        ));
    }
    line
}

fn files(outcome: &Outcome) -> &[Value] {
    outcome.body["files"].as_array().map_or(&[], Vec::as_slice)
}

/// Whether the run did what an import must: every invocation answered within its timeout, and the last one
/// completed each of its files.
fn verdict(outcomes: &[Outcome]) -> Result<(), String> {
    if let Some(n) = outcomes.iter().position(|o| o.kind != "response") {
        return Err(format!("invocation {} failed", n + 1));
    }
    if let Some(n) = outcomes.iter().position(ran_into_timeout) {
        return Err(format!("invocation {} ran into its timeout", n + 1));
    }
    let last = outcomes.last().ok_or("no invocation answered")?;
    let statuses: Vec<&str> = files(last)
        .iter()
        .map(|file| file["status"].as_str().unwrap_or("?"))
        .collect();
    if statuses.is_empty() || statuses.iter().any(|status| *status != "completed") {
        return Err(format!("the last invocation did not complete its files: {statuses:?}"));
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("local-lambda: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let event: Value = match std::fs::read_to_string(&args.event)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(event) => event,
        Err(problem) => {
            eprintln!("local-lambda: {}: {problem}", args.event.display());
            return ExitCode::from(2);
        }
    };
    let env: Vec<(&str, String)> = args.env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();

    let mut lambda = Lambda::start(&args.binary, &env, args.timeout).await;
    lambda.invoke_async(&event);
    // Each invocation ends within its timeout; a minute more is for a process that does not.
    let limit = args.timeout + Duration::from_secs(60);
    let mut outcomes = Vec::new();
    loop {
        // Returns once the next invocation has ended, or when none is left to run.
        let so_far = lambda.until_answered(outcomes.len() + 1, limit).await;
        if so_far.len() == outcomes.len() {
            break;
        }
        for outcome in &so_far[outcomes.len()..] {
            println!("{}", describe(outcomes.len() + 1, outcome, args.timeout));
            outcomes.push(outcome.clone());
        }
    }
    lambda.kill().await;

    if let Some(last) = outcomes.last() {
        println!(
            "{}",
            serde_json::to_string_pretty(&last.body).expect("JSON values serialise")
        );
    }
    match verdict(&outcomes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("local-lambda: {problem}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|a| a.to_string()))
    }

    fn outcome(kind: &str, body: Value, took_ms: u64, timeout_ms: u64) -> Outcome {
        Outcome {
            kind: kind.to_owned(),
            body,
            started_ms: 1_000,
            at_ms: 1_000 + took_ms,
            deadline_ms: 1_000 + timeout_ms,
            peak_rss_kib: None,
            polled_again: true,
            latency: Duration::from_millis(took_ms),
        }
    }

    fn file(status: &str) -> Value {
        json!({"files": [{"status": status, "rows": {"total": 3, "imported": 2, "rejected": 1, "notReached": 0}}],
               "skipped": []})
    }

    #[test]
    fn options_and_the_two_paths_are_read_in_any_order() {
        let command = parsed(&["--env", "A=1", "bin/f", "--timeout", "4.5", "e.json", "--env", "B=x=y"]).unwrap();
        assert_eq!(
            command,
            Command::Run(Args {
                binary: "bin/f".into(),
                event: "e.json".into(),
                timeout: Duration::from_millis(4_500),
                env: vec![("A".into(), "1".into()), ("B".into(), "x=y".into())],
            })
        );
    }

    #[test]
    fn the_timeout_defaults_to_six_seconds() {
        let Command::Run(args) = parsed(&["f", "e.json"]).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(args.timeout, Duration::from_secs(6));
        assert!(args.env.is_empty());
    }

    #[test]
    fn help_wins_over_everything_else() {
        assert_eq!(parsed(&["f", "--help"]), Ok(Command::Help));
        assert_eq!(parsed(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn missing_extra_or_malformed_arguments_are_refused() {
        for args in [
            &[][..],
            &["f"],
            &["f", "e", "g"],
            &["--timeout"],
            &["--timeout", "0", "f", "e"],
            &["--timeout", "-1", "f", "e"],
            &["--timeout", "901", "f", "e"],
            &["--timeout", "NaN", "f", "e"],
            &["--timeout", "soon", "f", "e"],
            &["--env", "NOVALUE", "f", "e"],
            &["--env", "=1", "f", "e"],
            &["--verbose", "f", "e"],
        ] {
            assert!(parsed(args).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn a_chain_that_ends_completed_within_every_timeout_passes() {
        let chain = [
            outcome("response", file("incomplete"), 4_000, 5_000),
            outcome("response", file("completed"), 2_000, 5_000),
        ];
        assert_eq!(verdict(&chain), Ok(()));
    }

    #[test]
    fn an_invocation_that_ran_into_its_timeout_fails_the_run_even_if_the_last_completed() {
        let chain = [
            outcome("response", file("incomplete"), 5_000, 5_000),
            outcome("response", file("completed"), 2_000, 5_000),
        ];
        assert_eq!(verdict(&chain), Err("invocation 1 ran into its timeout".into()));
    }

    #[test]
    fn a_last_invocation_that_did_not_complete_or_failed_fails_the_run() {
        assert!(verdict(&[outcome("response", file("incomplete"), 1_000, 5_000)]).is_err());
        assert!(verdict(&[outcome("response", file("failed"), 1_000, 5_000)]).is_err());
        assert!(verdict(&[outcome("response", json!({"files": [], "skipped": []}), 1_000, 5_000)]).is_err());
        assert!(verdict(&[outcome("error", json!({"errorType": "x"}), 1_000, 5_000)]).is_err());
        assert!(verdict(&[]).is_err());
    }

    #[test]
    fn the_line_of_an_invocation_says_its_duration_status_rows_and_resume_point() {
        let body = json!({"files": [{"status": "incomplete",
            "rows": {"total": 1200, "imported": 1150, "rejected": 1, "notReached": 49},
            "resumeFrom": {"line": 1153, "byteOffset": 84000}}], "skipped": []});
        assert_eq!(
            describe(2, &outcome("response", body, 4_250, 5_000), Duration::from_secs(5)),
            "invocation 2: 4.25 s of 5 s, incomplete, imported 1150, rejected 1, notReached 49, \
             resumeFrom line 1153 (byte 84000)"
        );
        assert_eq!(
            describe(
                1,
                &outcome("error", json!({"errorType": "Panic"}), 5_000, 5_000),
                Duration::from_secs(5)
            ),
            "invocation 1: 5.00 s of 5 s, TIMED OUT, error (Panic)"
        );
    }
}
