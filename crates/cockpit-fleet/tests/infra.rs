//! The `[stm]` and `[kubernetes]` rows against real servers: redis-server
//! on a free port (open, with a password, with a wrong one, killed) and
//! the in-process fake Kubernetes API server serving recorded Deployment
//! and Pod lists (healthy, a pod crash-looping with its restartCount
//! going up, a list forbidden by RBAC). Intervals are driven fast; every
//! assertion waits for a snapshot that satisfies it, never for a time.

use std::time::Duration;

use cockpit_fleet::{
    CockpitSettings, Fleet, FleetSnapshot, KubeClient, Monitor, MonitorOptions, TargetKind,
    TargetStatus,
};
use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use cockpit_stm::testing::{NO_PERSISTENCE, RedisServer};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

mod support;
use support::until;

const PODS: &str = "api/v1/namespaces/agents/pods";
const DEPLOYMENTS: &str = "apis/apps/v1/namespaces/agents/deployments";
const STATEFULSETS: &str = "apis/apps/v1/namespaces/agents/statefulsets";

fn settings() -> CockpitSettings {
    CockpitSettings {
        interval: Duration::from_millis(100),
        window: Duration::from_millis(500),
        probe_timeout: Duration::from_secs(10),
        samples: 2,
        ..CockpitSettings::default()
    }
}

fn stm_fleet(url: String) -> Fleet {
    Fleet {
        stm: Some(cockpit_stm::StmConfig::for_url(url)),
        ..Fleet::default()
    }
}

fn row(s: &FleetSnapshot, kind: TargetKind) -> &cockpit_fleet::AgentView {
    s.agents.iter().find(|a| a.kind == kind).expect("the row")
}

fn start(fleet: Fleet) -> (Monitor, CancellationToken) {
    let m = Monitor::new(fleet, settings(), MonitorOptions::default()).expect("monitor");
    let cancel = CancellationToken::new();
    tokio::spawn(m.clone().run(cancel.clone()));
    (m, cancel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stm_row_times_pings_reads_info_writes_nothing_and_goes_down_with_redis() {
    let mut redis = RedisServer::start(NO_PERSISTENCE);
    let (m, cancel) = start(stm_fleet(redis.url()));
    let mut rx = m.subscribe();
    let s = until(&mut rx, "six PINGs in the window", |s| {
        s.agents
            .first()
            .and_then(|a| a.stm.as_ref())
            .is_some_and(|v| v.ping.count >= 6)
    })
    .await;
    let a = row(&s, TargetKind::Stm);
    assert_eq!(a.name, "stm");
    assert_eq!(a.status, TargetStatus::Up, "{:?}", a.status);
    assert_eq!(a.protocol, "redis");
    let v = a.stm.as_ref().unwrap();
    assert_eq!(v.pings_per_read, 2);
    assert!(v.ping.p95_ms.is_some_and(|p| p > 0.0), "{:?}", v.ping);
    assert!(v.connect.count >= 3, "{:?}", v.connect);
    assert_eq!(v.ping_seconds.count, a.totals.succeeded);
    let info = v.info.as_ref().expect("INFO read");
    assert_eq!(info.role.as_deref(), Some("master"));
    assert!(info.used_memory_bytes.is_some_and(|b| b > 0));
    assert_eq!(info.maxmemory_bytes, Some(64 << 20));
    assert_eq!(info.maxmemory_policy.as_deref(), Some("noeviction"));
    assert_eq!(a.requests.failed, 0);
    assert!(a.ttft_p95_series.iter().any(|p| p.count > 0));
    assert!(s.healthy());
    // Read-only: no key exists, no command that reads or writes one ran.
    assert_eq!(redis.cli(&["DBSIZE"]).trim(), "0");
    let stats = redis.cli(&["INFO", "commandstats"]);
    for cmd in ["set", "get", "del", "scan", "keys", "expire", "config"] {
        assert!(
            !stats.contains(&format!("cmdstat_{cmd}:")),
            "{cmd}: {stats}"
        );
    }
    assert!(stats.contains("cmdstat_ping:"), "{stats}");

    redis.kill();
    let s = until(&mut rx, "the stm row down", |s| {
        matches!(row(s, TargetKind::Stm).status, TargetStatus::Down { .. })
    })
    .await;
    let a = row(&s, TargetKind::Stm);
    match &a.status {
        TargetStatus::Down {
            error_kind,
            message,
        } => {
            assert_eq!(error_kind, "connect", "{message}");
            assert!(message.contains("127.0.0.1"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(a.requests.errors.get("connect").is_some_and(|n| *n > 0));
    assert!(!s.healthy(), "a down session store is unhealthy");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_redis_password_is_down_with_auth_and_never_shown() {
    const SECRET: &str = "s3cr3t-Pw+/x";
    let redis = RedisServer::start(&format!("{NO_PERSISTENCE}requirepass \"{SECRET}\"\n"));
    let good = redis.url();
    let wrong = good.replace("s3cr3t", "wr0ng");
    assert_ne!(good, wrong);
    let cancel = CancellationToken::new();
    for (url, up) in [(good, true), (wrong, false)] {
        let m = Monitor::new(
            stm_fleet(url.clone()),
            settings(),
            MonitorOptions::default(),
        )
        .expect("monitor");
        let s = m.run_once(&cancel).await;
        let a = row(&s, TargetKind::Stm);
        let json = serde_json::to_string(&*s).unwrap();
        for shown in [json.as_str(), a.endpoint.as_str(), &format!("{m:?}")] {
            assert!(
                !shown.contains("s3cr3t") && !shown.contains("wr0ng"),
                "{shown}"
            );
        }
        assert!(a.endpoint.contains("***"), "{}", a.endpoint);
        if up {
            assert_eq!(a.status, TargetStatus::Up, "{:?}", a.status);
            assert!(s.healthy());
            continue;
        }
        match &a.status {
            TargetStatus::Down {
                error_kind,
                message,
            } => {
                assert_eq!(error_kind, "auth", "{message}");
                assert!(message.contains("authentication failed"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.healthy());
        assert_eq!(a.requests.errors.get("auth"), Some(&1));
    }
}

/// The recorded lists of `crates/cockpit-k8s/tests/fixtures/monitor/fleet.json`.
fn recorded(name: &str) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/tests/fixtures/monitor/fleet.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all[name].as_array().expect(name).clone()
}

fn kube_fleet(server: &FakeApiServer) -> Fleet {
    Fleet {
        kubernetes: Some(cockpit_k8s::K8sConfig {
            namespace: Some("agents".into()),
            ..cockpit_k8s::K8sConfig::default()
        }),
        kubernetes_client: Some(KubeClient(server.client())),
        ..Fleet::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_row_counts_ready_replicas_of_agent_workloads() {
    let cluster = FakeCluster::new()
        .with_list(DEPLOYMENTS, "Deployment", recorded("deployments_healthy"))
        .with_list(STATEFULSETS, "StatefulSet", Vec::new())
        .with_list(PODS, "Pod", recorded("pods_healthy"));
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let m = Monitor::new(kube_fleet(&server), settings(), MonitorOptions::default()).unwrap();
    let s = m.run_once(&CancellationToken::new()).await;
    let a = row(&s, TargetKind::Kubernetes);
    assert_eq!(a.name, "kubernetes/agents");
    assert_eq!(a.status, TargetStatus::Up, "{:?}", a.status);
    let v = a.kubernetes.as_ref().unwrap();
    assert_eq!((v.desired, v.ready, v.pods, v.pods_ready), (3, 3, 3, 3));
    let names: Vec<&str> = v.workloads.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        ["chat-agent", "vectors"],
        "nginx-cache is not watched"
    );
    assert_eq!(v.workloads[1].role, "retrieval");
    assert_eq!(
        v.restarts_since_start, 0,
        "restarts before the start are not counted"
    );
    assert!(v.not_ready.is_empty());
    assert!(s.healthy());
    // Read-only, bounded lists.
    for r in server.requests() {
        assert!(r.starts_with("GET "), "{r}");
        if r.contains("?") && !r.contains("watch") {
            assert!(r.contains("limit=1000"), "{r}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pod_with_rising_restarts_degrades_the_kubernetes_row() {
    let cluster = FakeCluster::new()
        .with_list(DEPLOYMENTS, "Deployment", recorded("deployments_crashloop"))
        .with_list(STATEFULSETS, "StatefulSet", Vec::new())
        .with_list_sequence(
            PODS,
            "Pod",
            vec![recorded("pods_crashloop_1"), recorded("pods_crashloop_2")],
        );
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let (m, cancel) = start(kube_fleet(&server));
    let mut rx = m.subscribe();
    let s = until(&mut rx, "the restarts counted", |s| {
        s.agents[0]
            .kubernetes
            .as_ref()
            .is_some_and(|v| v.restarts_since_start > 0)
    })
    .await;
    let a = row(&s, TargetKind::Kubernetes);
    let v = a.kubernetes.as_ref().unwrap();
    assert_eq!(v.restarts_since_start, 2, "restartCount 4 -> 6");
    assert_eq!(v.restarts_in_window, 2);
    assert_eq!(v.workloads[0].restarts_since_start, 2);
    assert_eq!((v.desired, v.ready), (3, 2));
    let issues: Vec<(&str, &str)> = (v.not_ready.iter())
        .map(|p| (p.pod.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(
        issues,
        [
            ("chat-agent-7d9f-b", "CrashLoopBackOff"),
            ("chat-agent-7d9f-c", "ImagePullBackOff")
        ]
    );
    assert_eq!(v.not_ready[1].phase, "Pending");
    match &a.status {
        TargetStatus::Degraded { reason } => {
            assert!(reason.contains("2 of 3 replicas ready"), "{reason}");
            assert!(
                reason.contains("chat-agent-7d9f-b (CrashLoopBackOff)"),
                "{reason}"
            );
            assert!(
                reason.contains("2 container restart(s) in the window"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(s.healthy(), "degraded is not down");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_pod_list_is_down_naming_the_verb_and_resource() {
    let cluster = FakeCluster::new()
        .with_list(DEPLOYMENTS, "Deployment", recorded("deployments_healthy"))
        .with_list(STATEFULSETS, "StatefulSet", Vec::new())
        .forbid(PODS);
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let m = Monitor::new(kube_fleet(&server), settings(), MonitorOptions::default()).unwrap();
    let s = m.run_once(&CancellationToken::new()).await;
    let a = row(&s, TargetKind::Kubernetes);
    match &a.status {
        TargetStatus::Down {
            error_kind,
            message,
        } => {
            assert_eq!(error_kind, "forbidden", "{message}");
            assert!(
                message.starts_with("list pods in namespace agents: forbidden by RBAC (403)"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.requests.errors.get("forbidden"), Some(&1));
    assert!(!s.healthy());
}
