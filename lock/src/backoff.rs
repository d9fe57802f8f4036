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

/// A random number in `[0, 1)`, from the first 32 bits of a v4 UUID (all
/// random: the fixed version and variant bits sit further in).
fn unit_random() -> f64 {
    let bits = (uuid::Uuid::new_v4().as_u128() >> 96) as u32;
    f64::from(bits) / 4_294_967_296.0 // 2^32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_covers_the_whole_unit_interval() {
        let samples: Vec<f64> = (0..2000).map(|_| unit_random()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let below = samples.iter().filter(|x| **x < 0.5).count();
        assert!((800..1200).contains(&below), "{below} of 2000 below 0.5");
        assert!(samples.iter().any(|x| *x < 0.05) && samples.iter().any(|x| *x > 0.95));
    }

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
