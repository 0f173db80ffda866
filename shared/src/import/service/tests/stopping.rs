//! The stop work under its own budget: it ends before the invocation must answer, whatever the backend does, and
//! the next invocation stops early enough for the stop work the last one took.

use super::*;
use crate::import::job::Progress;
use crate::import::ports::Entered;
use crate::import::upload::{Arrival, ObjectFacts};
use crate::store::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};

/// The in-memory job store, whose writes of the job record never answer once `stall` is set: a backend too slow
/// for the time left.
#[derive(Default)]
struct Stalling {
    inner: MemoryJobStore,
    stall: AtomicBool,
}

impl JobStore for Stalling {
    async fn claim(&self, claim: &Claim, lease: &Lease, now_ms: u64) -> Result<Claimed, StoreError> {
        self.inner.claim(claim, lease, now_ms).await
    }

    async fn save(&self, job: &Job) -> Result<bool, StoreError> {
        if self.stall.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.save(job).await
    }

    async fn renew(
        &self,
        id: &str,
        owner: &str,
        until: u64,
        now: u64,
        p: Option<Progress>,
    ) -> Result<Hold, StoreError> {
        self.inner.renew(id, owner, until, now, p).await
    }

    async fn hold(&self, id: &str, owner: &str, now_ms: u64) -> Result<Hold, StoreError> {
        self.inner.hold(id, owner, now_ms).await
    }

    async fn enter(&self, job: &Job, now_ms: u64) -> Result<Entered, StoreError> {
        self.inner.enter(job, now_ms).await
    }

    async fn arrive(
        &self,
        id: &str,
        key: &str,
        job: &str,
        facts: &ObjectFacts,
        now: &str,
    ) -> Result<Arrival, StoreError> {
        self.inner.arrive(id, key, job, facts, now).await
    }
}

/// A sink whose every batch takes 100 ms, that sets `stall` on the job store once the stop time has passed.
struct StallAtStop {
    rows: MemoryTables,
    jobs: Arc<Stalling>,
    stop_at: Instant,
}

impl BatchSink for StallAtStop {
    async fn write_batch(&self, table: &str, items: Vec<Item>) -> Result<Vec<Item>, SinkError> {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if Instant::now() >= self.stop_at {
            self.jobs.stall.store(true, Ordering::SeqCst);
        }
        self.rows.write_batch(table, items).await
    }
}

#[tokio::test(start_paused = true)]
async fn stop_work_that_cannot_end_in_time_is_answered_with_an_error_before_the_deadline() {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, rows(5_000));
    let jobs = Arc::new(Stalling::default());
    let budget = Duration::from_secs(5);
    let stop = within(budget);
    let service = ImportService::new(
        Backends {
            objects,
            reports: MemoryBucket::default(),
            jobs: Arc::clone(&jobs),
            continuations: MemoryContinuations::default(),
            rows: Arc::new(StallAtStop {
                rows: MemoryTables::default(),
                jobs: Arc::clone(&jobs),
                stop_at: stop.at,
            }),
        },
        ImportConfig::for_tests(),
    );
    let started = Instant::now();
    let answer = service
        .handle(&event(&[(KEY, "ObjectCreated:Put")]), "invocation-1", stop)
        .await;
    assert!(matches!(answer, Err(ImportError::OutOfTime { .. })), "{answer:?}");
    // After the stop time, before the invocation's end (the stop time plus the margin) with a moment to answer.
    assert!(Instant::now() > stop.at && Instant::now() <= stop.answer_by());
    assert!(Instant::now() < started + budget + stop.margin);
    // Nothing was recorded after the stop: a retry goes on from the job as it stood.
    let import_id = ids::job_id(&object_of_event()).unwrap();
    let stored = jobs.inner.job(&import_id).unwrap();
    assert_eq!(stored.summary.status, FileStatus::Running);
    assert_eq!(stored.summary.resume_from, None);
}

#[tokio::test(start_paused = true)]
async fn each_invocation_records_its_stop_work_and_the_next_stops_early_enough_for_it() {
    let service = service(objects_with(rows(2_000)), Slow::default());
    let budget = Duration::from_secs(10);
    let first = service
        .handle(&event(&[(KEY, "ObjectCreated:Put")]), "invocation-1", within(budget))
        .await
        .unwrap();
    let summary = &first.files[0];
    assert_eq!(summary.status, FileStatus::Incomplete);
    let recorded = summary.stop_work.expect("the stop work is recorded");
    assert_eq!(recorded.margin_ms, 1_000, "the configured margin");
    assert_eq!(recorded.last_ms, recorded.max_ms, "{recorded:?}");

    // As if the last final writes had taken 1.5 s: the next invocation keeps three times that.
    service.backends().jobs.edit(&summary.import_id, |job| {
        job.summary.stop_work = Some(crate::import::report::StopWork {
            last_ms: 1_500,
            max_ms: 1_500,
            ..recorded
        });
    });
    let next = ImportEvent::Continue(service.backends().continuations.take().pop().unwrap());
    let second = service.handle(&next, "invocation-2", within(budget)).await.unwrap();
    let stop_work = second.files[0].stop_work.unwrap();
    assert_eq!(stop_work.margin_ms, 4_500);
    assert_eq!(stop_work.max_ms, stop_work.last_ms.max(1_500), "{stop_work:?}");
}

fn objects_with(body: String) -> MemoryBucket {
    let objects = MemoryBucket::default();
    objects.insert(BUCKET, KEY, body);
    objects
}
