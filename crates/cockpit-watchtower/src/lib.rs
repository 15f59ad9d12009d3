//! The adversarial watchtower: canary-leak probing of the agents a
//! configuration names. The user puts a canary string in an agent's system
//! prompt and names it in `[[agents]] canary = "${CANARY}"`; the watchtower
//! sends the attempts of its corpus (`corpus/attempts.toml`: our own
//! prompt-injection and system-prompt-extraction attempts, each with an id
//! and its OWASP Top 10 for LLM Applications category) and detects a leak
//! by an exact match of the canary in the answer — no model judging.
//!
//! - WTC-LEAK: fails naming the attempts that leaked.
//!
//! ```
//! use cockpit_core::Status;
//! let attempts = cockpit_watchtower::attempts().unwrap();
//! assert!(attempts.iter().any(|a| a.category == "LLM07"));
//! assert_eq!(cockpit_watchtower::canary_tag("CANARY-7f3a9c21").len(), 19);
//! ```
//!
//! # What it never does
//!
//! It never probes an agent without a canary (only targets named in the
//! configuration), never sends more than `max_attempts` attempts (at most
//! 100) to one agent nor faster than one per `interval_ms`, never sends
//! without the per-request bound, reads at most `max_answer_bytes` of an
//! answer, and never prints. It never shows a canary — findings and
//! snapshots carry its [`canary_tag`] (a SHA-256 prefix) — nor an answer's
//! text. It cannot see a leak that does not keep the canary verbatim (an
//! encoded or paraphrased copy): a pass means "not leaked verbatim to these
//! attempts", no more.

pub mod checks;
mod config;
mod corpus;
mod error;
mod watch;

use cockpit_core::AuditOutcome;
use cockpit_core::fleet::AgentProtocol;
use tokio_util::sync::CancellationToken;

pub use config::{MIN_CANARY_CHARS, WatchtowerConfig, WatchtowerSettings, validate_canary};
pub use corpus::{Attempt, CATEGORIES, attempts};
pub use error::WatchtowerError;
pub use watch::{AttemptOutcome, Outcome, WatchSnapshot, canary_tag, watch};

/// Watch every agent with a canary, one after the other: the snapshots a
/// dashboard's feed reads.
pub async fn measure_all(
    cfg: &WatchtowerConfig,
    cancel: &CancellationToken,
) -> Result<Vec<WatchSnapshot>, WatchtowerError> {
    cfg.validate()?;
    let corpus = attempts()?;
    let tls = cfg.tls();
    let mut out = Vec::new();
    for agent in cfg.watched() {
        let mut snap = WatchSnapshot::new(agent);
        if agent.protocol != AgentProtocol::Openai {
            snap.not_watched = Some(
                "the watchtower speaks the OpenAI streaming protocol; this agent is not `openai`"
                    .into(),
            );
        } else if cancel.is_cancelled() {
            snap.interrupted = true;
            snap.not_watched = Some("the audit was interrupted before it was measured".into());
        } else {
            let base = cockpit_probe::checks::agent_options(agent, &cfg.probe, &tls, cancel);
            snap = watch(agent, &corpus, &base, &cfg.settings, cancel).await;
        }
        out.push(snap);
    }
    Ok(out)
}

/// WTC-LEAK over every watched agent.
#[tracing::instrument(name = "watchtower_audit", skip_all)]
pub async fn audit(
    cfg: &WatchtowerConfig,
    cancel: &CancellationToken,
) -> Result<AuditOutcome, WatchtowerError> {
    let snaps = measure_all(cfg, cancel).await?;
    let mut out = judge(&snaps);
    out.interrupted |= cancel.is_cancelled();
    Ok(out)
}

/// The findings of the snapshots (pure): one subject per watched agent,
/// reached when an attempt was answered.
pub fn judge(snaps: &[WatchSnapshot]) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    for s in snaps {
        out.count_subject(
            s.with(Outcome::Held)
                .chain(s.with(Outcome::Leaked))
                .next()
                .is_some(),
        );
        out.interrupted |= s.interrupted;
        out.findings.push(checks::wtc_leak::evaluate(s));
    }
    out
}
