//! CIC-WI: Workload Identity instead of long-lived keys. GKE: the pod's
//! Kubernetes ServiceAccount annotated `iam.gke.io/gcp-service-account` (or
//! bound directly as a `principal://…/subject/ns/NS/sa/KSA`, which is not
//! visible from Kubernetes); Cloud Run: a service account of its own. A
//! mounted key file or `GOOGLE_APPLICATION_CREDENTIALS` fails.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::join;
use crate::object::{Inventory, Workload};

pub const CIC_WI: CheckSpec = CheckSpec {
    id: CheckId::new("CIC-WI"),
    pillar: Pillar::Cicd,
    severity: Severity::Critical,
    title: "Workload Identity (no long-lived keys)",
};

const GSA: &str = "iam.gke.io/gcp-service-account";

fn key_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    (n.contains("key") || n.contains("cred"))
        && (n.contains("gcp")
            || n.contains("google")
            || n.contains("sa")
            || n.contains("service-account")
            || n.contains("gcloud"))
}

/// The service account the pods run as (`default` when unset).
pub fn service_account(w: &Workload) -> String {
    let spec = w.template.spec.as_ref();
    spec.and_then(|s| {
        s.service_account_name
            .clone()
            .or_else(|| s.service_account.clone())
    })
    .filter(|s| !s.is_empty())
    .unwrap_or_else(|| "default".to_string())
}

/// Long-lived service-account keys the pod template mounts or points at.
fn key_files(w: &Workload) -> Vec<String> {
    let mut keys = Vec::new();
    for c in w.containers() {
        for e in c.env.iter().flatten() {
            if e.name == "GOOGLE_APPLICATION_CREDENTIALS" {
                keys.push(format!(
                    "{}: env GOOGLE_APPLICATION_CREDENTIALS points at a key file",
                    Workload::container_name(c)
                ));
            }
        }
    }
    for v in w
        .template
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(s) = &v.secret {
            let secret = s.secret_name.clone().unwrap_or_default();
            if key_like(&secret) || key_like(&v.name) {
                keys.push(format!(
                    "volume {} mounts secret `{secret}`, a service-account key",
                    v.name
                ));
            }
        }
    }
    keys
}

pub fn evaluate(w: &Workload, inv: &Inventory) -> Finding {
    let keys = key_files(w);
    let rec_key = "Delete the key and its secret; use Workload Identity (KSA annotated iam.gke.io/gcp-service-account, or a principal:// IAM binding).";
    if !keys.is_empty() {
        return w.origin.locate_at(
            CIC_WI
                .finding(Status::Fail, format!("long-lived key: {}", join(&keys)))
                .with_recommendation(rec_key),
            "GOOGLE_APPLICATION_CREDENTIALS",
        );
    }
    let sa = service_account(w);
    if w.is_knative() {
        let f = if sa == "default" {
            CIC_WI
                .finding(Status::Warn, "no serviceAccountName: the revision runs as the project's default compute service account")
                .with_recommendation("Give the service a dedicated, least-privilege service account (spec.template.spec.serviceAccountName).")
        } else {
            CIC_WI.finding(
                Status::Pass,
                format!("runs as `{sa}` (Cloud Run's built-in identity, no key)"),
            )
        };
        return w.origin.locate_at(f, "serviceAccountName");
    }
    let f = if sa == "default" {
        CIC_WI
            .finding(Status::Warn, "pods run as the namespace's `default` ServiceAccount")
            .with_recommendation("Create a dedicated KSA for the agent and bind it to a Google service account with Workload Identity.")
    } else {
        let ksa = inv
            .service_accounts
            .iter()
            .find(|(o, _)| o.name == sa && o.namespace == w.origin.namespace);
        match ksa {
            None => CIC_WI
                .finding(
                    Status::Fail,
                    format!(
                        "ServiceAccount `{sa}` is not {}: pods cannot start (or run with no identity)",
                        if inv.live { "in the namespace" } else { "among the audited manifests" }
                    ),
                )
                .with_recommendation("Create the ServiceAccount, annotated iam.gke.io/gcp-service-account."),
            Some((o, s)) => match s.metadata.annotations.as_ref().and_then(|a| a.get(GSA)) {
                Some(gsa) => CIC_WI.finding(Status::Pass, format!("{} → {gsa} ({GSA})", o.object_path())),
                None => CIC_WI
                    .finding(
                        Status::Warn,
                        format!("{} has no {GSA} annotation; a direct principal:// IAM binding is not visible from Kubernetes", o.object_path()),
                    )
                    .with_recommendation("Annotate the KSA with iam.gke.io/gcp-service-account, or document the principal:// binding."),
            },
        }
    };
    w.origin.locate_at(f, "serviceAccountName")
}
