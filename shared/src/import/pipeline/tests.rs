//! The pipeline without AWS: a scripted sink with simulated latency and a paused clock make deadlines, bounds and
//! retries deterministic.

use super::*;
use crate::config::ImportConfig;
use crate::import::dataset::{self, Header, Row, RowContext, WriteItem};
use crate::import::ports::{Item, SinkError};
use crate::import::rejection::Rejection;
use crate::import::tally::ReportLimit;
use crate::import::writer::BATCH_SIZE;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use time::macros::datetime;

type Script = dyn Fn(usize, &[Item]) -> Result<Vec<usize>, SinkError> + Send + Sync;

/// A sink that takes `latency` per call, records what it stored and how many calls overlapped (its own gauge, apart
/// from the pipeline's), and answers as `script` says (call number, items) → unprocessed indexes or an error.
struct FakeSink {
    latency: Duration,
    script: Box<Script>,
    calls: AtomicUsize,
    overlap: Arc<InFlight>,
    stored: Mutex<Vec<Item>>,
    /// The number of items of each call, in call order.
    sizes: Mutex<Vec<usize>>,
}

impl FakeSink {
    fn new(
        latency_ms: u64,
        script: impl Fn(usize, &[Item]) -> Result<Vec<usize>, SinkError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            latency: Duration::from_millis(latency_ms),
            script: Box::new(script),
            calls: AtomicUsize::new(0),
            overlap: Arc::default(),
            stored: Mutex::new(Vec::new()),
            sizes: Mutex::new(Vec::new()),
        }
    }

    fn ok(latency_ms: u64) -> Self {
        Self::new(latency_ms, |_, _| Ok(Vec::new()))
    }

    fn stored(&self) -> Vec<Item> {
        self.stored.lock().unwrap().clone()
    }
}

impl BatchSink for FakeSink {
    async fn write_batch(&self, _table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        assert!(items.len() <= BATCH_SIZE, "batch of {}", items.len());
        self.sizes.lock().unwrap().push(items.len());
        let _overlapping = self.overlap.enter();
        tokio::time::sleep(self.latency).await;
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let unprocessed = (self.script)(call, &items)?;
        let (left, written): (Vec<_>, Vec<_>) = items
            .into_iter()
            .enumerate()
            .partition(|(i, _)| unprocessed.contains(i));
        self.stored
            .lock()
            .unwrap()
            .extend(written.into_iter().map(|(_, item)| item));
        Ok(left.into_iter().map(|(_, item)| item).collect())
    }
}

fn config() -> ImportConfig {
    ImportConfig::for_tests()
}

fn facts() -> FileFacts {
    FileFacts {
        provenance: Provenance {
            bucket: "bucket".into(),
            key: "imports/observations/test.csv".into(),
            version_id: None,
            etag: Some("etag".into()),
            line: 0,
            import_id: "import".into(),
        },
        id_secret: crate::import::ids::IdSecret::from_bytes(&[1; 32]).unwrap(),
        request_id: "request".into(),
        uploader: None,
        now: datetime!(2026-11-27 12:00 UTC),
        object_time: datetime!(2026-11-27 11:00 UTC),
    }
}

const HEADER: &str = "study_id,site_id,subject_id,visit,form,item,value,unit,collected_at";

fn row(i: usize) -> String {
    format!(
        "ST-1,S01,SUBJ-{i:06},V1,VITALS,SYSBP,{},mmHg,2026-03-01T09:30:00Z",
        100 + i % 50
    )
}

fn observations(rows: usize) -> String {
    let mut csv = format!("{HEADER}\n");
    for i in 0..rows {
        csv.push_str(&row(i));
        csv.push('\n');
    }
    csv
}

struct Run {
    end: ReadEnd,
    counts: crate::import::tally::Counts,
    checkpoint: RowPos,
    /// The rejected-rows report as the import writes it: the header, then the rows.
    report: String,
    peak: usize,
}

async fn run_with<S: BatchSink>(
    sink: Arc<S>,
    csv: &[u8],
    dataset: &dyn Dataset,
    concurrency: usize,
    budget: Duration,
) -> Run {
    let in_flight = Arc::new(InFlight::default());
    let pipeline = Pipeline {
        sink,
        permit: Arc::new(crate::import::ports::Unconditional),
        stopped: tokio_util::sync::CancellationToken::new(),
        concurrency,
        retry: RetryPolicy::new(4),
        grace: Duration::from_millis(200),
        in_flight: Arc::clone(&in_flight),
        max_record_bytes: 64 << 10,
    };
    let limit = ReportLimit {
        max_listed: u64::MAX,
        already_listed: 0,
    };
    let tally = Arc::new(Tally::new(RowPos::START, limit).unwrap());
    let end = pipeline
        .run(csv, dataset, &facts(), Start::File, Instant::now() + budget, &tally)
        .await
        .end;
    assert_eq!(in_flight.live_tasks(), 0, "every write task has ended");
    let finished = tally.finish().unwrap();
    let mut report = String::from("line,column,code,message\n");
    { finished.report }.read_to_string(&mut report).unwrap();
    let counts = finished.counts;
    assert_eq!(
        counts.total,
        counts.imported + counts.rejected + counts.not_reached,
        "{counts:?}"
    );
    Run {
        end,
        counts,
        checkpoint: finished.checkpoint,
        report,
        peak: in_flight.peak(),
    }
}

async fn run<S: BatchSink>(sink: Arc<S>, csv: &str, concurrency: usize, budget: Duration) -> Run {
    let dataset = dataset::for_key("imports/observations/ST-1/S01/test.csv", &config()).unwrap();
    run_with(sink, csv.as_bytes(), dataset.as_ref(), concurrency, budget).await
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

#[tokio::test(start_paused = true)]
async fn a_whole_file_is_imported_in_batches_of_at_most_25() {
    let sink = Arc::new(FakeSink::ok(10));
    let result = run(Arc::clone(&sink), &observations(1000), 4, Duration::from_secs(600)).await;
    assert_eq!(result.end, ReadEnd::Eof);
    assert_eq!(result.counts.imported, 1000);
    assert_eq!(sink.stored().len(), 1000);
    // Each of the 4 tasks sends its rows in full batches; only its last one may be partial.
    let sizes = sink.sizes.lock().unwrap().clone();
    let partial = sizes.iter().filter(|&&n| n < BATCH_SIZE).count();
    assert!(partial <= 4, "{partial} partial batches: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1000);
}

#[tokio::test(start_paused = true)]
async fn writes_in_flight_never_exceed_the_configured_concurrency() {
    for concurrency in [1, 3, 8] {
        let sink = Arc::new(FakeSink::ok(20));
        let result = run(
            Arc::clone(&sink),
            &observations(2000),
            concurrency,
            Duration::from_secs(600),
        )
        .await;
        assert_eq!(result.counts.imported, 2000);
        let observed = sink.overlap.peak();
        assert!(observed <= concurrency, "{observed} > {concurrency}");
        assert_eq!(observed, concurrency, "the bound should also be reached");
        assert_eq!(result.peak, observed, "the gauge reports what the sink saw");
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_stops_everything_and_every_row_is_accounted_for() {
    let before = alive_tasks();
    // 100 ms per batch, 2 tasks: 40,000 rows would need 80 s; the budget is 2 s.
    let sink = Arc::new(FakeSink::ok(100));
    let started = Instant::now();
    let result = run(Arc::clone(&sink), &observations(40_000), 2, Duration::from_secs(2)).await;
    let elapsed = started.elapsed();

    assert_eq!(result.end, ReadEnd::Deadline);
    assert!(
        elapsed <= Duration::from_secs(2) + Duration::from_millis(200),
        "{elapsed:?}"
    );
    assert_eq!(alive_tasks(), before, "no task outlives the import");
    assert!(result.counts.imported > 0 && result.counts.imported < 40_000);
    // Rows written above the checkpoint are stored but not yet counted: the next invocation writes them again.
    let stored = sink.stored().len() as u64;
    let counted = result.counts.imported;
    assert!(
        counted <= stored && stored <= counted + result.counts.not_reached,
        "{stored} stored, {counted} counted"
    );
    assert!(result.counts.total < 40_000, "the reader stopped early");
    // Every row before the checkpoint is committed (one line per row here), none after: resuming there loses
    // nothing and counts nothing twice.
    let resume = result.checkpoint;
    assert_eq!(resume.line - 2, result.counts.imported + result.counts.rejected);
    // And the checkpoint's byte offset is where that line begins in the file.
    let csv = observations(40_000);
    let from = &csv[resume.byte_offset as usize..];
    assert!(
        from.starts_with(&format!("{}\n", row(resume.line as usize - 2))),
        "{resume:?}"
    );
    // The reader ran at most a bounded number of rows ahead of the writers: per task, the batch being written, the
    // queued ones and the one being filled.
    let bound = (2 * (1 + QUEUE_PER_TASK + 1) * BATCH_SIZE) as u64 + 1;
    assert!(
        result.counts.not_reached <= bound,
        "{} rows ahead",
        result.counts.not_reached
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_stuck_past_the_deadline_is_aborted_after_the_grace_period() {
    let before = alive_tasks();
    let sink = Arc::new(FakeSink::ok(3_600_000));
    let started = Instant::now();
    let result = run(sink, &observations(100), 2, Duration::from_secs(1)).await;
    assert!(
        started.elapsed() <= Duration::from_millis(1_200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(alive_tasks(), before);
    assert_eq!(result.counts.imported, 0);
    assert_eq!(result.counts.not_reached, 100);
    assert_eq!(result.checkpoint.line, 2);
}

#[tokio::test(start_paused = true)]
async fn unprocessed_items_are_retried_until_written() {
    // Every first attempt of a batch leaves its even items unprocessed.
    let sink = Arc::new(FakeSink::new(5, |call, items| {
        Ok(if call % 2 == 0 {
            (0..items.len()).step_by(2).collect()
        } else {
            Vec::new()
        })
    }));
    let result = run(Arc::clone(&sink), &observations(300), 1, Duration::from_secs(600)).await;
    assert_eq!(result.counts.imported, 300);
    assert_eq!(sink.stored().len(), 300);
}

/// A [`FakeSink`] that hands back its unprocessed items changed by `change`, as a backend that encodes them
/// differently from the request (or loses what identifies them) would.
struct HandsBackChanged {
    sink: FakeSink,
    change: fn(&mut Item),
}

impl BatchSink for HandsBackChanged {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        let mut left = self.sink.write_batch(table, items).await?;
        left.iter_mut().for_each(self.change);
        Ok(left)
    }
}

#[tokio::test(start_paused = true)]
async fn unprocessed_items_are_found_by_their_key_even_when_handed_back_changed() {
    // Every first attempt of a batch writes its first item only.
    let sink = Arc::new(HandsBackChanged {
        // Only the primary key identifies them.
        change: |item| {
            item.insert(
                "value".into(),
                aws_sdk_dynamodb::types::AttributeValue::S("re-encoded".into()),
            );
        },
        sink: FakeSink::new(5, |call, items| {
            Ok(if call % 2 == 0 {
                (1..items.len()).collect()
            } else {
                Vec::new()
            })
        }),
    });
    let result = run(Arc::clone(&sink), &observations(300), 1, Duration::from_secs(600)).await;
    assert_eq!(result.counts.imported, 300);
    let stored = sink.sink.stored();
    assert_eq!(stored.len(), 300, "every row counted as imported is stored");
    let subjects: std::collections::HashSet<&str> =
        stored.iter().map(|item| item["pk"].as_s().unwrap().as_str()).collect();
    assert_eq!(subjects.len(), 300);
    // Only the items handed back are sent again, not the one already written: each batch of 25 goes out as 25, then 24.
    let sizes = sink.sink.sizes.lock().unwrap().clone();
    assert!(sizes.chunks(2).all(|pair| pair == [25, 24]), "{sizes:?}");
}

#[tokio::test(start_paused = true)]
async fn unprocessed_items_that_match_no_row_make_the_whole_batch_go_again() {
    // Every first attempt of a batch writes nothing and hands everything back, unrecognisable.
    let sink = Arc::new(HandsBackChanged {
        // Nothing tells which rows they were.
        change: |item| {
            item.remove("pk");
        },
        sink: FakeSink::new(5, |call, items| {
            Ok(if call % 2 == 0 {
                (0..items.len()).collect()
            } else {
                Vec::new()
            })
        }),
    });
    let result = run(Arc::clone(&sink), &observations(300), 1, Duration::from_secs(600)).await;
    assert_eq!(result.counts.imported, 300);
    assert_eq!(sink.sink.stored().len(), 300, "every row counted as imported is stored");
}

#[tokio::test(start_paused = true)]
async fn a_batch_that_keeps_failing_is_reported_row_by_row() {
    let sink = Arc::new(FakeSink::new(5, |_, _| {
        Err(SinkError {
            retryable: true,
            message: "throttled".into(),
        })
    }));
    let result = run(Arc::clone(&sink), &observations(30), 1, Duration::from_secs(600)).await;
    assert_eq!(result.counts.rejected, 30);
    assert_eq!(
        sink.calls.load(Ordering::SeqCst),
        2 * 4,
        "two batches, four attempts each"
    );
    for line in 2..32 {
        assert!(
            result.report.contains(&format!(
                "\n{line},,write_failed,not written after 4 attempts: throttled"
            )),
            "{line}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_rejected_batch_is_split_so_only_the_bad_row_fails() {
    let bad = row(7).replace("mmHg", "BAD");
    let sink = Arc::new(FakeSink::new(1, |_, items| {
        if items
            .iter()
            .any(|i| i.get("unit").and_then(|u| u.as_s().ok()).is_some_and(|u| u == "BAD"))
        {
            Err(SinkError {
                retryable: false,
                message: "item too large".into(),
            })
        } else {
            Ok(Vec::new())
        }
    }));
    let csv = observations(20).replace(&row(7), &bad);
    let result = run(sink, &csv, 1, Duration::from_secs(600)).await;
    assert_eq!((result.counts.imported, result.counts.rejected), (19, 1));
    assert!(
        result.report.contains("\n9,,write_failed,item too large"),
        "{}",
        result.report
    );
}

#[tokio::test(start_paused = true)]
async fn a_later_row_with_the_same_key_overwrites_the_earlier_one() {
    let first = row(1);
    let second = row(1).replace(",101,", ",199,");
    let csv = format!("{HEADER}\n{first}\n{}\n{second}\n", row(2));
    let sink = Arc::new(FakeSink::ok(1));
    let result = run(Arc::clone(&sink), &csv, 4, Duration::from_secs(600)).await;
    assert_eq!(result.counts.imported, 3);
    let values: Vec<String> = sink
        .stored()
        .iter()
        .filter(|i| i["subjectId"].as_s().unwrap() == "SUBJ-000001")
        .map(|i| i["value"].as_s().unwrap().clone())
        .collect();
    assert_eq!(values, ["199"]);
}

#[tokio::test(start_paused = true)]
async fn bad_rows_are_reported_and_the_import_goes_on() {
    let mut csv = format!("{HEADER}\r\n{}\r\n", row(0)).into_bytes();
    csv.extend_from_slice(b"ST-1,S01,SUBJ-9,V1,VITALS,SYSBP,\xff\xfe,mmHg,2026-03-01T09:30:00Z\r\n");
    csv.extend_from_slice(b"ST-1,S01,too,few\r\n");
    csv.extend_from_slice(b"ST-1,S01, SUBJ-8,V1,VITALS,SYSBP,1,mmHg,2099-01-01T00:00:00Z\r\n");
    csv.extend_from_slice(format!("{}\r\n", row(1)).as_bytes());
    let dataset = dataset::for_key("imports/observations/ST-1/S01/test.csv", &config()).unwrap();
    let sink = Arc::new(FakeSink::ok(1));
    let result = run_with(Arc::clone(&sink), &csv, dataset.as_ref(), 2, Duration::from_secs(600)).await;
    assert_eq!(result.end, ReadEnd::Eof);
    assert_eq!(
        (result.counts.total, result.counts.imported, result.counts.rejected),
        (5, 2, 3)
    );
    let lines: Vec<&str> = result.report.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "3,value,invalid_utf8,is not valid UTF-8",
            "4,,field_count,has 4 field(s); the header has 9",
            "5,subject_id,surrounding_space,must not start or end with spaces",
            "5,collected_at,in_future,is later than the time of the import",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn bom_crlf_quotes_and_embedded_newlines_are_read() {
    let csv = format!(
        "\u{feff}{HEADER}\r\nST-1,S01,SUBJ-1,V1,NOTES,COMMENT,\"said \"\"fine\"\",\nthen left\",,2026-03-01T09:30:00Z\r\n{}\n",
        row(2)
    );
    let sink = Arc::new(FakeSink::ok(1));
    let result = run(Arc::clone(&sink), &csv, 1, Duration::from_secs(600)).await;
    assert_eq!(
        (result.counts.imported, result.counts.rejected),
        (2, 0),
        "{}",
        result.report
    );
    let note = sink
        .stored()
        .into_iter()
        .find(|i| i["item"].as_s().unwrap() == "COMMENT")
        .unwrap();
    assert_eq!(note["value"].as_s().unwrap(), "said \"fine\",\nthen left");
    let line = |item: &Item| item["provenance"].as_m().unwrap()["line"].as_n().unwrap().clone();
    assert_eq!(line(&note), "2");
    let after = sink
        .stored()
        .into_iter()
        .find(|i| i["item"].as_s().unwrap() == "SYSBP")
        .unwrap();
    assert_eq!(line(&after), "4", "the quoted line break moves the next row to line 4");
}

#[tokio::test(start_paused = true)]
async fn a_header_missing_a_required_column_rejects_the_file_and_writes_nothing() {
    let csv = observations(10).replacen("collected_at", "collected", 1);
    let sink = Arc::new(FakeSink::ok(1));
    let result = run(Arc::clone(&sink), &csv, 2, Duration::from_secs(600)).await;
    let ReadEnd::HeaderRejected(message) = result.end else {
        panic!("{:?}", result.end)
    };
    assert!(
        message.contains("missing required column(s): collected_at"),
        "{message}"
    );
    assert!(message.contains("unknown column(s) at position(s): 9"), "{message}");
    assert_eq!(result.counts.total, 0);
    assert!(sink.stored().is_empty());
    for empty in ["", "\n", "\u{feff}"] {
        let result = run(Arc::new(FakeSink::ok(1)), empty, 1, Duration::from_secs(60)).await;
        assert!(
            matches!(result.end, ReadEnd::HeaderRejected(_)),
            "{empty:?}: {:?}",
            result.end
        );
    }
}

/// Panics on one value: stands for a bug in a row's rules.
struct Fragile;

impl Dataset for Fragile {
    fn name(&self) -> String {
        "fragile".into()
    }
    fn table(&self) -> &str {
        "t"
    }
    fn key_attributes(&self) -> &'static [&'static str] {
        &["pk"]
    }
    fn check_header(&self, _: &Header) -> Result<(), String> {
        Ok(())
    }
    fn decode(&self, row: &Row<'_>, at: &RowContext<'_>) -> Result<WriteItem, Vec<Rejection>> {
        let value = row.get("v").unwrap_or_default();
        assert_ne!(value, "boom", "a bug");
        let item = Item::from([(
            "pk".to_owned(),
            aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned()),
        )]);
        Ok(WriteItem {
            key: format!("{value}{}", at.line),
            item,
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_one_row_is_reported_and_leaves_no_task_behind() {
    let before = alive_tasks();
    let sink = Arc::new(FakeSink::ok(1));
    let result = run_with(
        Arc::clone(&sink),
        b"v\na\nboom\nb\n",
        &Fragile,
        2,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(result.end, ReadEnd::Eof);
    assert_eq!((result.counts.imported, result.counts.rejected), (2, 1));
    assert!(result.report.contains("\n3,,internal_error,"), "{}", result.report);
    assert_eq!(alive_tasks(), before);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_write_task_leaves_its_rows_not_reached_and_nothing_running() {
    let before = alive_tasks();
    let sink = Arc::new(FakeSink::new(1, |_, _| panic!("sink bug")));
    let result = run(sink, &observations(60), 2, Duration::from_secs(60)).await;
    assert_eq!(result.end, ReadEnd::Eof);
    assert_eq!(result.counts.imported, 0);
    assert_eq!(result.counts.not_reached, 60);
    assert_eq!(alive_tasks(), before);
}
