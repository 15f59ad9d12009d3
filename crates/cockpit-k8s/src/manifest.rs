//! Reading manifest files: multi-document YAML split at `---` with each
//! document's first line kept, every document parsed on its own (one bad
//! document is a finding; the others are still audited), Helm templates
//! recognised and skipped, objects sorted into an [`Inventory`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use cockpit_core::{Finding, Location, Status};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use crate::checks::manifest::CMP_MANIFEST;
use crate::input;
use crate::object::{DocText, Inventory, Origin, Workload, WorkloadKind, role_of};
use crate::{K8sConfig, K8sError};

/// Kinds that are valid Kubernetes objects but that no check reads.
const NOT_AUDITED: &[&str] = &[
    "ConfigMap",
    "Secret",
    "Namespace",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "DaemonSet",
    "Job",
    "CronJob",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "CustomResourceDefinition",
    "PriorityClass",
    "LimitRange",
    "ResourceQuota",
    "Gateway",
    "HTTPRoute",
    "GRPCRoute",
    "BackendConfig",
    "FrontendConfig",
    "ManagedCertificate",
    "ServiceMonitor",
    "PodMonitoring",
    "ComputeClass",
];

/// One YAML document of a file.
#[derive(Debug, PartialEq, Eq)]
pub struct RawDoc<'a> {
    /// 1-based line of the document's first line.
    pub first_line: u32,
    pub text: &'a str,
}

/// Split a YAML stream at document markers (`---` at column 0, `...`),
/// keeping each document's first line. Documents holding only comments and
/// blank lines are dropped. A `---` at column 0 cannot occur inside a block
/// scalar (its content is indented), so this matches the YAML grammar for
/// every manifest that is not a flow scalar spanning a marker.
pub fn split_documents(src: &str) -> Vec<RawDoc<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize; // byte offset of the current document
    let mut start_line = 1u32;
    let mut offset = 0usize;
    for (line_no, line) in (1u32..).zip(src.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ");
        if is_start || is_end {
            push(src, start, offset, start_line, &mut docs);
            if is_start && bare.len() > 3 {
                // `--- value`: the document starts on this line.
                start = offset + 3;
                start_line = line_no;
            } else {
                start = offset + line.len();
                start_line = line_no + 1;
            }
        }
        offset += line.len();
    }
    push(src, start, src.len(), start_line, &mut docs);
    docs
}

fn push<'a>(src: &'a str, from: usize, to: usize, first_line: u32, docs: &mut Vec<RawDoc<'a>>) {
    let text = &src[from..to];
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
    });
    if has_content {
        docs.push(RawDoc { first_line, text });
    }
}

/// Whether a file is a Helm (Go) template rather than YAML.
pub fn is_helm_template(src: &str) -> bool {
    src.lines().any(|l| {
        let t = l.trim_start();
        !t.starts_with('#') && (t.contains("{{") && t.contains("}}") || t.starts_with("{{"))
    })
}

/// What reading manifests produced.
#[derive(Debug, Default)]
pub struct Read {
    pub inventory: Inventory,
    /// CMP-MANIFEST findings: unreadable documents, skipped templates, kinds not audited.
    pub findings: Vec<Finding>,
    /// YAML documents read (objects or not).
    pub documents: usize,
}

/// Read every file into one inventory, each with the bounds of
/// [`crate::input`]. Stops between two files once `stop` says so (the
/// caller's cancellation), with what was read so far.
pub fn read_files(
    files: &[PathBuf],
    cfg: &K8sConfig,
    stop: &dyn Fn() -> bool,
) -> Result<Read, K8sError> {
    let mut read = Read::default();
    let mut total = 0u64;
    for file in files {
        if stop() {
            break;
        }
        let src = input::read_file(file)?;
        total += src.len() as u64;
        if total > input::MAX_TOTAL_BYTES {
            return Err(K8sError::TooLarge {
                path: file.clone(),
                limit_bytes: input::MAX_TOTAL_BYTES,
            });
        }
        read_text(&file.display().to_string(), &src, cfg, &mut read);
    }
    Ok(read)
}

/// Read one file's text; `path` names it in locations.
pub fn read_text(path: &str, src: &str, cfg: &K8sConfig, read: &mut Read) {
    let _span = tracing::debug_span!("manifest", path).entered();
    if is_helm_template(src) {
        read.findings.push(
            CMP_MANIFEST
                .finding(
                    Status::Skipped,
                    "Helm template (Go template syntax `{{ … }}`), not YAML: not read",
                )
                .with_location(Location::File {
                    path: path.to_string(),
                    line: None,
                    column: None,
                })
                .with_recommendation(
                    "Render the chart (`helm template … > rendered.yaml`) and audit the rendered manifests.",
                ),
        );
        return;
    }
    let mut not_audited: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for raw in split_documents(src) {
        read.documents += 1;
        let doc = Arc::new(DocText {
            path: path.to_string(),
            first_line: raw.first_line,
            text: raw.text.to_string(),
        });
        let value: Value = match serde_saphyr::from_str(raw.text) {
            Ok(v) => v,
            Err(e) => {
                let line = e
                    .location()
                    .map(|l| raw.first_line + (l.line() as u32).saturating_sub(1))
                    .unwrap_or(raw.first_line);
                let msg = first_line_of(&e.to_string());
                read.findings
                    .push(bad_document(path, line, format!("invalid YAML: {msg}")));
                continue;
            }
        };
        if let Err(message) = classify(value, &doc, cfg, read, &mut not_audited) {
            read.findings
                .push(bad_document(path, raw.first_line, message));
        }
    }
    if !not_audited.is_empty() {
        let list = not_audited
            .iter()
            .map(|(k, lines)| {
                let l = lines
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{k} (line {l})")
            })
            .collect::<Vec<_>>()
            .join("; ");
        let first = not_audited.values().flatten().min().copied();
        read.findings.push(
            CMP_MANIFEST
                .finding(Status::Skipped, format!("kinds no check reads: {list}"))
                .with_location(Location::File {
                    path: path.to_string(),
                    line: first,
                    column: None,
                }),
        );
    }
}

fn first_line_of(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

fn bad_document(path: &str, line: u32, message: String) -> Finding {
    CMP_MANIFEST
        .finding(Status::Error, format!("{path}:{line}: {message}"))
        .with_location(Location::File {
            path: path.to_string(),
            line: Some(line),
            column: None,
        })
        .with_recommendation("Fix the document (the other documents of the file were audited).")
}

#[derive(Deserialize)]
struct KnativeService {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<KnativeSpec>,
}

#[derive(Deserialize)]
struct KnativeSpec {
    #[serde(default)]
    template: Option<PodTemplateSpec>,
}

fn typed<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("not a valid {what}: {e}"))
}

/// Sort one document's object into the inventory.
fn classify(
    value: Value,
    doc: &Arc<DocText>,
    cfg: &K8sConfig,
    read: &mut Read,
    not_audited: &mut BTreeMap<String, Vec<u32>>,
) -> Result<(), String> {
    let Value::Object(map) = &value else {
        return Err("not a Kubernetes object (the document is not a mapping)".into());
    };
    let api = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if api.is_empty() || kind.is_empty() {
        return Err("not a Kubernetes object (no apiVersion or kind)".into());
    }
    let (api, kind) = (api.to_string(), kind.to_string());
    let origin = |meta: &ObjectMeta| Origin {
        namespace: meta.namespace.clone(),
        kind: kind.clone(),
        name: meta.name.clone().unwrap_or_else(|| "<unnamed>".into()),
        doc: Some(doc.clone()),
    };
    let inv = &mut read.inventory;
    match (api.as_str(), kind.as_str()) {
        ("v1", "List") => {
            let items = match value {
                Value::Object(mut m) => m.remove("items"),
                _ => None,
            };
            for item in items
                .and_then(|v| v.as_array().cloned())
                .unwrap_or_default()
            {
                classify(item, doc, cfg, read, not_audited)?;
            }
        }
        (a, k) if workload_kind(a, k).is_some() => {
            let wk = workload_kind(a, k).expect("a workload kind");
            inv.workloads.push(typed_workload(wk, value, &origin, cfg)?);
        }
        ("v1", "Service") => {
            let s: Service = typed(value, "v1 Service")?;
            inv.services.push((origin(&s.metadata), s));
        }
        ("autoscaling/v2" | "autoscaling/v1", "HorizontalPodAutoscaler") => {
            let h: HorizontalPodAutoscaler = typed(value, "HorizontalPodAutoscaler")?;
            inv.hpas.push((origin(&h.metadata), h));
        }
        ("policy/v1", "PodDisruptionBudget") => {
            let p: PodDisruptionBudget = typed(value, "policy/v1 PodDisruptionBudget")?;
            inv.pdbs.push((origin(&p.metadata), p));
        }
        ("v1", "ServiceAccount") => {
            let s: ServiceAccount = typed(value, "v1 ServiceAccount")?;
            inv.service_accounts.push((origin(&s.metadata), s));
        }
        (_, k) if NOT_AUDITED.contains(&k) => {
            not_audited
                .entry(k.to_string())
                .or_default()
                .push(doc.first_line);
        }
        (a, k) => {
            return Err(format!(
                "unknown kind `{k}` (apiVersion `{a}`): no check reads it"
            ));
        }
    }
    Ok(())
}

/// The workload kind of an `apiVersion` / `kind` pair, if it is one.
fn workload_kind(api: &str, kind: &str) -> Option<WorkloadKind> {
    match (api, kind) {
        ("apps/v1", "Deployment") => Some(WorkloadKind::Deployment),
        ("apps/v1", "StatefulSet") => Some(WorkloadKind::StatefulSet),
        (a, "Service") if a.starts_with("serving.knative.dev/") => {
            Some(WorkloadKind::KnativeService)
        }
        _ => None,
    }
}

/// A Deployment, StatefulSet or Knative Service document as a workload.
fn typed_workload(
    kind: WorkloadKind,
    value: Value,
    origin: &dyn Fn(&ObjectMeta) -> Origin,
    cfg: &K8sConfig,
) -> Result<Workload, String> {
    Ok(match kind {
        WorkloadKind::Deployment => {
            let d: Deployment = typed(value, "apps/v1 Deployment")?;
            let spec = d.spec;
            workload(
                origin(&d.metadata),
                kind,
                &d.metadata,
                spec.replicas,
                d.status.and_then(|s| s.ready_replicas),
                Some(spec.selector),
                spec.template,
                cfg,
            )
        }
        WorkloadKind::StatefulSet => {
            let s: StatefulSet = typed(value, "apps/v1 StatefulSet")?;
            let spec = s.spec;
            workload(
                origin(&s.metadata),
                kind,
                &s.metadata,
                spec.replicas,
                s.status.and_then(|s| s.ready_replicas),
                Some(spec.selector),
                spec.template,
                cfg,
            )
        }
        WorkloadKind::KnativeService => {
            let k: KnativeService = typed(value, "Knative Service")?;
            let template = k.spec.and_then(|s| s.template).unwrap_or_default();
            workload(
                origin(&k.metadata),
                kind,
                &k.metadata,
                None,
                None,
                None,
                template,
                cfg,
            )
        }
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn workload(
    origin: Origin,
    kind: WorkloadKind,
    meta: &ObjectMeta,
    replicas: Option<i32>,
    ready_replicas: Option<i32>,
    selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    template: PodTemplateSpec,
    cfg: &K8sConfig,
) -> Workload {
    let labels = meta.labels.clone().unwrap_or_default();
    let mut role_labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    role_labels.extend(labels.clone());
    let role = role_of(&origin.name, &role_labels, &cfg.agents, &cfg.retrieval);
    Workload {
        origin,
        kind,
        role,
        labels,
        annotations: meta.annotations.clone().unwrap_or_default(),
        replicas,
        ready_replicas,
        selector,
        template,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_first_lines() {
        let src = "# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\nc: 3\n...\n--- d: 4\n";
        let docs = split_documents(src);
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[0].first_line, 3);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[1].first_line, 7);
        assert_eq!(docs[2].first_line, 10);
        assert_eq!(docs[2].text.trim(), "d: 4");
    }

    #[test]
    fn document_without_marker() {
        let docs = split_documents("a: 1\nb: |\n  ---not a marker\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].first_line, 1);
    }

    #[test]
    fn helm_detection() {
        assert!(is_helm_template("replicas: {{ .Values.replicas }}\n"));
        assert!(is_helm_template("{{- if .Values.x }}\na: 1\n{{- end }}\n"));
        assert!(!is_helm_template("# {{ not a template }}\na: 1\n"));
    }
}
