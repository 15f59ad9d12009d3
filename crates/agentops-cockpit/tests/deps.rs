//! The agents' dependencies through the CLI: `[[mcp]]` (and
//! `[[vector_store]]`) in cockpit.toml, their findings in `audit report` and
//! `certify` (a vector store that is down among them), and configuration errors located to file:line:column with
//! exit 2. The MCP servers are the standard-library Python fixture of
//! cockpit-deps (tests/support/bad_mcp.py): one that behaves, one that
//! exits mid-session.

mod common;

use std::path::PathBuf;

use common::*;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cockpit-deps/tests/support/bad_mcp.py")
}

/// A `[[mcp]]` entry running the fixture in `mode`.
fn mcp_entry(w: &Workdir, name: &str, mode: &[&str]) -> String {
    let pidfile = w.join(&format!("{name}.pid"));
    let mut args = vec![
        fixture().display().to_string(),
        pidfile.display().to_string(),
    ];
    args.extend(mode.iter().map(|s| s.to_string()));
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[mcp]]\nname = \"{name}\"\ncommand = \"python3\"\nargs = [{}]\nsamples = 3\ntimeout_ms = 5000\n\n",
        args.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_findings_are_in_audit_report_and_certify() {
    let w = Workdir::new();
    let text = format!(
        "{}{}[[vector_store]]\nname = \"kb\"\nbackend = \"chroma\"\nurl = \"http://127.0.0.1:{}\"\ncollection = \"docs\"\n",
        mcp_entry(&w, "steady", &["exit-after", "1000"]),
        mcp_entry(&w, "crashy", &["exit-after", "2"]),
        dead_port()
    );
    let cfg = w.config(&text);
    let out = audit_json(&cfg, &["--no-evidence"]).await;
    out.assert_code(0);
    let report = out.json();
    assert_schema_valid(&report);
    let steady = finding(&report, "MCP-HEALTH", "steady");
    assert_eq!(steady["status"], "pass", "{steady:#}");
    let crashy = finding(&report, "MCP-HEALTH", "crashy");
    assert_eq!(crashy["status"], "fail", "{crashy:#}");
    assert_eq!(measurement(crashy, "errors_exited")["value"], 1.0);
    let latency = finding(&report, "MCP-LATENCY", "steady");
    assert_eq!(measurement(latency, "ping_p99")["samples"], 3);
    // The fixture lists no tools: a warning, with the count.
    let protocol = finding(&report, "MCP-PROTOCOL", "steady");
    assert_eq!(protocol["status"], "warn", "{protocol:#}");
    assert_eq!(measurement(protocol, "tool_count")["value"], 0.0);
    // A vector store that is down: listed, not measured, with the reason.
    let kb = finding(&report, "RAG-COLLECTION", "kb");
    assert_eq!(kb["status"], "not-measured", "{kb:#}");
    assert!(
        kb["summary"].as_str().unwrap().contains("cannot connect"),
        "{kb:#}"
    );

    // certify scores the same evidence: a failed MCP server fails the gate.
    let out = run_with(
        &[
            "certify",
            "--config",
            cfg.to_str().unwrap(),
            "--no-evidence",
            "--format",
            "json",
        ],
        &Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(1);
    assert!(out.stdout.contains("MCP-HEALTH"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_mcp_and_vector_store_entries_exit_2_located() {
    for (text, at, mention) in [
        (
            "[[mcp]]\nname = \"t\"\ncommand = \"node\"\nurl = \"http://127.0.0.1:1/mcp\"\n",
            "3:1",
            "not both",
        ),
        (
            "[[mcp]]\nname = \"t\"\ncomand = \"node\"\n",
            "3:1",
            "comand",
        ),
        (
            "[[mcp]]\nname = \"t\"\nurl = \"http://127.0.0.1:1/mcp\"\ntimeout_ms = 0\n",
            "4:1",
            "timeout_ms",
        ),
        (
            "[[vector_store]]\nname = \"kb\"\nbackend = \"chroma\"\nurl = \"http://127.0.0.1:1\"\ncollection = \"\"\n",
            "5:1",
            "collection",
        ),
    ] {
        let w = Workdir::new();
        let cfg = w.config(text);
        let out = run_with(
            &["audit", "report", "--config", cfg.to_str().unwrap()],
            &Opts::default().cwd(w.path()),
        )
        .await;
        out.assert_code(2);
        let want = format!("{}:{at}:", cfg.display());
        assert!(
            out.stderr.contains(&want) && out.stderr.contains(mention),
            "expected {want:?} and {mention:?} in\n{}",
            out.stderr
        );
    }
}

/// A Qdrant collection that always holds 1000 vectors (the recorded answer
/// of cockpit-deps' tests), served locally; its base URL.
async fn frozen_qdrant() -> String {
    let support = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cockpit-deps/tests/support/qdrant");
    let green = std::fs::read_to_string(support.join("collection_green.json")).unwrap();
    let query = std::fs::read_to_string(support.join("query.json")).unwrap();
    let app = axum::Router::new()
        .route(
            "/collections/docs",
            axum::routing::get(move || async move { green }),
        )
        .route(
            "/collections/{name}/points/query",
            axum::routing::post(move || async move { query }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// RAG-STALE across runs: the dropzone grows between two audits while the
/// index stays at 1000 vectors (still more than the documents: chunks):
/// the second run fails it, reading the first from the evidence lake.
#[tokio::test(flavor = "multi_thread")]
async fn rag_stale_compares_with_the_previous_run() {
    let url = frozen_qdrant().await;
    let w = Workdir::new();
    let cfg = |source: u32| {
        w.config(&format!(
            "[[vector_store]]\nname = \"kb\"\nbackend = \"qdrant\"\nurl = \"{url}\"\ncollection = \"docs\"\nsamples = 2\nsource_count = {source}\n"
        ))
    };
    let audit = |cfg: PathBuf| {
        let w = w.path().to_path_buf();
        async move {
            let out = run_with(
                &[
                    "audit",
                    "report",
                    "--config",
                    cfg.to_str().unwrap(),
                    "--format",
                    "json",
                ],
                &Opts::default().cwd(&w),
            )
            .await;
            out.assert_code(0);
            out.json()
        }
    };
    let first = audit(cfg(800)).await;
    assert_eq!(finding(&first, "RAG-STALE", "kb")["status"], "pass");
    let second = audit(cfg(900)).await;
    let f = finding(&second, "RAG-STALE", "kb");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("grew from 800 to 900"),
        "{f:#}"
    );
    assert_eq!(measurement(f, "previous_count")["value"], 1000.0);
    // Without growth of the dropzone, the same count passes.
    let third = audit(cfg(900)).await;
    assert_eq!(finding(&third, "RAG-STALE", "kb")["status"], "pass");
}
