//! The MCP hub against real servers nobody here wrote — npm's
//! `@modelcontextprotocol/server-everything` (stdio and Streamable HTTP) and
//! a server built with PyPI's `mcp` SDK — and against a broken stdio server
//! (tests/support/bad_mcp.py) that exits mid-session, writes what is not
//! JSON-RPC, or stops answering: findings, never hangs, and no process
//! left behind.

mod common;

use std::process::Command;
use std::time::Duration;

use cockpit_core::{AuditOutcome, Status};
use cockpit_deps::{DepsConfig, McpServerConfig};
use common::{HANG_GUARD, Server, alive, everything, find, free_port, python, support};
use tokio_util::sync::CancellationToken;

async fn audit(servers: Vec<McpServerConfig>) -> AuditOutcome {
    let cfg = DepsConfig::new(servers, vec![], vec![]);
    tokio::time::timeout(
        HANG_GUARD,
        cockpit_deps::audit(&cfg, &CancellationToken::new()),
    )
    .await
    .expect("the audit ended within the hang guard")
}

fn assert_whole_session(r: &AuditOutcome, samples: u64) {
    let health = find(r, "MCP-HEALTH");
    assert_eq!(health.status, Status::Pass, "{}", health.summary);
    let latency = find(r, "MCP-LATENCY");
    assert_ne!(latency.status, Status::NotMeasured, "{}", latency.summary);
    assert_eq!(latency.measurement("ping_p99").unwrap().samples, samples);
    let protocol = find(r, "MCP-PROTOCOL");
    assert_eq!(protocol.status, Status::Pass, "{}", protocol.summary);
    assert!(protocol.measurement("tool_count").unwrap().value >= 1.0);
    assert_eq!((r.subjects, r.reached), (1, 1));
}

#[tokio::test]
async fn everything_server_over_stdio() {
    let js = everything().to_str().unwrap().to_string();
    let mut m = McpServerConfig::stdio("everything", "node", &[&js, "stdio"]);
    m.samples = 5;
    let r = audit(vec![m]).await;
    assert_whole_session(&r, 5);
    let p = find(&r, "MCP-PROTOCOL");
    assert!(p.summary.contains("tools"), "{}", p.summary);
}

#[tokio::test]
async fn everything_server_over_streamable_http() {
    let port = free_port();
    let mut cmd = Command::new("node");
    cmd.arg(everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string());
    let _server = Server::start(cmd, port, Duration::from_secs(60));
    let mut m = McpServerConfig::http("everything-http", &format!("http://127.0.0.1:{port}/mcp"));
    m.samples = 5;
    let r = audit(vec![m]).await;
    assert_whole_session(&r, 5);
}

#[tokio::test]
async fn python_sdk_server_over_stdio() {
    let py = python();
    let script = support("mcp_server.py");
    let mut m = McpServerConfig::stdio(
        "py-tools",
        py.to_str().unwrap(),
        &[script.to_str().unwrap()],
    );
    m.samples = 3;
    let cfg = DepsConfig::new(vec![m], vec![], vec![]);
    let all = tokio::time::timeout(
        HANG_GUARD,
        cockpit_deps::measure_all(&cfg, &CancellationToken::new()),
    )
    .await
    .expect("the session ended within the hang guard");
    let s = &all.mcp[0];
    assert_eq!(s.tool_count, Some(2), "{:?}", s.first_error);
    assert_eq!(s.server_name.as_deref(), Some("cockpit-test-tools"));
    assert_whole_session(&cockpit_deps::judge(&cfg, &all), 3);
}

#[tokio::test]
async fn python_sdk_server_over_streamable_http() {
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.arg(support("mcp_server.py"))
        .args(["--http", &port.to_string()]);
    let _server = Server::start(cmd, port, Duration::from_secs(60));
    let mut m = McpServerConfig::http("py-http", &format!("http://127.0.0.1:{port}/mcp"));
    m.samples = 3;
    assert_whole_session(&audit(vec![m]).await, 3);
}

/// The broken server in `mode`; its pid file.
fn bad(mode: &[&str], dir: &tempfile::TempDir) -> (McpServerConfig, std::path::PathBuf) {
    let pidfile = dir.path().join("pid");
    let script = support("bad_mcp.py");
    let mut args = vec![
        script.to_str().unwrap().to_string(),
        pidfile.to_str().unwrap().to_string(),
    ];
    args.extend(mode.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut m = McpServerConfig::stdio("bad", "python3", &args);
    m.samples = 4;
    m.timeout_ms = 1500;
    (m, pidfile)
}

fn pid_of(pidfile: &std::path::Path) -> u32 {
    std::fs::read_to_string(pidfile)
        .expect("the fixture wrote its pid")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn a_server_that_exits_mid_session_fails_and_is_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let (m, pidfile) = bad(&["exit-after", "3"], &dir);
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains("mid-session") && f.summary.contains("exit status: 3"),
        "{}",
        f.summary
    );
    assert_eq!(f.measurement("errors_exited").unwrap().value, 1.0);
    // Three calls after initialize were answered: tools/list, ping, tools/list.
    assert!(f.summary.contains("after 4 of 5 calls"), "{}", f.summary);
    assert!(!alive(pid_of(&pidfile)));
}

#[tokio::test]
async fn a_server_writing_what_is_not_json_rpc_fails_with_that_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (m, pidfile) = bad(&["garbage"], &dir);
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains("not JSON-RPC") && f.summary.contains("502 Bad Gateway"),
        "{}",
        f.summary
    );
    assert_eq!(f.measurement("errors_invalid_json_rpc").unwrap().value, 1.0);
    assert_eq!(find(&r, "MCP-LATENCY").status, Status::NotMeasured);
    // Initialize was answered: the protocol revision is still read.
    let p = find(&r, "MCP-PROTOCOL");
    assert!(
        p.summary.contains("bad-mcp 0.0.1") && p.summary.contains("tools not listed"),
        "{}",
        p.summary
    );
    assert!(!alive(pid_of(&pidfile)));
}

#[tokio::test]
async fn garbage_instead_of_initialize_fails_initialize() {
    let dir = tempfile::tempdir().unwrap();
    let (m, pidfile) = bad(&["garbage-init"], &dir);
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains("did not complete initialize") && f.summary.contains("Starting server"),
        "{}",
        f.summary
    );
    assert_eq!((r.subjects, r.reached), (1, 0));
    assert!(!alive(pid_of(&pidfile)));
}

#[tokio::test]
async fn a_server_that_stops_answering_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (m, pidfile) = bad(&["silent"], &dir);
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains("no answer within 1500 ms"),
        "{}",
        f.summary
    );
    assert_eq!(f.measurement("errors_timeout").unwrap().value, 1.0);
    // It never exits by itself: the session killed it, and reaped it.
    assert!(!alive(pid_of(&pidfile)));
}

#[tokio::test]
async fn a_server_flooding_stdout_is_cut_at_the_session_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, pidfile) = bad(&["flood"], &dir);
    m.timeout_ms = 60_000;
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains(&format!(
            "more than {} bytes",
            cockpit_deps::mcp::watch::MAX_SESSION_BYTES
        )),
        "{}",
        f.summary
    );
    assert_eq!(f.measurement("errors_over_bound").unwrap().value, 1.0);
    assert!(!alive(pid_of(&pidfile)));
}

#[tokio::test]
async fn a_program_that_does_not_exist_is_not_measured() {
    let m = McpServerConfig::stdio("ghost", "/nonexistent/mcp-server", &[]);
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
    assert!(f.summary.contains("cannot start"), "{}", f.summary);
    assert!(r.nothing_reached());
}

#[tokio::test]
async fn nothing_listening_over_http_is_not_measured() {
    let port = free_port();
    let m = McpServerConfig::http("gone", &format!("http://127.0.0.1:{port}/mcp"));
    let r = audit(vec![m]).await;
    let f = find(&r, "MCP-HEALTH");
    assert_eq!(f.status, Status::NotMeasured, "{}", f.summary);
}

#[tokio::test]
async fn a_cancelled_audit_ends_the_session_and_kills_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, pidfile) = bad(&["silent"], &dir);
    m.timeout_ms = 60_000;
    let cancel = CancellationToken::new();
    let cfg = DepsConfig::new(vec![m], vec![], vec![]);
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move { cockpit_deps::audit(&cfg, &cancel).await }
    });
    // Cancel once the server is up (it has written its pid).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !pidfile.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the fixture never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let r = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("a cancelled session ends at once, not at its 60 s timeout")
        .unwrap();
    assert!(r.interrupted);
    assert!(!alive(pid_of(&pidfile)));
}

/// A Streamable HTTP endpoint that records the `authorization` header it
/// receives and refuses every request (401): the header is sent, the
/// refusal is a finding, the token is never shown.
#[tokio::test]
async fn mcp_headers_are_sent_and_never_shown() {
    use std::sync::{Arc, Mutex};
    const TOKEN: &str = "Bearer mcp-token-8c2d7e";
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |h: axum::http::HeaderMap| async move {
            if let Some(v) = h.get("authorization").and_then(|v| v.to_str().ok()) {
                log.lock().unwrap().push(v.to_string());
            }
            axum::http::StatusCode::UNAUTHORIZED
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut cfg = McpServerConfig::http("guarded", &url);
    cfg.headers.insert("Authorization".into(), TOKEN.into());
    cfg.timeout_ms = 5_000;
    let r = audit(vec![cfg.clone()]).await;
    assert!(
        seen.lock().unwrap().iter().any(|v| v == TOKEN),
        "{:?}",
        seen.lock().unwrap()
    );
    let f = find(&r, "MCP-HEALTH");
    assert_ne!(f.status, Status::Pass, "{}", f.summary);
    let shown = format!("{:?} {cfg:?}", r.findings);
    assert!(!shown.contains("8c2d7e"), "{shown}");
    // Headers go over HTTP only; a bad value is named, never shown.
    let mut stdio = McpServerConfig::stdio("s", "true", &[]);
    stdio.headers.insert("Authorization".into(), TOKEN.into());
    assert!(
        stdio
            .validate()
            .unwrap_err()
            .to_string()
            .contains("headers")
    );
    let mut bad = McpServerConfig::http("b", &url);
    bad.headers
        .insert("Authorization".into(), "x\ny-8c2d7e".into());
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("Authorization") && !e.contains("8c2d7e"), "{e}");
}
