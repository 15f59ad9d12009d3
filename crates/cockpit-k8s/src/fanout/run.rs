//! The coordinator: create the Job, watch its pods (list, then watch from
//! that resourceVersion, re-listed with backoff when the stream ends) until
//! every pod runs, hand them the common start through the pod proxy, watch
//! until every pod has terminated, read each pod's log (bounded), delete the
//! Job. Every wait has a deadline and stops on cancellation; the Job is
//! deleted on every way out unless `keep`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{AsyncReadExt as _, StreamExt as _};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, WatchEvent, WatchParams};
use tokio_util::sync::CancellationToken;

use super::{INDEX_ANNOTATION, JOB_NAME_LABEL, START_PORT};
use crate::K8sError;
use crate::cluster::api_error;
use crate::deploy::WatchEnd;

/// Clock exchanges with each pod; the one with the shortest round trip is kept.
const CLOCK_EXCHANGES: usize = 4;
/// The longest answer read from a worker's start endpoint.
const MAX_ANSWER_BYTES: u64 = 256;

/// How the coordinator waits.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// From every pod Running (and its clock read) to the common start.
    pub lead: Duration,
    /// How long the pods may take to be scheduled, pulled and Running.
    pub schedule_timeout: Duration,
    /// From the common start until every worker must have terminated.
    pub run_timeout: Duration,
    /// Leave the Job (its pods and logs) in the cluster.
    pub keep: bool,
    /// The most bytes read from one pod's log.
    pub max_output_bytes: usize,
    /// The bound on each API request.
    pub request_timeout: Duration,
}

/// A pod's clock offset from the coordinator's: add `offset_ms` to the
/// pod's clock to read the coordinator's, known within `± rtt_ms / 2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodClock {
    pub offset_ms: f64,
    pub rtt_ms: f64,
}

/// What one worker (one completion index) came to.
#[derive(Debug, Clone)]
pub struct WorkerOutcome {
    pub index: usize,
    /// Its pod, when one was seen.
    pub pod: Option<String>,
    /// The pod's log (what the container wrote, as the kubelet keeps it),
    /// at most `max_output_bytes`; or why there is none.
    pub output: Result<Vec<u8>, String>,
    /// How the pod ended when it did not succeed (`exit 1: Error`, not
    /// Running in time, the start not delivered).
    pub failure: Option<String>,
    pub clock: Option<PodClock>,
}

/// What running the Job came to.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub name: String,
    pub namespace: String,
    /// The common start handed to the workers (none: they never started).
    pub start_at: Option<SystemTime>,
    pub workers: Vec<WorkerOutcome>,
    /// Stopped by the caller (Ctrl-C) before every worker finished.
    pub cancelled: bool,
    /// The Job was deleted at the end (`propagationPolicy: Background`).
    pub deleted: bool,
    /// Why the delete failed, when it did.
    pub delete_error: Option<String>,
}

/// Create `job`, run it to the end, read every worker's output, delete it
/// (unless `s.keep`). An API error before the workers could run (a 403 on
/// create, on the pod list) is an error naming the verb and resource; a
/// worker that fails or never reports is a [`WorkerOutcome`] saying why.
#[tracing::instrument(name = "run_job", skip_all, fields(job = ?job.metadata.name))]
pub async fn run_job(
    client: &Client,
    job: &Job,
    s: &RunSettings,
    cancel: &CancellationToken,
) -> Result<JobRun, K8sError> {
    let namespace = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let workers = job
        .spec
        .as_ref()
        .and_then(|sp| sp.completions)
        .unwrap_or(1)
        .max(1) as usize;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let what = format!("jobs in namespace {namespace}");
    bounded(s.request_timeout, jobs.create(&PostParams::default(), job))
        .await
        .map_err(|e| e.api("create", &what))?;
    let mut run = JobRun {
        name: name.clone(),
        namespace: namespace.clone(),
        start_at: None,
        workers: (0..workers)
            .map(|index| WorkerOutcome {
                index,
                pod: None,
                output: Err("no pod seen".into()),
                failure: None,
                clock: None,
            })
            .collect(),
        cancelled: false,
        deleted: false,
        delete_error: None,
    };
    let driven = drive(client, &mut run, s, cancel).await;
    if !s.keep {
        match bounded(
            s.request_timeout,
            jobs.delete(&name, &DeleteParams::background()),
        )
        .await
        {
            Ok(_) => run.deleted = true,
            Err(e) => run.delete_error = Some(e.api("delete", &format!("jobs/{name}")).to_string()),
        }
    }
    driven.map(|()| run)
}

/// A request bounded by `timeout`.
async fn bounded<T>(
    timeout: Duration,
    f: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failed::Kube(e)),
        Err(_) => Err(Failed::TimedOut(timeout)),
    }
}

/// A request that failed or timed out.
enum Failed {
    Kube(kube::Error),
    TimedOut(Duration),
}

impl Failed {
    fn api(self, verb: &'static str, what: &str) -> K8sError {
        match self {
            Failed::Kube(e) => api_error(verb, what, e),
            Failed::TimedOut(t) => K8sError::Api {
                verb,
                resource: what.to_string(),
                message: format!("no answer within {t:?}"),
            },
        }
    }
}

/// The run between create and delete: pods Running, the handshake, pods
/// terminated, logs read.
async fn drive(
    client: &Client,
    run: &mut JobRun,
    s: &RunSettings,
    cancel: &CancellationToken,
) -> Result<(), K8sError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &run.namespace);
    let mut watch = PodWatch {
        api: &pods,
        selector: format!("{JOB_NAME_LABEL}={}", run.name),
        what: format!("pods of job {} in namespace {}", run.name, run.namespace),
        workers: run.workers.len(),
        waiting_for: (0..run.workers.len()).collect(),
        pods: BTreeMap::new(),
    };
    let deadline = tokio::time::Instant::now() + s.schedule_timeout;
    let end = watch.until(deadline, cancel, started).await?;
    run.cancelled = end == WatchEnd::Cancelled;
    let mut ready = Vec::new();
    for w in &mut run.workers {
        match watch.pods.get(&w.index) {
            Some(p) if is_ready(p) && !run.cancelled => ready.push(w.index),
            Some(_) | None if run.cancelled => w.output = Err("cancelled before the start".into()),
            Some(p) if !terminated(p) => {
                w.failure = Some(format!(
                    "not Running and Ready within {:?}: {}",
                    s.schedule_timeout,
                    phase_text(p)
                ));
            }
            Some(_) => {}
            None => w.failure = Some(format!("no pod within {:?}", s.schedule_timeout)),
        }
        w.pod = watch
            .pods
            .get(&w.index)
            .and_then(|p| p.metadata.name.clone());
    }
    if !run.cancelled && !ready.is_empty() {
        handshake(client, run, &ready, s).await;
        watch.waiting_for = ready
            .into_iter()
            .filter(|&i| run.workers[i].failure.is_none())
            .collect();
        let deadline = tokio::time::Instant::now() + s.lead + s.run_timeout;
        let end = watch.until(deadline, cancel, terminated).await?;
        run.cancelled = end == WatchEnd::Cancelled;
    }
    for w in &mut run.workers {
        let Some(p) = watch.pods.get(&w.index) else {
            continue;
        };
        if terminated(p) {
            w.failure = w.failure.take().or_else(|| failure(p));
            w.output = read_log(&pods, p, s).await;
        } else if w.failure.is_none() {
            w.failure = Some(if run.cancelled {
                "cancelled while it ran".into()
            } else {
                format!(
                    "still {} {:?} after the start",
                    phase_text(p),
                    s.run_timeout
                )
            });
        }
    }
    Ok(())
}

/// Read every ready pod's clock, then hand all of them the same start.
async fn handshake(client: &Client, run: &mut JobRun, ready: &[usize], s: &RunSettings) {
    for &i in ready {
        let w = &mut run.workers[i];
        let Some(pod) = w.pod.clone() else { continue };
        w.clock = measure_clock(client, &run.namespace, &pod, s.request_timeout)
            .await
            .ok();
    }
    let start_at = SystemTime::now() + s.lead;
    let ns = unix_ns(start_at);
    for &i in ready {
        let w = &mut run.workers[i];
        let Some(pod) = w.pod.clone() else { continue };
        let sent = proxy(
            client,
            &run.namespace,
            &pod,
            http::Method::POST,
            &format!("start?at={ns}"),
            s.request_timeout,
        )
        .await;
        if let Err(e) = sent {
            w.failure = Some(format!("the start was not delivered: {e}"));
        }
    }
    run.start_at = Some(start_at);
}

fn unix_ns(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// An NTP-style exchange through the pod proxy: the pod answers its wall
/// clock; `offset = coordinator − pod`, the exchange with the shortest round
/// trip kept.
async fn measure_clock(
    client: &Client,
    namespace: &str,
    pod: &str,
    timeout: Duration,
) -> Result<PodClock, String> {
    let mut best: Option<PodClock> = None;
    for _ in 0..CLOCK_EXCHANGES {
        let (t0, i0) = (SystemTime::now(), Instant::now());
        let text = proxy(client, namespace, pod, http::Method::GET, "clock", timeout).await?;
        let rtt = i0.elapsed();
        let theirs: i128 = text
            .trim()
            .parse()
            .map_err(|_| format!("not a clock reading: {text:?}"))?;
        let mid = unix_ns(t0) + (rtt.as_nanos() as i128) / 2;
        let c = PodClock {
            offset_ms: (mid - theirs) as f64 / 1e6,
            rtt_ms: rtt.as_secs_f64() * 1e3,
        };
        if best.is_none_or(|b| c.rtt_ms < b.rtt_ms) {
            best = Some(c);
        }
    }
    best.ok_or_else(|| "no exchange".into())
}

/// `METHOD /api/v1/namespaces/NS/pods/POD:7070/proxy/PATH`, the answer
/// (at most [`MAX_ANSWER_BYTES`]) as text.
async fn proxy(
    client: &Client,
    namespace: &str,
    pod: &str,
    method: http::Method,
    path: &str,
    timeout: Duration,
) -> Result<String, String> {
    let uri = format!("/api/v1/namespaces/{namespace}/pods/{pod}:{START_PORT}/proxy/{path}");
    let verb = if method == http::Method::GET {
        "get"
    } else {
        "create"
    };
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let what = format!("pods/{pod}/proxy");
    let read = async {
        let body = client.request_stream(req).await?;
        let mut out = Vec::new();
        body.take(MAX_ANSWER_BYTES)
            .read_to_end(&mut out)
            .await
            .map_err(kube::Error::ReadEvents)?;
        Ok::<_, kube::Error>(out)
    };
    let bytes = bounded(timeout, read)
        .await
        .map_err(|e| e.api(verb, &what).to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The pod's log, at most `max_output_bytes` (asked of the server with
/// `limitBytes`, and enforced here).
async fn read_log(pods: &Api<Pod>, p: &Pod, s: &RunSettings) -> Result<Vec<u8>, String> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let limit = s.max_output_bytes as u64;
    let lp = LogParams {
        limit_bytes: Some(limit as i64 + 1),
        ..LogParams::default()
    };
    let read = async {
        let body = pods.log_stream(&name, &lp).await?;
        let mut out = Vec::new();
        body.take(limit + 1)
            .read_to_end(&mut out)
            .await
            .map_err(kube::Error::ReadEvents)?;
        Ok::<_, kube::Error>(out)
    };
    let out = bounded(s.request_timeout.max(Duration::from_secs(60)), read)
        .await
        .map_err(|e| e.api("get", &format!("pods/{name}/log")).to_string())?;
    if out.len() as u64 > limit {
        return Err(format!("its log is over {limit} bytes: not read"));
    }
    Ok(out)
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

fn running(p: &Pod) -> bool {
    phase(p) == "Running"
}

fn terminated(p: &Pod) -> bool {
    matches!(phase(p), "Succeeded" | "Failed")
}

/// Running with its start port open (the readiness probe passed).
fn is_ready(p: &Pod) -> bool {
    running(p)
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn started(p: &Pod) -> bool {
    is_ready(p) || terminated(p)
}

/// `Pending (Unschedulable: 0/3 nodes are available…)`.
fn phase_text(p: &Pod) -> String {
    let why = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.status == "False" && c.reason.is_some())
        })
        .map(|c| {
            format!(
                " ({}: {})",
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default()
            )
        });
    format!("{}{}", phase(p), why.unwrap_or_default())
}

/// A failed pod's container end: `exit 1 (Error)`.
fn failure(p: &Pod) -> Option<String> {
    if phase(p) != "Failed" {
        return None;
    }
    let term = p
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|st| st.terminated.clone());
    Some(match term {
        Some(t) => format!(
            "pod {} failed: exit {} ({})",
            p.metadata.name.clone().unwrap_or_default(),
            t.exit_code,
            t.reason.unwrap_or_default()
        ),
        None => format!("pod {} failed", p.metadata.name.clone().unwrap_or_default()),
    })
}

/// The pods of one Job, by completion index, kept current by list + watch.
struct PodWatch<'a> {
    api: &'a Api<Pod>,
    selector: String,
    what: String,
    workers: usize,
    /// The indexes `until` waits for.
    waiting_for: Vec<usize>,
    pods: BTreeMap<usize, Pod>,
}

impl PodWatch<'_> {
    fn index(&self, p: &Pod) -> Option<usize> {
        let m = &p.metadata;
        let v = m
            .annotations
            .as_ref()
            .and_then(|a| a.get(INDEX_ANNOTATION))
            .or_else(|| m.labels.as_ref().and_then(|l| l.get(INDEX_ANNOTATION)))?;
        v.parse().ok().filter(|&i| i < self.workers)
    }

    fn record(&mut self, p: Pod) {
        if let Some(i) = self.index(&p) {
            self.pods.insert(i, p);
        }
    }

    fn all(&self, done: &impl Fn(&Pod) -> bool) -> bool {
        self.waiting_for
            .iter()
            .all(|i| self.pods.get(i).is_some_and(done))
    }

    /// List, then watch from the list's resourceVersion, until every index
    /// waited for has a pod for which `done` holds, `deadline` passes or `cancel`
    /// fires; a closed or quiet stream is re-listed after a growing pause.
    async fn until(
        &mut self,
        deadline: tokio::time::Instant,
        cancel: &CancellationToken,
        done: impl Fn(&Pod) -> bool,
    ) -> Result<WatchEnd, K8sError> {
        let mut pause = crate::FIRST_BACKOFF;
        loop {
            let lp = ListParams::default()
                .labels(&self.selector)
                .limit(crate::LIST_LIMIT);
            let list = tokio::select! {
                _ = cancel.cancelled() => return Ok(WatchEnd::Cancelled),
                _ = tokio::time::sleep_until(deadline) => return Ok(WatchEnd::TimedOut),
                l = self.api.list(&lp) => l.map_err(|e| api_error("list", &self.what, e))?,
            };
            let rv = list.metadata.resource_version.clone().unwrap_or_default();
            for p in list.items {
                self.record(p);
            }
            if self.all(&done) {
                return Ok(WatchEnd::Done);
            }
            let wp = WatchParams::default().labels(&self.selector).timeout(290);
            let mut stream = self
                .api
                .watch(&wp, &rv)
                .await
                .map_err(|e| api_error("watch", &self.what, e))?
                .boxed();
            loop {
                let ev = tokio::select! {
                    _ = cancel.cancelled() => return Ok(WatchEnd::Cancelled),
                    _ = tokio::time::sleep_until(deadline) => return Ok(WatchEnd::TimedOut),
                    ev = stream.next() => ev,
                };
                match ev {
                    Some(Ok(WatchEvent::Added(p) | WatchEvent::Modified(p))) => {
                        self.record(p);
                        if self.all(&done) {
                            return Ok(WatchEnd::Done);
                        }
                    }
                    Some(Ok(WatchEvent::Deleted(p))) => {
                        if let Some(i) = self.index(&p) {
                            self.pods.remove(&i);
                        }
                    }
                    Some(Ok(WatchEvent::Bookmark(_) | WatchEvent::Error(_))) => {}
                    Some(Err(_)) | None => break,
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(WatchEnd::Cancelled),
                _ = tokio::time::sleep_until(deadline) => return Ok(WatchEnd::TimedOut),
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(crate::MAX_BACKOFF);
        }
    }
}
