//! `[[cache]]`: the caches the agents declare, what their counters are
//! called, and how they are probed. Plain data with its own `validate()`;
//! unknown keys are rejected.

use std::time::Duration;

use cockpit_core::fleet::{AgentConfig, AgentProtocol};
use cockpit_probe::ProbeSettings;
use serde::{Deserialize, Serialize};

use crate::HiveError;

/// Which cache an entry declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CacheKind {
    /// Answers prompts that mean the same as one seen before (probed with
    /// the prompt, its repeat and a paraphrase).
    #[default]
    Semantic,
    /// Reuses the computation of a prompt prefix seen before (probed with
    /// a fresh system prompt, then the same request again).
    Prefix,
}

impl CacheKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::Semantic => "semantic",
            CacheKind::Prefix => "prefix",
        }
    }
}

/// The longest `prompt` / `paraphrase` accepted, in bytes.
pub const MAX_PROMPT_BYTES: usize = 4096;
/// The most probe rounds per cache.
pub const MAX_ROUNDS: u32 = 20;

/// One `[[cache]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The `[[agents]]` entry (an `openai` agent) the cache sits in front of.
    pub agent: String,
    #[serde(default)]
    pub kind: CacheKind,
    /// The Prometheus endpoint exporting the counters; default: the
    /// agent's `metrics_url`.
    #[serde(default)]
    pub metrics_url: Option<String>,
    /// Counter of lookups answered from the cache (summed over its series).
    #[serde(default)]
    pub hits_metric: Option<String>,
    /// Counter of lookups the cache did not hold.
    #[serde(default)]
    pub misses_metric: Option<String>,
    /// Counter of tokens served from the cache (for the cost avoided).
    #[serde(default)]
    pub tokens_metric: Option<String>,
    /// The price of 1000 tokens the cache saves, in the user's currency.
    #[serde(default)]
    pub price_per_1k_tokens: Option<f64>,
    /// Probe the cache (`false`: counters only).
    #[serde(default = "yes")]
    pub probe: bool,
    /// The prompt sent, then sent again; a fresh reference is appended each
    /// round so its first send cannot have been cached by an earlier run.
    #[serde(default = "default_prompt")]
    pub prompt: String,
    /// The same question in other words (semantic caches).
    #[serde(default = "default_paraphrase")]
    pub paraphrase: String,
    /// The response header saying whether the cache answered (a value
    /// holding `hit`, any case, is a hit).
    #[serde(default = "default_hit_header")]
    pub hit_header: String,
    /// Rounds of cold / repeat (/ paraphrase) requests (1–20).
    #[serde(default = "default_rounds")]
    pub rounds: u32,
}

fn yes() -> bool {
    true
}
fn default_prompt() -> String {
    "What is the capital of France?".into()
}
fn default_paraphrase() -> String {
    "Tell me France's capital city.".into()
}
fn default_hit_header() -> String {
    "x-cache".into()
}
fn default_rounds() -> u32 {
    3
}

impl CacheConfig {
    /// A semantic cache of `agent` with every default.
    pub fn new(agent: impl Into<String>) -> Self {
        CacheConfig {
            agent: agent.into(),
            kind: CacheKind::default(),
            metrics_url: None,
            hits_metric: None,
            misses_metric: None,
            tokens_metric: None,
            price_per_1k_tokens: None,
            probe: true,
            prompt: default_prompt(),
            paraphrase: default_paraphrase(),
            hit_header: default_hit_header(),
            rounds: default_rounds(),
        }
    }

    /// Whether the counters are declared (and HIV-RATE judges them).
    pub fn scraped(&self) -> bool {
        self.hits_metric.is_some()
    }

    fn validate(&self, agents: &[AgentConfig]) -> Result<(), HiveError> {
        let fail = |key, message: String| {
            Err(HiveError::Config {
                agent: self.agent.clone(),
                key,
                message,
            })
        };
        let Some(agent) = agents.iter().find(|a| a.name == self.agent) else {
            return fail("agent", "names no [[agents]] entry".into());
        };
        if self.probe && agent.protocol != AgentProtocol::Openai {
            return fail(
                "probe",
                "the cache probe speaks the OpenAI streaming protocol; the agent is not `openai` (set probe = false)".into(),
            );
        }
        if self.hits_metric.is_some() != self.misses_metric.is_some() {
            return fail(
                "hits_metric",
                "hits_metric and misses_metric go together".into(),
            );
        }
        if self.tokens_metric.is_some() && !self.scraped() {
            return fail(
                "tokens_metric",
                "needs hits_metric and misses_metric".into(),
            );
        }
        if self.scraped() && self.metrics_url.is_none() && agent.metrics_url.is_none() {
            return fail(
                "metrics_url",
                "the counters need a metrics_url (here or on the agent)".into(),
            );
        }
        if let Some(p) = self.price_per_1k_tokens
            && !(p.is_finite() && p >= 0.0)
        {
            return fail("price_per_1k_tokens", format!("{p} is not a price"));
        }
        if self.price_per_1k_tokens.is_some() && self.tokens_metric.is_none() {
            return fail(
                "price_per_1k_tokens",
                "needs tokens_metric (the tokens served from the cache)".into(),
            );
        }
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            return fail(
                "rounds",
                format!("{} is not within 1–{MAX_ROUNDS}", self.rounds),
            );
        }
        for (key, text) in [("prompt", &self.prompt), ("paraphrase", &self.paraphrase)] {
            if text.trim().is_empty() || text.len() > MAX_PROMPT_BYTES {
                return fail(key, format!("must have 1–{MAX_PROMPT_BYTES} bytes"));
            }
        }
        if self.hit_header.parse::<http::HeaderName>().is_err() {
            return fail(
                "hit_header",
                format!("{:?} is not a header name", self.hit_header),
            );
        }
        Ok(())
    }
}

/// What [`crate::audit`] measures: the `[[cache]]` entries, the agents they
/// name, and `[probe]`'s timeout and TLS settings.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct HiveConfig {
    pub caches: Vec<CacheConfig>,
    pub agents: Vec<AgentConfig>,
    pub probe: ProbeSettings,
}

impl HiveConfig {
    pub fn new(caches: Vec<CacheConfig>, agents: Vec<AgentConfig>, probe: ProbeSettings) -> Self {
        HiveConfig {
            caches,
            agents,
            probe,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.caches.is_empty()
    }

    /// Every entry: a known agent, counters declared in pairs, values in range.
    pub fn validate(&self) -> Result<(), HiveError> {
        self.caches
            .iter()
            .try_for_each(|c| c.validate(&self.agents))
    }

    /// The agent a cache names (after [`validate`](Self::validate)).
    pub fn agent_of(&self, c: &CacheConfig) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| a.name == c.agent)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.probe.timeout()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(protocol: &str, metrics: Option<&str>) -> AgentConfig {
        let mut a: AgentConfig = toml::from_str(&format!(
            "name = \"chat\"\nendpoint = \"http://127.0.0.1:1/v1/chat/completions\"\nprotocol = \"{protocol}\""
        ))
        .unwrap();
        a.metrics_url = metrics.map(str::to_string);
        a
    }

    fn check(c: CacheConfig, a: AgentConfig) -> Result<(), String> {
        HiveConfig::new(vec![c], vec![a], ProbeSettings::default())
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn entries_are_checked_and_errors_name_the_key() {
        let ok = agent("openai", Some("http://127.0.0.1:1/metrics"));
        assert!(check(CacheConfig::new("chat"), ok.clone()).is_ok());
        let e = check(CacheConfig::new("other"), ok.clone()).unwrap_err();
        assert!(e.contains("`other`: agent: names no"), "{e}");
        let e = check(CacheConfig::new("chat"), agent("grpc", None)).unwrap_err();
        assert!(e.contains(": probe:"), "{e}");
        let mut c = CacheConfig::new("chat");
        c.hits_metric = Some("h".into());
        assert!(
            check(c.clone(), ok.clone())
                .unwrap_err()
                .contains("go together")
        );
        c.misses_metric = Some("m".into());
        assert!(check(c.clone(), ok.clone()).is_ok());
        let e = check(c.clone(), agent("openai", None)).unwrap_err();
        assert!(e.contains("metrics_url"), "{e}");
        c.price_per_1k_tokens = Some(0.5);
        assert!(
            check(c.clone(), ok.clone())
                .unwrap_err()
                .contains("needs tokens_metric")
        );
        c.tokens_metric = Some("t".into());
        c.price_per_1k_tokens = Some(f64::NAN);
        assert!(
            check(c.clone(), ok.clone())
                .unwrap_err()
                .contains("not a price")
        );
        let mut c = CacheConfig::new("chat");
        c.rounds = 0;
        assert!(check(c, ok.clone()).unwrap_err().contains("rounds"));
        let mut c = CacheConfig::new("chat");
        c.hit_header = "bad header".into();
        assert!(check(c, ok).unwrap_err().contains("hit_header"));
    }

    #[test]
    fn unknown_keys_are_rejected_and_defaults_fill_in() {
        let c: CacheConfig = toml::from_str("agent = \"chat\"").unwrap();
        assert_eq!((c.kind, c.rounds, c.probe), (CacheKind::Semantic, 3, true));
        assert!(toml::from_str::<CacheConfig>("agent = \"a\"\nhit_rate = 1").is_err());
    }
}
