//! Live-cluster audits against the in-process fake API server serving
//! recorded objects (real list-response shapes, GKE Autopilot nodes).

use std::path::PathBuf;
use std::time::Duration;

use cockpit_core::{Finding, Status};
use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use cockpit_k8s::{K8sConfig, ZoneSource, audit_cluster, poll_external_ip};

fn recorded() -> FakeCluster {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cluster/recorded.json"
    ));
    FakeCluster::recorded(&p).unwrap()
}

fn cfg() -> K8sConfig {
    K8sConfig {
        namespace: Some("agents".into()),
        request_timeout_s: 5.0,
        ..K8sConfig::default()
    }
}

fn dump(fs: &[Finding]) -> String {
    fs.iter()
        .map(|f| {
            format!(
                "{} {} {} — {}",
                f.check_id,
                f.status,
                f.subject.as_deref().unwrap_or("-"),
                f.summary
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn find<'a>(fs: &'a [Finding], check: &str, subject: &str) -> &'a Finding {
    fs.iter()
        .find(|f| {
            f.check_id.as_str() == check
                && f.subject.as_deref().is_some_and(|s| s.ends_with(subject))
        })
        .unwrap_or_else(|| panic!("no {check} finding for {subject}:\n{}", dump(fs)))
}

#[tokio::test]
async fn live_audit_reads_every_resource_and_judges_it() {
    let server = FakeApiServer::start(recorded(), "agents").await.unwrap();
    let a = audit_cluster(server.client(), &cfg()).await;
    let fs = &a.outcome.findings;
    assert!(a.outcome.reached > 0);

    // Autopilot, with the evidence named.
    let ap = find(fs, "CMP-AUTOPILOT", "cluster");
    assert_eq!(ap.status, Status::Pass, "{}", ap.summary);
    assert!(
        ap.summary.contains("3 of 3 nodes named gk3-*"),
        "{}",
        ap.summary
    );
    assert!(
        ap.summary
            .contains("3 pods with autopilot.gke.io annotations"),
        "{}",
        ap.summary
    );

    // Pod start-to-ready, measured from conditions: 8, 9 and 10 s.
    let ready = find(fs, "CMP-READY", "agents/Deployment/chat-agent");
    assert_eq!(ready.status, Status::Pass, "{}", ready.summary);
    let max = ready.measurement("start_to_ready_max").unwrap();
    assert_eq!((max.value, max.samples), (10.0, 3));
    // The core's percentile (HDR, three significant digits).
    let p50 = ready.measurement("start_to_ready_p50").unwrap().value;
    assert!((p50 - 9.0).abs() < 0.01, "p50 {p50}");
    let slow = find(fs, "CMP-READY", "StatefulSet/vector-store");
    assert_eq!(slow.status, Status::Fail, "40 s and 35 s: {}", slow.summary);
    let none = find(fs, "CMP-READY", "Deployment/crashy");
    assert_eq!(none.status, Status::NotMeasured);

    // Warm pods and the live replica count.
    let warm = find(fs, "CMP-WARM", "Deployment/chat-agent");
    assert_eq!(warm.status, Status::Pass);
    assert_eq!(warm.measurement("ready_replicas").unwrap().value, 3.0);
    assert_eq!(
        find(fs, "CMP-WARM", "Deployment/crashy").status,
        Status::Warn
    );

    // Zones of Ready pods: the agent spreads, the vector store does not.
    assert_eq!(
        find(fs, "CMP-SPREAD", "Deployment/chat-agent").status,
        Status::Pass
    );
    let vs = find(fs, "CMP-SPREAD", "StatefulSet/vector-store");
    assert!(
        vs.status == Status::Fail && vs.summary.contains("us-central1-a"),
        "{}",
        vs.summary
    );

    // Disruption budget from status; missing for the replicated vector store.
    assert_eq!(
        find(fs, "CMP-PDB", "Deployment/chat-agent").status,
        Status::Pass
    );
    assert_eq!(
        find(fs, "CMP-PDB", "StatefulSet/vector-store").status,
        Status::Fail
    );

    // Autopilot adjusted the agent's resources (pod annotation).
    let res = find(fs, "CMP-RES", "Deployment/chat-agent");
    assert!(
        res.status == Status::Warn && res.summary.contains("Autopilot adjusted"),
        "{}",
        res.summary
    );

    // Identity: annotated KSA passes; `default` warns.
    assert_eq!(
        find(fs, "CIC-WI", "Deployment/chat-agent").status,
        Status::Pass
    );
    assert_eq!(
        find(fs, "CIC-WI", "StatefulSet/vector-store").status,
        Status::Warn
    );

    // LoadBalancers: address; failure event; endpoints 3 / 1 / 0.
    let lb = find(fs, "NET-LB", "Service/chat-agent");
    assert!(
        lb.status == Status::Pass && lb.summary.contains("34.56.78.90"),
        "{}",
        lb.summary
    );
    let canary = find(fs, "NET-LB", "Service/chat-agent-canary");
    assert!(
        canary.status == Status::Fail && canary.summary.contains("QUOTA_EXCEEDED"),
        "{}",
        canary.summary
    );
    assert_eq!(
        find(fs, "NET-EP", "Service/chat-agent").status,
        Status::Pass
    );
    assert_eq!(
        find(fs, "NET-EP", "Service/vector-store").status,
        Status::Warn
    );
    assert_eq!(find(fs, "NET-EP", "Service/crashy").status, Status::Fail);

    // Restarts and events.
    let crash = find(fs, "OBS-RESTARTS", "Deployment/crashy");
    assert!(
        crash.status == Status::Fail && crash.summary.contains("CrashLoopBackOff"),
        "{}",
        crash.summary
    );
    assert_eq!(crash.measurement("restarts").unwrap().value, 7.0);
    assert_eq!(
        find(fs, "OBS-RESTARTS", "Deployment/chat-agent").status,
        Status::Pass
    );
    let backoff = find(fs, "OBS-EVENTS", "Pod/crashy-5f6d7c8b9-zzzzz");
    assert!(
        backoff.status == Status::Fail && backoff.summary.contains("BackOff ×12"),
        "{}",
        backoff.summary
    );
    assert!(
        !fs.iter()
            .any(|f| f.check_id.as_str() == "OBS-EVENTS" && f.summary.contains("Scheduled"))
    );

    // Every live finding is located as namespace/Kind/name.
    let obj = find(fs, "CMP-WARM", "chat-agent")
        .location
        .as_ref()
        .unwrap()
        .to_string();
    assert_eq!(obj, "agents/Deployment/chat-agent");

    // Placement from node labels, for the Network and State pillars.
    let agent = a.placement.by_name("chat-agent").unwrap();
    assert_eq!(agent.zone_source, ZoneSource::NodeLabels);
    assert_eq!(agent.zones.len(), 3);
    assert_eq!(agent.redis_env, vec!["REDIS_URL".to_string()]);
    let vectors = a.placement.by_name("vector-store").unwrap();
    assert_eq!(
        vectors.zones.keys().collect::<Vec<_>>(),
        vec!["us-central1-a"]
    );

    // Only list and get were sent.
    assert!(server.requests().iter().all(|r| r.starts_with("GET ")));
}

#[tokio::test]
async fn forbidden_resource_is_not_measured_naming_resource_and_verb() {
    let cluster = recorded()
        .forbid("api/v1/namespaces/agents/events")
        .forbid("api/v1/nodes");
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let a = audit_cluster(server.client(), &cfg()).await;
    let fs = &a.outcome.findings;
    let nm: Vec<&Finding> = fs
        .iter()
        .filter(|f| f.status == Status::NotMeasured && f.summary.contains("403"))
        .collect();
    assert_eq!(nm.len(), 2, "{}", dump(fs));
    assert!(
        nm.iter()
            .any(|f| f.summary.contains("list events in namespace agents")
                && f.summary.contains("RBAC")),
        "{}",
        dump(fs)
    );
    assert!(
        nm.iter().any(|f| f.summary.contains("list nodes")),
        "{}",
        dump(fs)
    );
    // The rest still ran.
    assert_eq!(
        find(fs, "CMP-WARM", "Deployment/chat-agent").status,
        Status::Pass
    );
    assert_eq!(
        find(fs, "CMP-AUTOPILOT", "cluster").status,
        Status::NotMeasured
    );
}

#[tokio::test]
async fn unreachable_api_server_is_not_measured() {
    // A port nobody listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut kcfg = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    kcfg.connect_timeout = Some(Duration::from_secs(2));
    let client = kube::Client::try_from(kcfg).unwrap();
    let a = audit_cluster(client, &cfg()).await;
    assert!(a.outcome.reached == 0);
    assert_eq!(
        a.outcome.findings.len(),
        10,
        "one per resource: {}",
        dump(&a.outcome.findings)
    );
    assert!(
        a.outcome
            .findings
            .iter()
            .all(|f| f.status == Status::NotMeasured)
    );
}

#[tokio::test]
async fn load_balancer_address_after_a_delay() {
    let cluster = recorded().lb_after("delayed-lb", Duration::from_millis(700), "35.1.2.3");
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let p = poll_external_ip(
        &server.client(),
        "agents",
        "delayed-lb",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(p.address.as_deref(), Some("35.1.2.3"));
    assert!(p.polls >= 2, "the first polls saw no address: {p:?}");
    assert!(p.events.is_empty());
    // Seen appearing: timed from the Service's creation, not from the first poll.
    let f = cockpit_k8s::checks::lb::from_poll(&p);
    let m = f.measurement("time_to_external_address").unwrap();
    assert!(m.value > p.elapsed.as_secs_f64(), "{m:?}");
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.contains("/services/delayed-lb"))
        .count();
    assert_eq!(gets as u32, p.polls);
}

#[tokio::test]
async fn load_balancer_that_never_gets_an_address() {
    let server = FakeApiServer::start(recorded(), "agents").await.unwrap();
    let p = poll_external_ip(
        &server.client(),
        "agents",
        "never-lb",
        Duration::from_millis(900),
    )
    .await
    .unwrap();
    assert_eq!(p.address, None);
    assert!(p.elapsed >= Duration::from_millis(900), "{p:?}");
    assert_eq!(
        p.events,
        vec!["EnsuringLoadBalancer: Ensuring load balancer".to_string()]
    );
    // The events were asked for this Service only.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.contains("/events?") && r.contains("never-lb")),
        "{:?}",
        server.requests()
    );
    let f = cockpit_k8s::checks::lb::from_poll(&p);
    // Judged by the Service's age (created 2026-01-10), not by the 0.9 s of polling.
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.summary.contains("Ensuring load balancer"),
        "{}",
        f.summary
    );
    let m = f.measurement("waited_without_address").unwrap();
    assert_eq!(m.samples, u64::from(p.polls));
}

#[tokio::test]
async fn audit_polls_pending_load_balancers_when_asked() {
    let cluster = recorded().lb_after("delayed-lb", Duration::from_millis(300), "35.9.9.9");
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let a = audit_cluster(
        server.client(),
        &K8sConfig {
            lb_wait_s: 1.5,
            ..cfg()
        },
    )
    .await;
    let f = find(&a.outcome.findings, "NET-LB", "Service/delayed-lb");
    assert!(
        f.status == Status::Pass && f.summary.contains("35.9.9.9"),
        "{}",
        f.summary
    );
    assert!(f.measurement("time_to_external_address").is_some());
    let never = find(&a.outcome.findings, "NET-LB", "Service/never-lb");
    assert_ne!(never.status, Status::Pass);
}

#[tokio::test]
async fn missing_service_is_an_error_naming_it() {
    let server = FakeApiServer::start(recorded(), "agents").await.unwrap();
    let e = poll_external_ip(&server.client(), "agents", "nope", Duration::from_secs(1))
        .await
        .unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("get services/nope in namespace agents") && s.contains("404"),
        "{s}"
    );
}

/// Cancelled before the cluster was read: the live cluster is still listed,
/// not measured, saying the audit was interrupted, and counted unreached.
#[tokio::test]
async fn a_cancel_before_the_cluster_lists_it_as_interrupted() {
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let k = K8sConfig {
        context: Some("nowhere".into()),
        ..cfg()
    };
    let a = cockpit_k8s::audit(&k, &cancel).await;
    assert!(a.outcome.interrupted);
    assert_eq!((a.outcome.subjects, a.outcome.reached), (1, 0));
    let f = &a.outcome.findings[0];
    assert_eq!(
        f.status,
        Status::NotMeasured,
        "{}",
        dump(&a.outcome.findings)
    );
    assert!(f.summary.contains("interrupted"), "{}", f.summary);
    assert_eq!(f.subject.as_deref(), Some("kube context nowhere"));
}

/// The recorded lists, edited: `edit(path, items)` may change any list.
fn recorded_edited(edit: impl Fn(&str, &mut Vec<serde_json::Value>)) -> FakeCluster {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cluster/recorded.json"
    ));
    let mut lists: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let mut cluster = FakeCluster::new();
    for (path, list) in lists.iter_mut() {
        let kind = list["kind"]
            .as_str()
            .unwrap()
            .trim_end_matches("List")
            .to_string();
        let mut items = list["items"].as_array().cloned().unwrap_or_default();
        edit(path, &mut items);
        cluster = cluster.with_list(path, &kind, items);
    }
    cluster
}

/// The verdicts the recorded cluster does not show: OBS-EVENTS passing
/// (no Warning event), CMP-AUTOPILOT warning (Standard nodes, no Autopilot
/// annotation), OBS-RESTARTS warning (restarts without a crash loop).
#[tokio::test]
async fn the_other_verdicts_of_events_autopilot_and_restarts() {
    let cluster = recorded_edited(|path, items| {
        if path.ends_with("/events") {
            items.retain(|e| e["type"] == "Normal");
            assert!(!items.is_empty(), "the recorded events include Normal ones");
        }
        if path == "api/v1/nodes" {
            for (i, n) in items.iter_mut().enumerate() {
                n["metadata"]["name"] = format!("gke-prod-default-pool-{i}").into();
                let labels = n["metadata"]["labels"].as_object_mut().unwrap();
                labels.retain(|k, _| !k.starts_with("cloud.google.com/compute-class"));
                labels.insert(
                    "kubernetes.io/hostname".into(),
                    format!("gke-prod-default-pool-{i}").into(),
                );
            }
        }
        if path.ends_with("/pods") {
            for p in items.iter_mut() {
                if let Some(a) = p["metadata"]["annotations"].as_object_mut() {
                    a.retain(|k, _| !k.contains("autopilot.gke.io"));
                }
                let healthy_agent = p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("chat-agent"));
                if healthy_agent {
                    for c in p["status"]["containerStatuses"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                    {
                        c["restartCount"] = 2.into();
                    }
                }
            }
        }
    });
    let server = FakeApiServer::start(cluster, "agents").await.unwrap();
    let a = audit_cluster(server.client(), &cfg()).await;
    let fs = &a.outcome.findings;
    let events: Vec<&Finding> = fs
        .iter()
        .filter(|f| f.check_id.as_str() == "OBS-EVENTS")
        .collect();
    assert_eq!(events.len(), 1, "{}", dump(fs));
    assert_eq!(events[0].status, Status::Pass, "{}", dump(fs));
    assert!(events[0].summary.contains("no Warning events"));
    let ap = find(fs, "CMP-AUTOPILOT", "cluster");
    assert_eq!(ap.status, Status::Warn, "{}", dump(fs));
    assert!(
        ap.summary.contains("no Autopilot evidence"),
        "{}",
        ap.summary
    );
    let restarts = find(fs, "OBS-RESTARTS", "Deployment/chat-agent");
    assert_eq!(restarts.status, Status::Warn, "{}", dump(fs));
    assert!(
        restarts.summary.contains("restart(s)"),
        "{}",
        restarts.summary
    );
}
