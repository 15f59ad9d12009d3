//! CIC-TOKEN: `automountServiceAccountToken`. An agent that does not call the
//! Kubernetes API should not carry an API token (GKE Workload Identity does
//! not need it: the metadata server issues Google credentials).

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::wi::service_account;
use crate::object::{Inventory, Workload};

pub const CIC_TOKEN: CheckSpec = CheckSpec {
    id: CheckId::new("CIC-TOKEN"),
    pillar: Pillar::Cicd,
    severity: Severity::Low,
    title: "Service-account token not mounted",
};

/// `None` for Cloud Run (no Kubernetes token).
pub fn evaluate(w: &Workload, inv: &Inventory) -> Option<Finding> {
    if w.is_knative() {
        return None;
    }
    let pod = w
        .template
        .spec
        .as_ref()
        .and_then(|s| s.automount_service_account_token);
    let sa = service_account(w);
    let ksa = inv
        .service_accounts
        .iter()
        .find(|(o, _)| o.name == sa && o.namespace == w.origin.namespace)
        .and_then(|(_, s)| s.automount_service_account_token);
    let f = match (pod, ksa) {
        (Some(false), _) => CIC_TOKEN.finding(Status::Pass, "pod spec sets automountServiceAccountToken: false"),
        (None, Some(false)) => CIC_TOKEN.finding(Status::Pass, format!("ServiceAccount `{sa}` sets automountServiceAccountToken: false")),
        (Some(true), _) => CIC_TOKEN
            .finding(Status::Warn, "pod spec sets automountServiceAccountToken: true: every container carries a Kubernetes API token")
            .with_recommendation("Set automountServiceAccountToken: false unless the agent calls the Kubernetes API."),
        _ => CIC_TOKEN
            .finding(Status::Warn, "the Kubernetes API token is mounted by default (automountServiceAccountToken unset)")
            .with_recommendation("Set automountServiceAccountToken: false unless the agent calls the Kubernetes API."),
    };
    Some(
        f.with_subject(w.origin.object_path()).with_location(
            w.origin
                .location_at_any(&["automountServiceAccountToken", "spec:"]),
        ),
    )
}
