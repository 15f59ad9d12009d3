//! The text of Mission Control's `[stm]` and `[kubernetes]` rows, shared
//! by the fleet table and the terminal dashboard: a short cell for the
//! row, and the detail lines.

use cockpit_fleet::{AgentView, KubernetesView, StmView};

use super::cell;

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A short cell (at most 14 characters): `ping 0.2/0.4` (PING p50/p95,
/// ms), `1/2 rdy ↻2` (ready of desired replicas, restarts since start).
pub fn infra_cell(a: &AgentView) -> Option<String> {
    if let Some(v) = &a.stm {
        return Some(if v.ping.count == 0 {
            "ping -".into()
        } else {
            format!("ping {}/{}", ms(v.ping.p50_ms), ms(v.ping.p95_ms))
        });
    }
    let k = a.kubernetes.as_ref()?;
    Some(format!(
        "{}/{} rdy ↻{}",
        k.ready, k.desired, k.restarts_since_start
    ))
}

/// The detail lines of an `[stm]` or `[kubernetes]` row (none for others).
pub fn infra_lines(a: &AgentView) -> Vec<String> {
    match (&a.stm, &a.kubernetes) {
        (Some(v), _) => stm_lines(v),
        (_, Some(k)) => kube_lines(k),
        _ => Vec::new(),
    }
}

fn stm_lines(v: &StmView) -> Vec<String> {
    let w = humantime::format_duration(v.ping.window);
    let mut lines = vec![format!(
        "PING p50 {} · p95 {} · max {} ms (n={}, window {w}; {} per reading) · connect p50 {} ms (n={})",
        ms(v.ping.p50_ms),
        ms(v.ping.p95_ms),
        ms(v.ping.max_ms),
        v.ping.count,
        v.pings_per_read,
        ms(v.connect.p50_ms),
        v.connect.count
    )];
    match (&v.info, &v.info_error) {
        (_, Some(e)) => lines.push(format!("INFO not read: {}", cell(e, 160))),
        (Some(i), None) => {
            let memory = match (i.used_memory_bytes, i.maxmemory_bytes) {
                (Some(u), Some(m)) if m > 0 => format!("{} of {}", mib(u), mib(m)),
                (Some(u), _) => format!("{} (no maxmemory)", mib(u)),
                _ => "-".into(),
            };
            let text = |o: &Option<String>| cell(o.as_deref().unwrap_or("-"), 24);
            lines.push(format!(
                "role {} · memory {memory} ({}) · evicted {} · clients {} · replicas {} · AOF {} · last RDB save {}",
                text(&i.role),
                text(&i.maxmemory_policy),
                i.evicted_keys.map_or("-".into(), |n| n.to_string()),
                i.connected_clients.map_or("-".into(), |n| n.to_string()),
                i.connected_replicas.map_or("-".into(), |n| n.to_string()),
                i.aof_enabled.map_or("-", |on| if on { "on" } else { "off" }),
                text(&i.rdb_last_bgsave_status),
            ));
        }
        (None, None) => {}
    }
    lines
}

fn kube_lines(k: &KubernetesView) -> Vec<String> {
    let mut lines = vec![format!(
        "namespace {}{} · replicas {}/{} ready · pods {}/{} ready · restarts {} since start, {} in the window{}",
        cell(&k.namespace, 63),
        k.selector
            .as_deref()
            .map_or(String::new(), |s| format!(" ({})", cell(s, 60))),
        k.ready,
        k.desired,
        k.pods_ready,
        k.pods,
        k.restarts_since_start,
        k.restarts_in_window,
        if k.truncated {
            " · list truncated"
        } else {
            ""
        }
    )];
    let workloads: Vec<String> = (k.workloads.iter().take(6))
        .map(|w| {
            format!(
                "{} {}/{} ↻{}",
                cell(&w.name, 40),
                w.ready,
                w.desired,
                w.restarts_since_start
            )
        })
        .collect();
    if !workloads.is_empty() {
        lines.push(format!("workloads: {}", workloads.join(" · ")));
    }
    for p in k.not_ready.iter().take(5) {
        lines.push(format!(
            "not ready: {} ({}) {} · {} restarts",
            cell(&p.pod, 63),
            cell(&p.workload, 40),
            cell(&p.reason, 40),
            p.restarts
        ));
    }
    lines
}
