//! The in-process floor: what the import costs without any network. Two levels: the row work alone (CSV parse,
//! UTF-8 check, typed decode and validation, item encoding) on one thread, and the whole pipeline (line index,
//! record budget, tally, bounded queues, write tasks, batching) into a sink that drops every batch.

use shared::config::{Env, ImportConfig};
use shared::import::dataset::{self, Dataset, Header, Row, RowContext, WriteItem};
use shared::import::ids::IdSecret;
use shared::import::pipeline::{FileFacts, Pipeline, ReadEnd, Start};
use shared::import::ports::{BatchSink, Item, SinkError};
use shared::import::tally::{ReportLimit, RowPos, Tally};
use shared::import::writer::{InFlight, RetryPolicy};
use shared::provenance::Provenance;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// A sink that accepts every batch and keeps nothing.
struct Discard;

impl BatchSink for Discard {
    async fn write_batch(&self, _table: &str, _items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        Ok(Vec::new())
    }
}

fn facts(key: &str) -> FileFacts {
    FileFacts {
        provenance: Provenance {
            bucket: "bench-bucket".into(),
            key: key.into(),
            version_id: Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY".into()),
            etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            line: 0,
            import_id: "01JBENCHIMPORT0000000000000".into(),
        },
        id_secret: IdSecret::from_bytes(&[7; 32]).expect("32 bytes"),
        request_id: "bench-request".into(),
        uploader: None,
        now: OffsetDateTime::now_utc(),
        object_time: OffsetDateTime::now_utc(),
    }
}

fn dataset_for(key: &str) -> (Box<dyn Dataset>, ImportConfig) {
    let config = ImportConfig::from_env(&Env::process()).expect("the import's settings (scripts/benchmark sets them)");
    (dataset::for_key(key, &config).expect("an observations key"), config)
}

/// Decodes every row of `csv` (a valid observations file) into its item, as the import does, and hands it to `each`.
pub fn each_item(key: &str, csv: &[u8], mut each: impl FnMut(WriteItem)) -> usize {
    let (dataset, _) = dataset_for(key);
    let facts = facts(key);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(csv);
    let names = reader.headers().expect("a header").iter().map(str::to_owned).collect();
    let header = Header::new(names).expect("a valid header");
    let mut record = csv::ByteRecord::new();
    let imported_at = shared::time::rfc3339_millis(facts.now);
    let (mut rows, mut line) = (0, 1);
    while reader.read_byte_record(&mut record).expect("a record") {
        line += 1;
        let cells: Vec<&str> = record.iter().map(|c| std::str::from_utf8(c).expect("UTF-8")).collect();
        let at = RowContext {
            file: &facts.provenance,
            line,
            id_secret: &facts.id_secret,
            request_id: &facts.request_id,
            uploader: None,
            now: facts.now,
            imported_at: &imported_at,
            object_time: facts.object_time,
        };
        each(dataset.decode(&Row::new(&header, &cells), &at).expect("a valid row"));
        rows += 1;
    }
    rows
}

/// Nanoseconds per row of the row work alone, on this thread.
pub fn decode_ns_per_row(key: &str, csv: &[u8]) -> f64 {
    let started = Instant::now();
    let rows = each_item(key, csv, |item| {
        std::hint::black_box(item);
    });
    started.elapsed().as_nanos() as f64 / rows as f64
}

/// CPU nanoseconds per row of this process running the whole pipeline into [`Discard`].
pub async fn pipeline_ns_per_row(key: &str, csv: &[u8], rows: usize) -> f64 {
    let (dataset, config) = dataset_for(key);
    let pipeline = Pipeline {
        sink: Arc::new(Discard),
        permit: Arc::new(shared::import::ports::Unconditional),
        stopped: tokio_util::sync::CancellationToken::new(),
        concurrency: config.concurrency,
        retry: RetryPolicy::new(config.max_write_attempts),
        grace: Duration::from_secs(1),
        in_flight: Arc::new(InFlight::default()),
        max_record_bytes: config.max_record_bytes,
    };
    let limit = ReportLimit {
        max_listed: config.max_rejected_rows_listed,
        already_listed: 0,
    };
    let tally = Arc::new(Tally::new(RowPos::START, limit).expect("a temporary file"));
    let before = own_cpu_time();
    let end = pipeline
        .run(
            csv,
            dataset.as_ref(),
            &facts(key),
            Start::File,
            tokio::time::Instant::now() + Duration::from_secs(3600),
            &tally,
        )
        .await;
    let used = own_cpu_time() - before;
    assert_eq!(end.end, ReadEnd::Eof);
    assert_eq!(tally.counts().imported, rows as u64, "every row went through");
    used.as_nanos() as f64 / rows as f64
}

fn own_cpu_time() -> Duration {
    integration_tests::runtime_api::process_cpu_time(std::process::id()).expect("/proc/self/stat")
}
