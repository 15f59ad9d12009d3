//! The Latency Regression rules, pure: one agent's window figures per
//! interval in, state changes out. No clock, no I/O.
//!
//! Each rule keeps two streaks. An interval whose window breaches the
//! rule's bound adds to the bad streak and clears the good one; an interval
//! within the bound does the opposite. A quiet rule fires when the bad
//! streak reaches `consecutive`; a firing rule resolves when the good streak
//! does (hysteresis: a single good or bad interval changes nothing). An
//! interval whose window holds no TTFT sample (the agent is down, or not
//! probed yet) is not judged: the streaks stay as they are.

use crate::{AlertRule, AlertSettings, AlertState};

/// One interval's figures of one agent, over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleInput {
    /// TTFT p95 over the window; `None` when the window holds no sample.
    pub ttft_p95_ms: Option<f64>,
    /// Samples behind it.
    pub count: u64,
    /// The agent's baseline TTFT p95, when known (relative rule).
    pub baseline_ms: Option<f64>,
}

/// A rule that changed state in this interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleChange {
    pub rule: AlertRule,
    pub state: AlertState,
    pub ttft_p95_ms: f64,
    pub count: u64,
    pub bound_ms: f64,
    pub baseline_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Streaks {
    firing: bool,
    bad: u32,
    good: u32,
}

impl Streaks {
    /// Count one judged interval; `Some(new state)` when it changes.
    fn step(&mut self, breached: bool, k: u32) -> Option<AlertState> {
        if breached {
            self.bad = self.bad.saturating_add(1);
            self.good = 0;
        } else {
            self.good = self.good.saturating_add(1);
            self.bad = 0;
        }
        match (self.firing, self.bad >= k, self.good >= k) {
            (false, true, _) => {
                self.firing = true;
                Some(AlertState::Firing)
            }
            (true, _, true) => {
                self.firing = false;
                Some(AlertState::Resolved)
            }
            _ => None,
        }
    }
}

/// The rules of one agent.
#[derive(Debug, Clone)]
pub struct AlertRules {
    threshold_ms: f64,
    relative_pct: f64,
    relative_min_ms: f64,
    consecutive: u32,
    absolute: Streaks,
    relative: Streaks,
}

impl AlertRules {
    pub fn new(s: &AlertSettings) -> Self {
        AlertRules {
            threshold_ms: s.ttft_p95_ms,
            relative_pct: s.relative_increase_pct,
            relative_min_ms: s.relative_min_increase_ms,
            consecutive: s.consecutive.max(1),
            absolute: Streaks::default(),
            relative: Streaks::default(),
        }
    }

    /// Judge one interval; returns the rules that changed state.
    pub fn judge(&mut self, input: &RuleInput) -> Vec<RuleChange> {
        let Some(p95) = input.ttft_p95_ms else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let change = |rule, state, bound_ms| RuleChange {
            rule,
            state,
            ttft_p95_ms: p95,
            count: input.count,
            bound_ms,
            baseline_ms: input.baseline_ms,
        };
        let k = self.consecutive;
        if let Some(s) = self.absolute.step(p95 > self.threshold_ms, k) {
            out.push(change(AlertRule::TtftAbsolute, s, self.threshold_ms));
        }
        if let Some(base) = input.baseline_ms.filter(|b| *b > 0.0) {
            // Both a share and a floor in milliseconds: a 20 ms baseline
            // plus 50 % is 30 ms, within a busy machine's noise.
            let bound = (base * (1.0 + self.relative_pct / 100.0)).max(base + self.relative_min_ms);
            if let Some(s) = self.relative.step(p95 >= bound, k) {
                out.push(change(AlertRule::TtftRelative, s, bound));
            }
        }
        out
    }

    /// Whether `rule` fires now.
    pub fn firing(&self, rule: AlertRule) -> bool {
        match rule {
            AlertRule::TtftAbsolute => self.absolute.firing,
            AlertRule::TtftRelative => self.relative.firing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p95: f64) -> RuleInput {
        RuleInput {
            ttft_p95_ms: Some(p95),
            count: 10,
            baseline_ms: None,
        }
    }

    fn states(rules: &mut AlertRules, xs: &[Option<f64>]) -> Vec<Option<AlertState>> {
        xs.iter()
            .map(|x| {
                let input = RuleInput {
                    ttft_p95_ms: *x,
                    count: 1,
                    baseline_ms: None,
                };
                rules.judge(&input).first().map(|c| c.state)
            })
            .collect()
    }

    #[test]
    fn fires_after_k_bad_and_resolves_after_k_good_without_flapping() {
        let mut r = AlertRules::new(&AlertSettings::default());
        let (bad, good) = (Some(900.0), Some(100.0));
        use AlertState::*;
        let got = states(
            &mut r,
            &[
                bad, good, bad, bad, None, bad, good, good, bad, good, good, good,
            ],
        );
        assert_eq!(
            got,
            [
                None,
                None,
                None,
                None,
                None,
                Some(Firing),
                None,
                None,
                None,
                None,
                None,
                Some(Resolved)
            ]
        );
        assert!(!r.firing(AlertRule::TtftAbsolute));
    }

    #[test]
    fn the_threshold_itself_is_within_the_bound() {
        let mut r = AlertRules::new(&AlertSettings {
            consecutive: 1,
            ..Default::default()
        });
        assert!(r.judge(&at(800.0)).is_empty());
        assert_eq!(r.judge(&at(800.1))[0].state, AlertState::Firing);
    }

    #[test]
    fn relative_rule_needs_a_baseline_and_compares_with_it() {
        let mut r = AlertRules::new(&AlertSettings {
            consecutive: 1,
            ..Default::default()
        });
        assert!(
            r.judge(&at(400.0)).is_empty(),
            "no baseline, no relative rule"
        );
        let with = |p95| RuleInput {
            ttft_p95_ms: Some(p95),
            count: 5,
            baseline_ms: Some(200.0),
        };
        assert!(r.judge(&with(299.0)).is_empty());
        let c = r.judge(&with(300.0));
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].rule, c[0].state, c[0].bound_ms),
            (AlertRule::TtftRelative, AlertState::Firing, 300.0)
        );
        assert_eq!(c[0].baseline_ms, Some(200.0));
        let c = r.judge(&with(250.0));
        assert_eq!(c[0].state, AlertState::Resolved);
    }

    #[test]
    fn relative_rule_needs_its_floor_in_milliseconds_on_a_fast_agent() {
        let mut r = AlertRules::new(&AlertSettings {
            consecutive: 1,
            ..Default::default()
        });
        let with = |p95| RuleInput {
            ttft_p95_ms: Some(p95),
            count: 5,
            baseline_ms: Some(20.0),
        };
        // +50 % of 20 ms is 30 ms; the 100 ms floor makes the bound 120 ms.
        assert!(r.judge(&with(119.0)).is_empty());
        let c = r.judge(&with(120.0));
        assert_eq!(
            (c[0].rule, c[0].state, c[0].bound_ms),
            (AlertRule::TtftRelative, AlertState::Firing, 120.0)
        );
    }
}
