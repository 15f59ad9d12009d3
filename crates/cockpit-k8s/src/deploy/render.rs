//! `[deploy]` → typed k8s-openapi objects for GKE (Autopilot-compatible).
//! Each field written is there for a check (docs/deploy.md lists them).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, ExecAction,
    HTTPGetAction, Lifecycle, LifecycleHandler, NodeAffinity, NodeSelectorRequirement,
    NodeSelectorTerm, PodSecurityContext, PodSpec, PodTemplateSpec, PreferredSchedulingTerm, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, Service,
    ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::{DeploySettings, Target, cloud_run};
use crate::K8sError;

/// The field manager of every server-side apply, and the
/// `app.kubernetes.io/managed-by` label of every rendered object.
pub const FIELD_MANAGER: &str = "agentops-cockpit";

/// The Workload Identity annotation of a Kubernetes ServiceAccount.
pub const GSA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
const PORT_NAME: &str = "http";

/// One rendered object, serialised with its `apiVersion` and `kind`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Object {
    ServiceAccount(ServiceAccount),
    Deployment(Box<Deployment>),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    PodDisruptionBudget(PodDisruptionBudget),
    Service(Service),
    KnativeService(Box<cloud_run::KnativeService>),
}

/// The objects of `target`, in apply order (the ServiceAccount before the
/// Deployment that runs as it). Call [`DeploySettings::validate`] first.
pub fn render(s: &DeploySettings, target: Target) -> Result<Vec<Object>, K8sError> {
    Ok(match target {
        Target::Gke => vec![
            Object::ServiceAccount(service_account(s)),
            Object::Deployment(Box::new(deployment(s)?)),
            Object::HorizontalPodAutoscaler(hpa(s)),
            Object::PodDisruptionBudget(pdb(s)),
            Object::Service(service(s)),
        ],
        Target::CloudRun => vec![Object::KnativeService(Box::new(cloud_run::service(s)?))],
    })
}

/// The objects as one multi-document YAML text.
pub fn to_yaml(objects: &[Object]) -> Result<String, K8sError> {
    let mut out = String::new();
    for o in objects {
        let doc = serde_saphyr::to_string(o).map_err(|e| K8sError::Render(e.to_string()))?;
        out.push_str("---\n");
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// The labels of every object: name, component (how the checks know it is
/// an agent), manager.
pub(super) fn labels(s: &DeploySettings) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), s.name.clone()),
        ("app.kubernetes.io/component".into(), "agent".into()),
        ("app.kubernetes.io/managed-by".into(), FIELD_MANAGER.into()),
    ])
}

fn selector_labels(s: &DeploySettings) -> BTreeMap<String, String> {
    BTreeMap::from([("app".into(), s.name.clone())])
}

fn selector(s: &DeploySettings) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(s)),
        ..LabelSelector::default()
    }
}

fn meta(s: &DeploySettings) -> ObjectMeta {
    ObjectMeta {
        name: Some(s.name.clone()),
        namespace: Some(s.namespace.clone()),
        labels: Some(labels(s)),
        ..ObjectMeta::default()
    }
}

/// CIC-WI (the GSA annotation, no key) and CIC-TOKEN (no token automount).
fn service_account(s: &DeploySettings) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(s.ksa().to_string()),
            annotations: Some(BTreeMap::from([(GSA_ANNOTATION.into(), s.gsa.clone())])),
            ..meta(s)
        },
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// No `replicas`: the HPA owns the count (an applied `replicas` would fight
/// it); its `minReplicas` keeps the warm floor (CMP-WARM).
#[allow(
    clippy::useless_conversion,
    reason = "`spec` is an `Option` in older Kubernetes versions of k8s-openapi"
)]
fn deployment(s: &DeploySettings) -> Result<Deployment, K8sError> {
    let mut pod_labels = labels(s);
    pod_labels.extend(selector_labels(s));
    Ok(Deployment {
        metadata: meta(s),
        spec: DeploymentSpec {
            selector: selector(s),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(s)?),
            },
            ..DeploymentSpec::default()
        }
        .into(),
        ..Deployment::default()
    })
}

fn pod_spec(s: &DeploySettings) -> Result<PodSpec, K8sError> {
    Ok(PodSpec {
        service_account_name: Some(s.ksa().to_string()),
        automount_service_account_token: Some(false),
        node_selector: s
            .compute_class
            .as_ref()
            .map(|c| BTreeMap::from([("cloud.google.com/compute-class".to_string(), c.clone())])),
        affinity: s.affinity_zone.as_ref().map(|z| zone_preference(z)),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: ZONE_LABEL.into(),
            // A preferred zone must not make the spread unschedulable.
            when_unsatisfiable: if s.affinity_zone.is_some() {
                "ScheduleAnyway".into()
            } else {
                "DoNotSchedule".into()
            },
            label_selector: Some(selector(s)),
            ..TopologySpreadConstraint::default()
        }]),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(s, true)?],
        ..PodSpec::default()
    })
}

/// Regional affinity: the retrieval backend's zone preferred, not required
/// — a required zone would pin every replica to one zone (CMP-SPREAD fails).
fn zone_preference(zone: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                PreferredSchedulingTerm {
                    weight: 100,
                    preference: NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: ZONE_LABEL.into(),
                            operator: "In".into(),
                            values: Some(vec![zone.to_string()]),
                        }]),
                        ..NodeSelectorTerm::default()
                    },
                },
            ]),
            ..NodeAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// The agent container. `gke`: requests = limits (what Autopilot
/// enforces), all three probes, the warm-up hook, a non-privileged
/// security context; Cloud Run takes limits, startup and liveness probes.
pub(super) fn container(s: &DeploySettings, gke: bool) -> Result<Container, K8sError> {
    let sizing = BTreeMap::from([
        ("cpu".to_string(), Quantity(s.cpu.clone())),
        ("memory".to_string(), Quantity(s.memory.clone())),
    ]);
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: if gke {
                IntOrString::String(PORT_NAME.into())
            } else {
                IntOrString::Int(i32::from(s.port))
            },
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Probe::default()
    };
    Ok(Container {
        name: "agent".into(),
        image: Some(s.image.clone()),
        ports: Some(vec![ContainerPort {
            name: Some(if gke { PORT_NAME } else { "http1" }.into()),
            container_port: i32::from(s.port),
            ..ContainerPort::default()
        }]),
        env: redis_env(s, gke),
        resources: Some(ResourceRequirements {
            requests: gke.then(|| sizing.clone()),
            limits: Some(sizing),
            ..ResourceRequirements::default()
        }),
        // Model loading may take minutes: the startup probe allows 5 min
        // before liveness takes over.
        startup_probe: Some(probe(&s.health_path, 5, 60)),
        readiness_probe: gke.then(|| probe(&s.ready_path, 5, 3)),
        liveness_probe: Some(probe(&s.health_path, 10, 3)),
        lifecycle: if gke { warmup_hook(s)? } else { None },
        security_context: gke.then(|| SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    })
}

/// `REDIS_URL` from the Secret (GKE: a Kubernetes Secret's key; Cloud
/// Run: the latest version of a Secret Manager secret) — never the value.
fn redis_env(s: &DeploySettings, gke: bool) -> Option<Vec<EnvVar>> {
    let secret = s.redis_secret.as_ref()?;
    Some(vec![EnvVar {
        name: "REDIS_URL".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.clone(),
                key: if gke {
                    s.redis_secret_key.clone()
                } else {
                    "latest".into()
                },
                ..SecretKeySelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }])
}

/// The postStart hook: wait (at most 120 s) for the health path, then send
/// each warm-up prompt to the chat path (60 s each), so the KV / prefix
/// cache is hot before the probes start (the kubelet runs no probe before
/// postStart returns). It always exits 0: a failed warm-up must not kill
/// the container. Uses curl, else wget, from the image.
fn warmup_hook(s: &DeploySettings) -> Result<Option<Lifecycle>, K8sError> {
    if s.warmup_prompts.is_empty() {
        return Ok(None);
    }
    let base = format!("http://127.0.0.1:{}", s.port);
    let mut bodies = Vec::new();
    for p in &s.warmup_prompts {
        let body = serde_json::json!({
            "messages": [{"role": "user", "content": p}],
            "max_tokens": 1,
            "stream": false,
        })
        .to_string();
        let quoted = shlex::try_quote(&body)
            .map_err(|e| K8sError::Render(format!("warm-up prompt: {e}")))?;
        bodies.push(quoted.into_owned());
    }
    let script = format!(
        "get() {{ if command -v curl >/dev/null; then curl -fsS -o /dev/null -m 5 \"$1\"; else wget -q -O /dev/null -T 5 \"$1\"; fi; }}\n\
         post() {{ if command -v curl >/dev/null; then curl -fsS -o /dev/null -m 60 -H 'content-type: application/json' --data-binary \"$1\" {base}{chat}; else wget -q -O /dev/null -T 60 --header 'content-type: application/json' --post-data \"$1\" {base}{chat}; fi; }}\n\
         i=0; until get {base}{health} || [ $i -ge 120 ]; do i=$((i+1)); sleep 1; done\n\
         for body in {bodies}; do post \"$body\" || true; done\n\
         exit 0\n",
        chat = s.chat_path,
        health = s.health_path,
        bodies = bodies.join(" "),
    );
    Ok(Some(Lifecycle {
        post_start: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec!["/bin/sh".into(), "-c".into(), script]),
            }),
            ..LifecycleHandler::default()
        }),
        ..Lifecycle::default()
    }))
}

/// CMP-WARM / CMP-HPA: min ≥ 2 warm replicas, a ceiling above it.
#[allow(
    clippy::useless_conversion,
    reason = "`spec` is an `Option` in older Kubernetes versions of k8s-openapi"
)]
fn hpa(s: &DeploySettings) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: meta(s),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: s.name.clone(),
            },
            min_replicas: Some(i32::try_from(s.replicas).unwrap_or(i32::MAX)),
            max_replicas: i32::try_from(s.max_replicas).unwrap_or(i32::MAX),
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(
                            i32::try_from(s.target_cpu_percent).unwrap_or(100),
                        ),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }
        .into(),
        ..HorizontalPodAutoscaler::default()
    }
}

/// CMP-PDB: one pod at a time may be evicted by a node upgrade.
fn pdb(s: &DeploySettings) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(s),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(s)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// NET-LB: a LoadBalancer Service in front of the pods.
fn service(s: &DeploySettings) -> Service {
    Service {
        metadata: meta(s),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            selector: Some(selector_labels(s)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: i32::from(s.service_port),
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
