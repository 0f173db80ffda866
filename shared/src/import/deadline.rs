//! When an import must stop: the invocation's deadline minus a safety margin, or a configured budget when the
//! deadline cannot be trusted. The margin is at most a quarter of the time the invocation has, so that any timeout,
//! however short, leaves time to make progress; once the job says how long its last stop took, the margin grows to
//! fit it, up to half the invocation. The checkpoint (the report part, the job record) has until a moment before
//! the invocation ends, and no longer.

use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Lambda never allows more than 15 minutes; a deadline further away than this is not a real one.
const LONGEST_PLAUSIBLE: Duration = Duration::from_secs(15 * 60 + 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineSource {
    /// Derived from the invocation's deadline.
    Invocation,
    /// The deadline was absent, already past or implausible; the fallback budget applies.
    Fallback(FallbackReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    Missing,
    AlreadyPast,
    Implausible,
}

/// The part of the time left at the start that the configured margin may take at most.
const MARGIN_SHARE: u32 = 4;
/// The part of the time left at the start that a margin learnt from earlier stops may take at most.
const LEARNT_MARGIN_SHARE: u32 = 2;
/// Kept after the stop work for answering the runtime: at most this, and a fifth of the margin.
const ANSWER_RESERVE: Duration = Duration::from_millis(300);

/// The instant at which the import stops reading and cancels its writers.
#[derive(Debug, Clone, Copy)]
pub struct StopAt {
    pub at: Instant,
    pub source: DeadlineSource,
    /// The margin kept before the invocation's end (bounded by the time the invocation has).
    pub margin: Duration,
    /// When the invocation ends at the latest (its deadline, or the end of the fallback budget plus the margin):
    /// a lease on the job until then cannot outlive the invocation.
    pub ends: SystemTime,
    /// The time the invocation had when it started (to its deadline, or the fallback budget plus the margin).
    pub budget: Duration,
}

impl StopAt {
    /// The same invocation, stopping early enough for final writes that take `writes`: a third of the margin for the
    /// writers to end (`grace`), the rest for the writes twice over and the answer. The margin grows, never
    /// shrinks, and takes at most half of the invocation.
    pub fn adapted(self, writes: Duration) -> Self {
        let wanted = writes * 3;
        let cap = (self.budget / LEARNT_MARGIN_SHARE).max(self.margin);
        let margin = wanted.clamp(self.margin, cap);
        Self {
            at: self.at - (margin - self.margin),
            margin,
            ..self
        }
    }

    /// How long the writers may take to end their requests once stopped: a third of the margin.
    pub fn grace(&self) -> Duration {
        self.margin / 3
    }

    /// When the stop work must be done: the invocation's end, less a moment to answer the runtime. A checkpoint
    /// not saved by (a moment before) then is abandoned, and the invocation answers with an error rather than be
    /// killed by its timeout.
    pub fn answer_by(&self) -> Instant {
        let reserve = ANSWER_RESERVE.min(self.margin / 5);
        self.at + self.margin - reserve
    }
}

/// Converts the invocation deadline (Unix epoch milliseconds, as `lambda_runtime::Context::deadline`) once into a
/// monotonic instant, keeping `margin` free for stopping cleanly and writing the reports.
pub fn stop_at(
    deadline_ms: u64,
    now: SystemTime,
    now_instant: Instant,
    margin: Duration,
    fallback: Duration,
) -> StopAt {
    let fallback_at = |reason| StopAt {
        at: now_instant + fallback,
        source: DeadlineSource::Fallback(reason),
        margin,
        ends: now + fallback + margin,
        budget: fallback + margin,
    };
    if deadline_ms == 0 {
        return fallback_at(FallbackReason::Missing);
    }
    let deadline = SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms);
    match deadline.duration_since(now) {
        Err(_) => fallback_at(FallbackReason::AlreadyPast),
        Ok(remaining) if remaining > LONGEST_PLAUSIBLE => fallback_at(FallbackReason::Implausible),
        Ok(remaining) => {
            let margin = margin.min(remaining / MARGIN_SHARE);
            StopAt {
                at: now_instant + remaining - margin,
                source: DeadlineSource::Invocation,
                margin,
                ends: deadline,
                budget: remaining,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARGIN: Duration = Duration::from_secs(5);
    const FALLBACK: Duration = Duration::from_secs(60);

    fn at(offset_ms: i64) -> (u64, SystemTime, Instant) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let epoch_ms = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
        ((epoch_ms + offset_ms) as u64, now, Instant::now())
    }

    #[test]
    fn a_real_deadline_minus_the_margin_is_used() {
        let (deadline, now, instant) = at(60_000);
        let stop = stop_at(deadline, now, instant, MARGIN, FALLBACK);
        assert_eq!(stop.source, DeadlineSource::Invocation);
        assert_eq!(stop.at - instant, Duration::from_secs(55));
        assert_eq!(stop.margin, MARGIN);
    }

    #[test]
    fn a_short_invocation_keeps_at_most_a_quarter_of_its_time_as_margin() {
        // A 3 s timeout with a 5 s margin would stop at once and never make progress.
        let (deadline, now, instant) = at(3_000);
        let stop = stop_at(deadline, now, instant, MARGIN, FALLBACK);
        assert_eq!(stop.source, DeadlineSource::Invocation);
        assert_eq!(stop.margin, Duration::from_millis(750));
        assert_eq!(stop.at - instant, Duration::from_millis(2_250));
        assert_eq!(stop.ends, now + Duration::from_secs(3));
    }

    #[test]
    fn a_learnt_stop_grows_the_margin_up_to_half_the_invocation_and_never_shrinks_it() {
        let (deadline, now, instant) = at(6_000);
        let stop = stop_at(deadline, now, instant, Duration::from_secs(1), FALLBACK);
        assert_eq!(stop.margin, Duration::from_secs(1));
        // Final writes of 0.6 s: a margin of three times that.
        let grown = stop.adapted(Duration::from_millis(600));
        assert_eq!(grown.margin, Duration::from_millis(1_800));
        assert_eq!(grown.grace(), Duration::from_millis(600));
        assert_eq!(grown.at - instant, Duration::from_millis(4_200));
        assert_eq!((grown.ends, grown.budget), (stop.ends, stop.budget));
        // Never more than half of the invocation, never less than the configured margin.
        assert_eq!(stop.adapted(Duration::from_secs(60)).margin, Duration::from_secs(3));
        assert_eq!(stop.adapted(Duration::from_millis(10)).margin, Duration::from_secs(1));
        // The stop work ends a moment before the invocation does.
        assert_eq!(grown.answer_by() - instant, Duration::from_millis(5_700));
        let short = stop_at(at(1_000).0, now, instant, MARGIN, FALLBACK);
        assert_eq!(short.answer_by() - instant, Duration::from_millis(950));
    }

    #[test]
    fn missing_past_and_implausible_deadlines_fall_back_to_the_budget() {
        let (_, now, instant) = at(0);
        let cases = [
            (0, FallbackReason::Missing),
            // cargo lambda watch sends the constant 600000: ten minutes after 1970.
            (600_000, FallbackReason::AlreadyPast),
            (at(-1).0, FallbackReason::AlreadyPast),
            (at(20 * 60 * 1000).0, FallbackReason::Implausible),
        ];
        for (deadline, reason) in cases {
            let stop = stop_at(deadline, now, instant, MARGIN, FALLBACK);
            assert_eq!(stop.source, DeadlineSource::Fallback(reason), "{deadline}");
            assert_eq!(stop.at - instant, FALLBACK);
        }
    }
}
