//! The benchmark's command line: what each option sets, its default, and the usage `--help` prints. Parsing returns
//! an error for the caller to print (exit status 2) instead of panicking, so a typo costs a message, not a backtrace.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// What one run measures, and how often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Options {
    pub runs: usize,
    pub large_runs: usize,
    pub sizes: Vec<usize>,
    pub large_file_mib: usize,
    pub requests: usize,
    pub cold_runs: usize,
    pub out: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runs: 3,
            large_runs: 1,
            sizes: vec![10_000, 100_000, 1_000_000],
            large_file_mib: 1024,
            requests: 2000,
            cold_runs: 11,
            out: PathBuf::from("benchmarks"),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Options),
    Help,
}

/// A command line the benchmark cannot run with; the message names the option.
#[derive(Debug, PartialEq)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The usage `--help` prints. `scripts/benchmark` repeats the option lines in its header (a test keeps them equal).
pub const USAGE: &str = "\
Usage: ./scripts/benchmark [OPTIONS]

Options:
  --runs N            runs of each measurement (default 3)
  --large-runs N      runs of the imports of 1,000,000 rows or more and of the large file (default 1)
  --sizes A,B,...     rows of the import files (default 10000,100000,1000000)
  --large-file-mib N  size of the memory test's file in MiB; 0 skips it (default 1024)
  --requests N        warm submissions per run (default 2000)
  --cold-runs N       process starts per function for the cold start (default 11)
  --out DIR           where RESULTS.md and results.json go, from the repository root (default benchmarks)
  -h, --help          print this and exit
";

impl Options {
    /// Files of a million rows or more take minutes per run against the local API.
    pub fn runs_for(&self, rows: usize) -> usize {
        if rows >= 1_000_000 {
            self.large_runs
        } else {
            self.runs
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, UsageError> {
    let mut options = Options::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        let mut value = || args.next().ok_or_else(|| UsageError(format!("{flag} needs a value")));
        match flag.as_str() {
            "--runs" => options.runs = count(&flag, &value()?)?,
            "--large-runs" => options.large_runs = count(&flag, &value()?)?,
            "--sizes" => options.sizes = sizes(&value()?)?,
            "--large-file-mib" => options.large_file_mib = number(&flag, &value()?)?,
            "--requests" => options.requests = count(&flag, &value()?)?,
            "--cold-runs" => options.cold_runs = count(&flag, &value()?)?,
            "--out" => options.out = PathBuf::from(value()?),
            _ => return Err(UsageError(format!("unknown option {flag:?}"))),
        }
    }
    Ok(Command::Run(options))
}

fn number(flag: &str, value: &str) -> Result<usize, UsageError> {
    value
        .parse()
        .map_err(|_| UsageError(format!("{flag} takes a whole number, not {value:?}")))
}

/// A number of runs or requests: at least one.
fn count(flag: &str, value: &str) -> Result<usize, UsageError> {
    match number(flag, value)? {
        0 => Err(UsageError(format!("{flag} must be at least 1"))),
        n => Ok(n),
    }
}

fn sizes(value: &str) -> Result<Vec<usize>, UsageError> {
    value
        .split(',')
        .map(|size| count("--sizes", size.trim()))
        .collect::<Result<_, _>>()
        .map_err(|_| {
            UsageError(format!(
                "--sizes takes numbers of rows of at least 1, separated by commas, not {value:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(|a| a.to_string()))
    }

    fn options(args: &[&str]) -> Options {
        match parsed(args) {
            Ok(Command::Run(options)) => options,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        assert_eq!(options(&[]), Options::default());
    }

    #[test]
    fn each_option_sets_its_value() {
        let o = options(&[
            "--runs",
            "2",
            "--large-runs",
            "3",
            "--sizes",
            "10,20",
            "--large-file-mib",
            "0",
            "--requests",
            "50",
            "--cold-runs",
            "4",
            "--out",
            "elsewhere",
        ]);
        assert_eq!(
            o,
            Options {
                runs: 2,
                large_runs: 3,
                sizes: vec![10, 20],
                large_file_mib: 0,
                requests: 50,
                cold_runs: 4,
                out: PathBuf::from("elsewhere"),
            }
        );
    }

    #[test]
    fn help_is_asked_for_with_either_spelling_wherever_it_stands() {
        assert_eq!(parsed(&["--help"]), Ok(Command::Help));
        assert_eq!(parsed(&["-h"]), Ok(Command::Help));
        assert_eq!(parsed(&["--runs", "2", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn an_unknown_option_is_an_error_naming_it() {
        let error = parsed(&["--run", "2"]).unwrap_err();
        assert_eq!(error.to_string(), "unknown option \"--run\"");
    }

    #[test]
    fn an_option_without_its_value_is_an_error() {
        assert_eq!(parsed(&["--runs"]).unwrap_err().to_string(), "--runs needs a value");
    }

    #[test]
    fn values_that_are_not_counts_are_errors() {
        for args in [
            &["--runs", "three"][..],
            &["--runs", "0"],
            &["--cold-runs", "-1"],
            &["--sizes", "10,,20"],
            &["--sizes", "10,0"],
            &["--large-file-mib", "1.5"],
        ] {
            assert!(parsed(args).is_err(), "{args:?} was accepted");
        }
        // A size of 0 MiB is allowed: it skips the large file.
        assert_eq!(options(&["--large-file-mib", "0"]).large_file_mib, 0);
    }

    #[test]
    fn usage_lists_every_option_with_its_default() {
        let d = Options::default();
        let sizes: Vec<String> = d.sizes.iter().map(usize::to_string).collect();
        for (flag, default) in [
            ("--runs", d.runs.to_string()),
            ("--large-runs", d.large_runs.to_string()),
            ("--sizes", sizes.join(",")),
            ("--large-file-mib", d.large_file_mib.to_string()),
            ("--requests", d.requests.to_string()),
            ("--cold-runs", d.cold_runs.to_string()),
            ("--out", d.out.display().to_string()),
        ] {
            let line = USAGE
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{flag} ")))
                .unwrap_or_else(|| panic!("{flag} is not in the usage"));
            assert!(line.ends_with(&format!("(default {default})")), "{line}");
            // Every option the usage lists is one the parser takes.
            let value = if flag == "--out" { "x" } else { "1" };
            assert!(parsed(&[flag, value]).is_ok(), "{flag} is listed but not parsed");
        }
    }

    #[test]
    fn the_script_header_lists_the_same_options() {
        let script =
            std::fs::read_to_string(integration_tests::repo_path("scripts/benchmark")).expect("scripts/benchmark");
        let header: Vec<&str> = script
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').strip_prefix(' ').unwrap_or(""))
            .collect();
        for line in USAGE.lines().filter(|l| l.trim_start().starts_with('-')) {
            assert!(header.contains(&line), "scripts/benchmark's header lacks {line:?}");
        }
    }
}
