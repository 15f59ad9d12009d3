//! STA-EXTERNAL: session memory lives outside the pod.

use cockpit_core::{CheckId, CheckSpec, Finding, Location, Pillar, Severity, Status};

use cockpit_core::fleet::SessionStore;

use crate::DeclaredStm;

pub const STA_EXTERNAL: CheckSpec = CheckSpec {
    id: CheckId::new("STA-EXTERNAL"),
    pillar: Pillar::State,
    severity: Severity::Critical,
    title: "Session memory outside the pod",
};

/// One finding per agent that declares where its session memory lives.
/// `store` is the redacted URL of the audited Redis, when one is configured.
pub fn evaluate(agents: &[DeclaredStm], store: Option<&str>) -> Vec<Finding> {
    agents
        .iter()
        .map(|a| {
            let base = |status, summary: String| {
                STA_EXTERNAL
                    .finding(status, summary)
                    .with_subject(&a.agent)
                    .with_location(Location::Config {
                        entry: format!("agents.{}.stm", a.agent),
                    })
            };
            // An external store (Redis today): durable when [stm] audits it.
            match (a.backend, store) {
                (SessionStore::InProcess, _) => base(
                    Status::Fail,
                    "Memory Loss: session memory is declared in-process (stm = \"in-process\"): every pod restart, deploy or scale-in forgets the conversations it holds, and replicas do not share them".into(),
                )
                .with_recommendation(
                    "Externalize short-term memory to Redis / Memorystore (Standard tier, AOF on, noeviction or volatile-* with TTLs on session keys), set stm = \"redis\" and add an [stm] section so its durability is audited.",
                ),
                (_, Some(url)) => base(
                    Status::Pass,
                    format!("session memory is external: Redis at {url} (its durability is audited by the other STA checks)"),
                ),
                (_, None) => base(
                    Status::NotMeasured,
                    "not measured: the agent declares stm = \"redis\" but no [stm] url is configured, so the store's durability is not audited".into(),
                )
                .with_recommendation("Add an [stm] section with the Redis URL the agent uses."),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_process_fails_and_redis_passes_only_when_audited() {
        let agents = vec![
            DeclaredStm {
                agent: "a".into(),
                backend: SessionStore::InProcess,
            },
            DeclaredStm {
                agent: "b".into(),
                backend: SessionStore::Redis,
            },
        ];
        let f = evaluate(&agents, None);
        assert_eq!(f[0].status, Status::Fail);
        assert!(f[0].summary.contains("Memory Loss"));
        assert!(
            f[0].recommendation
                .as_deref()
                .unwrap()
                .contains("Externalize")
        );
        assert_eq!(f[1].status, Status::NotMeasured);
        let f = evaluate(&agents, Some("redis://h:6379"));
        assert_eq!(f[1].status, Status::Pass);
        assert_eq!(f[1].subject.as_deref(), Some("b"));
    }
}
