//! An in-process fake Kubernetes API server for tests (feature
//! `test-support`): recorded list responses served on 127.0.0.1 at the
//! paths kube requests, 403 answers for resources marked forbidden,
//! LoadBalancer Services that get their address after a delay (or never),
//! and a kubeconfig file pointing at it so the CLI can be tested as a
//! process. No TLS, no auth; every request is logged.
//!
//! Writes go to an object [`store`]: server-side apply with managedFields,
//! dryRun, 409 conflicts, watches, and Deployment status advanced on a
//! schedule. The request router ([`handle`]) tries the store's routes
//! first, then the recorded lists; a new kind with behaviour of its own
//! is added in the store (`Store::after_write`) and, if it needs routes of
//! its own, in [`store_route`].

mod kubelet;
mod store;

pub use store::RolloutPlan;

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
    /// Path → list responses served in turn, the last one from then on.
    sequences: BTreeMap<String, Vec<Value>>,
    forbidden: BTreeSet<String>,
    /// Service name → (delay, address): the address appears after the delay.
    lb_after: BTreeMap<String, (Duration, String)>,
    /// Namespaces that exist (for writes; reads of recorded lists need none).
    namespaces: BTreeSet<String>,
    /// Objects present before the test: (API path, field manager, object).
    seeded: Vec<(String, String, Value)>,
    /// Collection paths where PATCH answers 403.
    forbidden_patch: BTreeSet<String>,
    rollout: Option<RolloutPlan>,
    kubelet: kubelet::KubeletPlan,
    /// (verb, resource) pairs answered 403 (`("create", "jobs")`).
    forbidden_verbs: BTreeSet<(String, String)>,
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

    /// Serve the lists of `items` at `path` in turn: the first GET gets the
    /// first, the next the second, …, and every GET after the last gets the
    /// last (a pod whose `restartCount` goes up between two reads).
    pub fn with_list_sequence(mut self, path: &str, kind: &str, items: Vec<Vec<Value>>) -> Self {
        let lists = items
            .into_iter()
            .enumerate()
            .map(|(i, items)| json!({"kind": format!("{kind}List"), "apiVersion": "v1", "metadata": {"resourceVersion": (i + 1).to_string()}, "items": items}))
            .collect();
        self.sequences
            .insert(path.trim_matches('/').to_string(), lists);
        self
    }

    /// Answer 403 Forbidden at `path`, as RBAC does.
    pub fn forbid(mut self, path: &str) -> Self {
        self.forbidden.insert(path.trim_matches('/').to_string());
        self
    }

    /// A namespace that exists (writes into any other are 404).
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespaces.insert(namespace.to_string());
        self
    }

    /// An object in the store before the test, its fields owned by
    /// `manager`; `path` is its API path
    /// (`apis/apps/v1/namespaces/agents/deployments/chat`).
    pub fn with_object(mut self, path: &str, manager: &str, object: Value) -> Self {
        self.seeded.push((
            path.trim_matches('/').to_string(),
            manager.to_string(),
            object,
        ));
        self
    }

    /// Answer 403 Forbidden to a PATCH under the collection `path`
    /// (`apis/apps/v1/namespaces/agents/deployments`).
    pub fn forbid_patch(mut self, path: &str) -> Self {
        self.forbidden_patch
            .insert(path.trim_matches('/').to_string());
        self
    }

    /// When applied Deployments become available (default: at once).
    pub fn rollout(mut self, plan: RolloutPlan) -> Self {
        self.rollout = Some(plan);
        self
    }

    /// Run Jobs: a created Job's pods are local processes, the program
    /// `program` of the container's command run as `exe` (see the
    /// `kubelet` module).
    pub fn kubelet(mut self, program: &str, exe: &Path) -> Self {
        self.kubelet
            .programs
            .insert(program.to_string(), exe.to_path_buf());
        self
    }

    /// The container of completion index `index` exits 1 at once.
    pub fn fail_worker(mut self, index: usize) -> Self {
        self.kubelet.failing.push(index);
        self
    }

    /// Pods are never scheduled: they stay Pending (Unschedulable).
    pub fn never_schedule(mut self) -> Self {
        self.kubelet.unschedulable = true;
        self
    }

    /// Answer 403 to `verb` (`create`, `get`, `list`, `watch`, `delete`,
    /// `patch`) on `resource` (`jobs`, `pods`, `pods/log`, `pods/proxy`).
    pub fn forbid_verb(mut self, verb: &str, resource: &str) -> Self {
        self.forbidden_verbs
            .insert((verb.to_string(), resource.to_string()));
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
    store: Arc<store::Store>,
    cluster: FakeCluster,
    started: Instant,
    log: Mutex<Vec<String>>,
    authorizations: Mutex<Vec<String>>,
    kubelet: kubelet::Kubelet,
    /// GETs served so far of each [`FakeCluster::with_list_sequence`] path.
    served: Mutex<BTreeMap<String, usize>>,
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
        let store = Arc::new(store::Store::new(
            cluster.namespaces.clone(),
            cluster.seeded.clone(),
            cluster
                .rollout
                .unwrap_or(RolloutPlan::AvailableAfter(Duration::ZERO)),
        ));
        let shared = Arc::new(Shared {
            store,
            cluster,
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
            authorizations: Mutex::new(Vec::new()),
            kubelet: kubelet::Kubelet::default(),
            served: Mutex::new(BTreeMap::new()),
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

/// The event a watch on `name` in the Service collection `path` gets when
/// its LoadBalancer address arrives ([`FakeCluster::lb_after`]), if it
/// arrives before `deadline`; an empty stream otherwise.
fn lb_event(
    shared: &Arc<Shared>,
    path: &str,
    name: Option<&str>,
    deadline: tokio::time::Instant,
) -> futures_util::stream::BoxStream<'static, Value> {
    use futures_util::StreamExt as _;
    let found = name.filter(|_| path.ends_with("/services")).and_then(|n| {
        let (delay, _) = shared.cluster.lb_after.get(n)?;
        let obj = shared
            .store
            .list(path)
            .into_iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(n))?;
        Some((*delay, obj))
    });
    let Some((delay, mut obj)) = found else {
        return futures_util::stream::empty().boxed();
    };
    let at = tokio::time::Instant::from_std(shared.started + delay);
    if at >= deadline {
        return futures_util::stream::empty().boxed();
    }
    let shared = shared.clone();
    futures_util::stream::once(async move {
        tokio::time::sleep_until(at).await;
        patch_lb(&mut obj, &shared);
        json!({"type": "MODIFIED", "object": obj})
    })
    .boxed()
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
    if let Some(r) = store_route(&shared, req, &path, &query).await {
        return r;
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
    let next_in_sequence = shared.cluster.sequences.get(&path).and_then(|lists| {
        let mut served = shared.served.lock().expect("served lock");
        let n = served.entry(path.clone()).or_default();
        let list = lists.get(*n).or(lists.last()).cloned();
        *n += 1;
        list
    });
    if let Some(list) = next_in_sequence.or_else(|| shared.cluster.lists.get(&path).cloned()) {
        let mut list = list;
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

/// One `key=value` of a query string (not decoded beyond `%3D` / `%2C`).
fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The store's routes: PATCH (server-side apply), GET `?watch=true` on a
/// collection, GET of a stored object. `None`: not the store's, and only a
/// GET reaches the recorded lists.
async fn store_route(
    shared: &Arc<Shared>,
    req: Request,
    path: &str,
    query: &str,
) -> Option<Response> {
    let method = req.method().clone();
    if let Some(r) = forbidden_verb(shared, &method, path, query) {
        return Some(r);
    }
    let req = if shared.cluster.kubelet.programs.is_empty() {
        req
    } else {
        match job_route(shared, req, path, query).await {
            Ok(r) => return Some(r),
            Err(req) => req,
        }
    };
    if method == axum::http::Method::PATCH {
        return Some(patch(shared, req, path, query).await);
    }
    if method != axum::http::Method::GET {
        return Some(status(
            405,
            "MethodNotAllowed",
            "the fake API server answers GET and PATCH (and, with a kubelet, Jobs' POST and DELETE) only".into(),
        ));
    }
    if query_param(query, "watch") == Some("true") || query_param(query, "watch") == Some("1") {
        return Some(watch(shared, path, query));
    }
    let mut found = shared.store.get(path)?;
    patch_lb(&mut found, shared);
    Some(axum::Json(found).into_response())
}

/// The verb and resource of a request, as RBAC names them: `("create",
/// "jobs")`, `("get", "pods/log")`.
fn verb_of(method: &axum::http::Method, path: &str, query: &str) -> (String, String) {
    let rest = path
        .split("/namespaces/")
        .nth(1)
        .map_or(path, |r| r.split_once('/').map_or("", |(_, tail)| tail));
    let parts: Vec<&str> = rest.split('/').collect();
    let resource = match parts.as_slice() {
        [r] | [r, _] => (*r).to_string(),
        [r, _, sub, ..] => format!("{r}/{sub}"),
        [] => String::new(),
    };
    let watch = matches!(query_param(query, "watch"), Some("true" | "1"));
    let verb = match *method {
        axum::http::Method::POST => "create",
        axum::http::Method::DELETE => "delete",
        axum::http::Method::PATCH => "patch",
        axum::http::Method::PUT => "update",
        _ if watch => "watch",
        _ if parts.len() == 1 => "list",
        _ => "get",
    };
    (verb.to_string(), resource)
}

/// 403 for a verb forbidden with [`FakeCluster::forbid_verb`].
fn forbidden_verb(
    shared: &Shared,
    method: &axum::http::Method,
    path: &str,
    query: &str,
) -> Option<Response> {
    let (verb, resource) = verb_of(method, path, query);
    if !shared
        .cluster
        .forbidden_verbs
        .contains(&(verb.clone(), resource.clone()))
    {
        return None;
    }
    let ns = path
        .split("/namespaces/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    Some(status(
        403,
        "Forbidden",
        format!(
            "{resource} is forbidden: User \"system:serviceaccount:ci:loadgen\" cannot {verb} resource \"{resource}\" in the namespace \"{ns}\""
        ),
    ))
}

/// Jobs and their pods (with a kubelet): POST and DELETE of Jobs, lists of
/// Jobs and pods by label, pod logs, the pod proxy. `Err`: not one of these.
async fn job_route(
    shared: &Arc<Shared>,
    req: Request,
    path: &str,
    query: &str,
) -> Result<Response, Request> {
    use axum::http::Method;
    let method = req.method().clone();
    let parts: Vec<&str> = path.split('/').collect();
    let pods_at = parts.iter().position(|p| *p == "pods");
    if path.ends_with("/jobs") && method == Method::POST {
        let Ok(body) = axum::body::to_bytes(req.into_body(), 4 << 20).await else {
            return Ok(status(
                413,
                "RequestEntityTooLarge",
                "body over 4 MiB".into(),
            ));
        };
        return Ok(kubelet::create_job(shared, path, &body).await);
    }
    if path.contains("/jobs/") && method == Method::DELETE {
        return Ok(kubelet::delete_job(shared, path));
    }
    if let Some(i) = pods_at
        && let Some(pod) = parts.get(i + 1)
    {
        let (name, _port) = pod.split_once(':').unwrap_or((pod, ""));
        let pod_path = format!("{}/{name}", parts[..=i].join("/"));
        if parts.get(i + 2) == Some(&"log") && method == Method::GET {
            return Ok(kubelet::log(shared, &pod_path, query)
                .unwrap_or_else(|| status(404, "NotFound", format!("pods \"{name}\" not found"))));
        }
        if parts.get(i + 2) == Some(&"proxy") {
            let rest = parts[i + 3..].join("/");
            return Ok(kubelet::proxy(shared, &pod_path, method.as_str(), &rest, query).await);
        }
    }
    let watch = matches!(query_param(query, "watch"), Some("true" | "1"));
    if method == Method::GET && !watch && (path.ends_with("/pods") || path.ends_with("/jobs")) {
        let selector = label_selector(query);
        let items: Vec<Value> = shared
            .store
            .list(path)
            .into_iter()
            .filter(|o| labels_match(o, &selector))
            .collect();
        let kind = if path.ends_with("/pods") {
            "PodList"
        } else {
            "JobList"
        };
        return Ok(axum::Json(json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": shared.store.version().to_string()}, "items": items})).into_response());
    }
    Err(req)
}

/// `labelSelector=a%3Db,c%3Dd` → pairs.
fn label_selector(query: &str) -> Vec<(String, String)> {
    query_param(query, "labelSelector")
        .map(|v| {
            let v = v
                .replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/");
            v.split(',')
                .filter_map(|p| {
                    p.split_once('=')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn labels_match(o: &Value, selector: &[(String, String)]) -> bool {
    selector
        .iter()
        .all(|(k, v)| o["metadata"]["labels"][k.as_str()].as_str() == Some(v.as_str()))
}

async fn patch(shared: &Arc<Shared>, req: Request, path: &str, query: &str) -> Response {
    let (collection, name) = path.rsplit_once('/').unwrap_or(("", path));
    if shared.cluster.forbidden_patch.contains(collection) {
        let resource = collection.rsplit('/').next().unwrap_or("");
        let ns = store::namespace_of(path).unwrap_or_default();
        return status(
            403,
            "Forbidden",
            format!(
                "{resource} \"{name}\" is forbidden: User \"system:serviceaccount:ci:deployer\" cannot patch resource \"{resource}\" in the namespace \"{ns}\""
            ),
        );
    }
    let is_apply = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"application/apply-patch"));
    let Ok(body) = axum::body::to_bytes(req.into_body(), 4 << 20).await else {
        return status(413, "RequestEntityTooLarge", "body over 4 MiB".into());
    };
    if !is_apply {
        return status(
            415,
            "UnsupportedMediaType",
            "only server-side apply is implemented".into(),
        );
    }
    let Some(manager) = query_param(query, "fieldManager") else {
        return status(
            400,
            "BadRequest",
            "fieldManager is required for apply patch".into(),
        );
    };
    let applied: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return status(400, "BadRequest", format!("body: {e}")),
    };
    let dry_run = query_param(query, "dryRun") == Some("All");
    let force = query_param(query, "force") == Some("true");
    match shared.store.apply(path, manager, applied, dry_run, force) {
        Ok(mut v) => {
            patch_lb(&mut v, shared);
            axum::Json(v).into_response()
        }
        Err(store::Refusal::NotFound(m)) => status(404, "NotFound", m),
        Err(store::Refusal::Conflict(m)) => status(409, "Conflict", m),
        Err(store::Refusal::BadRequest(m)) => status(400, "BadRequest", m),
    }
}

/// A watch on a collection: JSON lines of `{"type", "object"}`; objects
/// newer than `resourceVersion` first, then every change, until
/// `timeoutSeconds` (at most 300).
fn watch(shared: &Arc<Shared>, path: &str, query: &str) -> Response {
    let since: u64 = query_param(query, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = query_param(query, "timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(300u64)
        .min(300);
    let name = field_selector(query)
        .into_iter()
        .find(|(k, _)| k == "metadata.name")
        .map(|(_, v)| v);
    let name_watched = name.clone();
    let selector = label_selector(query);
    let matches = move |o: &Value| {
        labels_match(o, &selector)
            && name
                .as_deref()
                .is_none_or(|n| o.pointer("/metadata/name").and_then(Value::as_str) == Some(n))
    };
    let rx = shared.store.subscribe();
    let first: Vec<Value> = shared
        .store
        .list(path)
        .into_iter()
        .filter(|o| {
            matches(o)
                && o.pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|v| v > since)
        })
        .map(|o| json!({"type": "MODIFIED", "object": o}))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let collection = path.to_string();
    let line =
        |v: &Value| Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(format!("{v}\n")));
    let head = futures_util::stream::iter(first.iter().map(line).collect::<Vec<_>>());
    let tail = futures_util::stream::unfold(rx, move |mut rx| {
        let collection = collection.clone();
        let matches = matches.clone();
        async move {
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(c)) if c.collection == collection && matches(&c.object) => {
                        let v = json!({"type": c.kind, "object": c.object});
                        return Some((line(&v), rx));
                    }
                    Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    _ => return None,
                }
            }
        }
    });
    // A LoadBalancer Service watched by name gets its address as a
    // MODIFIED event when its delay passes, as a cloud controller's
    // status update would arrive.
    let lb = lb_event(shared, path, name_watched.as_deref(), deadline).map(move |v| line(&v));
    use futures_util::StreamExt as _;
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(
            head.chain(futures_util::stream::select(tail, lb)),
        ))
        .unwrap_or_else(|_| status(500, "InternalError", "watch".into()))
}
