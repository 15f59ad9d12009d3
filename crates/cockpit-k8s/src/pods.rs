//! The agent pods of a namespace as a monitor reads them on an interval
//! (Mission Control's `[kubernetes]` row): Deployments, StatefulSets and
//! Pods listed (read-only, one page of at most [`LIST_LIMIT`] each, each
//! call under a timeout), reduced to plain figures: ready against desired
//! replicas, each pod's readiness with the reason it is not ready, and its
//! containers' restart counters.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::K8sError;
use crate::cluster::{LIST_LIMIT, api_error};
use crate::object::{Role, role_of, selector_matches};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct PodsQuery {
    pub namespace: String,
    /// A label selector (`app.kubernetes.io/part-of=chat`) sent with each
    /// list; with one, every workload it selects is read, whatever its role.
    pub label_selector: Option<String>,
    /// Workload names that are agents / retrieval backends (`[kubernetes]
    /// agents` / `retrieval`), as the audit detects roles.
    pub agents: Vec<String>,
    pub retrieval: Vec<String>,
    /// Timeout of each list call.
    pub timeout: Duration,
}

/// The workloads read, with their pods.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetPods {
    pub workloads: Vec<WorkloadPods>,
    /// A list came back full ([`LIST_LIMIT`] objects): there may be more.
    pub truncated: bool,
}

/// One Deployment or StatefulSet and its pods.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadPods {
    /// `Deployment` or `StatefulSet`.
    pub kind: &'static str,
    pub name: String,
    /// `agent`, `retrieval` or `other` (only with a label selector).
    pub role: &'static str,
    /// `spec.replicas` (1 when unset, as the API defaults it).
    pub desired: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    pub pods: Vec<PodState>,
}

/// One pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    pub name: String,
    /// `metadata.uid`, to tell a replaced pod of the same name apart.
    pub uid: String,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// `status.phase` (`Running`, `Pending`, …).
    pub phase: String,
    /// Why it is not ready: a container's waiting or terminated reason
    /// (`CrashLoopBackOff`, `ImagePullBackOff`, `OOMKilled`), else the
    /// failing condition's reason (`Unschedulable`), else the phase.
    pub reason: Option<String>,
    /// `(container, restartCount)` of each container.
    pub restarts: Vec<(String, u32)>,
}

/// A list call that failed: the error names verb and resource; `kind` is
/// `forbidden` (403), `unauthorized` (401), `timeout`, or `api` (any other
/// failure, a refused connection included).
#[derive(Debug)]
pub struct ListFailure {
    pub kind: &'static str,
    pub error: K8sError,
}

impl std::fmt::Display for ListFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// List the Deployments, StatefulSets and Pods of `q.namespace` and keep
/// the workloads that are agents or retrieval backends (every workload
/// the selector picks, with one), each with the pods its selector picks.
/// Read-only; the first list that fails ends the reading.
pub async fn read_fleet_pods(client: &Client, q: &PodsQuery) -> Result<FleetPods, ListFailure> {
    let mut out = FleetPods::default();
    let deployments: Vec<Deployment> = list(client, q, "deployments", &mut out.truncated).await?;
    let statefulsets: Vec<StatefulSet> =
        list(client, q, "statefulsets", &mut out.truncated).await?;
    let pods: Vec<Pod> = list(client, q, "pods", &mut out.truncated).await?;
    let deployments = deployments.into_iter().map(|d| {
        let spec = d.spec;
        let ready = d.status.and_then(|s| s.ready_replicas);
        (
            "Deployment",
            d.metadata,
            spec.replicas,
            ready,
            spec.selector,
        )
    });
    let statefulsets = statefulsets.into_iter().map(|s| {
        let spec = s.spec;
        let ready = s.status.and_then(|s| s.ready_replicas);
        (
            "StatefulSet",
            s.metadata,
            spec.replicas,
            ready,
            spec.selector,
        )
    });
    for (kind, meta, replicas, ready, selector) in deployments.chain(statefulsets) {
        let name = meta.name.unwrap_or_default();
        let role = match role_of(
            &name,
            &meta.labels.unwrap_or_default(),
            &q.agents,
            &q.retrieval,
        ) {
            Role::Agent => "agent",
            Role::Retrieval => "retrieval",
            _ if q.label_selector.is_some() => "other",
            _ => continue,
        };
        out.workloads.push(WorkloadPods {
            kind,
            name,
            role,
            desired: u32::try_from(replicas.unwrap_or(1)).unwrap_or(0),
            ready: u32::try_from(ready.unwrap_or(0)).unwrap_or(0),
            pods: pods_of(&pods, &selector),
        });
    }
    Ok(out)
}

/// The pods `selector` picks (an empty selector picks none: a workload
/// always has one).
fn pods_of(pods: &[Pod], selector: &LabelSelector) -> Vec<PodState> {
    let empty = selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty);
    if empty {
        return Vec::new();
    }
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| selector_matches(selector, l))
        })
        .map(pod_state)
        .collect()
}

fn pod_state(p: &Pod) -> PodState {
    let status = p.status.clone().unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    let ready = conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let containers = status.container_statuses.unwrap_or_default();
    let phase = status.phase.unwrap_or_else(|| "Unknown".into());
    let container_reason = containers.iter().filter(|c| !c.ready).find_map(|c| {
        let state = c.state.as_ref()?;
        (state.waiting.as_ref().and_then(|w| w.reason.clone()))
            .or_else(|| state.terminated.as_ref().and_then(|t| t.reason.clone()))
    });
    let condition_reason = conditions
        .iter()
        .filter(|c| c.status != "True")
        .find_map(|c| c.reason.clone());
    PodState {
        name: p.metadata.name.clone().unwrap_or_default(),
        uid: p.metadata.uid.clone().unwrap_or_default(),
        ready,
        reason: (!ready).then(|| {
            container_reason
                .or(condition_reason)
                .unwrap_or_else(|| phase.clone())
        }),
        phase,
        restarts: containers
            .iter()
            .map(|c| (c.name.clone(), u32::try_from(c.restart_count).unwrap_or(0)))
            .collect(),
    }
}

/// One page of `resource` in the namespace, under the timeout.
async fn list<K>(
    client: &Client,
    q: &PodsQuery,
    resource: &'static str,
    truncated: &mut bool,
) -> Result<Vec<K>, ListFailure>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), &q.namespace);
    let mut lp = ListParams::default().limit(LIST_LIMIT);
    if let Some(s) = &q.label_selector {
        lp = lp.labels(s);
    }
    let scope = format!("{resource} in namespace {}", q.namespace);
    match tokio::time::timeout(q.timeout, api.list(&lp)).await {
        Ok(Ok(list)) => {
            *truncated |= list.items.len() >= LIST_LIMIT as usize;
            Ok(list.items)
        }
        Ok(Err(e)) => {
            let kind = match &e {
                kube::Error::Api(s) if s.code == 403 => "forbidden",
                kube::Error::Api(s) if s.code == 401 => "unauthorized",
                _ => "api",
            };
            Err(ListFailure {
                kind,
                error: api_error("list", &scope, e),
            })
        }
        Err(_) => Err(ListFailure {
            kind: "timeout",
            error: K8sError::Api {
                verb: "list",
                resource: scope,
                message: format!("timed out after {:.1} s", q.timeout.as_secs_f64()),
            },
        }),
    }
}
