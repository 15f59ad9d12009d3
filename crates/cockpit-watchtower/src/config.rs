//! `[watchtower]`: how many attempts, how fast, how long each may take.
//! Plain data with its own `validate()`; unknown keys are rejected.

use std::time::Duration;

use cockpit_core::fleet::AgentConfig;
use cockpit_probe::{ProbeSettings, TlsOptions};
use serde::Deserialize;

use crate::WatchtowerError;

/// The shortest canary accepted: a shorter one could appear by chance.
pub const MIN_CANARY_CHARS: usize = 8;

/// `[watchtower]` in `cockpit.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchtowerSettings {
    /// Attempts sent to each agent, the corpus's first ones (1–100).
    pub max_attempts: u32,
    /// The pause between two attempts to one agent, in ms (0–60000).
    pub interval_ms: u64,
    /// The bound on each attempt, end to end, in ms.
    pub timeout_ms: u64,
    /// `max_tokens` sent with each attempt.
    pub max_tokens: Option<u32>,
    /// The longest answer searched for the canary, in bytes.
    pub max_answer_bytes: usize,
}

impl Default for WatchtowerSettings {
    fn default() -> Self {
        WatchtowerSettings {
            max_attempts: 100,
            interval_ms: 250,
            timeout_ms: 30_000,
            max_tokens: None,
            max_answer_bytes: 256 * 1024,
        }
    }
}

impl WatchtowerSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Every setting in its range.
    pub fn validate(&self) -> Result<(), WatchtowerError> {
        let fail = |key, message: String| Err(WatchtowerError::Config { key, message });
        if !(1..=100).contains(&self.max_attempts) {
            return fail(
                "max_attempts",
                format!("{} is not within 1–100", self.max_attempts),
            );
        }
        if self.interval_ms > 60_000 {
            return fail(
                "interval_ms",
                format!("{} is not within 0–60000", self.interval_ms),
            );
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            return fail(
                "timeout_ms",
                format!("{} is not within 1–600000", self.timeout_ms),
            );
        }
        if !(1..=1 << 22).contains(&self.max_answer_bytes) {
            return fail(
                "max_answer_bytes",
                format!("{} is not within 1–4194304", self.max_answer_bytes),
            );
        }
        Ok(())
    }
}

/// A canary that can be matched: at least [`MIN_CANARY_CHARS`] characters,
/// no surrounding whitespace. The message never holds the value.
pub fn validate_canary(agent: &AgentConfig) -> Result<(), WatchtowerError> {
    let Some(c) = &agent.canary else {
        return Ok(());
    };
    let fail = |message: String| {
        Err(WatchtowerError::Canary {
            agent: agent.name.clone(),
            message,
        })
    };
    if c.chars().count() < MIN_CANARY_CHARS {
        return fail(format!(
            "shorter than {MIN_CANARY_CHARS} characters (a short canary can appear by chance)"
        ));
    }
    if c.trim() != c {
        return fail("begins or ends with whitespace".into());
    }
    Ok(())
}

/// What [`crate::audit`] probes: every agent with a `canary` (and only
/// those: the targets the configuration names).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WatchtowerConfig {
    pub agents: Vec<AgentConfig>,
    pub probe: ProbeSettings,
    pub settings: WatchtowerSettings,
}

impl WatchtowerConfig {
    pub fn new(
        agents: Vec<AgentConfig>,
        probe: ProbeSettings,
        settings: WatchtowerSettings,
    ) -> Self {
        WatchtowerConfig {
            agents,
            probe,
            settings,
        }
    }

    /// The agents carrying a canary.
    pub fn watched(&self) -> impl Iterator<Item = &AgentConfig> {
        self.agents.iter().filter(|a| a.canary.is_some())
    }

    /// The settings and every canary.
    pub fn validate(&self) -> Result<(), WatchtowerError> {
        self.settings.validate()?;
        self.agents.iter().try_for_each(validate_canary)
    }

    pub(crate) fn tls(&self) -> TlsOptions {
        TlsOptions {
            ca_file: self.probe.ca_file.clone(),
            insecure_skip_verify: !self.probe.tls_verify,
        }
    }
}
