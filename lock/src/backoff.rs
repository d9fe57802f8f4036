//! Jittered exponential backoff for `.wait`.

use std::time::Duration;

/// The first delay's upper bound.
const FIRST: Duration = Duration::from_millis(2);
/// The largest delay's upper bound.
const CAP: Duration = Duration::from_millis(100);

/// Delays that double from 2 ms up to 100 ms, each drawn at random from
/// the upper half of its range ("equal jitter"), so waiters spread out.
#[derive(Debug)]
pub struct Backoff {
    ceiling: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Backoff { ceiling: FIRST }
    }

    /// The next delay.
    pub fn next(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(CAP);
        let half = ceiling / 2;
        half + half.mul_f64(unit_random())
    }
}

/// A random number in `[0, 1)`.
fn unit_random() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_in_the_upper_half() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next()).collect();
        assert!(delays[0] >= FIRST / 2 && delays[0] <= FIRST);
        for delay in &delays[6..] {
            assert!(*delay >= CAP / 2 && *delay <= CAP, "{delay:?}");
        }
    }
}
