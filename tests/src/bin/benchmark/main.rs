//! The performance benchmark: cold start, warm submissions and the CSV import of the release builds against the
//! local API, beside a hello-world function, the backend's own ceiling, the in-process floor and a conventional
//! Python peer, all in one run. Writes `benchmarks/RESULTS.md` and `benchmarks/results.json`.
//!
//! Run through `./scripts/benchmark [OPTIONS]`, which builds in release mode and starts the local API:
//!   --runs N             runs of each measurement (default 3)
//!   --large-runs N       runs of the 1M-row and 1 GB imports (default 1: each takes minutes against the local API)
//!   --sizes A,B,…        rows of the import files (default 10000,100000,1000000)
//!   --large-file-mib N   size of the memory test's file (default 1024; 0 skips it)
//!   --requests N         warm submissions per run (default 2000)
//!   --cold-runs N        process starts per function (default 11)
//!   --out DIR            where the results go (default benchmarks)

mod cold;
mod floor;
mod import;
mod report;
mod stats;
mod submit;

use import::{File, Side};
use integration_tests::{event, local_aws, observations_csv, repo_path, s3_event, unique, upload};
use serde::Serialize;
use shared::import::ports::Item;
use stats::Spread;
use std::sync::Arc;

pub struct Options {
    runs: usize,
    large_runs: usize,
    sizes: Vec<usize>,
    large_file_mib: usize,
    requests: usize,
    cold_runs: usize,
    out: std::path::PathBuf,
}

impl Options {
    fn parse() -> Self {
        let mut options = Self {
            runs: 3,
            large_runs: 1,
            sizes: vec![10_000, 100_000, 1_000_000],
            large_file_mib: 1024,
            requests: 2000,
            cold_runs: 11,
            out: repo_path("benchmarks"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            let number = || {
                value
                    .parse::<usize>()
                    .unwrap_or_else(|_| panic!("{flag} takes a number"))
            };
            match flag.as_str() {
                "--runs" => options.runs = number(),
                "--large-runs" => options.large_runs = number(),
                "--large-file-mib" => options.large_file_mib = number(),
                "--requests" => options.requests = number(),
                "--cold-runs" => options.cold_runs = number(),
                "--out" => options.out = value.into(),
                "--sizes" => {
                    options.sizes = value
                        .split(',')
                        .map(|n| n.parse().unwrap_or_else(|_| panic!("--sizes takes numbers")))
                        .collect()
                }
                _ => panic!("unknown option {flag}; see the head of tests/src/bin/benchmark/main.rs"),
            }
        }
        assert!(options.runs > 0 && options.large_runs > 0 && options.cold_runs > 0);
        options
    }

    /// Files of a million rows or more take minutes per run against the local API.
    fn runs_for(&self, rows: usize) -> usize {
        if rows >= 1_000_000 {
            self.large_runs
        } else {
            self.runs
        }
    }
}

#[derive(Serialize)]
pub struct Results {
    pub machine: report::Machine,
    pub cold_starts: Vec<cold::ColdStart>,
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
    pub floor_decode_us_per_row: Spread,
    pub floor_pipeline_us_per_row: Spread,
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

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let sdk = local_aws().await;
    let s3 = shared::aws::s3(&sdk);
    let dynamodb = shared::aws::dynamodb(&sdk);
    let concurrency = shared::config::ImportConfig::from_env(&shared::config::Env::process())
        .expect("the import's settings")
        .concurrency;

    eprintln!("cold starts ({} process starts per function)", options.cold_runs);
    let small = observations_csv("bench-cold", 10, 5);
    let mut cold_starts = vec![
        cold::measure("hello-lambda", options.cold_runs, async || {
            event("s3-put-observations.json")
        })
        .await,
    ];
    cold_starts.push(cold::measure("submit-questionnaire", options.cold_runs, async || submit::submission()).await);
    cold_starts.push(
        cold::measure("import-csv", options.cold_runs, async || {
            let key = format!("imports/observations/bench-cold/S01/{}.csv", unique("cold"));
            upload(&s3, &key, small.clone()).await;
            serde_json::to_value(s3_event(&key).await).expect("an S3 event")
        })
        .await,
    );

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
        imports.push(ImportResults {
            rows,
            file_mib: mib(file.csv.len()),
            function: Side::of_function(&ours),
            ceiling_rows_per_s: Spread::of(&ceiling),
            peer: Side::of_peer(&peer),
            floor_decode_us_per_row: Spread::of(&decode),
            floor_pipeline_us_per_row: Spread::of(&pipeline),
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

    let results = Results {
        machine: report::Machine::here(concurrency),
        cold_starts,
        submissions,
        imports,
        large_file,
    };
    std::fs::create_dir_all(&options.out).expect("the output folder");
    let json = serde_json::to_string_pretty(&results).expect("results as JSON");
    std::fs::write(options.out.join("results.json"), json + "\n").expect("writing results.json");
    let markdown = report::markdown(&results);
    std::fs::write(options.out.join("RESULTS.md"), &markdown).expect("writing RESULTS.md");
    println!("{markdown}");
}

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
