//! `/metrics` of the `[stm]` and `[kubernetes]` rows, beside the agents'
//! families (which these rows also appear in as `agent="stm"`,
//! `agent="kubernetes/…"`: `agent_up`, `probes_total`, `requests_total`,
//! `request_errors_total`, `probe_duration_seconds`). Names carry their
//! unit; counters are since the monitor started. The list is in
//! `docs/cockpit.md`.

use std::collections::BTreeMap;
use std::fmt;

use cockpit_fleet::{AgentView, KubernetesView, StmView, WorkloadView};
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::metrics::buckets;

/// Every family of the infrastructure rows (none without such a row).
pub fn encode(enc: &mut DescriptorEncoder, rows: &[AgentView]) -> fmt::Result {
    let stm: Vec<(&str, &StmView)> = (rows.iter())
        .filter_map(|a| a.stm.as_ref().map(|v| (a.name.as_str(), v)))
        .collect();
    let kube: Vec<&KubernetesView> = rows.iter().filter_map(|a| a.kubernetes.as_ref()).collect();
    if !stm.is_empty() {
        stm_families(enc, &stm)?;
    }
    if !kube.is_empty() {
        kube_families(enc, &kube)?;
    }
    Ok(())
}

fn stm_families(enc: &mut DescriptorEncoder, stm: &[(&str, &StmView)]) -> fmt::Result {
    let mut m = enc.encode_descriptor(
        "stm_ping",
        "PING round trip (call to reply) to the [stm] session store, since the monitor started.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (target, v) in stm {
        let h = &v.ping_seconds;
        m.encode_family(&[("target", *target)])?
            .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets(h), None)?;
    }
    type Pick = fn(&StmView) -> Option<u64>;
    let gauges: [(&str, &str, Pick); 3] = [
        (
            "stm_used_memory",
            "Memory the session store uses (INFO used_memory), at the latest reading.",
            |v| v.info.as_ref()?.used_memory_bytes,
        ),
        (
            "stm_maxmemory",
            "The session store's maxmemory (0: no limit), at the latest reading.",
            |v| v.info.as_ref()?.maxmemory_bytes,
        ),
        (
            "stm_connected_clients",
            "Clients connected to the session store, at the latest reading.",
            |v| v.info.as_ref()?.connected_clients,
        ),
    ];
    for (name, help, pick) in gauges {
        let unit = name.ends_with("memory").then_some(&Unit::Bytes);
        let mut m = enc.encode_descriptor(name, help, unit, MetricType::Gauge)?;
        for (target, v) in stm {
            if let Some(x) = pick(v).and_then(|x| i64::try_from(x).ok()) {
                m.encode_family(&[("target", *target)])?.encode_gauge(&x)?;
            }
        }
    }
    Ok(())
}

fn kube_families(enc: &mut DescriptorEncoder, kube: &[&KubernetesView]) -> fmt::Result {
    type Pick = fn(&WorkloadView) -> u64;
    let per_workload: [(&str, &str, MetricType, Pick); 3] = [
        (
            "k8s_pods_ready",
            "Ready replicas (status.readyReplicas) of each watched agent workload, at the latest reading.",
            MetricType::Gauge,
            |w| u64::from(w.ready),
        ),
        (
            "k8s_pods_desired",
            "Replicas asked for (spec.replicas) of each watched agent workload, at the latest reading.",
            MetricType::Gauge,
            |w| u64::from(w.desired),
        ),
        (
            "k8s_container_restarts",
            "Container restarts (restartCount going up) of each watched agent workload since the monitor started.",
            MetricType::Counter,
            |w| w.restarts_since_start,
        ),
    ];
    for (name, help, kind, pick) in per_workload {
        let mut m = enc.encode_descriptor(name, help, None, kind)?;
        for v in kube {
            for w in &v.workloads {
                let labels = [
                    ("namespace", v.namespace.as_str()),
                    ("workload", w.name.as_str()),
                ];
                let mut f = m.encode_family(&labels)?;
                if kind == MetricType::Counter {
                    f.encode_counter::<NoLabelSet, _, u64>(&pick(w), None)?;
                } else {
                    f.encode_gauge(&i64::try_from(pick(w)).unwrap_or(i64::MAX))?;
                }
            }
        }
    }
    let mut m = enc.encode_descriptor(
        "k8s_pods_not_ready",
        "Pods of the watched workloads that are not ready, by reason (CrashLoopBackOff, ImagePullBackOff, Pending, ...), at the latest reading.",
        None,
        MetricType::Gauge,
    )?;
    for v in kube {
        let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
        for p in &v.not_ready {
            *by_reason.entry(p.reason.as_str()).or_default() += 1;
        }
        for (reason, n) in by_reason {
            let labels = [("namespace", v.namespace.as_str()), ("reason", reason)];
            m.encode_family(&labels)?.encode_gauge(&n)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{fixture, metrics::exposition};

    #[test]
    fn infrastructure_rows_have_conventional_families() {
        let mut snap = fixture::snapshot();
        snap.agents.extend(fixture::infra_rows());
        let text = exposition(Arc::new(snap)).unwrap();
        for needle in [
            "# TYPE agentops_stm_ping_seconds histogram\n",
            "agentops_stm_ping_seconds_count{target=\"stm\"} 12\n",
            "# TYPE agentops_stm_used_memory_bytes gauge\n",
            "agentops_stm_used_memory_bytes{target=\"stm\"} 1048576\n",
            "agentops_stm_maxmemory_bytes{target=\"stm\"} 67108864\n",
            "# TYPE agentops_k8s_pods_ready gauge\n",
            "agentops_k8s_pods_ready{namespace=\"agents\",workload=\"chat-agent\"} 1\n",
            "agentops_k8s_pods_desired{namespace=\"agents\",workload=\"chat-agent\"} 2\n",
            "# TYPE agentops_k8s_container_restarts_total counter\n",
            "agentops_k8s_container_restarts_total{namespace=\"agents\",workload=\"chat-agent\"} 2\n",
            "agentops_k8s_pods_not_ready{namespace=\"agents\",reason=\"CrashLoopBackOff\"} 1\n",
            "agentops_agent_up{agent=\"kubernetes/agents\"} 1\n",
            "agentops_agent_up{agent=\"stm\"} 1\n",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        let plain = exposition(Arc::new(fixture::snapshot())).unwrap();
        assert!(!plain.contains("agentops_stm_") && !plain.contains("agentops_k8s_"));
    }
}
