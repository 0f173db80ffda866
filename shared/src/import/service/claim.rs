//! Claiming: the job's lease (a new nonce per claim), the key's turn (an older import still writing is told to stop,
//! and this one waits for it), the renewals while the work runs, and the check before each batch. A lease lost or a
//! fence raised stops the run at once: [`Standing`] cancels the pipeline.

use super::{epoch_ms, ImportService, Outcome};
use crate::import::deadline::StopAt;
use crate::import::error::ImportError;
use crate::import::job::{Claim, Hold, IdBasis, Job, Lease, Progress};
use crate::import::ports::{
    BatchSink, Claimed, Continuations, Entered, JobStore, ObjectSource, ReportSink, WritePermit,
};
use crate::import::tally::Tally;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Whether this invocation may still write for its job, shared by the renewals, the check before each batch and
/// the end of the run. Once it must stop, `stopped` is cancelled (the pipeline with it) and `why` says why.
#[derive(Default)]
pub(super) struct Standing {
    pub stopped: CancellationToken,
    why: OnceLock<Hold>,
    /// The run's accounting once reading has begun, and the rows the job had committed before this invocation:
    /// what the renewals report as progress.
    pub live: OnceLock<(Arc<Tally>, u64)>,
}

impl Standing {
    /// How far the import has come, once reading has begun.
    fn progress(&self) -> Option<Progress> {
        let (tally, done_before) = self.live.get()?;
        let (counts, next) = tally.committed();
        Some(Progress {
            rows_done: done_before + counts.imported + counts.rejected,
            bytes_done: next.byte_offset,
        })
    }

    fn lose(&self, why: Hold) {
        let _ = self.why.set(why);
        self.stopped.cancel();
    }

    /// `Fenced` or `Lost`, once the invocation must stop.
    pub fn lost(&self) -> Option<Hold> {
        self.why.get().copied()
    }
}

/// The check before each batch: a strongly consistent read of the job record. Checks are made one at a time, and a
/// batch waiting for one takes the answer of a check that started after it asked (not one begun before), so a
/// fence raised before a batch asks is always seen by it, at the cost of about one read per round of batches.
pub(super) struct LeasePermit<J> {
    jobs: Arc<J>,
    import_id: String,
    owner: String,
    standing: Arc<Standing>,
    checks: tokio::sync::Mutex<()>,
    started: AtomicU64,
    last_done: AtomicU64,
}

impl<J: JobStore> WritePermit for LeasePermit<J> {
    async fn check(&self) -> bool {
        let asked_after = self.started.load(Ordering::SeqCst);
        let _one_at_a_time = self.checks.lock().await;
        if self.standing.lost().is_some() {
            return false;
        }
        if self.last_done.load(Ordering::SeqCst) > asked_after {
            return true;
        }
        let this = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let now = epoch_ms(SystemTime::now());
        match self.jobs.hold(&self.import_id, &self.owner, now).await {
            Ok(Hold::Held) => {
                self.last_done.store(this, Ordering::SeqCst);
                true
            }
            Ok(other) => {
                self.standing.lose(other);
                false
            }
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "the lease could not be confirmed; stopping");
                self.standing.lose(Hold::Lost);
                false
            }
        }
    }
}

/// Whose turn it turned out to be at the key.
pub(super) enum KeyTurn {
    Writing(IdBasis),
    Superseded,
    /// The older import did not stop before this invocation's stop time.
    TimeUp,
    /// The lease was lost while waiting.
    Lost(Hold),
}

impl<O, R, J, C, W> ImportService<O, R, J, C, W>
where
    O: ObjectSource,
    R: ReportSink,
    J: JobStore,
    C: Continuations,
    W: BatchSink,
{
    /// Claims the job and, if it is ours to work on, works on it while holding its lease.
    pub(super) async fn take_on(&self, claim: Claim, request_id: &str, stop: StopAt) -> Result<Outcome, ImportError> {
        let import_id = claim.import_id().to_owned();
        let lease =
            Lease::new(epoch_ms(SystemTime::now() + self.config.lease)).map_err(|source| ImportError::Randomness {
                import_id: import_id.clone(),
                source,
            })?;
        let claimed = self
            .backends
            .jobs
            .claim(&claim, &lease, epoch_ms(SystemTime::now()))
            .await;
        let skipped = |key: &str, reason: String| {
            Outcome::Skipped(crate::import::Skipped {
                key: key.to_owned(),
                reason,
                import_id: Some(import_id.clone()),
            })
        };
        let mut job = match claimed.map_err(|e| ImportError::job_store(&import_id, e))? {
            Claimed::Ours(job) => *job,
            Claimed::Finished(done) => {
                let status = serde_json::to_value(done.status).unwrap_or_default();
                return Ok(skipped(
                    &done.key,
                    format!(
                        "duplicate: the import of this object version has ended ({})",
                        status.as_str().unwrap_or("final")
                    ),
                ));
            }
            Claimed::Busy(summary) => {
                return Ok(skipped(
                    &summary.key,
                    "duplicate: another invocation is importing this object version now".into(),
                ))
            }
            Claimed::Refused(reason) => {
                tracing::warn!(reason, "continuation refused");
                return Ok(skipped("", format!("refused: {reason}")));
            }
        };
        job.resume(stop.source);
        // Early enough for the final writes the job's last invocation took.
        let stop = match job.summary.stop_work {
            Some(before) => stop.adapted(Duration::from_millis(before.last_ms)),
            None => stop,
        };
        let standing = Arc::new(Standing::default());
        let owner = job.lease.owner.clone();
        let work = self.carry_on(job, request_id, stop, OffsetDateTime::now_utc(), &standing);
        self.holding_lease(&import_id, &owner, &standing, work).await
    }

    /// Renews the job's lease while `work` runs, so that duplicates keep off; once the invocation dies, renewals
    /// stop and the lease runs out within [`crate::config::ImportConfig::lease`], when a retry may take the job
    /// over. A renewal refused (fenced, taken over) or one not confirmed before the lease ran out stops the work at
    /// once. The renewals end with `work`: nothing is left running when the handler returns.
    pub(super) async fn holding_lease<T>(
        &self,
        import_id: &str,
        owner: &str,
        standing: &Standing,
        work: impl Future<Output = T>,
    ) -> T {
        let renew = async {
            let mut held_until = SystemTime::now() + self.config.lease;
            let mut every = tokio::time::interval(self.config.lease / 3);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await; // the first tick is at once; the lease was just taken
            loop {
                every.tick().await;
                let now = SystemTime::now();
                let until = now + self.config.lease;
                let renewed = self
                    .backends
                    .jobs
                    .renew(import_id, owner, epoch_ms(until), epoch_ms(now), standing.progress())
                    .await;
                match renewed {
                    Ok(Hold::Held) => held_until = until,
                    Ok(lost) => {
                        standing.lose(lost);
                        return std::future::pending::<Infallible>().await;
                    }
                    Err(e) if SystemTime::now() >= held_until => {
                        tracing::warn!(error = %crate::error::chain(&e), "the lease ran out unrenewed; stopping");
                        standing.lose(Hold::Lost);
                        return std::future::pending::<Infallible>().await;
                    }
                    Err(e) => tracing::warn!(error = %crate::error::chain(&e), "the lease could not be renewed"),
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            biased;
            done = &mut work => done,
            never = renew => match never {},
        }
    }

    /// The check before each batch for this invocation's hold on `job`.
    pub(super) fn permit(&self, job: &Job, standing: &Arc<Standing>) -> Arc<LeasePermit<J>> {
        Arc::new(LeasePermit {
            jobs: Arc::clone(&self.backends.jobs),
            import_id: job.summary.import_id.clone(),
            owner: job.lease.owner.clone(),
            standing: Arc::clone(standing),
            checks: tokio::sync::Mutex::new(()),
            started: AtomicU64::new(0),
            last_done: AtomicU64::new(0),
        })
    }

    /// Waits for the key's turn: records this version as the key's latest and, while an older import still writes
    /// the key (it has been told to stop), polls until it has stopped or its lease has run out.
    pub(super) async fn enter_key(&self, job: &Job, stop: StopAt, standing: &Standing) -> Result<KeyTurn, ImportError> {
        let poll = (self.config.lease / 20).clamp(Duration::from_millis(50), Duration::from_secs(2));
        loop {
            let entered = self.backends.jobs.enter(job, epoch_ms(SystemTime::now())).await;
            match entered.map_err(|e| ImportError::job_store(&job.summary.import_id, e))? {
                Entered::Writing(basis) => return Ok(KeyTurn::Writing(basis)),
                Entered::Superseded => return Ok(KeyTurn::Superseded),
                Entered::Waiting => {}
            }
            if tokio::time::Instant::now() + poll >= stop.at {
                return Ok(KeyTurn::TimeUp);
            }
            tracing::info!("an import of an older version of the key is stopping; waiting for it");
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = standing.stopped.cancelled() => {}
            }
            if let Some(lost) = standing.lost() {
                return Ok(KeyTurn::Lost(lost));
            }
        }
    }
}
