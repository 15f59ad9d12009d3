//! Watching a rollout: the Deployment is watched (not polled) until every
//! replica is updated and available, with a deadline; on failure the pods'
//! container states and Warning events say why. Stopping (the deadline or
//! a cancellation) never deletes anything.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Client;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use tokio_util::sync::CancellationToken;

use crate::K8sError;
use crate::cluster::api_error;

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// What was waited for happened.
    Done,
    /// The deadline passed first.
    TimedOut,
    /// The caller cancelled (Ctrl-C).
    Cancelled,
}

/// What watching a rollout saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub end: WatchEnd,
    pub elapsed: Duration,
    /// The last status read: desired, updated, available replicas.
    pub replicas: i32,
    pub updated: i32,
    pub available: i32,
    /// When it did not finish: each pod's waiting / terminated container
    /// states and the Warning events of the pods, `pod: reason: message`.
    pub problems: Vec<String>,
}

/// Desired, updated and available replicas, and whether the rollout is done
/// (the controller has seen the latest spec, every replica updated and
/// available).
pub fn progress(d: &Deployment) -> (i32, i32, i32, bool) {
    // `Option::from`: `spec` is an `Option` in older Kubernetes versions.
    let desired = Option::<k8s_openapi::api::apps::v1::DeploymentSpec>::from(d.spec.clone())
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let observed = st.observed_generation.unwrap_or(0) >= generation;
    let updated = st.updated_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let done = observed && updated >= desired && available >= desired && desired > 0;
    (desired, updated, available, done)
}

/// Watch `namespace/name` until its rollout is done, `timeout` passes or
/// `cancel` fires. Watches are re-opened from the last resourceVersion when
/// the server closes them.
#[tracing::instrument(name = "watch_rollout", skip_all, fields(namespace, name))]
pub async fn watch_rollout(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Rollout, K8sError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let what = format!("deployments/{name} in namespace {namespace}");
    let (end, seen) = watch_until(&api, name, &what, deadline, cancel, |d| progress(d).3).await?;
    let last = seen.last.as_ref().map_or((0, 0, 0, false), progress);
    let problems = if end == WatchEnd::Done {
        Vec::new()
    } else {
        pod_problems(client, namespace, name).await
    };
    Ok(Rollout {
        end,
        elapsed: start.elapsed(),
        replicas: last.0,
        updated: last.1,
        available: last.2,
        problems,
    })
}

/// The pods of the rollout (`app=name`): each container waiting or
/// terminated with its reason, and the pods' Warning events.
async fn pod_problems(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default()
        .labels(&format!("app={name}"))
        .limit(100);
    let mut out = Vec::new();
    let bound = Duration::from_secs(10);
    match tokio::time::timeout(bound, pods.list(&lp)).await {
        Ok(Ok(list)) => {
            for p in &list.items {
                let pod = p.metadata.name.clone().unwrap_or_default();
                let statuses = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.clone())
                    .unwrap_or_default();
                for c in statuses {
                    let state = c.state.unwrap_or_default();
                    if let Some(w) = state.waiting {
                        out.push(format!(
                            "{pod}/{}: waiting: {}: {}",
                            c.name,
                            w.reason.unwrap_or_default(),
                            w.message.unwrap_or_default()
                        ));
                    }
                    if let Some(t) = state.terminated {
                        out.push(format!(
                            "{pod}/{}: terminated (exit {}): {}",
                            c.name,
                            t.exit_code,
                            t.reason.unwrap_or_default()
                        ));
                    }
                }
            }
        }
        Ok(Err(e)) => out.push(format!(
            "pods not readable: {}",
            api_error("list", "pods", e)
        )),
        Err(_) => out.push("pods not readable: the request timed out".into()),
    }
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default()
        .fields("involvedObject.kind=Pod,type=Warning")
        .limit(100);
    match tokio::time::timeout(bound, events.list(&lp)).await {
        Ok(Ok(list)) => out.extend(
            list.items
                .iter()
                .filter(|e| {
                    e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&format!("{name}-")))
                })
                .map(|e| {
                    format!(
                        "{}: {}: {}",
                        e.involved_object.name.clone().unwrap_or_default(),
                        e.reason.clone().unwrap_or_default(),
                        e.message.clone().unwrap_or_default()
                    )
                }),
        ),
        Ok(Err(e)) => out.push(format!(
            "events not readable: {}",
            api_error("list", "events", e)
        )),
        Err(_) => out.push("events not readable: the request timed out".into()),
    }
    out
}

/// What [`watch_until`] saw: the last version of the object, and how many
/// reads (GETs and watch streams opened) it took.
#[derive(Debug)]
pub(crate) struct Seen<K> {
    pub last: Option<K>,
    pub reads: u32,
}

/// Read `name` (GET), then watch it (from that resourceVersion; re-read and
/// re-opened, with backoff, when the stream ends or goes quiet past the
/// client's read timeout) until `done` holds for a
/// version, `deadline` passes or `cancel` fires. A deleted object or a
/// failed request is an error naming `what` and the verb.
pub(crate) async fn watch_until<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    deadline: tokio::time::Instant,
    cancel: &CancellationToken,
    mut done: impl FnMut(&K) -> bool,
) -> Result<(WatchEnd, Seen<K>), K8sError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut seen = Seen {
        last: None,
        reads: 0,
    };
    let mut pause = crate::FIRST_BACKOFF;
    let end = loop {
        seen.reads += 1;
        let d = tokio::select! {
            _ = cancel.cancelled() => break WatchEnd::Cancelled,
            _ = tokio::time::sleep_until(deadline) => break WatchEnd::TimedOut,
            d = api.get(name) => d.map_err(|e| api_error("get", what, e))?,
        };
        let finished = done(&d);
        let rv = d.meta().resource_version.clone().unwrap_or_default();
        seen.last = Some(d);
        if finished {
            break WatchEnd::Done;
        }
        let wp = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(290);
        seen.reads += 1;
        let mut stream = api
            .watch(&wp, &rv)
            .await
            .map_err(|e| api_error("watch", what, e))?
            .boxed();
        let ended = loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => break Some(WatchEnd::Cancelled),
                _ = tokio::time::sleep_until(deadline) => break Some(WatchEnd::TimedOut),
                ev = stream.next() => ev,
            };
            match ev {
                Some(Ok(WatchEvent::Added(d) | WatchEvent::Modified(d))) => {
                    let finished = done(&d);
                    seen.last = Some(d);
                    if finished {
                        break Some(WatchEnd::Done);
                    }
                }
                Some(Ok(WatchEvent::Deleted(_))) => {
                    return Err(K8sError::Api {
                        verb: "watch",
                        resource: what.to_string(),
                        message: "the object was deleted while it was watched".into(),
                    });
                }
                // An expired resourceVersion or a bookmark: keep reading.
                Some(Ok(WatchEvent::Bookmark(_) | WatchEvent::Error(_))) => {}
                // Closed by the server, or quiet past the client's read
                // timeout: re-read (a real failure shows on the GET) and
                // watch again, after a pause that grows while it repeats.
                Some(Err(_)) | None => break None,
            }
        };
        if let Some(end) = ended {
            break end;
        }
        tokio::select! {
            _ = cancel.cancelled() => break WatchEnd::Cancelled,
            _ = tokio::time::sleep_until(deadline) => break WatchEnd::TimedOut,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(crate::MAX_BACKOFF);
    };
    Ok((end, seen))
}
