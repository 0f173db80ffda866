//! The job's rules as pure functions of what is stored: who may claim a job, whether an invocation still holds it,
//! and whose turn it is to write a key. Both job store adapters decide with these, so they cannot disagree.

use super::{IdBasis, Job, Lease};
use crate::import::report::FileSummary;

/// What an invocation asks for.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The job of an object version an S3 event names (created if there is none).
    Event(Box<Job>),
    /// A continuation: the job must exist, not be final, and hold this token.
    Continue { import_id: String, token: String },
}

impl Claim {
    pub fn import_id(&self) -> &str {
        match self {
            Self::Event(job) => &job.summary.import_id,
            Self::Continue { import_id, .. } => import_id,
        }
    }
}

/// What a claim comes to, given the job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No job yet: store this one (if there still is none).
    Create(Box<Job>),
    /// The stored job with the claimant's lease, written only if the lease is still `seen`.
    TakeOver { seen: Lease, job: Box<Job> },
    /// The claimant holds the lease already: its own claim was written but the answer lost.
    Ours(Box<Job>),
    /// The job has ended: the event is a duplicate.
    Finished(Box<FileSummary>),
    /// Another invocation holds the lease now.
    Busy(Box<FileSummary>),
    /// A continuation that no job vouches for; nothing is to be read or written.
    Refused(&'static str),
}

/// Decides a claim under `lease` at `now_ms` on the job as stored (`None`: there is none).
pub fn decide(stored: Option<Job>, claim: &Claim, lease: &Lease, now_ms: u64) -> Decision {
    let Some(mut job) = stored else {
        return match claim {
            Claim::Event(fresh) => {
                let mut fresh = fresh.clone();
                fresh.lease = lease.clone();
                Decision::Create(fresh)
            }
            Claim::Continue { .. } => Decision::Refused("no import job has the continuation's id"),
        };
    };
    if let Claim::Continue { token, .. } = claim {
        if job.summary.status.is_final() {
            return Decision::Refused("the import the continuation names has ended");
        }
        if !job.continuation.as_deref().is_some_and(|held| same_token(held, token)) {
            return Decision::Refused("the continuation's token is not the one its job holds");
        }
    }
    if job.summary.status.is_final() {
        return Decision::Finished(Box::new(job.summary));
    }
    if job.lease.owner == lease.owner {
        return Decision::Ours(Box::new(job));
    }
    if job.lease.until_ms > now_ms {
        return Decision::Busy(Box::new(job.summary));
    }
    let seen = std::mem::replace(&mut job.lease, lease.clone());
    Decision::TakeOver {
        seen,
        job: Box::new(job),
    }
}

/// Compares tokens in time independent of where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a save of `job` writes over `stored`: nothing unless `job`'s lease owner holds the stored lease; else `job`,
/// keeping what others set meanwhile: the fence (a newer version's to set) and the lease's renewals (the holder's
/// copy is as old as its claim), unless the save lets the lease go.
pub fn saved(stored: &Job, job: &Job) -> Option<Job> {
    if stored.lease.owner != job.lease.owner {
        return None;
    }
    let mut saved = job.clone();
    saved.fenced_by = stored.fenced_by.clone();
    if saved.lease.until_ms != 0 {
        saved.lease.until_ms = saved.lease.until_ms.max(stored.lease.until_ms);
    }
    Some(saved)
}

/// Whether an invocation may still write for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    Held,
    /// A newer version of the key told the job to stop.
    Fenced,
    /// The lease ran out, was let go or was taken over.
    Lost,
}

/// Whether `owner` holds job `stored` at `now_ms`.
pub fn hold(stored: Option<&Job>, owner: &str, now_ms: u64) -> Hold {
    match stored {
        Some(job) if job.lease.owner != owner || job.lease.until_ms <= now_ms => Hold::Lost,
        Some(job) if job.fenced_by.is_some() => Hold::Fenced,
        Some(_) => Hold::Held,
        None => Hold::Lost,
    }
}

/// Per object key: the latest version seen, the import allowed to write it, and its questionnaire id basis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRecord {
    /// The latest version's sequencer, padded to compare as text (see [`comparable`]).
    pub sequencer: Option<String>,
    /// The import that may write rows for the key (at most one at a time).
    pub active: Option<String>,
    pub ids: Option<IdBasis>,
}

/// Whose turn it is to write a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// A later version of the key was recorded: this one must not write.
    Superseded,
    /// Record this version as the latest and the job as the key's writer, if the writer is still `seen`.
    Take { seen: Option<String> },
    /// Another import writes the key: record this version as the latest, tell that import to stop (its fence),
    /// and wait until it has stopped or its lease has run out.
    Stop { active: String },
}

/// Whose turn it is for `job` on `key`, given the job that is the key's writer now (`None` if there is none or it
/// is gone).
pub fn turn(key: &KeyRecord, active: Option<&Job>, job: &Job, now_ms: u64) -> Turn {
    let mine = job.summary.sequencer.as_deref().map(comparable);
    if key.sequencer.is_some() && key.sequencer > mine {
        return Turn::Superseded;
    }
    let Some(writer) = key.active.clone() else {
        return Turn::Take { seen: None };
    };
    if writer == job.summary.import_id {
        return Turn::Take { seen: Some(writer) };
    }
    match active {
        None => Turn::Take { seen: Some(writer) },
        Some(other) if other.summary.status.is_final() => Turn::Take { seen: Some(writer) },
        // Told to stop and holding no lease: it writes nothing any more, and a continuation of it will end it.
        Some(other) if other.fenced_by.is_some() && other.lease.until_ms <= now_ms => Turn::Take { seen: Some(writer) },
        Some(_) => Turn::Stop { active: writer },
    }
}

/// A sequencer as text that sorts like the number it stands for: S3 says to compare them as hexadecimal numbers
/// padded to equal length.
pub fn comparable(sequencer: &str) -> String {
    format!("{:0>32}", sequencer.to_ascii_uppercase())
}
