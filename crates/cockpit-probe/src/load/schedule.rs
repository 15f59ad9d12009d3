//! Open-loop schedules: the intended send time of every request, as an
//! absolute offset from the run's start (so there is no drift), for a
//! constant or Poisson arrival process, one rate per sweep step.
//!
//! The Poisson gaps come from one SplitMix64 generator seeded once per
//! worker (`seed` mixed with the worker's index), so a run with the same
//! seed, rate plan and worker count repeats its schedule exactly; the
//! generator is written out here so that no dependency upgrade can change a
//! recorded schedule.

use cockpit_core::rng::SplitMix64;
use std::time::Duration;

/// How requests arrive in an open-loop run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Arrival {
    /// Evenly spaced: request `k` of a step at `k / rate`.
    #[default]
    Constant,
    /// A Poisson process: exponential gaps with mean `1 / rate`.
    Poisson,
}

/// One step of an open-loop run: `rate` requests per second for `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStep {
    pub rate: f64,
    pub duration: Duration,
}

/// One scheduled request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intended {
    /// Index among this schedule's requests.
    pub index: u64,
    /// Intended send time, from the run's start.
    pub offset: Duration,
    /// The step it belongs to.
    pub step: usize,
}

/// The seed of worker `w` derived from the run's seed.
pub(crate) fn worker_seed(seed: u64, worker: usize) -> u64 {
    SplitMix64::new(seed ^ (worker as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// The intended send times of one worker's share of a run.
///
/// ```
/// use std::time::Duration;
/// use cockpit_probe::load::{Arrival, RateStep, Schedule};
/// let steps = [RateStep { rate: 100.0, duration: Duration::from_secs(1) }];
/// let a: Vec<_> = Schedule::new(&steps, Arrival::Poisson, 42, 0, 1).collect();
/// let b: Vec<_> = Schedule::new(&steps, Arrival::Poisson, 42, 0, 1).collect();
/// assert_eq!(a, b);
/// let c: Vec<_> = Schedule::new(&steps, Arrival::Constant, 0, 0, 1).collect();
/// assert_eq!(c.len(), 100);
/// assert_eq!(c[10].offset, Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    steps: Vec<(f64, f64, f64)>, // (start s, end s, rate per worker)
    arrival: Arrival,
    rng: SplitMix64,
    worker: u64,
    workers: u64,
    step: usize,
    /// Constant: the global slot counter within the step. Poisson: unused.
    k: u64,
    /// Poisson: the last offset, seconds.
    t: f64,
    index: u64,
}

impl Schedule {
    /// Worker `worker` of `workers`. Constant arrivals are the run's global
    /// evenly spaced sequence dealt round-robin (so the union over workers
    /// is exactly `rate` per second); Poisson arrivals are independent
    /// Poisson processes of `rate / workers` each, whose union is a Poisson
    /// process of `rate`.
    pub fn new(
        steps: &[RateStep],
        arrival: Arrival,
        seed: u64,
        worker: usize,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1) as u64;
        let mut start = 0.0;
        let steps = steps
            .iter()
            .map(|s| {
                let end = start + s.duration.as_secs_f64();
                let per = match arrival {
                    Arrival::Constant => s.rate,
                    Arrival::Poisson => s.rate / workers as f64,
                };
                let out = (start, end, per);
                start = end;
                out
            })
            .collect();
        let mut sch = Schedule {
            steps,
            arrival,
            rng: SplitMix64::new(worker_seed(seed, worker)),
            worker: worker as u64,
            workers,
            step: 0,
            k: worker as u64,
            t: 0.0,
            index: 0,
        };
        if let Some(&(s0, _, _)) = sch.steps.first() {
            sch.t = s0;
        }
        sch
    }

    /// The end of the last step, from the run's start.
    pub fn total(&self) -> Duration {
        Duration::from_secs_f64(self.steps.last().map_or(0.0, |s| s.1))
    }
}

impl Iterator for Schedule {
    type Item = Intended;

    fn next(&mut self) -> Option<Intended> {
        loop {
            let &(start, end, rate) = self.steps.get(self.step)?;
            let offset = if rate <= 0.0 {
                f64::INFINITY
            } else {
                match self.arrival {
                    Arrival::Constant => {
                        let o = start + self.k as f64 / rate;
                        self.k += self.workers;
                        o
                    }
                    Arrival::Poisson => {
                        self.t += -self.rng.next_open01().ln() / rate;
                        self.t
                    }
                }
            };
            if offset < end {
                let item = Intended {
                    index: self.index,
                    offset: Duration::from_secs_f64(offset),
                    step: self.step,
                };
                self.index += 1;
                return Some(item);
            }
            // Next step: constant slots restart at the step's start; a
            // Poisson process is memoryless, so it restarts there too.
            self.step += 1;
            self.k = self.worker;
            self.t = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(rate: f64, secs: u64) -> Vec<RateStep> {
        vec![RateStep {
            rate,
            duration: Duration::from_secs(secs),
        }]
    }

    #[test]
    fn constant_offsets_are_absolute_and_split_exactly() {
        let s = steps(1000.0, 2);
        let one: Vec<_> = Schedule::new(&s, Arrival::Constant, 1, 0, 1).collect();
        assert_eq!(one.len(), 2000);
        assert_eq!(one[1999].offset, Duration::from_secs_f64(1999.0 / 1000.0));
        let mut union: Vec<Duration> = (0..3)
            .flat_map(|w| Schedule::new(&s, Arrival::Constant, 1, w, 3).map(|i| i.offset))
            .collect();
        union.sort();
        assert_eq!(union, one.iter().map(|i| i.offset).collect::<Vec<_>>());
    }

    #[test]
    fn poisson_is_seeded_and_has_the_asked_rate() {
        let s = steps(2000.0, 10);
        let a: Vec<_> = Schedule::new(&s, Arrival::Poisson, 7, 0, 1).collect();
        let b: Vec<_> = Schedule::new(&s, Arrival::Poisson, 7, 0, 1).collect();
        let c: Vec<_> = Schedule::new(&s, Arrival::Poisson, 8, 0, 1).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // 20 000 expected; the standard deviation is sqrt(20 000) ≈ 141.
        assert!(
            (a.len() as f64 - 20_000.0).abs() < 5.0 * 141.0,
            "{}",
            a.len()
        );
        assert!(a.windows(2).all(|w| w[0].offset <= w[1].offset));
        // Exponential gaps: the fraction above the mean is e^-1 ≈ 0.368.
        let mean = 1.0 / 2000.0;
        let above = a
            .windows(2)
            .filter(|w| (w[1].offset - w[0].offset).as_secs_f64() > mean)
            .count() as f64
            / (a.len() - 1) as f64;
        assert!((above - (-1.0f64).exp()).abs() < 0.02, "{above}");
    }

    #[test]
    fn sweep_steps_are_consecutive() {
        let s = vec![
            RateStep {
                rate: 10.0,
                duration: Duration::from_secs(1),
            },
            RateStep {
                rate: 20.0,
                duration: Duration::from_secs(1),
            },
        ];
        let v: Vec<_> = Schedule::new(&s, Arrival::Constant, 0, 0, 1).collect();
        assert_eq!(v.len(), 30);
        assert_eq!(v[10].step, 1);
        assert_eq!(v[10].offset, Duration::from_secs(1));
        assert_eq!(v[29].offset, Duration::from_secs_f64(1.0 + 19.0 / 20.0));
        assert_eq!(
            Schedule::new(&s, Arrival::Constant, 0, 0, 1).total(),
            Duration::from_secs(2)
        );
    }
}
