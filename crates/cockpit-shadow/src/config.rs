//! `[shadow]`: how a shadow comparison samples and judges. Plain data with
//! its own `validate()`; unknown keys are rejected, so a typo is an error
//! the caller locates in its file.

use std::time::Duration;

use cockpit_core::fleet::AgentConfig;
use cockpit_probe::{ProbeSettings, TlsOptions};
use serde::Deserialize;

use crate::ShadowError;

/// The prompts sent when `[shadow] prompts` is not given, in this order
/// (cycled when `samples` is larger).
pub const DEFAULT_PROMPTS: [&str; 8] = [
    "Summarise the deployment checklist in three points.",
    "What is a readiness probe for?",
    "Explain time to first token in one sentence.",
    "List three causes of tail latency in a retrieval pipeline.",
    "Why keep session memory outside the pod?",
    "Give one reason to pin an agent and its vector store to one zone.",
    "What does a circuit breaker protect?",
    "Name two signals that a model server is overloaded.",
];

/// Fewest successful answers per side for a latency verdict.
pub const MIN_SAMPLES: usize = 8;

/// `[shadow]` in `cockpit.toml`; also what `agentops-cockpit shadow` builds
/// from its flags.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShadowSettings {
    /// Prompts sent to each deployment (1–1000).
    pub samples: u32,
    /// Send each prompt to both deployments at once (`--mirror`) rather
    /// than one after the other.
    pub mirror: bool,
    /// The prompts, cycled in order; [`DEFAULT_PROMPTS`] when empty.
    pub prompts: Vec<String>,
    /// `max_tokens` sent with each request.
    pub max_tokens: Option<u32>,
    /// The bound on each request, end to end, in ms.
    pub timeout_ms: u64,
    /// Significance level of the tests (0 < alpha < 0.5).
    pub alpha: f64,
    /// Bootstrap resamples (100–100000).
    pub resamples: u32,
    /// Seed of the bootstrap's resampling.
    pub seed: u64,
    /// SHD-TTFT fails when v2's TTFT p50 (or p95) is slower than v1's by
    /// more than this percentage, significantly.
    pub ttft_regression_pct: f64,
    /// SHD-AGREEMENT warns when the mean token similarity falls below this
    /// (0–1); without it the agreement is reported, never judged.
    pub min_similarity: Option<f64>,
    /// The longest answer kept for the agreement, in bytes.
    pub max_answer_bytes: usize,
}

impl Default for ShadowSettings {
    fn default() -> Self {
        ShadowSettings {
            samples: 30,
            mirror: false,
            prompts: Vec::new(),
            max_tokens: None,
            timeout_ms: 30_000,
            alpha: 0.05,
            resamples: 2000,
            seed: 1,
            ttft_regression_pct: 10.0,
            min_similarity: None,
            max_answer_bytes: 64 * 1024,
        }
    }
}

impl ShadowSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The `i`-th prompt sent (0-based), cycling through the list.
    pub fn prompt(&self, i: usize) -> &str {
        if self.prompts.is_empty() {
            DEFAULT_PROMPTS[i % DEFAULT_PROMPTS.len()]
        } else {
            &self.prompts[i % self.prompts.len()]
        }
    }

    /// Every setting in its range.
    pub fn validate(&self) -> Result<(), ShadowError> {
        let fail = |key, message: String| Err(ShadowError::Config { key, message });
        if !(1..=1000).contains(&self.samples) {
            return fail("samples", format!("{} is not within 1–1000", self.samples));
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            return fail(
                "timeout_ms",
                format!("{} is not within 1–600000", self.timeout_ms),
            );
        }
        if !(self.alpha > 0.0 && self.alpha < 0.5) {
            return fail("alpha", format!("{} is not within (0, 0.5)", self.alpha));
        }
        if !(100..=100_000).contains(&self.resamples) {
            return fail(
                "resamples",
                format!("{} is not within 100–100000", self.resamples),
            );
        }
        if !(self.ttft_regression_pct.is_finite() && self.ttft_regression_pct >= 0.0) {
            return fail(
                "ttft_regression_pct",
                format!("{} is not a number ≥ 0", self.ttft_regression_pct),
            );
        }
        if let Some(m) = self.min_similarity
            && !(0.0..=1.0).contains(&m)
        {
            return fail("min_similarity", format!("{m} is not within 0–1"));
        }
        if !(1..=1 << 20).contains(&self.max_answer_bytes) {
            return fail(
                "max_answer_bytes",
                format!("{} is not within 1–1048576", self.max_answer_bytes),
            );
        }
        if let Some(i) = self.prompts.iter().position(|p| p.trim().is_empty()) {
            return fail("prompts", format!("prompt #{} is empty", i + 1));
        }
        Ok(())
    }
}

/// What [`crate::audit`] compares: every agent with a `shadow_endpoint`,
/// how to probe them (`[probe]`'s TLS settings) and the `[shadow]` settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShadowConfig {
    pub agents: Vec<AgentConfig>,
    pub probe: ProbeSettings,
    pub settings: ShadowSettings,
}

impl ShadowConfig {
    pub fn new(agents: Vec<AgentConfig>, probe: ProbeSettings, settings: ShadowSettings) -> Self {
        ShadowConfig {
            agents,
            probe,
            settings,
        }
    }

    /// The agents that declare a shadow.
    pub fn shadowed(&self) -> impl Iterator<Item = &AgentConfig> {
        self.agents.iter().filter(|a| a.shadow_endpoint.is_some())
    }

    pub(crate) fn tls(&self) -> TlsOptions {
        TlsOptions {
            ca_file: self.probe.ca_file.clone(),
            insecure_skip_verify: !self.probe.tls_verify,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_ranges_are_named() {
        assert!(ShadowSettings::default().validate().is_ok());
        for (edit, key) in [
            (
                (|s: &mut ShadowSettings| s.samples = 0) as fn(&mut ShadowSettings),
                "samples",
            ),
            (|s| s.alpha = 0.7, "alpha"),
            (|s| s.resamples = 5, "resamples"),
            (|s| s.ttft_regression_pct = f64::NAN, "ttft_regression_pct"),
            (|s| s.min_similarity = Some(1.5), "min_similarity"),
            (|s| s.prompts = vec!["ok".into(), " ".into()], "prompts"),
            (|s| s.timeout_ms = 0, "timeout_ms"),
        ] {
            let mut s = ShadowSettings::default();
            edit(&mut s);
            let e = s.validate().unwrap_err();
            assert!(
                matches!(e, ShadowError::Config { key: k, .. } if k == key),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_and_prompts_cycle() {
        assert!(toml::from_str::<ShadowSettings>("sample = 3").is_err());
        let s: ShadowSettings = toml::from_str("samples = 3\nprompts = [\"a\", \"b\"]").unwrap();
        assert_eq!((s.prompt(0), s.prompt(1), s.prompt(2)), ("a", "b", "a"));
        assert_eq!(ShadowSettings::default().prompt(9), DEFAULT_PROMPTS[1]);
    }
}
