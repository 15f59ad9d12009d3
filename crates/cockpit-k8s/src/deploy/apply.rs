//! Server-side apply of rendered objects: field manager
//! [`FIELD_MANAGER`], never forced (a field another manager owns is a 409
//! conflict naming it, not an overwrite), a dry run by default that
//! reports what would change against the live objects, and the namespace
//! created only when asked.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::Value;

use super::{FIELD_MANAGER, Object};
use crate::K8sError;
use crate::cluster::api_error;

/// A dry run (the API server validates and defaults, stores nothing) or
/// the real apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    DryRun,
    Apply,
}

/// What applying one object did (or would do).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// `namespace/Kind/name`.
    pub object: String,
    /// The object did not exist before.
    pub created: bool,
    /// What changes against the live object, one line per field:
    /// `+ path: value`, `- path: value`, `~ path: old → new`. Empty: no change.
    pub changes: Vec<String>,
}

/// Each API call's bound.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Apply `objects` (namespaced, in order) into `namespace`. A missing
/// namespace is [`K8sError::NamespaceMissing`] unless `create_namespace`;
/// a conflict with another field manager is [`K8sError::Conflict`] naming
/// it; a 403 names the resource and verb.
pub async fn apply(
    client: &Client,
    namespace: &str,
    objects: &[Object],
    mode: ApplyMode,
    create_namespace: bool,
) -> Result<Vec<Applied>, K8sError> {
    let mut out = Vec::new();
    let ns_api: Api<DynamicObject> = Api::all_with(client.clone(), &resource("v1", "Namespace"));
    if get(&ns_api, namespace, "namespaces").await?.is_none() {
        if !create_namespace {
            return Err(K8sError::NamespaceMissing(namespace.to_string()));
        }
        let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
        out.push(apply_one(&ns_api, "namespaces", namespace, ns, mode, None).await?);
        if mode == ApplyMode::DryRun {
            // The API server cannot dry-run objects into a namespace a dry
            // run did not create: they are listed as to be created, unchecked.
            for o in objects {
                let v = serde_json::to_value(o).map_err(|e| K8sError::Render(e.to_string()))?;
                let (_, kind, name) = identity(&v)?;
                out.push(Applied {
                    object: format!("{namespace}/{kind}/{name}"),
                    created: true,
                    changes: Vec::new(),
                });
            }
            return Ok(out);
        }
    }
    for o in objects {
        let v = serde_json::to_value(o).map_err(|e| K8sError::Render(e.to_string()))?;
        let (api_version, kind, name) = identity(&v)?;
        let ar = resource(&api_version, &kind);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        let plural = ar.plural.clone();
        out.push(apply_one(&api, &plural, &name, v, mode, Some(namespace)).await?);
    }
    Ok(out)
}

fn identity(v: &Value) -> Result<(String, String, String), K8sError> {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    match (s("/apiVersion"), s("/kind"), s("/metadata/name")) {
        (Some(a), Some(k), Some(n)) => Ok((a, k, n)),
        _ => Err(K8sError::Render(
            "a rendered object lacks apiVersion, kind or name".into(),
        )),
    }
}

fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

async fn get(
    api: &Api<DynamicObject>,
    name: &str,
    plural: &str,
) -> Result<Option<DynamicObject>, K8sError> {
    let what = format!("{plural}/{name}");
    match tokio::time::timeout(CALL_TIMEOUT, api.get_opt(name)).await {
        Ok(r) => r.map_err(|e| api_error("get", &what, e)),
        Err(_) => Err(timed_out("get", &what)),
    }
}

fn timed_out(verb: &'static str, what: &str) -> K8sError {
    K8sError::Api {
        verb,
        resource: what.to_string(),
        message: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
    }
}

async fn apply_one(
    api: &Api<DynamicObject>,
    plural: &str,
    name: &str,
    desired: Value,
    mode: ApplyMode,
    namespace: Option<&str>,
) -> Result<Applied, K8sError> {
    let live = get(api, name, plural).await?;
    let params = PatchParams {
        dry_run: mode == ApplyMode::DryRun,
        ..PatchParams::apply(FIELD_MANAGER)
    };
    let what = format!("{plural}/{name}");
    let patched = match tokio::time::timeout(
        CALL_TIMEOUT,
        api.patch(name, &params, &Patch::Apply(&desired)),
    )
    .await
    {
        Ok(Ok(o)) => o,
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => {
            return Err(K8sError::Conflict {
                object: what,
                message: s.message,
            });
        }
        Ok(Err(e)) => return Err(api_error("patch", &what, e)),
        Err(_) => return Err(timed_out("patch", &what)),
    };
    let kind = desired
        .pointer("/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let before = live
        .map(|l| serde_json::to_value(l).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let after = serde_json::to_value(patched).unwrap_or(Value::Null);
    Ok(Applied {
        object: match namespace {
            Some(ns) => format!("{ns}/{kind}/{name}"),
            None => format!("{kind}/{name}"),
        },
        created: before.is_null(),
        changes: changes(&before, &after),
    })
}

/// Fields the server owns, left out of a diff.
const SERVER_FIELDS: [&str; 7] = [
    "/metadata/managedFields",
    "/metadata/resourceVersion",
    "/metadata/uid",
    "/metadata/creationTimestamp",
    "/metadata/generation",
    "/status",
    "/metadata/annotations/deployment.kubernetes.io~1revision",
];

/// `+`, `-` and `~` lines between two objects, by JSON path, server-owned
/// fields left out.
pub fn changes(before: &Value, after: &Value) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", before, &mut a);
    flatten("", after, &mut b);
    for m in [&mut a, &mut b] {
        m.retain(|k: &String, _| {
            !SERVER_FIELDS
                .iter()
                .any(|s| k == s || k.starts_with(&format!("{s}/")))
        });
    }
    let mut out = Vec::new();
    for (k, v) in &b {
        match a.get(k) {
            None => out.push(format!("+ {k}: {v}")),
            Some(old) if old != v => out.push(format!("~ {k}: {old} → {v}")),
            _ => {}
        }
    }
    for (k, v) in &a {
        if !b.contains_key(k) {
            out.push(format!("- {k}: {v}"));
        }
    }
    out
}

/// JSON pointer (escaped as RFC 6901) → the scalar's JSON text.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                flatten(&format!("{prefix}/{key}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}/{i}"), v, out);
            }
        }
        Value::Null if prefix.is_empty() => {}
        scalar => {
            out.insert(prefix.to_string(), scalar.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_by_path_without_server_fields() {
        let before = json!({"metadata": {"name": "a", "resourceVersion": "7", "labels": {"x": "1", "app.kubernetes.io/name": "a"}}, "spec": {"replicas": 2}, "status": {"ready": 1}});
        let after = json!({"metadata": {"name": "a", "resourceVersion": "8", "labels": {"x": "2", "app.kubernetes.io/name": "a"}}, "spec": {"replicas": 2, "paused": false}});
        assert_eq!(
            changes(&before, &after),
            vec![
                "~ /metadata/labels/x: \"1\" → \"2\"".to_string(),
                "+ /spec/paused: false".to_string(),
            ]
        );
        assert!(changes(&after, &after).is_empty());
        let created = changes(&Value::Null, &json!({"spec": {"a": 1}}));
        assert_eq!(created, vec!["+ /spec/a: 1".to_string()]);
    }
}
