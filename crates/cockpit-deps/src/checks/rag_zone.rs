//! RAG-ZONE: the vector store runs in the zone of the agent reading it —
//! the same comparison NET-ZONE makes for `[[retrieval]]` backends, over
//! the declared zones (`zone` of the store, filled in from Kubernetes when
//! a workload of the same name runs in one zone; `zone` of the agent).

use cockpit_core::fleet::{AgentConfig, region_of};
use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::finding;
use crate::rag::StoreSnapshot;

pub const RAG_ZONE: CheckSpec = CheckSpec {
    id: CheckId::new("RAG-ZONE"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "Vector store in its agent's zone",
};

/// `agent`: the store's agent when it names one; otherwise every agent
/// with a zone is compared.
pub fn evaluate(s: &StoreSnapshot, agent: Option<&str>, agents: &[AgentConfig]) -> Finding {
    let mut f = finding(
        &RAG_ZONE,
        &s.name,
        &s.shown,
        Status::NotMeasured,
        String::new(),
    );
    let readers: Vec<(&str, &str)> = agents
        .iter()
        .filter(|a| agent.is_none_or(|n| n == a.name))
        .filter_map(|a| Some((a.name.as_str(), a.zone.as_deref()?)))
        .collect();
    let Some(zone) = s.zone.as_deref() else {
        f.summary = "not measured: the store's zone is not declared (`zone` in [[vector_store]]) nor found in Kubernetes".into();
        return f;
    };
    if readers.is_empty() {
        f.summary =
            format!("not measured: store in {zone}, but no agent reading it declares a zone");
        return f;
    }
    let worst = readers
        .iter()
        .map(|(name, z)| {
            let status = if *z == zone {
                Status::Pass
            } else if region_of(z) == region_of(zone) {
                Status::Warn
            } else {
                Status::Fail
            };
            (status, *name, *z)
        })
        .min_by_key(|(st, _, _)| st.rank())
        .expect("readers is not empty");
    let (status, name, agent_zone) = worst;
    f.status = status;
    f.summary = match status {
        Status::Pass => format!("store and its agents in {zone}"),
        Status::Warn => {
            format!("store in {zone}, agent `{name}` in {agent_zone}: same region, another zone")
        }
        _ => format!("store in {zone}, agent `{name}` in {agent_zone}: another region"),
    };
    if status != Status::Pass {
        f = f.with_recommendation(
            "Run the vector store in the zone of the agents that query it (or a replica there): a cross-zone hop adds a round trip to every retrieval, a cross-region one tens of milliseconds and egress cost.",
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::rag_collection::tests::store;
    use cockpit_core::fleet::AgentProtocol;

    fn agent(name: &str, zone: &str) -> AgentConfig {
        let toml = format!(
            "name = \"{name}\"\nendpoint = \"http://h/v1\"\nprotocol = \"openai\"\nzone = \"{zone}\"\n"
        );
        let a: AgentConfig = toml::from_str(&toml).expect("an agent");
        assert_eq!(a.protocol, AgentProtocol::Openai);
        a
    }

    #[test]
    fn verdicts() {
        let agents = [
            agent("chat", "us-central1-a"),
            agent("batch", "europe-west1-b"),
        ];
        let mut s = store(Some(1));
        assert_eq!(evaluate(&s, None, &agents).status, Status::NotMeasured);
        s.zone = Some("us-central1-a".into());
        assert_eq!(evaluate(&s, Some("chat"), &agents).status, Status::Pass);
        let f = evaluate(&s, None, &agents);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("batch"), "{}", f.summary);
        s.zone = Some("us-central1-b".into());
        assert_eq!(evaluate(&s, Some("chat"), &agents).status, Status::Warn);
        assert_eq!(
            evaluate(&s, Some("nobody"), &agents).status,
            Status::NotMeasured
        );
    }
}
