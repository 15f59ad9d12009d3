//! `cockpit --serve` as a process against testbed agents: `/metrics`
//! checked by `promtool` and scraped by a real `prometheus` server, the
//! JSON API, request bounds, the dashboard page in headless Chromium
//! (the fleet, an alert, hostile names as text), and the loopback rule.
//! Debian's `prometheus` (promtool too) and `chromium`: `cargo xtask ci`
//! installs them when missing.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cockpit_testbed::{Testbed, TestbedConfig};
use common::{
    Served, Workdir, dead_port, fast, http_exchange, http_get, kill, poll, promtool_check,
    run_with, serve_cockpit, testbed, wait,
};
use serde_json::Value;

/// A name made of markup: it must reach every face as text.
const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// Hang guard for anything that waits on the monitor's rounds.
const ROUNDS: Duration = Duration::from_secs(90);

fn agent(name: &str, tb: &Testbed) -> String {
    format!(
        "[[agents]]\nname = \"{name}\"\nendpoint = \"{}/v1\"\nprotocol = \"openai\"\n\n",
        tb.base_url()
    )
}

/// Three testbed agents: `fast` (20 ms to the first token), `slow`
/// (700 ms, above the 400 ms alert bound, which the fast ones stay far
/// below even on a busy machine) and one named [`HOSTILE`]. The relative
/// rule is out of reach (+10000 %): a 20 ms agent's first period is no
/// baseline to judge a busy test machine's noise by.
struct Fleet {
    beds: Vec<Testbed>,
    w: Workdir,
    cfg: std::path::PathBuf,
}

async fn fleet() -> Fleet {
    let fast_tb = testbed(fast()).await;
    let slow_tb = testbed(TestbedConfig {
        ttft: Duration::from_millis(700),
        ..fast()
    })
    .await;
    let hostile_tb = testbed(fast()).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "{}{}{}[[mcp]]\nname = \"{HOSTILE}\"\nurl = \"http://127.0.0.1:{}/mcp\"\ntimeout_ms = 2000\n\n[cockpit]\nsamples = 2\n\n[cockpit.alerts]\nttft_p95_ms = 400\nconsecutive = 2\nrelative_increase_pct = 10000\n",
        agent("fast", &fast_tb),
        agent("slow", &slow_tb),
        agent(HOSTILE, &hostile_tb),
        dead_port(),
    ));
    Fleet {
        beds: vec![fast_tb, slow_tb, hostile_tb],
        w,
        cfg,
    }
}

impl Fleet {
    async fn shutdown(self) {
        for tb in self.beds {
            tb.shutdown().await;
        }
        drop(self.w);
    }
}

/// The snapshot once the slow agent's alert fires (and every agent has
/// been probed).
async fn firing_snapshot(s: &Served) -> Value {
    poll("the slow agent's alert to fire", ROUNDS, || async {
        let (status, body) = http_get(&s.addr, "/api/v1/fleet").await?;
        assert_eq!(status, 200, "{body}");
        let snap: Value = serde_json::from_str(&body).expect("the API answers JSON");
        let agents = snap["agents"].as_array()?;
        let probed = agents.iter().all(|a| a["status"]["state"] != "unknown");
        let slow = agents.iter().find(|a| a["name"] == "slow")?;
        // The fleet hub's MCP server (a closed port) measured too.
        let hub = snap["hub"]["mcp"][0]["measured_at"].is_string();
        (probed && hub && slow["alerts"].as_array()?.len() == 1).then_some(snap)
    })
    .await
}

/// Stop the server as Ctrl-C would; it exits 130.
async fn interrupt(s: Served) {
    kill(s.child.id().expect("running"), "INT");
    let out = wait(s.child, Duration::from_secs(30)).await;
    assert_eq!(out.code, Some(130), "{}", s.stderr.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_the_api_serves_the_snapshot() {
    let f = fleet().await;
    let s = serve_cockpit(&f.cfg, &["--interval", "200ms", "--window", "10s"]).await;
    let snap = firing_snapshot(&s).await;
    assert_eq!(snap["snapshot_version"], "1");
    assert_eq!(snap["agents"].as_array().unwrap().len(), 3);
    assert_eq!(snap["alerts"][0]["agent"], "slow", "the history: {snap:#}");

    let (status, text) = http_get(&s.addr, "/metrics")
        .await
        .expect("/metrics answers");
    assert_eq!(status, 200);
    let checked = promtool_check(&text);
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for needle in [
        "# TYPE agentops_ttft_seconds histogram\n",
        "agentops_ttft_seconds_bucket{agent=\"fast\",le=\"+Inf\"} ",
        "# TYPE agentops_itl_seconds histogram\n",
        "# TYPE agentops_e2e_seconds histogram\n",
        "# TYPE agentops_probe_duration_seconds histogram\n",
        "# TYPE agentops_request_errors_total counter\n",
        "agentops_alert_firing{agent=\"slow\",rule=\"ttft-absolute\"} 1\n",
        "agentops_alert_firing{agent=\"fast\",rule=\"ttft-absolute\"} 0\n",
        "agentops_agent_up{agent=\"fast\"} 1\n",
        // The hostile name, as a label value.
        "agentops_agent_up{agent=\"<script>alert(1)</script><img src=x onerror=alert(2)>\"} 1\n",
        // The fleet hub: the MCP server on a closed port is down.
        "# TYPE agentops_mcp_up gauge\n",
        "agentops_mcp_up{server=\"<script>alert(1)</script><img src=x onerror=alert(2)>\"} 0\n",
        "# TYPE agentops_mcp_latency_seconds gauge\n",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }

    let (status, body) = http_get(&s.addr, "/healthz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = http_get(&s.addr, "/nothing-here").await.unwrap();
    assert_eq!(status, 404);
    // No route takes a body: one over the limit is refused unread.
    let big = format!(
        "GET /api/v1/fleet HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 4096\r\n\r\n{}",
        "x".repeat(4096)
    );
    let (status, _) = http_exchange(&s.addr, &big).await.unwrap();
    assert_eq!(status, 413);
    // Headers past the read buffer are refused, not buffered.
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\nconnection: close\r\n\r\n",
        "y".repeat(64 * 1024)
    );
    if let Some((status, _)) = http_exchange(&s.addr, &huge).await {
        assert_eq!(status, 431, "an oversized header block was served");
    }
    // Still serving after both.
    assert_eq!(http_get(&s.addr, "/healthz").await.unwrap().0, 200);
    interrupt(s).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_shows_the_fleet_and_the_alert_in_headless_chromium() {
    let f = fleet().await;
    let s = serve_cockpit(&f.cfg, &["--interval", "200ms", "--window", "10s"]).await;
    firing_snapshot(&s).await;
    let (status, page) = http_get(&s.addr, "/").await.unwrap();
    assert_eq!(status, 200);
    // Self-contained: nothing fetched from elsewhere (the one URL is the
    // SVG namespace, a name, never fetched).
    let page = page.replace("http://www.w3.org/2000/svg", "");
    for needle in ["<link", " src=\"", "@import", "url(", "http://", "https://"] {
        assert!(!page.contains(needle), "the page contains {needle:?}");
    }
    assert!(
        !page.contains("innerHTML"),
        "data must go through textContent"
    );

    let url = format!("http://{}/", s.addr);
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("dashboard.png");
    let profile = dir.path().join("profile-shot");
    let shot_arg = format!("--screenshot={}", shot.display());
    let url2 = url.clone();
    tokio::task::spawn_blocking(move || common::chromium(&url2, &profile, &[shot_arg]))
        .await
        .unwrap();
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a {}-byte screenshot is blank",
        png.len()
    );

    let profile = dir.path().join("profile-dom");
    let dom = tokio::task::spawn_blocking(move || {
        common::chromium(&url, &profile, &["--dump-dom".to_string()])
    })
    .await
    .unwrap();
    // The script built one row per agent, the slow one marked firing.
    assert_eq!(dom.matches("<tr class=\"agent-row").count(), 3, "{dom}");
    assert_eq!(
        dom.matches("<tr class=\"agent-row firing\"").count(),
        1,
        "{dom}"
    );
    assert!(dom.contains(">slow</div>"), "{dom}");
    assert!(dom.contains("ttft-absolute: p95 "), "{dom}");
    // The alert history has the firing event, and one chart per agent.
    assert!(
        dom.contains("<tr class=\"alert-event\" data-state=\"firing\">"),
        "{dom}"
    );
    assert_eq!(dom.matches("<div class=\"chart\">").count(), 3, "{dom}");
    assert!(
        dom.contains("class=\"series\""),
        "a p95 line is drawn: {dom}"
    );
    // The hostile name is text wherever it appears, never an element.
    assert!(!dom.contains("<script>alert"), "markup became an element");
    assert!(!dom.contains("<img src=x"), "markup became an element");
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";
    assert!(dom.matches(escaped).count() >= 3, "row, chart, hub: {dom}");
    // The fleet hub's MCP section: the server on a closed port, down.
    assert!(
        dom.contains("<div class=\"hub-part\" id=\"hub-mcp\">"),
        "{dom}"
    );
    assert_eq!(dom.matches("<tr class=\"hub-row\">").count(), 1, "{dom}");
    assert!(dom.contains(">DOWN</span>"), "{dom}");
    interrupt(s).await;
    f.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_non_loopback_address_without_serve_public() {
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "[[agents]]\nname = \"a\"\nendpoint = \"http://127.0.0.1:{}/v1\"\nprotocol = \"openai\"\n",
        dead_port()
    ));
    let out = run_with(
        &[
            "cockpit",
            "--config",
            cfg.to_str().unwrap(),
            "--serve",
            "0.0.0.0:9464",
        ],
        &common::Opts::default().cwd(w.path()),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr
            .contains("--serve 0.0.0.0:9464: not a loopback address")
            && out.stderr.contains("--serve-public"),
        "{}",
        out.stderr
    );
    // --serve-public needs --serve.
    run_with(&["cockpit", "--serve-public"], &common::Opts::default())
        .await
        .assert_code(2);
}

/// URL query encoding for the Prometheus API.
fn query_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `prometheus` server on a free loopback port scraping `target` every
/// second, its data in `dir`.
fn start_prometheus(dir: &Path, target: &str) -> (tokio::process::Child, String) {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: cockpit\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", dead_port());
    let child = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={listen}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus is needed: `apt-get install prometheus` (cargo xtask ci installs it)");
    (child, listen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_server_scrapes_the_ttft_histogram_and_answers_its_p95() {
    let f = fleet().await;
    let s = serve_cockpit(&f.cfg, &["--interval", "200ms", "--window", "10s"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut prom, listen) = start_prometheus(dir.path(), &s.addr);
    let q = "histogram_quantile(0.95, sum by (le, agent) (rate(agentops_ttft_seconds_bucket[1m])))";
    let path = format!("/api/v1/query?query={}", query_encode(q));
    let p95 = poll(
        "prometheus to answer the TTFT p95 of `slow`",
        ROUNDS,
        || async {
            let (status, body) = http_get(&listen, &path).await?;
            if status != 200 {
                return None;
            }
            let v: Value = serde_json::from_str(&body).ok()?;
            let series = v["data"]["result"].as_array()?;
            let slow = series.iter().find(|r| r["metric"]["agent"] == "slow")?;
            let value: f64 = slow["value"][1].as_str()?.parse().ok()?;
            value.is_finite().then_some(value)
        },
    )
    .await;
    // 700 ms to the first token: the p95 is interpolated in a bucket
    // above 0.5 s (never below the testbed's delay).
    assert!((0.5..=2.5).contains(&p95), "slow agent TTFT p95 {p95} s");
    let _ = prom.kill().await;
    interrupt(s).await;
    f.shutdown().await;
}
