//! The objects the checks read, whether they came from manifest files or a
//! live cluster: where each one is ([`Origin`]), the workloads reduced to
//! what every check needs ([`Workload`]), and everything else audited in one
//! [`Inventory`].

use std::collections::BTreeMap;
use std::sync::Arc;

use cockpit_core::{Finding, Location};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    Container, Event, Node, Pod, PodTemplateSpec, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The text of one YAML document and the line it starts on, to find the line
/// of a key inside it.
#[derive(Debug)]
pub struct DocText {
    pub path: String,
    /// 1-based line of the document's first line in its file.
    pub first_line: u32,
    pub text: String,
}

/// Where an object is: `namespace/Kind/name`, and for files `file:line`.
#[derive(Debug, Clone)]
pub struct Origin {
    pub namespace: Option<String>,
    pub kind: String,
    pub name: String,
    /// The document the object was read from (manifest audits only).
    pub doc: Option<Arc<DocText>>,
}

impl Origin {
    /// A live object.
    pub fn live(namespace: Option<String>, kind: &str, name: &str) -> Self {
        Origin {
            namespace,
            kind: kind.to_string(),
            name: name.to_string(),
            doc: None,
        }
    }

    /// `namespace/Kind/name` (or `Kind/name` without a namespace).
    pub fn object_path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The 1-based line of the first line at or after the document start
    /// whose text contains `needle`; the document's first line otherwise.
    pub fn line_of(&self, needle: &str) -> Option<u32> {
        let doc = self.doc.as_ref()?;
        let offset = doc
            .text
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or(0);
        Some(doc.first_line + offset as u32)
    }

    /// `file:line` of the document for files, the object otherwise.
    pub fn location(&self) -> Location {
        self.location_at(None)
    }

    /// The location of the first line containing `needle` (files), or the object.
    pub fn location_at(&self, needle: Option<&str>) -> Location {
        match &self.doc {
            Some(doc) => Location::File {
                path: doc.path.clone(),
                line: Some(match needle {
                    Some(n) => self.line_of(n).unwrap_or(doc.first_line),
                    None => doc.first_line,
                }),
                column: None,
            },
            None => Location::Object {
                namespace: self.namespace.clone(),
                kind: self.kind.clone(),
                name: self.name.clone(),
            },
        }
    }

    /// The location of the first of `needles` found in the document.
    pub fn location_at_any(&self, needles: &[&str]) -> Location {
        let found = needles.iter().find(|n| {
            self.doc
                .as_ref()
                .is_some_and(|d| d.text.lines().any(|l| l.contains(**n)))
        });
        self.location_at(found.copied())
    }

    /// Attach subject (`namespace/Kind/name`) and location to a finding.
    pub fn locate(&self, f: Finding) -> Finding {
        f.with_subject(self.object_path())
            .with_location(self.location())
    }

    /// Same, with the location at the line of `needle` in files.
    pub fn locate_at(&self, f: Finding, needle: &str) -> Finding {
        f.with_subject(self.object_path())
            .with_location(self.location_at(Some(needle)))
    }
}

/// The kind of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    /// A Knative `serving.knative.dev/v1` Service (Cloud Run).
    KnativeService,
}

/// What a workload does for the agent, from labels and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Model-serving or reasoning agent.
    Agent,
    /// Retrieval backend (vector store).
    Retrieval,
    Other,
}

/// A Deployment, StatefulSet or Knative Service reduced to what the checks read.
#[derive(Debug, Clone)]
pub struct Workload {
    pub origin: Origin,
    pub kind: WorkloadKind,
    pub role: Role,
    pub labels: BTreeMap<String, String>,
    /// Object annotations (Knative: the Service's own).
    pub annotations: BTreeMap<String, String>,
    /// `spec.replicas` as written (`None`: unset).
    pub replicas: Option<i32>,
    /// `status.readyReplicas` (live only).
    pub ready_replicas: Option<i32>,
    pub selector: Option<LabelSelector>,
    /// The pod template (Knative: the revision template).
    pub template: PodTemplateSpec,
}

impl Workload {
    /// The containers of the pod template (not init containers).
    pub fn containers(&self) -> &[Container] {
        self.template
            .spec
            .as_ref()
            .map(|s| s.containers.as_slice())
            .unwrap_or(&[])
    }

    /// Revision-template annotations (Knative) or pod-template annotations.
    pub fn template_annotation(&self, key: &str) -> Option<&str> {
        self.template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(key))
            .map(String::as_str)
    }

    /// Labels of the pods this workload creates.
    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        self.template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    /// Whether `labels` satisfy the workload's selector (or, without one,
    /// carry every pod-template label).
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        match &self.selector {
            Some(s) => selector_matches(s, labels),
            None => {
                let own = self.pod_labels();
                !own.is_empty() && own.iter().all(|(k, v)| labels.get(k) == Some(v))
            }
        }
    }

    /// A container's name for findings (Cloud Run containers may be unnamed).
    pub fn container_name(c: &Container) -> &str {
        if c.name.is_empty() {
            "container"
        } else {
            c.name.as_str()
        }
    }

    pub fn is_knative(&self) -> bool {
        self.kind == WorkloadKind::KnativeService
    }
}

/// Whether `labels` satisfy a label selector (`matchLabels` and
/// `matchExpressions`). An empty selector matches everything, as in the API.
pub fn selector_matches(s: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = s
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expr_ok = s.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    labels_ok && expr_ok
}

/// Whether a Service's `spec.selector` (plain map) selects `labels`.
pub fn map_selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Everything one audit read, from files or from a cluster.
#[derive(Debug, Default)]
pub struct Inventory {
    pub workloads: Vec<Workload>,
    pub services: Vec<(Origin, Service)>,
    pub hpas: Vec<(Origin, HorizontalPodAutoscaler)>,
    pub pdbs: Vec<(Origin, PodDisruptionBudget)>,
    pub service_accounts: Vec<(Origin, ServiceAccount)>,
    /// Live only: the objects below are empty for manifest audits.
    pub live: bool,
    pub pods: Vec<Pod>,
    pub nodes: Vec<Node>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub events: Vec<Event>,
    /// Live: LoadBalancer Services polled for their address, by name.
    pub lb_polls: BTreeMap<String, crate::lb::LbPoll>,
}

impl Inventory {
    /// The pods (live) that belong to a workload.
    pub fn pods_of<'a>(&'a self, w: &'a Workload) -> impl Iterator<Item = &'a Pod> + 'a {
        self.pods.iter().filter(move |p| {
            p.metadata.namespace == w.origin.namespace
                && p.metadata.labels.as_ref().is_some_and(|l| w.selects(l))
        })
    }

    /// The HPA whose scale target is this workload.
    pub fn hpa_of(&self, w: &Workload) -> Option<&(Origin, HorizontalPodAutoscaler)> {
        self.hpas.iter().find(|(o, h)| {
            o.namespace == w.origin.namespace
                && h.spec.scale_target_ref.name == w.origin.name
                && h.spec.scale_target_ref.kind == w.origin.kind
        })
    }

    /// Services whose selector picks the workload's pods.
    pub fn services_of<'a>(
        &'a self,
        w: &'a Workload,
    ) -> impl Iterator<Item = &'a (Origin, Service)> + 'a {
        let labels = w.pod_labels();
        self.services.iter().filter(move |(o, s)| {
            o.namespace == w.origin.namespace
                && s.spec
                    .as_ref()
                    .and_then(|sp| sp.selector.as_ref())
                    .is_some_and(|sel| map_selects(sel, &labels))
        })
    }

    /// The node a pod runs on.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
    }
}

/// The role of a workload: configured names first, then the
/// `app.kubernetes.io/component` label, then its name.
pub fn role_of(
    name: &str,
    labels: &BTreeMap<String, String>,
    agents: &[String],
    retrieval: &[String],
) -> Role {
    if agents.iter().any(|a| a == name) {
        return Role::Agent;
    }
    if retrieval.iter().any(|r| r == name) {
        return Role::Retrieval;
    }
    let component = labels
        .get("app.kubernetes.io/component")
        .or_else(|| labels.get("agentops.dev/role"))
        .map(|s| s.to_ascii_lowercase());
    match component.as_deref() {
        Some("agent" | "model-server" | "inference" | "llm") => return Role::Agent,
        Some("retrieval" | "vector-store" | "vectordb" | "vector-db") => return Role::Retrieval,
        _ => {}
    }
    let n = name.to_ascii_lowercase();
    if n.contains("agent") {
        Role::Agent
    } else if n.contains("retriev") || n.contains("vector") {
        Role::Retrieval
    } else {
        Role::Other
    }
}
