//! CMP-MANIFEST: manifest documents that could not be read — invalid YAML,
//! a document that is not a Kubernetes object, an unknown kind, a Helm
//! template — each named with file:line; the rest of the file is audited.
//! On a live cluster: a kubeconfig that cannot be read, or a list call that
//! is forbidden (RBAC 403) or fails, named with its resource and verb.

use cockpit_core::{CheckId, CheckSpec, Pillar, Severity};

pub const CMP_MANIFEST: CheckSpec = CheckSpec {
    id: CheckId::new("CMP-MANIFEST"),
    pillar: Pillar::Compute,
    severity: Severity::Medium,
    title: "Kubernetes inputs readable (manifest documents, API lists)",
};
