//! When an import must stop: the invocation's deadline minus a safety margin, or a configured budget when the
//! deadline cannot be trusted. The margin is at most a quarter of the time the invocation has, so that any timeout,
//! however short, leaves time to make progress.

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

/// The part of the time left at the start that the margin may take at most.
const MARGIN_SHARE: u32 = 4;

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
