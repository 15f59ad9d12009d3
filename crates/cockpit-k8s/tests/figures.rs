//! What the live figures mean, against the fake API server: CMP-READY times
//! a pod's current incarnation (a readiness flap days later is not a cold
//! start; p50 is the core's percentile), NET-LB judges a pending
//! LoadBalancer by the Service's age whether or not it was polled.

use std::path::PathBuf;
use std::time::Duration;

use cockpit_core::{Finding, Status};
use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use cockpit_k8s::{K8sAudit, K8sConfig, audit_cluster};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

fn cfg(lb_wait_s: f64) -> K8sConfig {
    K8sConfig {
        namespace: Some("agents".into()),
        request_timeout_s: 5.0,
        lb_wait_s,
        ..K8sConfig::default()
    }
}

fn find<'a>(a: &'a K8sAudit, check: &str, subject: &str) -> &'a Finding {
    a.outcome
        .findings
        .iter()
        .find(|f| {
            f.check_id.as_str() == check
                && f.subject.as_deref().is_some_and(|s| s.ends_with(subject))
        })
        .unwrap_or_else(|| {
            let all: Vec<String> = a
                .outcome
                .findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {:?} — {}",
                        f.check_id, f.status, f.subject, f.summary
                    )
                })
                .collect();
            panic!("no {check} finding for {subject}:\n{}", all.join("\n"))
        })
}

async fn audit(cluster: FakeCluster, lb_wait_s: f64) -> K8sAudit {
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(60),
        audit_cluster(server.client(), &cfg(lb_wait_s)),
    )
    .await
    .expect("the audit finishes (hang guard)")
}

fn ready_pods() -> FakeCluster {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ready/pods.json"
    ));
    FakeCluster::recorded(&p).unwrap()
}

#[tokio::test]
async fn ready_two_pods_p50_is_the_lower_one_and_the_max_the_slowest() {
    let a = audit(ready_pods(), 0.0).await;
    let f = find(&a, "CMP-READY", "Deployment/steady");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    let max = f.measurement("start_to_ready_max").unwrap();
    assert_eq!((max.value, max.samples), (9.0, 2));
    // 5 s and 9 s: the core's nearest-rank median is 5 s (HDR, 0.1 %), not 9.
    let p50 = f.measurement("start_to_ready_p50").unwrap().value;
    assert!((p50 - 5.0).abs() < 0.01, "p50 {p50}");
    assert!(
        max.method.contains("metadata.creationTimestamp"),
        "{}",
        max.method
    );
}

#[tokio::test]
async fn ready_a_flap_seven_days_later_is_not_a_cold_start() {
    let a = audit(ready_pods(), 0.0).await;
    let f = find(&a, "CMP-READY", "Deployment/long-running");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(!f.summary.contains("Dead on Arrival"), "{}", f.summary);
    assert!(
        f.summary.contains("1 pod(s) whose Ready changed"),
        "{}",
        f.summary
    );
    let max = f.measurement("start_to_ready_max").unwrap();
    assert_eq!((max.value, max.samples), (6.0, 1));

    let only = find(&a, "CMP-READY", "Deployment/flapped-only");
    assert_eq!(only.status, Status::NotMeasured, "{}", only.summary);
    assert!(
        only.summary.contains("not a cold start"),
        "{}",
        only.summary
    );
    // The flap is its own observation, never a start-to-ready time.
    assert!(only.measurement("start_to_ready_max").is_none());
    let flaps = only.measurement("readiness_changes_after_start").unwrap();
    assert_eq!((flaps.value, flaps.samples), (1.0, 1));
}

#[tokio::test]
async fn ready_restarted_pod_is_timed_from_its_container_start() {
    let a = audit(ready_pods(), 0.0).await;
    let f = find(&a, "CMP-READY", "Deployment/restarted");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    let max = f.measurement("start_to_ready_max").unwrap();
    assert_eq!(max.value, 4.0, "not 3 days from creation");
    assert!(
        max.method
            .contains("state.running.startedAt (1 restarted pods)"),
        "{}",
        max.method
    );
}

#[tokio::test]
async fn ready_slow_pods_fail() {
    let a = audit(ready_pods(), 0.0).await;
    let f = find(&a, "CMP-READY", "Deployment/slow");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains("Dead on Arrival: slowest pod took 41 s"),
        "{}",
        f.summary
    );
    let p50 = f.measurement("start_to_ready_p50").unwrap().value;
    assert!((p50 - 30.0).abs() < 0.05, "p50 {p50}");
}

/// A LoadBalancer Service created `age` ago, with `address` if given.
fn lb_service(name: &str, age: SignedDuration, address: Option<&str>) -> Value {
    let created = Timestamp::now().checked_sub(age).unwrap();
    let status = match address {
        Some(ip) => json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}),
        None => json!({"loadBalancer": {}}),
    };
    json!({
        "metadata": {"name": name, "namespace": "agents", "uid": format!("s-{name}"),
            "resourceVersion": "77", "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31080}],
            "clusterIP": "10.12.0.40", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster"},
        "status": status
    })
}

fn services(items: Vec<Value>) -> FakeCluster {
    FakeCluster::new().with_list("api/v1/namespaces/agents/services", "Service", items)
}

#[tokio::test]
async fn lb_pending_82_minutes_fails_whether_or_not_polled() {
    for wait in [0.0, 0.6] {
        let cluster = services(vec![lb_service(
            "stuck",
            SignedDuration::from_mins(82),
            None,
        )]);
        let a = audit(cluster, wait).await;
        let f = find(&a, "NET-LB", "Service/stuck");
        assert_eq!(f.status, Status::Fail, "lb_wait_s {wait}: {}", f.summary);
        assert!(
            f.summary.contains("after creation (> 600 s)"),
            "{}",
            f.summary
        );
        let age = f.measurement("service_age").unwrap().value;
        assert!(age >= 82.0 * 60.0, "age {age}");
        assert_eq!(
            f.measurement("waited_without_address").is_some(),
            wait > 0.0
        );
    }
}

#[tokio::test]
async fn lb_pending_one_minute_warns_whether_or_not_polled() {
    for wait in [0.0, 0.6] {
        let cluster = services(vec![lb_service(
            "young",
            SignedDuration::from_secs(60),
            None,
        )]);
        let a = audit(cluster, wait).await;
        let f = find(&a, "NET-LB", "Service/young");
        assert_eq!(f.status, Status::Warn, "lb_wait_s {wait}: {}", f.summary);
    }
}

#[tokio::test]
async fn lb_address_seen_appearing_is_timed_from_creation() {
    let cluster = services(vec![lb_service(
        "late",
        SignedDuration::from_secs(120),
        None,
    )])
    .lb_after("late", Duration::from_millis(400), "35.7.7.7");
    let a = audit(cluster, 20.0).await;
    let f = find(&a, "NET-LB", "Service/late");
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    let m = f.measurement("time_to_external_address").unwrap();
    // From the Service's creation (120 s before the audit), not from the first poll.
    assert!(m.value >= 120.0, "{m:?}");
    assert!(
        m.method.contains("metadata.creationTimestamp"),
        "{}",
        m.method
    );
}

#[tokio::test]
async fn lb_address_already_there_is_not_timed() {
    let cluster = services(vec![lb_service(
        "ready",
        SignedDuration::from_mins(30),
        Some("34.1.1.1"),
    )]);
    for wait in [0.0, 2.0] {
        let a = audit(cluster.clone(), wait).await;
        let f = find(&a, "NET-LB", "Service/ready");
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(f.summary.contains("not measured"), "{}", f.summary);
        assert!(f.measurement("time_to_external_address").is_none());
    }
}
