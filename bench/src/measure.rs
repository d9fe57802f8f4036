//! What a measurement reads: process CPU time (every thread, so the
//! driver's too), wall time, peak memory; and the statistics over rounds.

use std::time::{Duration, Instant};

/// User + system CPU time of the whole process (`getrusage(RUSAGE_SELF)`),
/// which counts every thread: ours, tokio's workers and the driver's tasks.
pub fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the struct we pass.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A line of `/proc/self/status` in KiB (`VmHWM` = peak RSS, `VmRSS`).
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The cost of `ops` operations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// How many operations ran.
    pub ops: u64,
    /// Process CPU time they took.
    pub cpu: Duration,
    /// Wall time they took.
    pub wall: Duration,
}

impl Sample {
    /// Client CPU µs per operation.
    pub fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops as f64
    }

    /// Wall µs per operation.
    pub fn wall_us(&self) -> f64 {
        self.wall.as_secs_f64() * 1e6 / self.ops as f64
    }

    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }
}

/// A stopwatch over CPU and wall time.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    cpu: Duration,
    wall: Instant,
}

impl Stopwatch {
    /// Starts now.
    pub fn start() -> Self {
        Stopwatch { cpu: cpu_time(), wall: Instant::now() }
    }

    /// The sample of `ops` operations since the start.
    pub fn stop(self, ops: u64) -> Sample {
        Sample { ops, wall: self.wall.elapsed(), cpu: cpu_time().saturating_sub(self.cpu) }
    }
}

/// Median, minimum and maximum of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all NaN when empty.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Spread { median, min: v[0], max: v[n - 1] }
    }

    /// The value at quantile `q` (0..=1) of `values`, nearest rank.
    pub fn quantile(values: &[f64], q: f64) -> f64 {
        let mut v = values.to_vec();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle() {
        let s = Spread::of([3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of([1.0, 2.0, 3.0, 4.0]).median, 2.5);
        assert!(Spread::of([]).median.is_nan());
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(Spread::quantile(&v, 0.5), 50.0);
        assert_eq!(Spread::quantile(&v, 0.99), 99.0);
        assert_eq!(Spread::quantile(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let before = cpu_time();
        let mut x = 0u64;
        while cpu_time() == before {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(cpu_time() > before, "after {x} spins");
        assert!(proc_status_kib("VmHWM:").unwrap() > 0);
    }
}
