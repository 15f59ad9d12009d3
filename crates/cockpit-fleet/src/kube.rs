//! The `[kubernetes]` row: the agent pods of the configured namespace,
//! listed on every interval with cockpit-k8s's client
//! ([`cockpit_k8s::pods::read_fleet_pods`]: Deployments, StatefulSets and
//! Pods, read-only, one page of at most 1,000 each, every call under a
//! timeout). It shows ready against desired replicas, the pods that are
//! not ready with their reason (`CrashLoopBackOff`, `ImagePullBackOff`,
//! `Pending`, …) and the container restarts since the monitor started: a
//! restart counter going up degrades the row for as long as the restart
//! is inside the window. A refused list (RBAC 403) is the row down, with
//! the verb and resource named.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cockpit_k8s::K8sConfig;
use cockpit_k8s::pods::{FleetPods, PodsQuery, read_fleet_pods};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::compact::Compact;
use crate::infra::{Ring, now_stamp};
use crate::window::{accumulate, cumulative, latency_window};
use crate::{
    AgentView, CockpitSettings, RateWindow, RequestCounts, TargetKind, TargetStatus, Totals,
};

/// A Kubernetes client the caller made (an embedding program's own, a
/// test's against the fake API server), used by the `[kubernetes]` row
/// instead of connecting with the kubeconfig.
#[derive(Clone)]
pub struct KubeClient(pub kube::Client);

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeClient")
    }
}

/// Workloads listed in a view (the figures count them all).
pub const MAX_WORKLOADS_SHOWN: usize = 100;
/// Pods not ready listed in a view (the figures count them all).
pub const MAX_PODS_SHOWN: usize = 50;

/// What the `[kubernetes]` row shows besides the common fields
/// (`requests` counts the readings: one per interval, failed by kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KubernetesView {
    /// The namespace read (the context's when `[kubernetes]` names none).
    pub namespace: String,
    /// The kubeconfig context; `null`: the current one.
    pub context: Option<String>,
    /// `[cockpit] kubernetes_selector`, when set.
    pub selector: Option<String>,
    /// Replicas asked for (`spec.replicas`) and ready (`status.readyReplicas`),
    /// over the workloads watched, at the latest reading.
    pub desired: u64,
    pub ready: u64,
    /// Pods of those workloads, and how many are `Ready`.
    pub pods: u64,
    pub pods_ready: u64,
    /// Container restarts (`restartCount` going up) since the monitor started.
    pub restarts_since_start: u64,
    /// Of those, the restarts seen in the window.
    pub restarts_in_window: u64,
    #[serde(rename = "window_ms", with = "crate::snapshot::ms")]
    pub window: Duration,
    /// The workloads watched (at most [`MAX_WORKLOADS_SHOWN`]).
    pub workloads: Vec<WorkloadView>,
    /// Pods not ready, with their reason (at most [`MAX_PODS_SHOWN`]).
    pub not_ready: Vec<PodIssue>,
    /// A list came back full (1,000 objects), or a list above was cut.
    pub truncated: bool,
}

/// One Deployment or StatefulSet watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadView {
    /// `Deployment` or `StatefulSet`.
    pub kind: String,
    pub name: String,
    /// `agent`, `retrieval`, or `other` (picked by the selector only).
    pub role: String,
    pub desired: u32,
    pub ready: u32,
    pub pods: u32,
    pub restarts_since_start: u64,
}

/// A pod that is not ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodIssue {
    pub workload: String,
    pub pod: String,
    pub phase: String,
    /// `CrashLoopBackOff`, `ImagePullBackOff`, `Unschedulable`, `Pending`, …
    pub reason: String,
    /// Its containers' `restartCount`, summed.
    pub restarts: u64,
}

#[derive(Debug)]
struct State {
    /// Restarts seen in each interval.
    ring: Ring<u64>,
    in_flight: bool,
    status: TargetStatus,
    last_probe_at: Option<String>,
    last_probe_ms: Option<f64>,
    namespace: Option<String>,
    latest: Option<FleetPods>,
    /// `(pod uid, container)` → the latest `restartCount` seen.
    seen: HashMap<(String, String), u32>,
    read_once: bool,
    restarts_total: u64,
    /// `Kind/name` → restarts since the start.
    per_workload: BTreeMap<String, u64>,
    totals: Totals,
}

/// The `[kubernetes]` row and its state.
pub(crate) struct KubeRow {
    pub name: String,
    context: Option<String>,
    namespace: Option<String>,
    selector: Option<String>,
    agents: Vec<String>,
    retrieval: Vec<String>,
    timeout: Duration,
    client: tokio::sync::Mutex<Option<kube::Client>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for KubeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRow").field("name", &self.name).finish()
    }
}

impl KubeRow {
    pub fn new(cfg: &K8sConfig, settings: &CockpitSettings, client: Option<KubeClient>) -> KubeRow {
        KubeRow {
            name: match &cfg.namespace {
                Some(ns) => format!("kubernetes/{ns}"),
                None => "kubernetes".into(),
            },
            context: cfg.context.clone(),
            namespace: cfg.namespace.clone(),
            selector: settings.kubernetes_selector.clone(),
            agents: cfg.agents.clone(),
            retrieval: cfg.retrieval.clone(),
            timeout: cfg.request_timeout(),
            client: tokio::sync::Mutex::new(client.map(|c| c.0)),
            state: Mutex::new(State {
                ring: Ring::new(settings),
                in_flight: false,
                status: TargetStatus::Unknown,
                last_probe_at: None,
                last_probe_ms: None,
                namespace: cfg.namespace.clone(),
                latest: None,
                seen: HashMap::new(),
                read_once: false,
                restarts_total: 0,
                per_workload: BTreeMap::new(),
                totals: Totals {
                    probe_seconds: cumulative(),
                    ..Totals::default()
                },
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn open(&self, round: u64) {
        self.lock().ring.open(round);
    }

    pub fn start(&self) -> bool {
        !std::mem::replace(&mut self.lock().in_flight, true)
    }

    pub fn abandon(&self) {
        self.lock().in_flight = false;
    }

    /// One reading: each call under the smaller of `[kubernetes]
    /// request_timeout_s` and the probe timeout, the whole (connecting
    /// included) under four of them.
    pub async fn read(&self, settings: &CockpitSettings, cancel: &CancellationToken) {
        let timeout = self.timeout.min(settings.probe_timeout);
        let started = Instant::now();
        let r = tokio::select! {
            () = cancel.cancelled() => None,
            r = tokio::time::timeout(timeout.saturating_mul(4), self.read_pods(timeout)) => Some(r),
        };
        let took = started.elapsed();
        let mut st = self.lock();
        st.in_flight = false;
        let Some(r) = r else { return };
        let r = r.unwrap_or_else(|_| {
            Err((
                "timeout",
                format!(
                    "list deployments, statefulsets, pods: no answer within {:.1} s",
                    timeout.saturating_mul(4).as_secs_f64()
                ),
            ))
        });
        st.last_probe_at = Some(now_stamp());
        st.last_probe_ms = Some(took.as_secs_f64() * 1000.0);
        st.totals.probes += 1;
        st.totals.attempted += 1;
        accumulate(&mut st.totals.probe_seconds, std::iter::once((took, 1)));
        match r {
            Ok((namespace, pods)) => {
                st.totals.succeeded += 1;
                st.namespace = Some(namespace);
                count_restarts(&mut st, &pods);
                let in_window = st.ring.iter().map(|(_, n)| n).sum();
                st.status = status_of(&pods, in_window);
                st.latest = Some(pods);
            }
            Err((kind, message)) => {
                *st.totals.errors.entry(kind.to_string()).or_default() += 1;
                st.status = TargetStatus::Down {
                    error_kind: kind.to_string(),
                    message,
                };
            }
        }
    }

    /// Connect once (kept for the next readings), then list.
    async fn read_pods(
        &self,
        timeout: Duration,
    ) -> Result<(String, FleetPods), (&'static str, String)> {
        let client = {
            let mut slot = self.client.lock().await;
            match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let c = cockpit_k8s::connect(self.context.as_deref(), timeout)
                        .await
                        .map_err(|e| ("config", e.to_string()))?;
                    slot.insert(c).clone()
                }
            }
        };
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let q = PodsQuery {
            namespace: namespace.clone(),
            label_selector: self.selector.clone(),
            agents: self.agents.clone(),
            retrieval: self.retrieval.clone(),
            timeout,
        };
        read_fleet_pods(&client, &q)
            .await
            .map(|p| (namespace, p))
            .map_err(|f| (f.kind, f.to_string()))
    }

    pub fn view(&self) -> AgentView {
        let st = self.lock();
        let span = st.ring.span();
        let mut requests = RequestCounts {
            window: span,
            ..RequestCounts::default()
        };
        // Readings in the window are not kept per interval: the row's
        // request counts are those since the start.
        requests.attempted = st.totals.attempted;
        requests.succeeded = st.totals.succeeded;
        requests.failed = st.totals.attempted - st.totals.succeeded;
        requests.errors = st.totals.errors.clone();
        requests.error_rate =
            (requests.attempted > 0).then(|| requests.failed as f64 / requests.attempted as f64);
        let empty = latency_window(&Compact::default(), span);
        AgentView {
            name: self.name.clone(),
            kind: TargetKind::Kubernetes,
            protocol: "kubernetes".into(),
            endpoint: match &self.context {
                Some(c) => format!("context {c}"),
                None => "current context".into(),
            },
            status: st.status.clone(),
            last_probe_at: st.last_probe_at.clone(),
            last_probe_ms: st.last_probe_ms,
            ttft: empty,
            itl: empty,
            e2e: empty,
            ttft_p95_series: Vec::new(),
            tokens_per_s: RateWindow {
                window: span,
                ..RateWindow::default()
            },
            requests,
            baseline: None,
            last_gate: None,
            alerts: Vec::new(),
            totals: st.totals.clone(),
            stm: None,
            kubernetes: Some(self.kube_view(&st, span)),
        }
    }

    fn kube_view(&self, st: &State, span: Duration) -> KubernetesView {
        let mut v = KubernetesView {
            namespace: st.namespace.clone().unwrap_or_default(),
            context: self.context.clone(),
            selector: self.selector.clone(),
            desired: 0,
            ready: 0,
            pods: 0,
            pods_ready: 0,
            restarts_since_start: st.restarts_total,
            restarts_in_window: st.ring.iter().map(|(_, n)| n).sum(),
            window: span,
            workloads: Vec::new(),
            not_ready: Vec::new(),
            truncated: false,
        };
        let Some(latest) = &st.latest else { return v };
        v.truncated = latest.truncated || latest.workloads.len() > MAX_WORKLOADS_SHOWN;
        for w in &latest.workloads {
            v.desired += u64::from(w.desired);
            v.ready += u64::from(w.ready);
            v.pods += w.pods.len() as u64;
            v.pods_ready += w.pods.iter().filter(|p| p.ready).count() as u64;
            if v.workloads.len() < MAX_WORKLOADS_SHOWN {
                v.workloads.push(WorkloadView {
                    kind: w.kind.to_string(),
                    name: w.name.clone(),
                    role: w.role.to_string(),
                    desired: w.desired,
                    ready: w.ready,
                    pods: u32::try_from(w.pods.len()).unwrap_or(u32::MAX),
                    restarts_since_start: st
                        .per_workload
                        .get(&format!("{}/{}", w.kind, w.name))
                        .copied()
                        .unwrap_or(0),
                });
            }
            for p in w.pods.iter().filter(|p| !p.ready) {
                if v.not_ready.len() >= MAX_PODS_SHOWN {
                    v.truncated = true;
                    break;
                }
                v.not_ready.push(PodIssue {
                    workload: w.name.clone(),
                    pod: p.name.clone(),
                    phase: p.phase.clone(),
                    reason: p.reason.clone().unwrap_or_default(),
                    restarts: p.restarts.iter().map(|(_, n)| u64::from(*n)).sum(),
                });
            }
        }
        v
    }
}

/// Add the restarts since the previous reading: for each container seen
/// before, how much its `restartCount` went up; a pod first seen after the
/// first reading counts all its restarts (they happened since). The first
/// reading only sets the counters' starting points.
fn count_restarts(st: &mut State, pods: &FleetPods) {
    let mut seen = HashMap::with_capacity(st.seen.len());
    let mut total = 0u64;
    for w in &pods.workloads {
        let mut up = 0u64;
        for p in &w.pods {
            let id = if p.uid.is_empty() { &p.name } else { &p.uid };
            for (container, n) in &p.restarts {
                let key = (id.clone(), container.clone());
                up += match st.seen.get(&key) {
                    Some(before) => u64::from(n.saturating_sub(*before)),
                    None if st.read_once => u64::from(*n),
                    None => 0,
                };
                seen.insert(key, *n);
            }
        }
        let key = format!("{}/{}", w.kind, w.name);
        *st.per_workload.entry(key).or_default() += up;
        total += up;
    }
    // Only the workloads still there are kept (the map stays bounded).
    st.per_workload.retain(|k, _| {
        pods.workloads
            .iter()
            .any(|w| k.split_once('/') == Some((w.kind, w.name.as_str())))
    });
    st.seen = seen;
    st.read_once = true;
    st.restarts_total += total;
    *st.ring.current() += total;
}

/// Down when no workload is watched or none of the replicas asked for is
/// ready; degraded when fewer are ready than asked for, a pod is not
/// ready, or a container restarted within the window; else up.
pub(crate) fn status_of(pods: &FleetPods, restarts_in_window: u64) -> TargetStatus {
    if pods.workloads.is_empty() {
        return TargetStatus::Down {
            error_kind: "no_workload".into(),
            message: "no agent or retrieval Deployment / StatefulSet found (label app.kubernetes.io/component=agent, [kubernetes] agents / retrieval, or [cockpit] kubernetes_selector)".into(),
        };
    }
    let desired: u64 = pods.workloads.iter().map(|w| u64::from(w.desired)).sum();
    let ready: u64 = pods.workloads.iter().map(|w| u64::from(w.ready)).sum();
    let not_ready: Vec<String> = (pods.workloads.iter())
        .flat_map(|w| w.pods.iter().filter(|p| !p.ready))
        .take(5)
        .map(|p| {
            format!(
                "{} ({})",
                p.name,
                p.reason.as_deref().unwrap_or("not ready")
            )
        })
        .collect();
    let mut reasons = Vec::new();
    if ready < desired {
        reasons.push(format!("{ready} of {desired} replicas ready"));
    }
    if !not_ready.is_empty() {
        reasons.push(format!("not ready: {}", not_ready.join(", ")));
    }
    if restarts_in_window > 0 {
        reasons.push(format!(
            "{restarts_in_window} container restart(s) in the window"
        ));
    }
    if desired > 0 && ready == 0 {
        return TargetStatus::Down {
            error_kind: "not_ready".into(),
            message: reasons.join("; "),
        };
    }
    if reasons.is_empty() {
        TargetStatus::Up
    } else {
        TargetStatus::Degraded {
            reason: reasons.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cockpit_k8s::pods::{PodState, WorkloadPods};

    fn workload(ready: u32, pods: Vec<PodState>) -> FleetPods {
        FleetPods {
            workloads: vec![WorkloadPods {
                kind: "Deployment",
                name: "chat".into(),
                role: "agent",
                desired: 2,
                ready,
                pods,
            }],
            truncated: false,
        }
    }

    fn pod(name: &str, ready: bool, restarts: u32) -> PodState {
        PodState {
            name: name.into(),
            uid: format!("uid-{name}"),
            ready,
            phase: "Running".into(),
            reason: (!ready).then(|| "CrashLoopBackOff".into()),
            restarts: vec![("agent".into(), restarts)],
        }
    }

    fn state() -> State {
        let row = KubeRow::new(&K8sConfig::default(), &CockpitSettings::default(), None);
        row.state.into_inner().unwrap()
    }

    #[test]
    fn restarts_count_from_the_first_reading_and_new_pods_count_whole() {
        let mut st = state();
        st.ring.open(1);
        count_restarts(&mut st, &workload(2, vec![pod("a", true, 5)]));
        assert_eq!(
            st.restarts_total, 0,
            "the first reading is the starting point"
        );
        st.ring.open(2);
        count_restarts(
            &mut st,
            &workload(1, vec![pod("a", true, 7), pod("b", false, 1)]),
        );
        assert_eq!(st.restarts_total, 3);
        assert_eq!(st.per_workload["Deployment/chat"], 3);
        // A counter that goes down (a replaced container status) adds nothing.
        count_restarts(&mut st, &workload(1, vec![pod("a", true, 2)]));
        assert_eq!(st.restarts_total, 3);
        assert_eq!(st.ring.iter().map(|(_, n)| n).sum::<u64>(), 3);
    }

    #[test]
    fn status_is_down_without_a_ready_replica_and_degraded_on_restarts() {
        let looping = workload(0, vec![pod("a", false, 3), pod("b", false, 4)]);
        match status_of(&looping, 0) {
            TargetStatus::Down {
                error_kind,
                message,
            } => {
                assert_eq!(error_kind, "not_ready");
                assert!(message.contains("0 of 2 replicas ready"), "{message}");
                assert!(message.contains("a (CrashLoopBackOff)"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let fine = workload(2, vec![pod("a", true, 3), pod("b", true, 0)]);
        assert_eq!(status_of(&fine, 0), TargetStatus::Up);
        assert!(
            matches!(status_of(&fine, 2), TargetStatus::Degraded { reason } if reason == "2 container restart(s) in the window")
        );
        assert!(
            matches!(status_of(&FleetPods::default(), 0), TargetStatus::Down { error_kind, .. } if error_kind == "no_workload")
        );
    }
}
