//! FLT-SLOW, "Slow Reasoning": the evidence-lake record of a Latency
//! Regression alert firing or resolving (docs/checks/FLT-SLOW.md).

use cockpit_core::{
    CheckId, CheckSpec, Finding, Location, Measurement, Pillar, Severity, Status, Unit,
};

use crate::{AlertEvent, AlertState};

pub const FLT_SLOW: CheckSpec = CheckSpec {
    id: CheckId::new("FLT-SLOW"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "Slow Reasoning (Latency Regression alert)",
};

/// Every check this crate can produce.
pub const ALL: [&CheckSpec; 1] = [&FLT_SLOW];

/// The record of one alert state change: `warn` while it fires, `pass`
/// when it resolves, with the window's TTFT p95, the rule's bound and the
/// baseline (relative rule), each with the window's sample count.
pub fn slow_reasoning(ev: &AlertEvent, endpoint: &str) -> Finding {
    let window = humantime::format_duration(ev.window);
    let method = format!(
        "client-side time to first token, p95 over the monitor's rolling window of {window} \
         (per-interval HDR histograms merged exactly), rule `{}` decided over {} consecutive intervals",
        ev.rule.as_str(),
        ev.consecutive
    );
    let status = match ev.state {
        AlertState::Firing => Status::Warn,
        _ => Status::Pass,
    };
    let mut f = FLT_SLOW
        .finding(status, ev.message.clone())
        .with_subject(ev.agent.clone())
        .with_location(Location::endpoint(endpoint))
        .with_measurement(Measurement::new(
            "ttft_p95",
            ev.ttft_p95_ms,
            Unit::Milliseconds,
            method.clone(),
            ev.count,
        ))
        .with_measurement(Measurement::new(
            "ttft_p95_bound",
            ev.bound_ms,
            Unit::Milliseconds,
            format!("the bound of rule `{}`", ev.rule.as_str()),
            ev.count,
        ));
    if let Some(b) = ev.baseline_ms {
        f = f.with_measurement(Measurement::new(
            "ttft_p95_baseline",
            b,
            Unit::Milliseconds,
            "the agent's baseline TTFT p95 (a passing certification, else the monitor's first hour)",
            ev.count,
        ));
    }
    if ev.state == AlertState::Firing {
        f = f.with_recommendation(
            "Look at what changed on this agent (deploy, load, a cold replica, a slower retrieval hop); keep warm replicas and put the model beside its retrieval.",
        );
    }
    f
}
