//! `[deploy]` → a Cloud Run service: one Knative `serving.knative.dev/v1`
//! Service for `gcloud run services replace`. k8s-openapi has no Knative
//! types, so the few this needs are typed here, with k8s-openapi's
//! `ObjectMeta` and `Container`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::DeploySettings;
use super::render::{container, labels};
use crate::K8sError;

/// A Knative Service as Cloud Run reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KnativeService {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: KnativeServiceSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KnativeServiceSpec {
    pub template: RevisionTemplate,
    pub traffic: Vec<TrafficTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplate {
    pub metadata: ObjectMeta,
    pub spec: RevisionSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSpec {
    pub container_concurrency: u32,
    pub timeout_seconds: u32,
    pub service_account_name: String,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    pub latest_revision: bool,
    pub percent: u32,
}

/// CMP-WARM (`minScale`), CMP-BOOST (startup CPU boost), CMP-THROTTLE (CPU
/// always allocated), CIC-WI (a service account, no key), CIC-IMAGE (the
/// digest), CMP-PROBES and CMP-RES (the container).
pub(super) fn service(s: &DeploySettings) -> Result<KnativeService, K8sError> {
    let mut service_labels = labels(s);
    if let Some(region) = &s.region {
        service_labels.insert("cloud.googleapis.com/location".into(), region.clone());
    }
    let annotations = BTreeMap::from([
        (
            "autoscaling.knative.dev/minScale".to_string(),
            s.replicas.to_string(),
        ),
        (
            "autoscaling.knative.dev/maxScale".to_string(),
            s.max_replicas.to_string(),
        ),
        (
            "run.googleapis.com/startup-cpu-boost".to_string(),
            "true".to_string(),
        ),
        (
            "run.googleapis.com/cpu-throttling".to_string(),
            "false".to_string(),
        ),
    ]);
    Ok(KnativeService {
        api_version: "serving.knative.dev/v1".into(),
        kind: "Service".into(),
        metadata: ObjectMeta {
            name: Some(s.name.clone()),
            labels: Some(service_labels),
            ..ObjectMeta::default()
        },
        spec: KnativeServiceSpec {
            template: RevisionTemplate {
                metadata: ObjectMeta {
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                },
                spec: RevisionSpec {
                    container_concurrency: s.concurrency,
                    timeout_seconds: 300,
                    service_account_name: s.gsa.clone(),
                    containers: vec![container(s, false)?],
                },
            },
            traffic: vec![TrafficTarget {
                latest_revision: true,
                percent: 100,
            }],
        },
    })
}
