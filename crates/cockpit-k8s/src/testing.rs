//! An in-process fake Kubernetes API server for tests (feature
//! `test-support`): recorded list responses served on 127.0.0.1 at the
//! paths kube requests, 403 answers for resources marked forbidden,
//! LoadBalancer Services that get their address after a delay (or never),
//! and a kubeconfig file pointing at it so the CLI can be tested as a
//! process. No TLS, no auth, read-only; every request is logged.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the fake cluster holds.
#[derive(Debug, Clone, Default)]
pub struct FakeCluster {
    /// `api/v1/namespaces/agents/pods` → the list response.
    lists: BTreeMap<String, Value>,
    forbidden: BTreeSet<String>,
    /// Service name → (delay, address): the address appears after the delay.
    lb_after: BTreeMap<String, (Duration, String)>,
}

impl FakeCluster {
    pub fn new() -> Self {
        FakeCluster::default()
    }

    /// Load recorded list responses: a JSON object mapping API paths
    /// (`api/v1/nodes`) to the list response the API server sent.
    pub fn recorded(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let v: BTreeMap<String, Value> = serde_json::from_str(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        Ok(FakeCluster {
            lists: v,
            ..Default::default()
        })
    }

    /// Serve `items` as the list at `path` (`apis/apps/v1/namespaces/agents/deployments`).
    pub fn with_list(mut self, path: &str, kind: &str, items: Vec<Value>) -> Self {
        self.lists.insert(
            path.trim_matches('/').to_string(),
            json!({"kind": format!("{kind}List"), "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}),
        );
        self
    }

    /// Answer 403 Forbidden at `path`, as RBAC does.
    pub fn forbid(mut self, path: &str) -> Self {
        self.forbidden.insert(path.trim_matches('/').to_string());
        self
    }

    /// Give Service `name` the external address `ip` once `delay` has passed
    /// since the server started.
    pub fn lb_after(mut self, name: &str, delay: Duration, ip: &str) -> Self {
        self.lb_after
            .insert(name.to_string(), (delay, ip.to_string()));
        self
    }
}

struct Shared {
    cluster: FakeCluster,
    started: Instant,
    log: Mutex<Vec<String>>,
    authorizations: Mutex<Vec<String>>,
}

/// A running fake API server; stops when dropped.
#[derive(Debug)]
pub struct FakeApiServer {
    addr: SocketAddr,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// Start on 127.0.0.1 (a free port) and write a kubeconfig whose
    /// context `fake` (namespace `namespace`) points at it.
    pub async fn start(cluster: FakeCluster, namespace: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cluster,
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            kubeconfig_text(&format!("http://{addr}"), namespace, "{}"),
        )?;
        Ok(FakeApiServer {
            addr,
            kubeconfig,
            _dir: dir,
            shared,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig file (context `fake`) pointing at this server.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client for this server (namespace `default`).
    pub fn client(&self) -> kube::Client {
        let mut cfg = kube::Config::new(self.url().parse().expect("a valid URL"));
        cfg.read_timeout = Some(Duration::from_secs(5));
        cfg.connect_timeout = Some(Duration::from_secs(5));
        kube::Client::try_from(cfg).expect("a client for the fake server")
    }

    /// The `Authorization` header of every request that carried one.
    pub fn authorizations(&self) -> Vec<String> {
        self.shared
            .authorizations
            .lock()
            .expect("authorizations lock")
            .clone()
    }

    /// `GET /path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.log.lock().expect("log lock").clone()
    }
}

/// A kubeconfig whose current context `fake` (namespace `namespace`) points
/// at `server` with the user written as `user` (YAML flow or block text
/// indented for `  user:`, e.g. `{}` or an `exec` mapping).
pub fn kubeconfig_text(server: &str, namespace: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: fake\n  user: {user}\n"
    )
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn patch_lb(item: &mut Value, shared: &Shared) {
    let name = item
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some((delay, ip)) = shared.cluster.lb_after.get(&name)
        && shared.started.elapsed() >= *delay
        && let Some(obj) = item.as_object_mut()
    {
        obj.insert(
            "status".into(),
            json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}),
        );
    }
}

/// `involvedObject.kind=Service,involvedObject.name=x` → pairs.
fn field_selector(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("fieldSelector="))
        .flat_map(|v| {
            let v = v.replace("%3D", "=").replace("%2C", ",");
            v.split(',')
                .filter_map(|p| {
                    p.split_once('=')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().trim_matches('/').to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    shared
        .log
        .lock()
        .expect("log lock")
        .push(format!("{} /{path}?{query}", req.method()));
    if let Some(a) = req.headers().get(axum::http::header::AUTHORIZATION) {
        shared
            .authorizations
            .lock()
            .expect("authorizations lock")
            .push(String::from_utf8_lossy(a.as_bytes()).into_owned());
    }
    if req.method() != axum::http::Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            "the fake API server is read-only".into(),
        );
    }
    if shared.cluster.forbidden.contains(&path) {
        let resource = path.rsplit('/').next().unwrap_or("");
        let ns = path
            .split("namespaces/")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or("");
        return status(
            403,
            "Forbidden",
            format!(
                "{resource} is forbidden: User \"system:serviceaccount:ci:auditor\" cannot list resource \"{resource}\" in API group \"\" in the namespace \"{ns}\""
            ),
        );
    }
    if let Some(list) = shared.cluster.lists.get(&path) {
        let mut list = list.clone();
        let selector = field_selector(&query);
        if let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) {
            items.retain(|it| {
                selector.iter().all(|(k, v)| {
                    let pointer = format!("/{}", k.replace('.', "/"));
                    it.pointer(&pointer).and_then(Value::as_str) == Some(v.as_str())
                })
            });
            for it in items.iter_mut() {
                patch_lb(it, &shared);
            }
        }
        return axum::Json(list).into_response();
    }
    if let Some((parent, name)) = path.rsplit_once('/')
        && let Some(list) = shared.cluster.lists.get(parent)
    {
        let found = list
            .get("items")
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            })
            .cloned();
        return match found {
            Some(mut item) => {
                patch_lb(&mut item, &shared);
                axum::Json(item).into_response()
            }
            None => status(404, "NotFound", format!("\"{name}\" not found")),
        };
    }
    status(
        404,
        "NotFound",
        format!("the server could not find the requested resource (/{path})"),
    )
}
