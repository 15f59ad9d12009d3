//! No secret in any output: passwords and tokens holding URL-special
//! characters (`/ + = # ? @ %`, as base64 and generated passwords do) in a
//! `[stm]` URL, in agent endpoints' userinfo and query, in `[[agents]]
//! headers` and in `probe` URLs and `-H` headers, at every `-v` level, in
//! every `--format`, in every file `--out` and the evidence lake write.
//! Each secret is checked raw, percent-encoded, and piece by piece (every
//! alphanumeric run of 4 or more characters), so a secret cut in two by a
//! misplaced URL boundary is caught too.

mod common;

use std::path::Path;

use cockpit_stm::testing::RedisServer;
use common::*;

/// The Redis password: every URL-special character, and a `%2F` that must
/// reach Redis as the three characters `%2F`.
const REDIS_PW: &str = "S3krT/qW7x+Zp9Q==#Hj4K?Lm8N@Vb5C%2Fx";
/// A token placed in agent URLs (userinfo and query).
const AG_TOKEN: &str = "Tk9Gx/Rf2M+Ws4P==?Qa6D";
/// A token sent as a header.
const HDR_TOKEN: &str = "Hd7Qz/Nm3K+Yt8B=#Jc5W";

/// The texts a secret may show up as.
fn forms(secret: &str) -> Vec<String> {
    let mut upper = String::new();
    let mut lower = String::new();
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            upper.push(b as char);
            lower.push(b as char);
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
        }
    }
    let mut out = vec![secret.to_string(), upper, lower];
    let mut run = String::new();
    for c in secret.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() {
            run.push(c);
        } else {
            if run.len() >= 4 {
                out.push(run.clone());
            }
            run.clear();
        }
    }
    out
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for secret in [REDIS_PW, AG_TOKEN, HDR_TOKEN] {
        for f in forms(secret) {
            assert!(!text.contains(&f), "{what} shows a secret ({f:?}):\n{text}");
        }
    }
}

/// Every regular file under `dir`, recursively, with its text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                out.push((
                    e.path().display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    out
}

#[track_caller]
fn assert_run_clean(what: &str, out: &Output) {
    assert_clean(&format!("{what}: stdout"), &out.stdout);
    assert_clean(&format!("{what}: stderr"), &out.stderr);
}

fn secrets_env() -> Opts {
    Opts::default()
        .env("REDIS_PASSWORD", REDIS_PW)
        .env("AG_TOKEN", AG_TOKEN)
        .env("HDR_TOKEN", HDR_TOKEN)
}

/// An HTTP server that answers `200 ok` to requests carrying
/// `authorization: Bearer TOKEN` and `401` to others, and counts both.
struct AuthServer {
    addr: std::net::SocketAddr,
    ok: std::sync::Arc<std::sync::atomic::AtomicU64>,
    denied: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl AuthServer {
    async fn start(token: &str) -> AuthServer {
        use std::sync::atomic::{AtomicU64, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ok = std::sync::Arc::new(AtomicU64::new(0));
        let denied = std::sync::Arc::new(AtomicU64::new(0));
        let expected = format!("authorization: bearer {}", token.to_ascii_lowercase());
        let (ok2, denied2) = (ok.clone(), denied.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let (ok, denied, expected) = (ok2.clone(), denied2.clone(), expected.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                    let authorized = text.lines().any(|l| l.trim() == expected);
                    let reply: &[u8] = if authorized {
                        ok.fetch_add(1, Ordering::SeqCst);
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    } else {
                        denied.fetch_add(1, Ordering::SeqCst);
                        b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    };
                    let _ = s.write_all(reply).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        AuthServer {
            addr,
            ok,
            denied,
            task,
        }
    }

    fn ok(&self) -> u64 {
        self.ok.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn denied(&self) -> u64 {
        self.denied.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const VERBOSITY: [&str; 4] = ["-q", "-v", "-vv", "-vvv"];

/// `audit report` and `certify` with a password-protected Redis, an agent
/// whose URL holds a token, one that cannot be reached (its URL in every
/// error), and one behind a bearer token: every format, every -v level,
/// --out and the evidence lake.
#[tokio::test(flavor = "multi_thread")]
async fn audit_and_certify_never_show_a_secret() {
    let redis = RedisServer::start(&format!("requirepass \"{REDIS_PW}\"\n"));
    let tb = testbed(fast()).await;
    let guarded = AuthServer::start(HDR_TOKEN).await;
    let host = tb.base_url().trim_start_matches("http://").to_string();
    let w = Workdir::new();
    let cfg = w.config(&format!(
        r#"{PROBE}
[gate]
threshold = 1
evidence_dir = "lake"

[stm]
url = "redis://:${{REDIS_PASSWORD}}@127.0.0.1:{redis}"
latency_samples = 20
latency_p99_ms = 5000

[[agents]]
name = "chat"
endpoint = "http://${{AG_TOKEN}}@{host}/v1?api_key=${{AG_TOKEN}}"
protocol = "openai"
metrics_url = "http://{host}/metrics?token=${{AG_TOKEN}}&pwd=${{AG_TOKEN}}"
retrieval = []

[[agents]]
name = "gone"
endpoint = "http://svc:${{AG_TOKEN}}@127.0.0.1:{dead}/v1?password=${{AG_TOKEN}}"
shadow_endpoint = "http://${{AG_TOKEN}}@127.0.0.1:{dead}/v1"
protocol = "openai"
retrieval = []

[[agents]]
name = "guarded"
endpoint = "http://{guarded}/health"
protocol = "http"
retrieval = []
headers = {{ Authorization = "Bearer ${{HDR_TOKEN}}" }}
"#,
        redis = redis.port(),
        dead = dead_port(),
        guarded = guarded.addr,
    ));
    let cfg_s = cfg.to_str().unwrap();
    let opts = secrets_env().cwd(w.path());
    for (i, v) in VERBOSITY.iter().enumerate() {
        let out_dir = format!("audit-{i}");
        let out = run_with(
            &[
                "audit", "report", "--config", cfg_s, v, "--format", "table", "--format", "json",
                "--format", "markdown", "--out", &out_dir,
            ],
            &opts,
        )
        .await;
        assert_run_clean(&format!("audit report {v}"), &out);
        out.assert_code(0);
        let report = read_json(&w.join(&out_dir).join("report.json"));
        // The password reached Redis intact (percent-decoded by the client).
        let latency = finding(&report, "STA-LATENCY", "stm");
        assert_eq!(latency["status"], "pass", "{latency:#}");

        let cert_dir = format!("cert-{i}");
        let mut args = vec!["certify", "--config", cfg_s, v, "--out", &cert_dir];
        for f in [
            "table", "json", "markdown", "junit", "sarif", "html", "badge",
        ] {
            args.extend(["--format", f]);
        }
        let out = run_with(&args, &opts).await;
        assert_run_clean(&format!("certify {v}"), &out);
        assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
        // Without --out every format goes to stdout.
        let mut args = vec!["certify", "--config", cfg_s, v, "--no-evidence"];
        for f in ["json", "markdown", "junit", "sarif", "html", "badge"] {
            args.extend(["--format", f]);
        }
        let out = run_with(&args, &opts).await;
        assert_run_clean(&format!("certify {v} to stdout"), &out);
    }
    // Every file written: the --out directories and the evidence lake.
    let written = files(w.path());
    assert!(
        written.iter().any(|(p, _)| p.contains("lake")),
        "{written:?}"
    );
    assert!(written.iter().any(|(p, _)| p.ends_with(".sarif")) || written.len() > 10);
    for (path, text) in &written {
        assert_clean(path, text);
    }
    // The header reached the guarded agent on every request.
    assert!(guarded.ok() > 0, "the bearer token never arrived");
    assert_eq!(guarded.denied(), 0, "a request went without the header");
    tb.shutdown().await;
}

/// `probe` with credentials in the URL: a password holding `/` (not a
/// URL: exit 2), an encoded one against a live target (exit 0), one at a
/// dead port (exit 3), credential-like query parameters; Redis URLs alike.
#[tokio::test(flavor = "multi_thread")]
async fn probe_never_shows_url_credentials() {
    let tb = testbed(fast()).await;
    let host = tb.base_url().trim_start_matches("http://").to_string();
    let dead = dead_port();
    let enc = |s: &str| forms(s)[1].clone();
    let cases: Vec<(Vec<String>, i32)> = vec![
        (vec![format!("http://alice:{AG_TOKEN}@{host}/healthz")], 2),
        (
            vec![format!(
                "http://alice:{}@{host}/healthz?token={}&pwd={}",
                enc(AG_TOKEN),
                enc(AG_TOKEN),
                enc(HDR_TOKEN)
            )],
            0,
        ),
        (
            vec![format!(
                "http://{}@{host}/v1?api_key={}",
                enc(AG_TOKEN),
                enc(HDR_TOKEN)
            )],
            0,
        ),
        (
            vec![format!(
                "http://{}@127.0.0.1:{dead}/x?password={}",
                enc(AG_TOKEN),
                enc(HDR_TOKEN)
            )],
            3,
        ),
        (
            vec![
                "--protocol".into(),
                "redis".into(),
                format!("redis://:{}@127.0.0.1:{dead}", enc(REDIS_PW)),
            ],
            3,
        ),
        (
            vec![
                "--protocol".into(),
                "redis".into(),
                format!("redis://:{REDIS_PW}@127.0.0.1:{dead}"),
            ],
            2,
        ),
        (
            vec![format!("http://u:{}@127.0.0.1:99999/", enc(AG_TOKEN))],
            2,
        ),
    ];
    for (case, code) in &cases {
        for v in VERBOSITY {
            for format in ["table", "json"] {
                let mut args = vec!["probe", "-n", "2", "--timeout", "5s", v, "--format", format];
                args.extend(case.iter().map(String::as_str));
                if !case.contains(&"redis".to_string()) {
                    args.extend([
                        "--protocol",
                        if case[0].contains("/v1") {
                            "openai"
                        } else {
                            "http"
                        },
                    ]);
                }
                let out = run(&args).await;
                assert_run_clean(&format!("probe {case:?} {v} {format}"), &out);
                out.assert_code(*code);
            }
        }
    }
    tb.shutdown().await;
}

/// `probe -H` sends the header on every request (the server refuses
/// requests without it) and never shows its value.
#[tokio::test(flavor = "multi_thread")]
async fn probe_sends_headers_and_never_shows_them() {
    let server = AuthServer::start(HDR_TOKEN).await;
    let url = format!("http://{}/health", server.addr);
    let header = format!("Authorization: Bearer {HDR_TOKEN}");
    for v in VERBOSITY {
        for format in ["table", "json"] {
            let out = run(&[
                "probe",
                &url,
                "-n",
                "3",
                "-H",
                &header,
                "--header",
                "X-Other: 1",
                v,
                "--format",
                format,
            ])
            .await;
            assert_run_clean(&format!("probe -H {v} {format}"), &out);
            out.assert_code(0);
        }
    }
    assert!(server.ok() >= 8 * 4, "ok {}", server.ok());
    assert_eq!(server.denied(), 0);

    // A malformed header is exit 2 and its value is not echoed.
    for bad in [
        format!("Bearer {HDR_TOKEN}"),
        format!("Bad Name: {HDR_TOKEN}"),
        format!("Authorization: {HDR_TOKEN}\u{1}"),
    ] {
        let out = run(&["probe", &url, "-H", &bad]).await;
        out.assert_code(2);
        assert_run_clean("probe with a malformed header", &out);
        assert!(out.stderr.contains("--header"), "{}", out.stderr);
    }
    // `load` shares the parsing.
    let out = run(&[
        "load",
        &url,
        "-d",
        "1s",
        "-H",
        &format!("Bearer {HDR_TOKEN}"),
    ])
    .await;
    out.assert_code(2);
    assert_run_clean("load with a malformed header", &out);
    let before = server.ok();
    let w = Workdir::new();
    let report = w.join("load.json");
    for v in VERBOSITY {
        let out = run(&[
            "load",
            &url,
            "-d",
            "1s",
            "-c",
            "1",
            "-H",
            &header,
            v,
            "--format",
            "json",
            "--out",
            report.to_str().unwrap(),
        ])
        .await;
        assert_run_clean(&format!("load -H {v}"), &out);
        assert_clean("load --out", &std::fs::read_to_string(&report).unwrap());
    }
    assert!(server.ok() > before, "load never sent the header");
    assert_eq!(server.denied(), 0);
}

/// `load` with credentials in the URL: stdout, stderr, --out and
/// --hdr-log show none of them.
#[tokio::test(flavor = "multi_thread")]
async fn load_never_shows_url_credentials() {
    let tb = testbed(fast()).await;
    let host = tb.base_url().trim_start_matches("http://").to_string();
    let enc = |s: &str| forms(s)[1].clone();
    let url = format!(
        "http://alice:{}@{host}/healthz?token={}&api_key={}",
        enc(AG_TOKEN),
        enc(AG_TOKEN),
        enc(HDR_TOKEN)
    );
    let w = Workdir::new();
    for v in VERBOSITY {
        for format in ["table", "json"] {
            let out = run(&[
                "load",
                &url,
                "-d",
                "1s",
                "-c",
                "2",
                v,
                "--format",
                format,
                "--out",
                w.join("r.json").to_str().unwrap(),
                "--hdr-log",
                w.join("h.log").to_str().unwrap(),
            ])
            .await;
            assert_run_clean(&format!("load {v} {format}"), &out);
            out.assert_code(0);
        }
    }
    for (path, text) in files(w.path()) {
        if path.ends_with("h.log") {
            // Base64 histograms: whole forms only (a 4-character piece
            // could occur by chance).
            for secret in [AG_TOKEN, HDR_TOKEN] {
                for f in &forms(secret)[..3] {
                    assert!(!text.contains(f.as_str()), "{path} shows {f:?}");
                }
            }
        } else {
            assert_clean(&path, &text);
        }
    }
    tb.shutdown().await;
}

/// A kubeconfig whose server URL holds a password (and a bearer token):
/// neither shows at any -v level (the Kubernetes client's own debug output
/// prints the URL; `-v` does not raise it).
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_credentials_never_show() {
    let w = Workdir::new();
    let kubeconfig = w.file(
        "kubeconfig.yaml",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://admin:{}@127.0.0.1:{}\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user:\n    token: {}\n",
            forms(AG_TOKEN)[1],
            dead_port(),
            "Kb8sTokQ7zX",
        ),
    );
    for v in VERBOSITY {
        let out = run_with(
            &[
                "audit",
                "report",
                "--kube-context",
                "ctx",
                "--no-evidence",
                "--format",
                "json",
                v,
            ],
            &Opts::default()
                .env("KUBECONFIG", kubeconfig.to_str().unwrap())
                .cwd(w.path()),
        )
        .await;
        assert_run_clean(&format!("audit --kube-context {v}"), &out);
        assert!(!out.stdout.contains("Kb8sTokQ7zX") && !out.stderr.contains("Kb8sTokQ7zX"));
        out.assert_code(3);
    }
}

/// `[[mcp]] headers` and `[[vector_store]] headers` from the environment:
/// sent (the servers count authorised requests), shown nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn dependency_headers_are_sent_and_never_shown() {
    use std::sync::atomic::Ordering;
    let mcp = AuthServer::start(HDR_TOKEN).await;
    let store = AuthServer::start(HDR_TOKEN).await;
    let w = Workdir::new();
    let cfg = w.config(&format!(
        "[[mcp]]\nname = \"tools\"\nurl = \"http://{}/mcp\"\ntimeout_ms = 3000\nsamples = 1\n[mcp.headers]\nAuthorization = \"Bearer ${{HDR_TOKEN}}\"\n\n[[vector_store]]\nname = \"kb\"\nbackend = \"qdrant\"\nurl = \"http://{}\"\ncollection = \"docs\"\nsamples = 1\ntimeout_ms = 3000\napi_key = \"${{AG_TOKEN}}\"\n[vector_store.headers]\nAuthorization = \"Bearer ${{HDR_TOKEN}}\"\n",
        mcp.addr, store.addr
    ));
    let out_dir = w.path().join("out");
    for format in ["json", "table", "markdown"] {
        let out = run_with(
            &[
                "audit",
                "report",
                "--config",
                cfg.to_str().unwrap(),
                "--format",
                format,
                "--out",
                out_dir.to_str().unwrap(),
                "-vvv",
            ],
            &secrets_env().cwd(w.path()),
        )
        .await;
        assert_run_clean(&format!("audit report --format {format}"), &out);
    }
    for (path, text) in files(w.path()) {
        if !path.ends_with(".toml") {
            assert_clean(&path, &text);
        }
    }
    assert!(
        mcp.ok.load(Ordering::SeqCst) > 0,
        "the MCP header was not sent"
    );
    assert_eq!(mcp.denied.load(Ordering::SeqCst), 0);
    assert!(
        store.ok.load(Ordering::SeqCst) > 0,
        "the store header was not sent"
    );
    assert_eq!(store.denied.load(Ordering::SeqCst), 0);
    // An unset variable is named, with its entry.
    let out = run_with(
        &["audit", "report", "--config", cfg.to_str().unwrap()],
        &Opts::default().cwd(w.path()).env("AG_TOKEN", AG_TOKEN),
    )
    .await;
    out.assert_code(2);
    assert!(
        out.stderr.contains("HDR_TOKEN") && out.stderr.contains("`tools`"),
        "{}",
        out.stderr
    );
}
