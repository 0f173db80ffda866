//! How often and how patiently a batch is retried: exponential backoff with full jitter. The only retry layer of row
//! writes (the row sink's client has the SDK's retries off), so each attempt is one request.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
        }
    }

    /// Full jitter: uniformly random up to `base * 2^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        ceiling.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_an_exponential_ceiling_that_is_capped() {
        let policy = RetryPolicy::new(8);
        for attempt in 1..=20 {
            let ceiling = (Duration::from_millis(50) * 2u32.pow((attempt - 1).min(16))).min(Duration::from_secs(5));
            for _ in 0..50 {
                assert!(policy.delay(attempt) <= ceiling, "attempt {attempt}");
            }
        }
    }
}
