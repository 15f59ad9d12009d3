//! Concurrency levels: `FROM:TO:xK` (geometric) or `FROM:TO:+K` (linear).

use serde::Serialize;

use crate::SimError;

/// The most concurrent sessions of one level.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// The most levels of one ramp.
pub const MAX_LEVELS: usize = 64;

/// The concurrency levels of a run, lowest first.
///
/// ```
/// use cockpit_sim::Ramp;
/// let r: Ramp = "1:256:x2".parse().unwrap();
/// assert_eq!(r.levels(), [1, 2, 4, 8, 16, 32, 64, 128, 256]);
/// let r: Ramp = "10:40:+15".parse().unwrap();
/// assert_eq!(r.levels(), [10, 25, 40]);
/// assert!("8:1:x2".parse::<Ramp>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ramp {
    /// As written.
    pub text: String,
    levels: Vec<u32>,
}

impl Ramp {
    /// One level.
    pub fn single(concurrency: u32) -> Ramp {
        Ramp {
            text: concurrency.to_string(),
            levels: vec![concurrency],
        }
    }

    pub fn levels(&self) -> &[u32] {
        &self.levels
    }
}

impl std::str::FromStr for Ramp {
    type Err = SimError;

    fn from_str(text: &str) -> Result<Ramp, SimError> {
        let bad = |reason: &str| SimError::Ramp {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = text.trim().split(':').collect();
        let [from, to, step] = parts.as_slice() else {
            return Err(bad("expected FROM:TO:xK or FROM:TO:+K"));
        };
        let num = |s: &str| s.trim().parse::<u32>().ok();
        let (Some(from), Some(to)) = (num(from), num(to)) else {
            return Err(bad("FROM and TO must be whole numbers"));
        };
        if from == 0 || from > to || to > MAX_CONCURRENCY {
            return Err(bad(&format!(
                "expected 1 <= FROM <= TO <= {MAX_CONCURRENCY}"
            )));
        }
        let step = step.trim();
        let next: Box<dyn Fn(u32) -> u32> = match (step.strip_prefix('x'), step.strip_prefix('+')) {
            (Some(k), _) => match num(k) {
                Some(k) if k >= 2 => Box::new(move |c| c.saturating_mul(k)),
                _ => return Err(bad("the factor xK must be a whole number of at least 2")),
            },
            (_, Some(k)) => match num(k) {
                Some(k) if k >= 1 => Box::new(move |c| c.saturating_add(k)),
                _ => return Err(bad("the step +K must be a whole number of at least 1")),
            },
            _ => return Err(bad("the step must be xK or +K")),
        };
        let mut levels = vec![from];
        let mut c = from;
        while c < to {
            c = next(c).min(to);
            levels.push(c);
            if levels.len() > MAX_LEVELS {
                return Err(bad(&format!("more than {MAX_LEVELS} levels")));
            }
        }
        Ok(Ramp {
            text: text.trim().to_string(),
            levels,
        })
    }
}
