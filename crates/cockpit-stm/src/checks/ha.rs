//! STA-HA: a replica can take over when the primary fails.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::{not_measured, on};
use crate::Info;

pub const STA_HA: CheckSpec = CheckSpec {
    id: CheckId::new("STA-HA"),
    pillar: Pillar::State,
    severity: Severity::High,
    title: "Session store replication / high availability",
};

/// `info`: `INFO replication`, `INFO server` and `INFO cluster`.
pub fn evaluate(url: &str, info: &Info) -> Finding {
    let Some(role) = info.get("role") else {
        return not_measured(&STA_HA, url, "INFO replication did not report role");
    };
    let cluster =
        info.get_i64("cluster_enabled") == Some(1) || info.get("redis_mode") == Some("cluster");
    let mode = if cluster {
        "; cluster mode enabled"
    } else {
        ""
    };
    let replicas = info.replicas();
    let online = replicas
        .iter()
        .filter(|r| r.get("state").map(String::as_str) == Some("online"))
        .count();
    let connected = info
        .get_u64("connected_slaves")
        .unwrap_or(replicas.len() as u64);
    let method = "INFO replication";
    let mut f = on(&STA_HA, url, Status::Pass, String::new())
        .with_measurement(Measurement::new(
            "connected_replicas",
            connected as f64,
            Unit::Count,
            method,
            1,
        ))
        .with_measurement(Measurement::new(
            "online_replicas",
            online as f64,
            Unit::Count,
            "INFO replication slaveN state=online",
            1,
        ))
        .with_measurement(Measurement::new(
            "cluster_enabled",
            cluster as u8 as f64,
            Unit::Bool,
            "INFO cluster cluster_enabled / INFO server redis_mode",
            1,
        ));
    let rec = "Run the session store with a replica and automatic failover (Memorystore Standard tier, Redis Sentinel, or a cluster with replicas), and persistence on both.";
    match role {
        "master" if connected == 0 => {
            f.status = Status::Warn;
            f.summary = format!(
                "a single primary with no replica (like Memorystore Basic tier): if the node fails, the store is down until it restarts and keeps only what it persisted{mode}"
            );
            f.with_recommendation(rec)
        }
        "master" if online < connected as usize => {
            f.status = Status::Warn;
            f.summary =
                format!("primary with {connected} replica(s), of which {online} online{mode}");
            f.with_recommendation(
                "Check the replicas' link and sync state (INFO replication on each).",
            )
        }
        "master" => {
            f.summary = format!("primary with {online} replica(s) online{mode}");
            f
        }
        "slave" | "replica" => judge_replica(f, info, mode),
        other => not_measured(&STA_HA, url, format!("unknown replication role `{other}`")),
    }
}

/// The audited endpoint is itself a replica: fine while its link is up.
fn judge_replica(mut f: Finding, info: &Info, mode: &str) -> Finding {
    let link = info.get("master_link_status").unwrap_or("unknown");
    let primary = format!(
        "{}:{}",
        info.get("master_host").unwrap_or("?"),
        info.get("master_port").unwrap_or("?")
    );
    if link == "up" {
        f.summary = format!(
            "this endpoint is a replica of {primary} with its link up (the agent must write to the primary){mode}"
        );
        f
    } else {
        f.status = Status::Fail;
        f.summary = format!(
            "this endpoint is a replica of {primary} and its link is {link} (master_link_status): it serves stale sessions{mode}"
        );
        f.with_recommendation("Restore the replica's link to its primary (network, masterauth), and point the agent at the primary or at the failover endpoint.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let u = "redis://h";
        let f = evaluate(u, &Info::parse("role:master\nconnected_slaves:0\n"));
        assert_eq!(f.status, Status::Warn);
        assert!(f.summary.contains("Basic tier"));
        let f = evaluate(
            u,
            &Info::parse(
                "role:master\nconnected_slaves:1\nslave0:ip=127.0.0.1,port=1,state=online,offset=1,lag=0\ncluster_enabled:1\n",
            ),
        );
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(f.summary.contains("cluster mode"));
        assert_eq!(f.measurement("online_replicas").unwrap().value, 1.0);
        let f = evaluate(
            u,
            &Info::parse(
                "role:slave\nmaster_host:10.0.0.1\nmaster_port:6379\nmaster_link_status:down\n",
            ),
        );
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("10.0.0.1:6379"));
        assert_eq!(evaluate(u, &Info::default()).status, Status::NotMeasured);
    }
}
