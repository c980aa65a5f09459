//! The retry schedule between connection attempts: exponential from a
//! minimum to a maximum, with "equal jitter" (each delay is uniformly
//! between half and all of its ceiling), so a thousand frameworks that lost
//! the same master do not come back in lock step, yet none retries sooner
//! than half the schedule. The schedule itself is pure; only
//! [`Backoff::next_delay`] draws randomness.

use std::time::Duration;

/// Exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A schedule from `min` doubling up to `max` (`max` below `min` is
    /// taken as `min`).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// Failed attempts since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first step, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt; advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.delay(self.attempt, rand::random::<f64>());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// The delay for the `attempt`-th retry (from 0) given a `jitter` in
    /// `[0, 1]`: `ceiling × (1 + jitter) / 2`, `ceiling = min(max, min × 2^attempt)`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let factor = 2f64.powi(attempt.min(62) as i32);
        let ceiling = self.min.mul_f64(factor).min(self.max);
        ceiling.mul_f64((1.0 + jitter.clamp(0.0, 1.0)) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let full: Vec<_> = (0..6).map(|n| b.delay(n, 1.0).as_millis()).collect();
        assert_eq!(full, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(1000, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn next_delay_stays_within_the_band_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for n in 0..10 {
            let d = b.next_delay();
            assert!(d >= b.delay(n, 0.0) && d <= b.delay(n, 1.0), "{n}: {d:?}");
        }
        assert_eq!(b.attempts(), 10);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn max_below_min_is_min() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(b.delay(5, 1.0), Duration::from_secs(2));
    }
}
