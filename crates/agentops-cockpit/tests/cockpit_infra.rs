//! `cockpit` with `[stm]` and `[kubernetes]` in the configuration, as a
//! process: redis-server on a free port (with a password from the
//! environment, right and wrong) and the fake Kubernetes API server
//! (recorded Deployment and Pod lists, a forbidden pod list) through a
//! kubeconfig. `--once` JSON and table, exit codes, `/metrics` checked by
//! `promtool`, and the rows in the dashboard page (headless Chromium).

mod common;

use std::time::Duration;

use cockpit_k8s::testing::{FakeApiServer, FakeCluster};
use cockpit_stm::testing::{NO_PERSISTENCE, RedisServer};
use common::{
    Opts, Workdir, fast, http_get, poll, promtool_check, run_with, serve_cockpit_with, testbed,
};
use serde_json::Value;

const SECRET: &str = "pw-Sh0uld-N0t-Leak";
const WRONG: &str = "wr0ng-Pa55-N0t-Shown";
const PODS: &str = "api/v1/namespaces/agents/pods";
const DEPLOYMENTS: &str = "apis/apps/v1/namespaces/agents/deployments";
const STATEFULSETS: &str = "apis/apps/v1/namespaces/agents/statefulsets";

/// The recorded lists of `crates/cockpit-k8s/tests/fixtures/monitor/fleet.json`.
fn recorded(name: &str) -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cockpit-k8s/tests/fixtures/monitor/fleet.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all[name].as_array().expect(name).clone()
}

async fn cluster(forbid_pods: bool) -> FakeApiServer {
    let c = FakeCluster::new()
        .with_list(DEPLOYMENTS, "Deployment", recorded("deployments_healthy"))
        .with_list(STATEFULSETS, "StatefulSet", Vec::new());
    let c = if forbid_pods {
        c.forbid(PODS)
    } else {
        c.with_list(PODS, "Pod", recorded("pods_healthy"))
    };
    FakeApiServer::start(c, "agents").await.unwrap()
}

/// One agent, `[stm]` with the password from `$REDIS_PASSWORD`, and the
/// fake cluster's namespace.
fn config(w: &Workdir, agent_url: &str, redis: &RedisServer) -> std::path::PathBuf {
    w.config(&format!(
        "[[agents]]\nname = \"chat\"\nendpoint = \"{agent_url}/v1\"\nprotocol = \"openai\"\n\n\
         [stm]\nurl = \"redis://:${{REDIS_PASSWORD}}@127.0.0.1:{}\"\n\n\
         [kubernetes]\ncontext = \"fake\"\nnamespace = \"agents\"\n",
        redis.port()
    ))
}

fn opts(w: &Workdir, server: &FakeApiServer, password: &str) -> Opts {
    Opts::default()
        .cwd(w.path())
        .env("REDIS_PASSWORD", password)
        .env("KUBECONFIG", server.kubeconfig().to_str().unwrap())
}

fn row<'a>(snap: &'a Value, name: &str) -> &'a Value {
    (snap["agents"].as_array().unwrap().iter())
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {snap:#}"))
}

fn assert_no_password(out: &common::Output) {
    for secret in [SECRET, WRONG] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "the password was shown:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_json_has_the_stm_and_kubernetes_rows_and_exits_0_when_they_are_up() {
    let tb = testbed(fast()).await;
    let redis = RedisServer::start(&format!("{NO_PERSISTENCE}requirepass \"{SECRET}\"\n"));
    let server = cluster(false).await;
    let w = Workdir::new();
    let cfg = config(&w, &tb.base_url(), &redis);
    let args = [
        "cockpit",
        "--config",
        cfg.to_str().unwrap(),
        "--once",
        "--format",
        "json",
    ];
    let out = run_with(&args, &opts(&w, &server, SECRET)).await;
    assert_no_password(&out);
    out.assert_code(0);
    let snap = out.json();
    assert_eq!(snap["agents"].as_array().unwrap().len(), 3, "{snap:#}");
    let stm = row(&snap, "stm");
    assert_eq!(stm["kind"], "stm");
    assert_eq!(stm["status"]["state"], "up", "{stm:#}");
    assert_eq!(stm["stm"]["ping"]["count"], 3, "one reading of three PINGs");
    assert_eq!(stm["stm"]["info"]["role"], "master");
    assert!(stm["endpoint"].as_str().unwrap().contains("***"), "{stm:#}");
    let kube = row(&snap, "kubernetes/agents");
    assert_eq!(kube["kind"], "kubernetes");
    assert_eq!(kube["status"]["state"], "up", "{kube:#}");
    let k = &kube["kubernetes"];
    assert_eq!(
        (k["desired"].as_u64(), k["ready"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(k["namespace"], "agents");
    assert_eq!(k["workloads"][0]["name"], "chat-agent");
    // The agent row keeps its shape: no stm / kubernetes field on it.
    let chat = row(&snap, "chat");
    assert!(chat.get("stm").is_none() && chat.get("kubernetes").is_none());
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exits_1_when_the_session_store_refuses_the_password_or_pods_are_forbidden() {
    let tb = testbed(fast()).await;
    let redis = RedisServer::start(&format!("{NO_PERSISTENCE}requirepass \"{SECRET}\"\n"));
    let server = cluster(true).await;
    let w = Workdir::new();
    let cfg = config(&w, &tb.base_url(), &redis);
    let path = cfg.to_str().unwrap();
    let out = run_with(
        &["cockpit", "--config", path, "--once", "--format", "json"],
        &opts(&w, &server, WRONG),
    )
    .await;
    assert_no_password(&out);
    out.assert_code(1);
    let snap = out.json();
    let stm = &row(&snap, "stm")["status"];
    assert_eq!(
        (stm["state"].as_str(), stm["error_kind"].as_str()),
        (Some("down"), Some("auth")),
        "{stm:#}"
    );
    let kube = &row(&snap, "kubernetes/agents")["status"];
    assert_eq!(kube["error_kind"], "forbidden", "{kube:#}");
    assert!(
        kube["message"]
            .as_str()
            .unwrap()
            .starts_with("list pods in namespace agents: forbidden by RBAC (403)"),
        "{kube:#}"
    );
    assert_eq!(row(&snap, "chat")["status"]["state"], "up");

    let out = run_with(
        &["cockpit", "--config", path, "--once"],
        &opts(&w, &server, WRONG),
    )
    .await;
    assert_no_password(&out);
    out.assert_code(1);
    assert!(out.stdout.contains("DOWN stm (auth): "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("DOWN kubernetes/agents (forbidden): list pods"),
        "{}",
        out.stdout
    );
    tb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_the_stm_and_kubernetes_rows_pass_promtool_and_the_page_shows_them() {
    let tb = testbed(fast()).await;
    let redis = RedisServer::start(&format!("{NO_PERSISTENCE}requirepass \"{SECRET}\"\n"));
    let server = cluster(false).await;
    let w = Workdir::new();
    let cfg = config(&w, &tb.base_url(), &redis);
    let s = serve_cockpit_with(
        &cfg,
        &["--interval", "200ms", "--window", "10s"],
        opts(&w, &server, SECRET),
    )
    .await;
    let addr = s.addr.clone();
    let text = poll("the rows in /metrics", Duration::from_secs(90), || {
        let addr = addr.clone();
        async move {
            let (_, text) = http_get(&addr, "/metrics").await?;
            (text.contains("agentops_stm_ping_seconds_count{target=\"stm\"}")
                && text.contains("agentops_k8s_pods_ready{"))
            .then_some(text)
        }
    })
    .await;
    let checked = promtool_check(&text);
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for needle in [
        "# TYPE agentops_stm_ping_seconds histogram\n",
        "agentops_stm_ping_seconds_bucket{target=\"stm\",le=\"+Inf\"} ",
        "# TYPE agentops_stm_used_memory_bytes gauge\n",
        "agentops_k8s_pods_ready{namespace=\"agents\",workload=\"chat-agent\"} 2\n",
        "agentops_k8s_pods_desired{namespace=\"agents\",workload=\"vectors\"} 1\n",
        "agentops_k8s_container_restarts_total{namespace=\"agents\",workload=\"chat-agent\"} 0\n",
        "agentops_agent_up{agent=\"stm\"} 1\n",
        "agentops_agent_up{agent=\"kubernetes/agents\"} 1\n",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    assert!(!text.contains(SECRET));

    let url = format!("http://{}/", s.addr);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let dom = tokio::task::spawn_blocking(move || {
        common::chromium(&url, &profile, &["--dump-dom".to_string()])
    })
    .await
    .unwrap();
    assert_eq!(dom.matches("<tr class=\"agent-row").count(), 3, "{dom}");
    assert!(dom.contains(">stm</div>") && dom.contains("PING "), "{dom}");
    assert!(dom.contains(">kubernetes/agents</div>"), "{dom}");
    assert!(dom.contains(">3 / 3 ready</span>"), "{dom}");
    assert!(!dom.contains(SECRET));
    let mut child = s.child;
    let _ = child.start_kill();
    let _ = child.wait().await;
    tb.shutdown().await;
}
