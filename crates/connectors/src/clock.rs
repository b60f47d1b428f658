//! Time and randomness, injected: the client and the dispatcher never read the system clock
//! or sleep directly, so tests run them on a virtual clock that sleeps by moving time on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use returnhub_core::time::UnixMillis;

/// A boxed future returned by [`Clock::sleep`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> UnixMillis;
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The real clock: wall time and tokio's timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as UnixMillis)
            .unwrap_or(0)
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Exponential backoff with jitter: attempt `n` waits a random time in
/// `[cap/2, cap]` where `cap = min(max, base * 2^n)` ("equal jitter"), so retries of many
/// clients spread out but never come sooner than half the nominal delay.
#[derive(Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    rng: Mutex<u64>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            max,
            rng: Mutex::new(seed),
        }
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let cap_ms = cap.as_millis() as u64;
        let half = cap_ms / 2;
        let r = {
            let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            splitmix64(&mut state)
        };
        Duration::from_millis(half + r % (cap_ms - half + 1))
    }
}

/// SplitMix64: a tiny, well-distributed PRNG; plenty for jitter.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_between_half_and_the_capped_delay() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 7);
        for attempt in 0..30 {
            let cap = (100u64 << attempt.min(20)).min(5000);
            let d = backoff.delay(attempt).as_millis() as u64;
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempt}: {d} ms, cap {cap}"
            );
        }
    }
}
