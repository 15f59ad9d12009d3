//! Reading a live cluster: every list call bounded (limit, timeout), a
//! forbidden or failed call turned into a not-measured finding naming the
//! resource and verb, the rest of the audit still run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cockpit_core::{Finding, Location, Status};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::de::DeserializeOwned;

use crate::checks::manifest::CMP_MANIFEST;
use crate::input::MAX_FILE_BYTES;
use crate::manifest::workload;
use crate::object::{Inventory, Origin, Workload, WorkloadKind};
use crate::{K8sConfig, K8sError};

/// Most objects listed per resource (one page; the audit says so when the
/// page is full).
pub const LIST_LIMIT: u32 = 1000;

/// A kube error as ours, naming verb and resource; 403 says RBAC.
pub fn api_error(verb: &'static str, resource: &str, e: kube::Error) -> K8sError {
    let message = match &e {
        kube::Error::Api(s) if s.code == 403 => format!("forbidden by RBAC (403): {}", s.message),
        kube::Error::Api(s) if s.code == 401 => format!("unauthorised (401): {}", s.message),
        kube::Error::Api(s) => format!("API error {}: {}", s.code, s.message),
        other => other.to_string(),
    };
    K8sError::Api {
        verb,
        resource: resource.to_string(),
        message,
    }
}

/// A client for the kubeconfig context (`None`: the current context), with
/// connect and read timeouts. The kubeconfig is `$KUBECONFIG` (a list of
/// files, merged) or `~/.kube/config`: each must be a regular file of at
/// most [`MAX_FILE_BYTES`]; a missing file or unknown context is an error
/// saying so. An `exec` credential plugin is run by this crate, bounded by
/// `timeout` and killed with its process group on timeout or when this
/// future is dropped (see [`crate::credential`]). User information in the
/// server URL (`https://user:password@host`) is removed before the client
/// exists, so neither kube's nor hyper's logs can show it.
pub async fn connect(context: Option<&str>, timeout: Duration) -> Result<Client, K8sError> {
    check_kubeconfig_files()?;
    let kubeconfig = Kubeconfig::read().map_err(|e| {
        K8sError::Kubeconfig(format!(
            "cannot read a kubeconfig ($KUBECONFIG or ~/.kube/config): {e}"
        ))
    })?;
    check_referenced_files(&kubeconfig)?;
    let opts = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &opts)
        .await
        .map_err(|e| {
            K8sError::Kubeconfig(match context {
                Some(c) => format!("context `{c}`: {e}"),
                None => e.to_string(),
            })
        })?;
    config.cluster_url = without_userinfo(config.cluster_url);
    if config
        .cluster_url
        .path_and_query()
        .is_some_and(|p| p.as_str().contains('@'))
    {
        // `https://user:p/w@host`: a password with an unencoded `/` puts the
        // rest of the user information in the path, where logs would show it.
        return Err(K8sError::Kubeconfig(
            "the cluster's server URL has `@` after its host: percent-encode user information (`/` as %2F), or better, remove it (it is never sent)".into(),
        ));
    }
    crate::credential::resolve(&mut config.auth_info, timeout).await?;
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    Client::try_from(config)
        .map_err(|e| K8sError::Kubeconfig(format!("cannot build a client: {e}")))
}

/// The files kube will read as the kubeconfig: each must be a regular file
/// within [`MAX_FILE_BYTES`] (kube reads them whole).
fn check_kubeconfig_files() -> Result<(), K8sError> {
    let paths: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(v) => std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => Vec::new(),
    };
    let paths = if paths.is_empty() {
        std::env::home_dir()
            .map(|h| vec![h.join(".kube").join("config")])
            .unwrap_or_default()
    } else {
        paths
    };
    for p in paths {
        check_file(&p)?;
    }
    Ok(())
}

/// The files a kubeconfig names (CA bundles, client certificates and keys,
/// token files), which kube reads whole: each must be a regular file within
/// [`MAX_FILE_BYTES`] (`certificate-authority: /dev/zero` is refused, not
/// read until memory runs out).
fn check_referenced_files(k: &Kubeconfig) -> Result<(), K8sError> {
    let clusters = k.clusters.iter().filter_map(|c| c.cluster.as_ref());
    let users = k.auth_infos.iter().filter_map(|u| u.auth_info.as_ref());
    let files = clusters
        .flat_map(|c| [c.certificate_authority.as_deref()])
        .chain(users.flat_map(|u| {
            [
                u.client_certificate.as_deref(),
                u.client_key.as_deref(),
                u.token_file.as_deref(),
            ]
        }))
        .flatten();
    for f in files {
        check_file(Path::new(f))?;
    }
    Ok(())
}

/// A file kube will read: a regular file within [`MAX_FILE_BYTES`]; a
/// missing one is left for kube to report.
fn check_file(p: &Path) -> Result<(), K8sError> {
    let Ok(meta) = std::fs::metadata(p) else {
        return Ok(());
    };
    if let Some(kind) = crate::input::irregular_kind(&meta) {
        return Err(K8sError::NotRegularFile {
            path: p.to_path_buf(),
            kind,
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(K8sError::TooLarge {
            path: p.to_path_buf(),
            limit_bytes: MAX_FILE_BYTES,
        });
    }
    Ok(())
}

/// The URL without its user information (`user:password@`).
pub(crate) fn without_userinfo(uri: http::Uri) -> http::Uri {
    let Some(host) = uri
        .authority()
        .and_then(|a| a.as_str().rsplit_once('@'))
        .map(|(_, host)| host.to_string())
    else {
        return uri;
    };
    let mut parts = uri.into_parts();
    parts.authority = host.parse().ok();
    http::Uri::from_parts(parts).unwrap_or_else(|_| http::Uri::from_static("/"))
}

/// The reading of one cluster.
pub(crate) struct LiveRead {
    pub inventory: Inventory,
    pub findings: Vec<Finding>,
    /// List calls that answered / were made.
    pub answered: usize,
    pub calls: usize,
}

async fn list<K>(
    api: Api<K>,
    resource: &str,
    scope: &str,
    timeout: Duration,
    read: &mut LiveRead,
) -> Vec<K>
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    read.calls += 1;
    let lp = ListParams::default().limit(LIST_LIMIT);
    let res = tokio::time::timeout(timeout, api.list(&lp)).await;
    let err = match res {
        Ok(Ok(list)) => {
            read.answered += 1;
            if list.items.len() as u32 >= LIST_LIMIT {
                tracing::warn!(resource, "list truncated at {LIST_LIMIT} objects");
            }
            return list.items;
        }
        Ok(Err(e)) => api_error("list", &format!("{resource} {scope}"), e),
        Err(_) => K8sError::Api {
            verb: "list",
            resource: format!("{resource} {scope}"),
            message: format!("timed out after {:.1} s", timeout.as_secs_f64()),
        },
    };
    read.findings.push(
        CMP_MANIFEST
            .finding(Status::NotMeasured, format!("not measured: {err}; the checks that read {resource} are incomplete"))
            .with_subject(format!("{resource} {scope}"))
            .with_location(Location::Object { namespace: None, kind: resource.to_string(), name: scope.to_string() })
            .with_recommendation(format!("Grant the auditing identity `list` on {resource} (a read-only ClusterRole such as `view`), or audit the manifests offline.")),
    );
    Vec::new()
}

/// [`list`] of a namespaced resource in `namespace`.
async fn list_in<K>(
    client: &Client,
    namespace: &str,
    resource: &str,
    scope: &str,
    timeout: Duration,
    read: &mut LiveRead,
) -> Vec<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    list(
        Api::namespaced(client.clone(), namespace),
        resource,
        scope,
        timeout,
        read,
    )
    .await
}

/// List everything the checks read in `namespace`.
pub(crate) async fn read_cluster(client: &Client, namespace: &str, cfg: &K8sConfig) -> LiveRead {
    let t = cfg.request_timeout();
    let mut read = LiveRead {
        inventory: Inventory {
            live: true,
            ..Inventory::default()
        },
        findings: Vec::new(),
        answered: 0,
        calls: 0,
    };
    let scope = format!("in namespace {namespace}");
    let (c, ns) = (client, namespace);
    let r = &mut read;
    let deployments: Vec<Deployment> = list_in(c, ns, "deployments", &scope, t, r).await;
    let statefulsets: Vec<StatefulSet> = list_in(c, ns, "statefulsets", &scope, t, r).await;
    let pods: Vec<Pod> = list_in(c, ns, "pods", &scope, t, r).await;
    let nodes: Vec<Node> = list(Api::all(c.clone()), "nodes", "(cluster-scoped)", t, r).await;
    let services: Vec<Service> = list_in(c, ns, "services", &scope, t, r).await;
    let slices: Vec<EndpointSlice> = list_in(c, ns, "endpointslices", &scope, t, r).await;
    let hpas: Vec<HorizontalPodAutoscaler> =
        list_in(c, ns, "horizontalpodautoscalers", &scope, t, r).await;
    let pdbs: Vec<PodDisruptionBudget> = list_in(c, ns, "poddisruptionbudgets", &scope, t, r).await;
    let sas: Vec<ServiceAccount> = list_in(c, ns, "serviceaccounts", &scope, t, r).await;
    let events: Vec<Event> = list_in(c, ns, "events", &scope, t, r).await;

    let origin = |kind: &str, m: &ObjectMeta| live_origin(namespace, kind, m);
    let inv = &mut read.inventory;
    inv.workloads = live_workloads(deployments, statefulsets, namespace, cfg);
    inv.services = services
        .into_iter()
        .map(|s| (origin("Service", &s.metadata), s))
        .collect();
    inv.hpas = hpas
        .into_iter()
        .map(|h| (origin("HorizontalPodAutoscaler", &h.metadata), h))
        .collect();
    inv.pdbs = pdbs
        .into_iter()
        .map(|p| (origin("PodDisruptionBudget", &p.metadata), p))
        .collect();
    inv.service_accounts = sas
        .into_iter()
        .map(|s| (origin("ServiceAccount", &s.metadata), s))
        .collect();
    // Pods listed in a namespace carry it; keep matching simple when the
    // recorded object omits it.
    inv.pods = pods
        .into_iter()
        .map(|mut p| {
            p.metadata
                .namespace
                .get_or_insert_with(|| namespace.to_string());
            p
        })
        .collect();
    inv.nodes = nodes;
    inv.endpoint_slices = slices
        .into_iter()
        .map(|mut s| {
            s.metadata
                .namespace
                .get_or_insert_with(|| namespace.to_string());
            s
        })
        .collect();
    inv.events = events;
    read
}

/// The origin of a listed object: its namespace, else the one listed.
fn live_origin(namespace: &str, kind: &str, m: &ObjectMeta) -> Origin {
    Origin::live(
        m.namespace.clone().or_else(|| Some(namespace.to_string())),
        kind,
        m.name.as_deref().unwrap_or("<unnamed>"),
    )
}

/// Listed Deployments and StatefulSets as workloads (ready replicas from status).
fn live_workloads(
    deployments: Vec<Deployment>,
    statefulsets: Vec<StatefulSet>,
    namespace: &str,
    cfg: &K8sConfig,
) -> Vec<Workload> {
    let mut out = Vec::new();
    for d in deployments {
        let spec = d.spec.clone();
        out.push(workload(
            live_origin(namespace, "Deployment", &d.metadata),
            WorkloadKind::Deployment,
            &d.metadata,
            spec.replicas,
            d.status.as_ref().map(|s| s.ready_replicas.unwrap_or(0)),
            Some(spec.selector),
            spec.template,
            cfg,
        ));
    }
    for s in statefulsets {
        let spec = s.spec.clone();
        out.push(workload(
            live_origin(namespace, "StatefulSet", &s.metadata),
            WorkloadKind::StatefulSet,
            &s.metadata,
            spec.replicas,
            s.status.as_ref().map(|s| s.ready_replicas.unwrap_or(0)),
            Some(spec.selector),
            spec.template,
            cfg,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_removed_from_the_server_url() {
        let u = without_userinfo("https://user:p%2Fw@127.0.0.1:6443/base".parse().unwrap());
        assert_eq!(u.to_string(), "https://127.0.0.1:6443/base");
        let u = without_userinfo(
            "https://a@b@host"
                .parse()
                .unwrap_or_else(|_| "https://host".parse().unwrap()),
        );
        assert!(!u.to_string().contains('@'), "{u}");
        let plain: http::Uri = "https://10.0.0.1".parse().unwrap();
        assert_eq!(without_userinfo(plain.clone()), plain);
    }
}
