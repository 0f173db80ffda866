//! The performance benchmark: cold start, warm submissions and the CSV import of the release builds against the
//! local API, beside a hello-world function, the backend's own ceiling, the in-process floor and a conventional
//! Python peer, all in one run. Writes `benchmarks/RESULTS.md` and `benchmarks/results.json`.
//!
//! Run through `./scripts/benchmark [OPTIONS]`, which builds in release mode and starts the local API; `--help`
//! lists the options (`options.rs`).

mod cold;
mod floor;
mod import;
mod options;
mod report;
mod stats;
mod submit;

use import::{File, Side};
use integration_tests::{event, local_aws, observations_csv, repo_path, resource, s3_event, unique, upload};
use options::{Command, Options};
use serde::Serialize;
use shared::import::ports::Item;
use stats::Spread;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Serialize)]
pub struct Results {
    pub machine: report::Machine,
    /// What the run measured and how often, every option with its value (defaults included).
    pub options: Options,
    pub cold_starts: Vec<cold::ColdStart>,
    pub sizes: Vec<cold::Size>,
    pub submissions: submit::Submissions,
    pub imports: Vec<ImportResults>,
    pub large_file: Option<LargeFile>,
}

#[derive(Serialize)]
pub struct ImportResults {
    pub rows: usize,
    pub file_mib: f64,
    pub function: Side,
    pub ceiling_rows_per_s: Spread,
    pub peer: Side,
    /// Parse, decode and validate, item encoding: wall time on one thread.
    pub floor_row_work_wall_us_per_row: Spread,
    /// The whole pipeline into a sink that drops every batch: the process's CPU time.
    pub floor_pipeline_cpu_us_per_row: Spread,
    pub ratios: ImportRatios,
}

/// Ratios of the medians, each of throughput (wall) or of CPU time per row, never the two mixed.
#[derive(Serialize)]
pub struct ImportRatios {
    /// Rows per second of the import ÷ those of the backend's ceiling.
    pub import_over_ceiling_wall_rows_per_s: f64,
    /// Rows per second of the import ÷ those of the peer.
    pub import_over_peer_wall_rows_per_s: f64,
    /// CPU µs per row of the peer ÷ those of the import.
    pub peer_over_import_cpu_us_per_row: f64,
    /// CPU µs per row of the import ÷ those of the in-process pipeline into a sink that drops every batch.
    pub import_over_pipeline_floor_cpu_us_per_row: f64,
}

impl ImportRatios {
    fn of(function: &Side, ceiling_rows_per_s: &Spread, peer: &Side, pipeline_cpu_us_per_row: &Spread) -> Self {
        let cpu = |side: &Side| side.cpu_us_per_row.as_ref().map_or(f64::NAN, |s| s.median);
        Self {
            import_over_ceiling_wall_rows_per_s: function.rows_per_s.median / ceiling_rows_per_s.median,
            import_over_peer_wall_rows_per_s: function.rows_per_s.median / peer.rows_per_s.median,
            peer_over_import_cpu_us_per_row: cpu(peer) / cpu(function),
            import_over_pipeline_floor_cpu_us_per_row: cpu(function) / pipeline_cpu_us_per_row.median,
        }
    }
}

#[derive(Serialize)]
pub struct LargeFile {
    pub rows: usize,
    pub file_mib: f64,
    pub function: Side,
}

/// The same allocator as the functions, so the in-process floors are comparable.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{}", options::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("benchmark: {error}; --help lists the options");
            return ExitCode::from(2);
        }
    };
    tokio::runtime::Runtime::new()
        .expect("a tokio runtime")
        .block_on(benchmark(options));
    ExitCode::SUCCESS
}

async fn benchmark(options: Options) {
    let load = report::LoadSampler::start();
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let concurrency = shared::config::ImportConfig::from_env(&shared::config::Env::process())
        .expect("the import's settings")
        .concurrency;

    eprintln!("cold starts ({} process starts per function)", options.cold_runs);
    let small = observations_csv("bench-cold", 10, 5);
    let any_event = async || event("s3-put-observations.json");
    let runtime_only = cold::measure("hello-lambda", Some("runtime only"), &[], options.cold_runs, any_event).await;
    let hello_table = [("HELLO_TABLE", resource("SubmissionsTable"))];
    let with_sdk = cold::measure(
        "hello-lambda",
        Some(HELLO_WITH_SDK),
        &hello_table,
        options.cold_runs,
        any_event,
    )
    .await;
    let baseline = with_sdk.init_plus_first_invocation_ms.median;
    let submit = cold::measure("submit-questionnaire", None, &[], options.cold_runs, async || {
        submit::submission()
    })
    .await;
    let import = cold::measure("import-csv", None, &[], options.cold_runs, async || {
        let key = format!("imports/observations/bench-cold/S01/{}.csv", unique("cold"));
        upload(&s3, &key, small.clone()).await;
        serde_json::to_value(s3_event(&key).await).expect("an S3 event")
    })
    .await;
    let mut cold_starts = vec![runtime_only, with_sdk, submit, import];
    cold::relate_to(&mut cold_starts, baseline);
    let sizes = ["hello-lambda", "submit-questionnaire", "import-csv"]
        .map(cold::size_as_deployed)
        .into();

    eprintln!(
        "warm submissions ({} runs of {} requests)",
        options.runs, options.requests
    );
    let submissions = submit::measure(&dynamodb, options.requests, options.runs).await;

    let mut imports = Vec::new();
    for &rows in &options.sizes {
        let runs = options.runs_for(rows);
        let study = format!("bench-{rows}");
        let file = File {
            csv: observations_csv(&study, rows, 20).into_bytes(),
            study,
            rows,
        };
        eprintln!("import of {rows} rows ({runs} runs of each side)");
        let (mut ours, mut peer, mut ceiling, mut decode, mut pipeline) = (vec![], vec![], vec![], vec![], vec![]);
        let mut items: Vec<Item> = Vec::with_capacity(rows);
        floor::each_item(&file.key(0), &file.csv, |w| items.push(w.item));
        let items = Arc::new(items);
        for run in 0..runs {
            ours.push(import::function_run(&s3, &file, run).await);
            eprintln!("  function: {:?}", ours.last());
            peer.push(import::peer_run(&file, run, concurrency).await);
            eprintln!("  peer:     {:?}", peer.last());
            ceiling.push(import::ceiling_run(&dynamodb, &items, concurrency).await);
            eprintln!("  ceiling:  {:.0} rows/s", ceiling.last().unwrap());
            decode.push(floor::decode_ns_per_row(&file.key(run), &file.csv) / 1000.0);
            pipeline.push(floor::pipeline_ns_per_row(&file.key(run), &file.csv, rows).await / 1000.0);
        }
        let (function, peer) = (Side::of_function(&ours), Side::of_peer(&peer));
        let (ceiling, pipeline) = (Spread::of(&ceiling), Spread::of(&pipeline));
        imports.push(ImportResults {
            rows,
            file_mib: mib(file.csv.len()),
            ratios: ImportRatios::of(&function, &ceiling, &peer, &pipeline),
            function,
            ceiling_rows_per_s: ceiling,
            peer,
            floor_row_work_wall_us_per_row: Spread::of(&decode),
            floor_pipeline_cpu_us_per_row: pipeline,
        });
    }

    let large_file = if options.large_file_mib > 0 {
        let file = wide_file(options.large_file_mib);
        eprintln!("memory: a {:.0} MiB file of {} rows", mib(file.csv.len()), file.rows);
        let mut runs = Vec::new();
        for run in 0..options.large_runs {
            runs.push(import::function_run(&s3, &file, run).await);
            eprintln!("  function: {:?}", runs.last());
        }
        Some(LargeFile {
            rows: file.rows,
            file_mib: mib(file.csv.len()),
            function: Side::of_function(&runs),
        })
    } else {
        None
    };

    let out = repo_path("").join(&options.out);
    let results = Results {
        machine: report::Machine::here(concurrency, load.stop().await),
        options,
        cold_starts,
        sizes,
        submissions,
        imports,
        large_file,
    };
    std::fs::create_dir_all(&out).expect("the output folder");
    let json = serde_json::to_string_pretty(&results).expect("results as JSON");
    std::fs::write(out.join("results.json"), json + "\n").expect("writing results.json");
    let markdown = report::markdown(&results);
    std::fs::write(out.join("RESULTS.md"), &markdown).expect("writing RESULTS.md");
    println!("{markdown}");
}

/// The hello-lambda the functions' cold start is compared with (see `src/bin/hello-lambda.rs`).
pub const HELLO_WITH_SDK: &str = "SDK set-up + one GetItem";

fn mib(bytes: usize) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// About `mib` MiB of observations with long free-text values (~1 KiB per row): the file for the memory check.
fn wide_file(mib: usize) -> File {
    let study = "bench-wide".to_owned();
    let text = "Patient reports intermittent mild headache since the last visit, no change in medication, sleep \
                quality described as fair; vital signs within normal limits. "
        .repeat(6);
    let target = mib * 1_048_576;
    let mut csv = String::with_capacity(target + 4096);
    csv.push_str("study_id,site_id,subject_id,visit,form,item,value,unit,collected_at\n");
    let mut rows = 0;
    while csv.len() < target {
        csv.push_str(&format!(
            "{study},S01,SUBJ-{:03},V1,NOTES,NOTE-{rows:08},\"{text}\",,2026-03-01T09:30:00Z\n",
            rows % 20
        ));
        rows += 1;
    }
    File {
        study,
        rows,
        csv: csv.into_bytes(),
    }
}
