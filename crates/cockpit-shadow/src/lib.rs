//! Shadow mode: an agent's production deployment (v1) and a candidate (v2)
//! sent the same prompts in the same order, and measured side by side —
//! time to first token, inter-token latency, end-to-end time, output tokens
//! per second, output length, errors — with the difference and its
//! uncertainty: a bootstrap confidence interval of the p50 and p95
//! differences and a Mann–Whitney U test. A difference the data do not
//! support is reported as "no difference detected at n = …", never as a
//! regression. The answers' agreement (the share identical, a token-level
//! similarity) is reported as a measured fact.
//!
//! - SHD-TTFT: v2 slower to its first token than v1, beyond
//!   `ttft_regression_pct` and significantly, fails.
//! - SHD-ERRORS: v2 failing more requests than v1, significantly
//!   (Fisher's exact test), fails.
//! - SHD-AGREEMENT: identical answers and token similarity; warns below
//!   `min_similarity` only when that is set.
//!
//! The requests are made by cockpit-probe's OpenAI streaming probe (one
//! request per call; the answer's text kept under a byte bound): the same
//! client, the same clocks and the same bounds as every other TTFT in a
//! report.
//!
//! The pure half is a function from answers to findings:
//!
//! ```
//! use cockpit_core::Status;
//! use cockpit_shadow::{Answer, Exchanges, ShadowComparison, ShadowSettings, checks};
//!
//! let answer = |ttft: f64| Answer::measured(ttft, "tok0 tok1");
//! let mut e = Exchanges::default();
//! for i in 0..20 {
//!     e.v1.push(answer(150.0 + (i % 5) as f64));
//!     e.v2.push(answer(400.0 + (i % 3) as f64));
//! }
//! let s = ShadowSettings::default();
//! let c = ShadowComparison::new("chat", "http://v1/v1", "http://v2/v1", &e, &s);
//! assert_eq!(checks::shd_ttft::evaluate(&c, &s).status, Status::Fail);
//! assert_eq!(c.agreement.identical, 20);
//! ```
//!
//! # What it never does
//!
//! It never compares more than `samples` prompts (at most 1000) a side,
//! never sends a request without the per-request bound (`timeout_ms`),
//! keeps at most `max_answer_bytes` of an answer, and never prints. It
//! never changes the production agent's own findings: its findings carry
//! their own check ids, and the Network audit no longer probes
//! `shadow_endpoint`. It never shows a URL's credentials, and never shows
//! an answer's text (only the agreement figures). Its statistics are
//! deterministic: the bootstrap is seeded (`seed`) with a generator of its
//! own, so the same answers give the same intervals on every platform.

pub mod checks;
pub mod compare;
mod config;
mod error;
pub mod measure;
pub mod stats;

use cockpit_core::AuditOutcome;
use cockpit_core::fleet::AgentProtocol;
use tokio_util::sync::CancellationToken;

pub use compare::{Agreement, ErrorComparison, MetricComparison, ShadowComparison, Verdict};
pub use config::{DEFAULT_PROMPTS, MIN_SAMPLES, ShadowConfig, ShadowSettings};
pub use error::ShadowError;
pub use measure::{Answer, Exchanges, exchange};

use checks::{shd_agreement, shd_errors, shd_ttft};

/// One agent's shadow: what was compared, or why it could not be.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ShadowOutcome {
    Compared(Box<ShadowComparison>),
    /// Not compared (a protocol other than openai, a URL the probe
    /// refuses): the agent, the candidate's URL and why.
    NotCompared {
        agent: String,
        v2: String,
        why: String,
    },
}

/// Compare two deployments: `exchange`, then [`ShadowComparison::new`].
/// `base` carries the model, headers, TLS settings and cancel token.
pub async fn compare(
    agent: &str,
    v1: &str,
    v2: &str,
    base: &cockpit_probe::ProbeOptions,
    settings: &ShadowSettings,
) -> Result<ShadowComparison, ShadowError> {
    settings.validate()?;
    let e = exchange(v1, v2, base, settings, &base.cancel).await?;
    Ok(ShadowComparison::new(agent, v1, v2, &e, settings))
}

/// Compare every agent that declares a `shadow_endpoint`, one after the
/// other: the snapshots a dashboard panel reads.
pub async fn measure_all(cfg: &ShadowConfig, cancel: &CancellationToken) -> Vec<ShadowOutcome> {
    let tls = cfg.tls();
    let mut out = Vec::new();
    for agent in cfg.shadowed() {
        let v2 = agent.shadow_endpoint.as_deref().unwrap_or_default();
        let not = |why: String| ShadowOutcome::NotCompared {
            agent: agent.name.clone(),
            v2: cockpit_core::redact_url(v2),
            why,
        };
        if agent.protocol != AgentProtocol::Openai {
            out.push(not(
                "shadow comparisons speak the OpenAI streaming protocol; this agent is not `openai`"
                    .into(),
            ));
            continue;
        }
        if cancel.is_cancelled() {
            out.push(not(
                "the audit was interrupted before it was measured".into()
            ));
            continue;
        }
        let base = cockpit_probe::checks::agent_options(agent, &cfg.probe, &tls, cancel);
        match compare(&agent.name, &agent.endpoint, v2, &base, &cfg.settings).await {
            Ok(c) => out.push(ShadowOutcome::Compared(Box::new(c))),
            Err(e) => out.push(not(e.to_string())),
        }
    }
    out
}

/// Every shadow check over every shadowed agent.
#[tracing::instrument(name = "shadow_audit", skip_all)]
pub async fn audit(cfg: &ShadowConfig, cancel: &CancellationToken) -> AuditOutcome {
    let snapshots = measure_all(cfg, cancel).await;
    let mut out = judge(&cfg.settings, &snapshots);
    out.interrupted |= cancel.is_cancelled();
    out
}

/// The findings of the snapshots (pure): one subject per shadowed agent
/// (its candidate), reached when a request to it ended.
pub fn judge(settings: &ShadowSettings, snapshots: &[ShadowOutcome]) -> AuditOutcome {
    let mut out = AuditOutcome::default();
    for s in snapshots {
        match s {
            ShadowOutcome::Compared(c) => {
                out.count_subject(c.errors.v2_requests > c.errors.v2_failed);
                out.interrupted |= c.interrupted;
                out.findings.push(shd_ttft::evaluate(c, settings));
                out.findings.push(shd_errors::evaluate(c, settings));
                out.findings.push(shd_agreement::evaluate(c, settings));
            }
            ShadowOutcome::NotCompared { agent, v2, why } => {
                out.count_subject(false);
                for spec in checks::ALL {
                    out.findings
                        .push(checks::not_measured(spec, agent, v2, why));
                }
            }
        }
    }
    out
}
