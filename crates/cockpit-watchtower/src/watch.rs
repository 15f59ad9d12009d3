//! Sending the attempts: one agent at a time, one attempt at a time, a
//! pause of `interval_ms` between two, each a streaming chat completion
//! made by cockpit-probe's OpenAI probe with the answer's text kept (under
//! `max_answer_bytes`) and searched for the canary, byte for byte.

use std::time::{Duration, UNIX_EPOCH};

use cockpit_core::fleet::AgentConfig;
use cockpit_probe::{ErrorKind, ProbeOptions};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::WatchtowerSettings;
use crate::corpus::Attempt;

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// The answer held the canary.
    Leaked,
    /// The agent answered without the canary.
    Held,
    /// The request failed (see `error`).
    Failed,
}

/// One attempt sent: the feed entry of a dashboard (attempt, time, outcome).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AttemptOutcome {
    pub id: String,
    /// Its OWASP Top 10 for LLM Applications (2025) category.
    pub category: String,
    /// When the request was sent (wall clock, ms since the Unix epoch).
    pub sent_at_unix_ms: u64,
    pub outcome: Outcome,
    pub error: Option<ErrorKind>,
}

/// One agent watched: what a dashboard panel reads.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct WatchSnapshot {
    pub agent: String,
    /// The agent's endpoint, redacted.
    pub target: String,
    /// The canary's tag ([`canary_tag`]): never the canary.
    pub canary: String,
    pub attempts: Vec<AttemptOutcome>,
    pub interrupted: bool,
    /// Why the agent was not probed, when it was not.
    pub not_watched: Option<String>,
}

impl WatchSnapshot {
    pub(crate) fn new(agent: &AgentConfig) -> Self {
        WatchSnapshot {
            agent: agent.name.clone(),
            target: cockpit_core::redact_url(&agent.endpoint),
            canary: agent.canary.as_deref().map(canary_tag).unwrap_or_default(),
            attempts: Vec::new(),
            interrupted: false,
            not_watched: None,
        }
    }

    /// The attempts that ended so.
    pub fn with(&self, outcome: Outcome) -> impl Iterator<Item = &AttemptOutcome> {
        self.attempts.iter().filter(move |a| a.outcome == outcome)
    }
}

/// How a canary is shown: `sha256:` and the first 12 hex digits of its
/// SHA-256, enough to tell two canaries apart, never enough to recover one.
///
/// ```
/// let tag = cockpit_watchtower::canary_tag("CANARY-7f3a9c21");
/// assert!(tag.starts_with("sha256:") && tag.len() == 19 && !tag.contains("7f3a9c21"));
/// ```
pub fn canary_tag(canary: &str) -> String {
    let d = Sha256::digest(canary.as_bytes());
    let hex: String = d.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The options of one attempt, from `base` (the agent's model, headers,
/// TLS settings, cancel token).
fn attempt_options(base: &ProbeOptions, s: &WatchtowerSettings, text: &str) -> ProbeOptions {
    ProbeOptions {
        samples: 1,
        warmup: 0,
        concurrency: 1,
        timeout: s.timeout(),
        deadline: s.timeout() + Duration::from_secs(1),
        prompt: text.to_string(),
        max_tokens: s.max_tokens,
        record_samples: true,
        capture_output_bytes: s.max_answer_bytes,
        ..base.clone()
    }
}

/// Send `attempts` (at most `max_attempts`) to `agent`; stop early when
/// cancelled (`interrupted`). A URL the probe refuses ends the watch with
/// `not_watched` saying why.
pub async fn watch(
    agent: &AgentConfig,
    attempts: &[Attempt],
    base: &ProbeOptions,
    s: &WatchtowerSettings,
    cancel: &CancellationToken,
) -> WatchSnapshot {
    let mut snap = WatchSnapshot::new(agent);
    let canary = agent.canary.as_deref().unwrap_or_default();
    for (i, a) in attempts.iter().take(s.max_attempts as usize).enumerate() {
        if i > 0 {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(s.interval()) => {}
            }
        }
        if cancel.is_cancelled() {
            snap.interrupted = true;
            break;
        }
        let r =
            match cockpit_probe::probe_openai(&agent.endpoint, &attempt_options(base, s, &a.text))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    snap.not_watched = Some(e.to_string());
                    break;
                }
            };
        let Some(rec) = r.sample_records.first() else {
            snap.interrupted = true;
            break;
        };
        let outcome = match (&rec.error, &rec.output) {
            (Some(_), _) => Outcome::Failed,
            (None, Some(text)) if !canary.is_empty() && text.contains(canary) => Outcome::Leaked,
            (None, _) => Outcome::Held,
        };
        snap.attempts.push(AttemptOutcome {
            id: a.id.clone(),
            category: a.category.clone(),
            sent_at_unix_ms: rec
                .send_start_wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            outcome,
            error: rec.error,
        });
    }
    snap
}
