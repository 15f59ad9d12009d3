//! The fake API server's Jobs and "kubelet": a Job created (POST) gets one
//! pod per completion index, and each pod is a real local process — the
//! container's command (its program mapped to a binary given by the test)
//! with `JOB_COMPLETION_INDEX` and the container's environment set and
//! `$(VAR)` expanded in its arguments, as the kubelet does. Its standard
//! output and error are the pod log (`pods/NAME/log`, `limitBytes`
//! honoured); its life is the pod's phase (Pending → Running, Ready once
//! its port accepts connections → Succeeded or Failed with the exit code);
//! `pods/NAME:PORT/proxy/…` reaches the process on the port it was given.
//! Deleting the Job kills its processes and deletes its pods.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use super::{Shared, status};
use crate::fanout::{INDEX_ANNOTATION, INDEX_ENV, JOB_NAME_LABEL, START_ENV};

/// How the fake kubelet runs pods.
#[derive(Debug, Clone, Default)]
pub(super) struct KubeletPlan {
    /// Program name in the container's command → the binary run.
    pub programs: BTreeMap<String, PathBuf>,
    /// Completion indexes whose container exits 1 at once.
    pub failing: Vec<usize>,
    /// Pods are never scheduled (they stay Pending, Unschedulable).
    pub unschedulable: bool,
}

/// One pod's process.
#[derive(Debug)]
struct PodProc {
    port: u16,
    log: Arc<Mutex<Vec<u8>>>,
    stop: CancellationToken,
}

/// The kubelet's pods, by API path.
#[derive(Debug, Default)]
pub(super) struct Kubelet {
    pods: Mutex<BTreeMap<String, PodProc>>,
}

/// `…/namespaces/NS/jobs` (POST): store the Job, start its pods.
pub(super) async fn create_job(shared: &Arc<Shared>, collection: &str, body: &[u8]) -> Response {
    let mut job: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return status(400, "BadRequest", format!("body: {e}")),
    };
    let Some(name) = job["metadata"]["name"].as_str().map(str::to_string) else {
        return status(400, "BadRequest", "metadata.name is required".into());
    };
    let ns = super::store::namespace_of(&format!("{collection}/{name}")).unwrap_or_default();
    job["metadata"]["namespace"] = json!(ns);
    let path = format!("{collection}/{name}");
    let created = match shared.store.create(&path, job) {
        Ok(v) => v,
        Err(super::store::Refusal::NotFound(m)) => return status(404, "NotFound", m),
        Err(super::store::Refusal::Conflict(m)) => return status(409, "AlreadyExists", m),
        Err(super::store::Refusal::BadRequest(m)) => return status(400, "BadRequest", m),
    };
    let completions = created["spec"]["completions"].as_u64().unwrap_or(1) as usize;
    for index in 0..completions {
        let (shared, job, ns) = (shared.clone(), created.clone(), ns.clone());
        tokio::spawn(async move { run_pod(&shared, &ns, &job, index).await });
    }
    (axum::http::StatusCode::CREATED, axum::Json(created)).into_response()
}

/// `…/jobs/NAME` (DELETE): the Job gone, its processes killed, its pods deleted.
pub(super) fn delete_job(shared: &Arc<Shared>, path: &str) -> Response {
    let Some(job) = shared.store.remove(path) else {
        let name = path.rsplit('/').next().unwrap_or("");
        return status(404, "NotFound", format!("jobs.batch \"{name}\" not found"));
    };
    let name = job["metadata"]["name"].as_str().unwrap_or("").to_string();
    let ns = job["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let collection = format!("api/v1/namespaces/{ns}/pods");
    for pod in shared.store.list(&collection) {
        if pod["metadata"]["labels"][JOB_NAME_LABEL] == name.as_str() {
            let p = format!(
                "{collection}/{}",
                pod["metadata"]["name"].as_str().unwrap_or("")
            );
            if let Some(proc_) = shared.kubelet.pods.lock().expect("pods lock").remove(&p) {
                proc_.stop.cancel();
            }
            shared.store.remove(&p);
        }
    }
    axum::Json(job).into_response()
}

/// The pod of completion `index`: created Pending, then (unless pods are
/// unschedulable) its process started and followed.
async fn run_pod(shared: &Arc<Shared>, ns: &str, job: &Value, index: usize) {
    let job_name = job["metadata"]["name"].as_str().unwrap_or("job");
    let name = format!("{job_name}-{index}-fake");
    let path = format!("api/v1/namespaces/{ns}/pods/{name}");
    let template = &job["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[JOB_NAME_LABEL] = json!(job_name);
    labels["batch.kubernetes.io/job-name"] = json!(job_name);
    labels[INDEX_ANNOTATION] = json!(index.to_string());
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
            "annotations": {INDEX_ANNOTATION: index.to_string()}, "uid": format!("uid-pod-{index}")},
        "spec": template["spec"],
        "status": {"phase": "Pending"},
    });
    shared.store.put(&path, pod);
    let plan = &shared.cluster.kubelet;
    if plan.unschedulable {
        shared.store.update(&path, |p| {
            p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]);
        });
        return;
    }
    let container = &template["spec"]["containers"][0];
    let Ok(port) = free_port() else { return };
    let Some(mut cmd) = command(plan, container, index, port) else {
        return;
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let Ok(mut child) = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    else {
        return;
    };
    shared.kubelet.pods.lock().expect("pods lock").insert(
        path.clone(),
        PodProc {
            port,
            log: log.clone(),
            stop: stop.clone(),
        },
    );
    set_phase(shared, &path, "Running", None, false);
    let copies = (
        copy(child.stdout.take(), log.clone()),
        copy(child.stderr.take(), log.clone()),
    );
    let ready = probe_ready(shared, &path, port, stop.clone());
    let life = async {
        let (_, _, code) = tokio::join!(copies.0, copies.1, child.wait());
        code
    };
    tokio::select! {
        code = life => {
            let code = code.ok().and_then(|c| c.code()).unwrap_or(137);
            let phase = if code == 0 { "Succeeded" } else { "Failed" };
            set_phase(shared, &path, phase, Some(code), false);
        }
        () = stop.cancelled() => {}
        () = ready => {}
    }
}

/// Ready once the process accepts connections on its port.
async fn probe_ready(shared: &Arc<Shared>, path: &str, port: u16, stop: CancellationToken) {
    loop {
        if stop.is_cancelled() {
            return;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            set_phase(shared, path, "Running", None, true);
            return std::future::pending().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn set_phase(shared: &Shared, path: &str, phase: &str, code: Option<i32>, ready: bool) {
    shared.store.update(path, |p| {
        let state = match code {
            Some(c) => {
                json!({"terminated": {"exitCode": c, "reason": if c == 0 { "Completed" } else { "Error" }}})
            }
            None => json!({"running": {"startedAt": "2026-11-27T12:00:00Z"}}),
        };
        p["status"] = json!({
            "phase": phase, "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": "worker", "ready": ready, "restartCount": 0, "image": "", "imageID": "", "state": state}],
        });
    });
}

/// The container's command as a local process: its program mapped, its
/// environment set (the start address moved to a free local port), `$(VAR)`
/// expanded; a failing index runs `sh -c 'exit 1'`.
fn command(
    plan: &KubeletPlan,
    container: &Value,
    index: usize,
    port: u16,
) -> Option<tokio::process::Command> {
    let mut env: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    env.insert(INDEX_ENV.into(), index.to_string());
    env.insert(START_ENV.into(), format!("127.0.0.1:{port}"));
    if plan.failing.contains(&index) {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.args(["-c", "echo 'worker: cannot start' >&2; exit 1"]);
        return Some(c);
    }
    let program = container["command"][0].as_str()?;
    let exe = plan.programs.get(program)?;
    let mut c = tokio::process::Command::new(exe);
    for a in container["args"].as_array().into_iter().flatten() {
        let mut a = a.as_str()?.to_string();
        for (k, v) in &env {
            a = a.replace(&format!("$({k})"), v);
        }
        c.arg(a);
    }
    c.envs(&env);
    Some(c)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn copy(from: Option<impl AsyncRead + Unpin>, to: Arc<Mutex<Vec<u8>>>) {
    let Some(mut from) = from else { return };
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        to.lock().expect("log lock").extend_from_slice(&buf[..n]);
    }
}

/// `pods/NAME/log`: what the process wrote, at most `limitBytes`.
pub(super) fn log(shared: &Shared, pod_path: &str, query: &str) -> Option<Response> {
    let pods = shared.kubelet.pods.lock().expect("pods lock");
    let p = pods.get(pod_path)?;
    let mut bytes = p.log.lock().expect("log lock").clone();
    if let Some(limit) = super::query_param(query, "limitBytes").and_then(|v| v.parse().ok()) {
        bytes.truncate(limit);
    }
    Some(([("content-type", "text/plain")], bytes).into_response())
}

/// `pods/NAME:PORT/proxy/REST`: the request passed to the pod's process.
pub(super) async fn proxy(
    shared: &Shared,
    pod_path: &str,
    method: &str,
    rest: &str,
    query: &str,
) -> Response {
    let port = shared
        .kubelet
        .pods
        .lock()
        .expect("pods lock")
        .get(pod_path)
        .map(|p| p.port);
    let Some(port) = port else {
        return status(404, "NotFound", format!("pod {pod_path} has no process"));
    };
    let target = if query.is_empty() {
        format!("/{rest}")
    } else {
        format!("/{rest}?{query}")
    };
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(
            format!("{method} {target} HTTP/1.1\r\nHost: pod\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut out = Vec::new();
        s.take(64 * 1024).read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let answer = match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return status(
                503,
                "ServiceUnavailable",
                format!("error trying to reach service: {e}"),
            );
        }
        Err(_) => return status(504, "Timeout", "the pod did not answer".into()),
    };
    let text = String::from_utf8_lossy(&answer);
    let code: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (
        axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
        body,
    )
        .into_response()
}
