//! The machine a run was on, and the results as Markdown.

use crate::stats::Spread;
use crate::{Results, HELLO_WITH_SDK};
use serde::Serialize;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Serialize)]
pub struct Machine {
    pub date: String,
    /// The options as given on the command line (`Results::options` has every value in effect).
    pub arguments: String,
    pub commit: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub backend: String,
    pub import_concurrency: usize,
    /// The machine's load while the benchmark ran, its own processes included.
    pub load: Load,
}

/// The 1-minute load average (`/proc/loadavg`), sampled every [`LOAD_EVERY`] from the start of the measurements to
/// their end: median, smallest and largest sample (`runs` is the number of samples).
#[derive(Serialize)]
pub struct Load {
    pub one_minute_load_average: Spread,
}

const LOAD_EVERY: Duration = Duration::from_secs(15);

/// Samples the load average in the background until stopped.
pub struct LoadSampler {
    samples: Arc<Mutex<Vec<f64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LoadSampler {
    pub fn start() -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let samples = Arc::clone(&samples);
            async move {
                let mut every = tokio::time::interval(LOAD_EVERY);
                loop {
                    every.tick().await;
                    samples.lock().unwrap().extend(one_minute_load());
                }
            }
        });
        Self { samples, task }
    }

    pub async fn stop(self) -> Load {
        self.task.abort();
        let _ = self.task.await;
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap());
        samples.extend(one_minute_load());
        Load {
            one_minute_load_average: Spread::of(&samples),
        }
    }
}

fn one_minute_load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Machine {
    pub fn here(import_concurrency: usize, load: Load) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let memory_kib: f64 = field(&meminfo, "MemTotal")
            .trim_end_matches(" kB")
            .parse()
            .unwrap_or(0.0);
        let python = integration_tests::repo_path(".venv/bin/python");
        let moto = command_line(
            &python.to_string_lossy(),
            &["-c", "import moto, werkzeug; print(f'moto {moto.__version__}')"],
        );
        let now = time::OffsetDateTime::now_utc();
        let arguments: Vec<String> = std::env::args().skip(1).collect();
        Self {
            date: format!("{} {:02}:{:02} UTC", now.date(), now.hour(), now.minute()),
            arguments: arguments.join(" "),
            commit: commit(),
            cpu: field(&cpuinfo, "model name"),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / 1_048_576.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            rustc: command_line("rustc", &["--version"]),
            backend: format!("{moto} server on loopback (scripts/moto_server.py)"),
            import_concurrency,
            load,
        }
    }
}

/// The commit checked out, and whether tracked files differed from it.
fn commit() -> String {
    let commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
    if command_line("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        commit
    } else {
        format!("{commit} with uncommitted changes")
    }
}

fn ratio(r: f64) -> String {
    format!("{r:.1}×")
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn opt(s: &Option<Spread>, decimals: usize) -> String {
    s.as_ref().map_or("–".into(), |s| s.show(decimals))
}

pub fn markdown(r: &Results) -> String {
    let (m, o) = (&r.machine, &r.options);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# Benchmark results\n");
    let sizes: Vec<String> = o.sizes.iter().map(usize::to_string).collect();
    let _ = writeln!(
        w,
        "Written by `./scripts/benchmark{}{}` on {} (commit {}), so with: --runs {} --large-runs {} --sizes {} \
         --large-file-mib {} --requests {} --cold-runs {}. Each figure is the median of its runs, with the smallest \
         and largest in parentheses; a figure without them is one run. Wall: elapsed time (or rows per second of \
         it); CPU: the process's user + system time. A ratio is of medians, and of one kind only.\n",
        if m.arguments.is_empty() { "" } else { " " },
        m.arguments,
        m.date,
        m.commit,
        o.runs,
        o.large_runs,
        sizes.join(","),
        o.large_file_mib,
        o.requests,
        o.cold_runs,
    );
    let _ = writeln!(
        w,
        "Machine: {}, {} cores, {:.0} GiB, Linux {}; {}. Backend: {}. Functions run as release builds under the \
         local Lambda (`tests/src/runtime_api.rs`: real Runtime API, process frozen between invocations); CPU is \
         read from `/proc/<pid>/stat` (10 ms ticks). Import concurrency: {} write tasks (the peer and the ceiling use \
         as many threads and tasks).\n",
        m.cpu, m.cores, m.memory_gib, m.kernel, m.rustc, m.backend, m.import_concurrency
    );
    let load = &m.load.one_minute_load_average;
    let _ = writeln!(
        w,
        "Load: the 1-minute load average, sampled every {} s during the run, was {} on {} cores. The benchmark \
         itself keeps one to two of them busy (the function, the peer or the harness, and the local API); load above \
         that is other work sharing the machine, which makes wall-time figures noisier than CPU ones and all of them \
         noisier than on an idle machine.\n",
        LOAD_EVERY.as_secs(),
        load.show(2),
        m.cores
    );

    let _ = writeln!(w, "## Cold start\n");
    let _ = writeln!(
        w,
        "Init: from the start of the process to its first poll for an event. First invocation: from the delivery of \
         the first event to its answer. The functions set the AWS SDK up (credential chain, HTTP client) in their \
         first invocation, which also makes their first requests to the local API, so their cold start is init + \
         first invocation, summed in each run (wall). It is compared with hello-lambda ({HELLO_WITH_SDK}): the SDK \
         set up in its init and one DynamoDB `GetItem` to the local API in its first invocation, the least any of \
         the functions does. hello-lambda (runtime only) is the Lambda runtime alone, without the SDK. Locally the \
         API is plain HTTP on loopback: on Lambda, TLS set-up adds to every row but the runtime-only one.\n"
    );
    let _ = writeln!(
        w,
        "| function | init (ms) | first invocation (ms) | init + first invocation (ms) | × hello-world (wall, init + \
         first invocation) |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    for c in &r.cold_starts {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            c.label(),
            c.init_ms.show(2),
            c.first_invocation_ms.show(2),
            c.init_plus_first_invocation_ms.show(2),
            ratio(c.init_plus_first_invocation_over_hello_world_wall),
        );
    }

    let _ = writeln!(w, "\n## Size as deployed\n");
    let _ = writeln!(
        w,
        "`sam build` (build method `rust-cargolambda`) runs `cargo lambda build --release` for each function and \
         copies the binary as `bootstrap`; `sam deploy` uploads that folder as a zip (deflate). Built: the release \
         binary of this run. Stripped: a copy of it after `strip --strip-all`. Zipped: that file alone in a zip \
         (Python's `zipfile`, `ZIP_DEFLATED` at its default level, as the SAM CLI zips). cargo lambda's own build \
         differs somewhat: with `--release` (1.9.2) it adds to the workspace's `[profile.release]` each of \
         `strip = \"symbols\"`, `lto = \"thin\"`, `codegen-units = 1` and `panic = \"abort\"` that the profile does \
         not set itself (this workspace sets `panic = \"unwind\"`), and `-C target-cpu=haswell` on x86_64; here the \
         binaries are built with Cargo's release defaults (no cross-crate LTO, 16 codegen units, symbols kept), so \
         the deployed ones are likely somewhat smaller.\n"
    );
    let _ = writeln!(w, "| binary | built | stripped | zipped |");
    let _ = writeln!(w, "|---|---:|---:|---:|");
    for s in &r.sizes {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            s.function,
            mib(s.built_bytes),
            mib(s.stripped_bytes),
            mib(s.zipped_bytes)
        );
    }

    let s = &r.submissions;
    let _ = writeln!(w, "\n## Submissions (warm)\n");
    let _ = writeln!(
        w,
        "{} new intake submissions per run, one process, one after another (after 20 to warm up); each is a \
         validated body stored with its idempotency record in one transaction. Latency (wall) at the Runtime API.\n",
        s.requests_per_run
    );
    let _ = writeln!(
        w,
        "| p50 latency (ms) | p95 latency (ms) | p99 latency (ms) | CPU per request (µs) |"
    );
    let _ = writeln!(w, "|---:|---:|---:|---:|");
    let _ = writeln!(
        w,
        "| {} | {} | {} | {} |",
        s.p50_ms.show(3),
        s.p95_ms.show(3),
        s.p99_ms.show(3),
        s.cpu_us_per_request.show(0)
    );

    let _ = writeln!(w, "\n## Import\n");
    let _ = writeln!(
        w,
        "The same file three ways against the same local API: `import-csv`; the backend's ceiling (a plain \
         `BatchWriteItem` loop, items built beforehand); the peer (`benchmarks/peer/import_observations.py`: csv, \
         boto3 `batch_writer`, a thread pool). Rows/s is throughput (wall), which the local API bounds; CPU µs/row is \
         what each side's process spent, which carries over to Lambda. The floors run in-process with no network: \
         the row work alone (parse, decode and validate, item encoding; one thread, wall time) and the whole \
         pipeline into a sink that drops every batch (process CPU).\n"
    );
    let _ = writeln!(
        w,
        "| rows | file | import rows/s (wall) | ceiling rows/s (wall) | import ÷ ceiling (wall rows/s) | peer rows/s \
         (wall) | import ÷ peer (wall rows/s) | import CPU µs/row | peer CPU µs/row | peer ÷ import (CPU per row) | \
         floor: row work µs/row (wall, one thread) | floor: pipeline CPU µs/row | import ÷ pipeline floor (CPU per \
         row) | import peak RSS (MiB) | peer peak RSS (MiB) |"
    );
    let _ = writeln!(
        w,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for i in &r.imports {
        let q = &i.ratios;
        let _ = writeln!(
            w,
            "| {} | {:.1} MiB | {} | {} | {:.0} % | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i.rows,
            i.file_mib,
            i.function.rows_per_s.show(0),
            i.ceiling_rows_per_s.show(0),
            100.0 * q.import_over_ceiling_wall_rows_per_s,
            i.peer.rows_per_s.show(0),
            ratio(q.import_over_peer_wall_rows_per_s),
            opt(&i.function.cpu_us_per_row, 1),
            opt(&i.peer.cpu_us_per_row, 0),
            ratio(q.peer_over_import_cpu_us_per_row),
            i.floor_row_work_wall_us_per_row.show(2),
            i.floor_pipeline_cpu_us_per_row.show(2),
            ratio(q.import_over_pipeline_floor_cpu_us_per_row),
            opt(&i.function.peak_rss_mib, 1),
            opt(&i.peer.peak_rss_mib, 1),
        );
    }
    if let Some(l) = &r.large_file {
        let _ = writeln!(w, "\n## Memory on a large file\n");
        let _ = writeln!(
            w,
            "{} rows of ~1 KiB (long free-text values), {:.0} MiB, imported by `import-csv`.\n",
            l.rows, l.file_mib
        );
        let _ = writeln!(w, "| rows/s (wall) | CPU µs/row | peak RSS (MiB) |");
        let _ = writeln!(w, "|---:|---:|---:|");
        let _ = writeln!(
            w,
            "| {} | {} | {} |",
            l.function.rows_per_s.show(0),
            opt(&l.function.cpu_us_per_row, 1),
            opt(&l.function.peak_rss_mib, 1)
        );
    }
    out
}
