//! Watching a LoadBalancer Service until it has an external address.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::K8sError;
use crate::cluster::api_error;

/// What polling a LoadBalancer Service found.
#[derive(Debug, Clone, PartialEq)]
pub struct LbPoll {
    /// The first `status.loadBalancer.ingress` IP or hostname, if it came.
    pub address: Option<String>,
    /// From the first GET to the answer carrying the address (or to the timeout).
    pub elapsed: Duration,
    /// Reads sent: GETs (polling), or GETs and watch streams opened
    /// ([`watch_external_ip`]).
    pub polls: u32,
    /// On timeout: the Service's events, `Reason: message`, oldest first.
    pub events: Vec<String>,
    /// The Service's `metadata.creationTimestamp`, as the last GET read it.
    pub created: Option<Timestamp>,
    /// Local wall clock when the address was seen (or the poll gave up).
    pub observed_at: Timestamp,
}

/// First delay between polls; doubled after each until [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Poll `namespace/name` (GET, with backoff 200 ms doubling to 5 s) until
/// `status.loadBalancer.ingress` has an IP or hostname, or `timeout`
/// passes; then read the Service's events so the caller can say why it is
/// still pending. Each request is bounded by the time left (at most 10 s).
/// A Service that does not exist, or a forbidden GET, is an error.
#[tracing::instrument(
    name = "poll_external_ip",
    skip_all,
    fields(check = "NET-LB", namespace, name)
)]
pub async fn poll_external_ip(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<LbPoll, K8sError> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut polls = 0u32;
    let mut created = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        polls += 1;
        let per_call = left.clamp(Duration::from_millis(100), Duration::from_secs(10));
        let got = tokio::time::timeout(per_call, api.get(name)).await;
        match got {
            Ok(Ok(svc)) => {
                created = svc.metadata.creation_timestamp.as_ref().map(|t| t.0);
                if let Some(addr) = crate::checks::lb::address(&svc) {
                    return Ok(LbPoll {
                        address: Some(addr),
                        elapsed: start.elapsed(),
                        polls,
                        events: Vec::new(),
                        created,
                        observed_at: Timestamp::now(),
                    });
                }
            }
            Ok(Err(e)) => {
                return Err(api_error(
                    "get",
                    &format!("services/{name} in namespace {namespace}"),
                    e,
                ));
            }
            Err(_) => {} // this request timed out; the deadline decides
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::time::sleep(backoff.min(left)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let elapsed = start.elapsed();
    let observed_at = Timestamp::now();
    let events = service_events(client, namespace, name).await;
    Ok(LbPoll {
        address: None,
        elapsed,
        polls,
        events,
        created,
        observed_at,
    })
}

/// Watch (not poll) `namespace/name` until `status.loadBalancer.ingress`
/// has an IP or hostname, `timeout` passes or `cancel` fires: one GET, then
/// a watch from its resourceVersion, re-opened when the server closes it.
/// On timeout the Service's events say why it is still pending. What
/// `deploy sovereign --apply` waits on; the read-only audit polls
/// ([`poll_external_ip`]). Returns `None` when cancelled.
#[tracing::instrument(name = "watch_external_ip", skip_all, fields(namespace, name))]
pub async fn watch_external_ip(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Option<LbPoll>, K8sError> {
    use crate::deploy::WatchEnd;
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let what = format!("services/{name} in namespace {namespace}");
    let (end, seen) =
        crate::deploy::watch::watch_until(&api, name, &what, deadline, cancel, |svc| {
            crate::checks::lb::address(svc).is_some()
        })
        .await?;
    let last = seen.last.as_ref();
    let created = last.and_then(|s| s.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let (address, events) = match end {
        WatchEnd::Cancelled => return Ok(None),
        WatchEnd::Done => (last.and_then(crate::checks::lb::address), Vec::new()),
        WatchEnd::TimedOut => (None, service_events(client, namespace, name).await),
    };
    Ok(Some(LbPoll {
        address,
        elapsed: start.elapsed(),
        polls: seen.reads,
        events,
        created,
        observed_at: Timestamp::now(),
    }))
}

/// The Service's events, `Reason: message`, or why they could not be read.
async fn service_events(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let events_api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default()
        .fields(&format!(
            "involvedObject.kind=Service,involvedObject.name={name}"
        ))
        .limit(100);
    match tokio::time::timeout(Duration::from_secs(10), events_api.list(&lp)).await {
        Ok(Ok(list)) => list
            .items
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.reason.clone().unwrap_or_default(),
                    e.message.clone().unwrap_or_default()
                )
            })
            .collect(),
        Ok(Err(e)) => vec![format!(
            "events not readable: {}",
            api_error("list", "events", e)
        )],
        Err(_) => vec!["events not readable: the request timed out".into()],
    }
}
