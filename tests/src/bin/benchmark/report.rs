//! The machine a run was on, and the results as Markdown.

use crate::stats::Spread;
use crate::Results;
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
pub struct Machine {
    pub date: String,
    /// The options the run was given.
    pub options: String,
    pub commit: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    pub backend: String,
    pub import_concurrency: usize,
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
    pub fn here(import_concurrency: usize) -> Self {
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
        let options: Vec<String> = std::env::args().skip(1).collect();
        Self {
            date: format!("{} {:02}:{:02} UTC", now.date(), now.hour(), now.minute()),
            options: options.join(" "),
            commit: command_line("git", &["rev-parse", "--short", "HEAD"]),
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
        }
    }
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.1}×", a / b)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

fn opt(s: &Option<Spread>, decimals: usize) -> String {
    s.as_ref().map_or("–".into(), |s| s.show(decimals))
}

pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# Benchmark results\n");
    let _ = writeln!(
        w,
        "Written by `./scripts/benchmark{}{}` on {} (commit {}). Each figure is the median of its runs, with the \
         smallest and largest in parentheses; a figure without them is one run.\n",
        if m.options.is_empty() { "" } else { " " },
        m.options,
        m.date,
        m.commit
    );
    let _ = writeln!(
        w,
        "Machine: {}, {} cores, {:.0} GiB, Linux {}; {}. Backend: {}. Functions run as release builds under the \
         local Lambda (`tests/src/runtime_api.rs`: real Runtime API, process frozen between invocations); CPU is the \
         process's user + system time from `/proc/<pid>/stat` (10 ms ticks). Import concurrency: {} write tasks (the \
         peer and the ceiling use as many threads and tasks).\n",
        m.cpu, m.cores, m.memory_gib, m.kernel, m.rustc, m.backend, m.import_concurrency
    );

    let _ = writeln!(w, "## Cold start\n");
    let _ = writeln!(
        w,
        "Init: from the start of the process to its first poll for an event. First invocation: from the delivery of \
         the first event to its answer (for the functions, this includes their first requests to the local API).\n"
    );
    let _ = writeln!(
        w,
        "| function | binary | init (ms) | × hello-world | first invocation (ms) |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    let hello = r.cold_starts.first().map_or(1.0, |c| c.init_ms.median);
    for c in &r.cold_starts {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            c.function,
            mib(c.binary_bytes),
            c.init_ms.show(2),
            ratio(c.init_ms.median, hello),
            c.first_invocation_ms.show(2)
        );
    }

    let s = &r.submissions;
    let _ = writeln!(w, "\n## Submissions (warm)\n");
    let _ = writeln!(
        w,
        "{} new intake submissions per run, one process, one after another (after 20 to warm up); each is a \
         validated body stored with its idempotency record in one transaction. Latency at the Runtime API.\n",
        s.requests_per_run
    );
    let _ = writeln!(w, "| p50 (ms) | p95 (ms) | p99 (ms) | CPU per request (µs) |");
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
         boto3 `batch_writer`, a thread pool). The floors run in-process with no network: the row work alone (parse, \
         decode and validate, item encoding; one thread, wall time) and the whole pipeline into a sink that drops \
         every batch (process CPU).\n"
    );
    let _ = writeln!(
        w,
        "| rows | file | import rows/s | % of ceiling | ceiling rows/s | peer rows/s | import CPU µs/row | peer CPU \
         µs/row | peer ÷ import | floor: row work µs/row | floor: pipeline µs/row | import ÷ pipeline floor | import \
         peak RSS (MiB) | peer peak RSS (MiB) |"
    );
    let _ = writeln!(
        w,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for i in &r.imports {
        let cpu = i.function.cpu_us_per_row.as_ref().map_or(f64::NAN, |s| s.median);
        let peer_cpu = i.peer.cpu_us_per_row.as_ref().map_or(f64::NAN, |s| s.median);
        let _ = writeln!(
            w,
            "| {} | {:.1} MiB | {} | {:.0} % | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i.rows,
            i.file_mib,
            i.function.rows_per_s.show(0),
            100.0 * i.function.rows_per_s.median / i.ceiling_rows_per_s.median,
            i.ceiling_rows_per_s.show(0),
            i.peer.rows_per_s.show(0),
            opt(&i.function.cpu_us_per_row, 1),
            opt(&i.peer.cpu_us_per_row, 0),
            ratio(peer_cpu, cpu),
            i.floor_decode_us_per_row.show(2),
            i.floor_pipeline_us_per_row.show(2),
            ratio(cpu, i.floor_pipeline_us_per_row.median),
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
        let _ = writeln!(w, "| rows/s | CPU µs/row | peak RSS (MiB) |");
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
