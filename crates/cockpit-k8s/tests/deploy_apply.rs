//! Server-side apply, the rollout watch and the LoadBalancer against the
//! in-process fake API server (its object store: managedFields, dryRun,
//! 409 conflicts, watches, status on a schedule).

use std::time::Duration;

use cockpit_k8s::K8sError;
use cockpit_k8s::deploy::{
    ApplyMode, DeploySettings, Target, WatchEnd, apply, render_checked, watch_rollout,
};
use cockpit_k8s::testing::{FakeApiServer, FakeCluster, RolloutPlan};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const DEPLOYMENT: &str = "apis/apps/v1/namespaces/agents/deployments/reference-agent";

fn objects() -> Vec<cockpit_k8s::deploy::Object> {
    render_checked(&DeploySettings::reference(), Target::Gke)
        .expect("renders")
        .objects
}

#[tokio::test]
async fn dry_run_changes_nothing_and_apply_stores_with_managed_fields() {
    let fake = FakeApiServer::start(FakeCluster::new().with_namespace("agents"), "agents")
        .await
        .unwrap();
    let client = fake.client();
    let dry = apply(&client, "agents", &objects(), ApplyMode::DryRun, false)
        .await
        .expect("dry run");
    assert_eq!(dry.len(), 5);
    assert!(dry.iter().all(|a| a.created), "{dry:?}");
    assert_eq!(dry[1].object, "agents/Deployment/reference-agent");
    let patches: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("PATCH"))
        .collect();
    assert_eq!(patches.len(), 5);
    assert!(
        patches
            .iter()
            .all(|r| r.contains("dryRun=All") && r.contains("fieldManager=agentops-cockpit")),
        "{patches:?}"
    );
    // Nothing stored: a GET of the Deployment is 404.
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), "agents");
    assert!(api.get_opt("reference-agent").await.unwrap().is_none());

    let applied = apply(&client, "agents", &objects(), ApplyMode::Apply, false)
        .await
        .expect("apply");
    assert!(applied.iter().all(|a| a.created));
    let live = api.get("reference-agent").await.expect("stored");
    let managers: Vec<String> = live
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, vec!["agentops-cockpit".to_string()]);

    // Applying the same again changes nothing; a new image is one change.
    let again = apply(&client, "agents", &objects(), ApplyMode::DryRun, false)
        .await
        .unwrap();
    assert!(
        again.iter().all(|a| !a.created && a.changes.is_empty()),
        "{again:?}"
    );
    let newer = DeploySettings {
        image: "us-docker.pkg.dev/agentops-demo/agents/reference-agent@sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
        ..DeploySettings::reference()
    };
    let objs = render_checked(&newer, Target::Gke).unwrap().objects;
    let diff = apply(&client, "agents", &objs, ApplyMode::DryRun, false)
        .await
        .unwrap();
    assert_eq!(diff[1].changes.len(), 1, "{:?}", diff[1].changes);
    assert!(
        diff[1].changes[0].starts_with("~ /spec/template/spec/containers/0/image: ")
            && diff[1].changes[0].contains("sha256:1111"),
        "{:?}",
        diff[1].changes
    );
}

#[tokio::test]
async fn a_field_owned_by_another_manager_is_a_conflict_naming_it() {
    let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "reference-agent", "namespace": "agents", "resourceVersion": "1"},
        "spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "other@sha256:00"}]}}}});
    let fake = FakeApiServer::start(
        FakeCluster::new().with_namespace("agents").with_object(
            DEPLOYMENT,
            "kubectl-client-side-apply",
            live,
        ),
        "agents",
    )
    .await
    .unwrap();
    match apply(
        &fake.client(),
        "agents",
        &objects(),
        ApplyMode::DryRun,
        false,
    )
    .await
    {
        Err(K8sError::Conflict { object, message }) => {
            assert_eq!(object, "deployments/reference-agent");
            assert!(
                message.contains("kubectl-client-side-apply")
                    && message.contains("spec.template.spec.containers.0.image"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_missing_namespace_is_created_only_when_asked() {
    let fake = FakeApiServer::start(FakeCluster::new(), "agents")
        .await
        .unwrap();
    let client = fake.client();
    match apply(&client, "agents", &objects(), ApplyMode::Apply, false).await {
        Err(K8sError::NamespaceMissing(ns)) => assert_eq!(ns, "agents"),
        other => panic!("{other:?}"),
    }
    assert!(!fake.requests().iter().any(|r| r.starts_with("PATCH")));
    // A dry run lists the namespace and every object as to be created.
    let dry = apply(&client, "agents", &objects(), ApplyMode::DryRun, true)
        .await
        .expect("dry run with --create-namespace");
    assert_eq!(dry.len(), 6);
    assert!(dry.iter().all(|a| a.created), "{dry:?}");
    let done = apply(&client, "agents", &objects(), ApplyMode::Apply, true)
        .await
        .expect("namespace created, then the objects");
    assert_eq!(done[0].object, "Namespace/agents");
    assert_eq!(done.len(), 6);
}

#[tokio::test]
async fn a_forbidden_patch_names_the_resource_and_verb() {
    let fake = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .forbid_patch("apis/apps/v1/namespaces/agents/deployments"),
        "agents",
    )
    .await
    .unwrap();
    let e = apply(
        &fake.client(),
        "agents",
        &objects(),
        ApplyMode::DryRun,
        false,
    )
    .await
    .unwrap_err();
    let s = e.to_string();
    assert!(
        s.starts_with("patch deployments/reference-agent") && s.contains("403"),
        "{s}"
    );
}

#[tokio::test]
async fn rollout_is_watched_until_available_then_the_load_balancer_gets_an_address() {
    let fake = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .rollout(RolloutPlan::AvailableAfter(Duration::from_millis(300)))
            .lb_after("reference-agent", Duration::from_millis(500), "203.0.113.7"),
        "agents",
    )
    .await
    .unwrap();
    let client = fake.client();
    apply(&client, "agents", &objects(), ApplyMode::Apply, false)
        .await
        .unwrap();
    let r = watch_rollout(
        &client,
        "agents",
        "reference-agent",
        Duration::from_secs(30),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.end, WatchEnd::Done, "{r:?}");
    assert_eq!((r.replicas, r.available), (1, 1));
    assert!(
        fake.requests()
            .iter()
            .any(|q| q.contains("/deployments?") && q.contains("watch=true")),
        "{:?}",
        fake.requests()
    );
    let lb = cockpit_k8s::watch_external_ip(
        &client,
        "agents",
        "reference-agent",
        Duration::from_secs(30),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
    .expect("not cancelled");
    assert_eq!(lb.address.as_deref(), Some("203.0.113.7"));
    // Watched, not polled: one GET and a watch on the Service.
    assert!(
        fake.requests()
            .iter()
            .any(|q| q.contains("/services?") && q.contains("watch=true")),
        "{:?}",
        fake.requests()
    );
    assert!(lb.polls <= 4, "{lb:?}");
}

#[tokio::test]
async fn a_rollout_that_never_becomes_available_ends_at_the_deadline_with_the_pods_problems() {
    let pod = json!({"metadata": {"name": "reference-agent-7d9-abcde", "namespace": "agents", "labels": {"app": "reference-agent"}},
        "status": {"containerStatuses": [{"name": "agent", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}});
    let event = json!({"metadata": {"name": "e1", "namespace": "agents"}, "type": "Warning", "reason": "Failed",
        "message": "Failed to pull image: not found",
        "involvedObject": {"kind": "Pod", "name": "reference-agent-7d9-abcde"}});
    let fake = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .rollout(RolloutPlan::Never)
            .with_list("api/v1/namespaces/agents/pods", "Pod", vec![pod])
            .with_list("api/v1/namespaces/agents/events", "Event", vec![event]),
        "agents",
    )
    .await
    .unwrap();
    let client = fake.client();
    apply(&client, "agents", &objects(), ApplyMode::Apply, false)
        .await
        .unwrap();
    let r = watch_rollout(
        &client,
        "agents",
        "reference-agent",
        Duration::from_millis(800),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.end, WatchEnd::TimedOut);
    assert_eq!(r.available, 0);
    let text = r.problems.join("\n");
    assert!(text.contains("ImagePullBackOff"), "{text}");
    assert!(text.contains("Failed to pull image"), "{text}");
}

#[tokio::test]
async fn a_cancelled_watch_stops_and_deletes_nothing() {
    let fake = FakeApiServer::start(
        FakeCluster::new()
            .with_namespace("agents")
            .rollout(RolloutPlan::Never),
        "agents",
    )
    .await
    .unwrap();
    let client = fake.client();
    apply(&client, "agents", &objects(), ApplyMode::Apply, false)
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.cancel();
    });
    let r = watch_rollout(
        &client,
        "agents",
        "reference-agent",
        Duration::from_secs(120),
        &cancel,
    )
    .await
    .unwrap();
    assert_eq!(r.end, WatchEnd::Cancelled);
    assert!(!fake.requests().iter().any(|q| q.starts_with("DELETE")));
}

#[tokio::test]
async fn a_watch_quiet_past_the_read_timeout_is_reopened_until_the_address_comes() {
    // The test client's read timeout is 5 s: the first watch stream goes
    // quiet past it and fails; the address arrives at 6 s on a re-opened one.
    let fake = FakeApiServer::start(
        FakeCluster::new().with_namespace("agents").lb_after(
            "reference-agent",
            Duration::from_secs(6),
            "203.0.113.9",
        ),
        "agents",
    )
    .await
    .unwrap();
    let client = fake.client();
    apply(&client, "agents", &objects(), ApplyMode::Apply, false)
        .await
        .unwrap();
    let lb = cockpit_k8s::watch_external_ip(
        &client,
        "agents",
        "reference-agent",
        Duration::from_secs(60),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
    .expect("not cancelled");
    assert_eq!(lb.address.as_deref(), Some("203.0.113.9"), "{lb:?}");
    let watches = fake
        .requests()
        .iter()
        .filter(|q| q.contains("/services?") && q.contains("watch=true"))
        .count();
    assert!(watches >= 2, "re-opened after the quiet stream: {watches}");

    // A Service that is not there is an error naming it, not a wait.
    let never = cockpit_k8s::watch_external_ip(
        &client,
        "agents",
        "no-such-service",
        Duration::from_secs(1),
        &CancellationToken::new(),
    )
    .await;
    assert!(never.is_err(), "a Service that does not exist is an error");
}
