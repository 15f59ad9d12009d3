//! Shared harness for the CLI integration tests: start a testbed, write a
//! configuration into a temporary directory, run the real
//! `agentops-cockpit` binary with a timeout and capture what it did.
//!
//! Every address used is 127.0.0.1.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cockpit_testbed::{Testbed, TestbedConfig};
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_agentops-cockpit");

/// Longest any single CLI run may take before the test gives up on it (a
/// hang guard, not a timing assertion).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Small sample counts so every audit finishes in a second or two.
pub const PROBE: &str = "[probe]\nsamples = 5\nretrieval_samples = 20\nwarmup = 1\n";

/// `[[gate.out_of_scope]]` for each pillar named, all expiring on
/// `expires` (a TOML date): the gate fails on a pillar nothing measured
/// unless it is declared so.
pub fn out_of_scope(pillars: &[&str], expires: &str) -> String {
    pillars
        .iter()
        .map(|p| {
            format!(
                "[[gate.out_of_scope]]\npillar = \"{p}\"\nreason = \"no cluster, no pipeline, no shared session store here\"\nowner = \"platform@example.com\"\nexpires = {expires}\n\n"
            )
        })
        .collect()
}

/// A configuration of one HTTP agent measures Network and Compute (its
/// cold start) only: these declare the other pillars out of scope.
pub fn one_agent_scope() -> String {
    out_of_scope(&["state", "cicd", "observability"], "2999-12-31")
}

/// A testbed with the given configuration on 127.0.0.1, ephemeral ports.
pub async fn testbed(cfg: TestbedConfig) -> Testbed {
    Testbed::start(cfg).await.expect("start the testbed")
}

/// A fast testbed: 20 ms to the first token, 8 tokens 2 ms apart, 1 ms retrieval.
pub fn fast() -> TestbedConfig {
    TestbedConfig {
        ttft: Duration::from_millis(20),
        inter_token: Duration::from_millis(2),
        tokens: 8,
        retrieval_latency: Duration::from_millis(1),
        ..TestbedConfig::default()
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = l.local_addr().expect("local addr").port();
    drop(l);
    port
}

/// Send `signal` (`TERM`, `INT`) to a process.
pub fn kill(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A temporary directory holding configurations and outputs; also used as
/// the working directory of the runs.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `cockpit-test.toml` (not `cockpit.toml`, so the default lookup
    /// never picks it up by accident) and return its path.
    pub fn config(&self, text: &str) -> PathBuf {
        self.file("cockpit-test.toml", text)
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// A FIFO named `name` (a reader that opens it blocks until a writer does).
    #[cfg(unix)]
    pub fn fifo(&self, name: &str) -> PathBuf {
        let path = self.join(name);
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo {}", path.display());
        path
    }

    /// A sparse file named `name`, `len` bytes long, nothing written.
    pub fn sparse(&self, name: &str, len: u64) -> PathBuf {
        let path = self.join(name);
        std::fs::File::create(&path)
            .and_then(|f| f.set_len(len))
            .expect("create a sparse file");
        path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct Output {
    /// `None` when the process was ended by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Stdout parsed as one JSON document (panics with both streams otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Assert the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// How to run the CLI.
#[derive(Debug, Default, Clone)]
pub struct Opts {
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub env_remove: Vec<String>,
}

impl Opts {
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.env_remove.push(k.into());
        self
    }
}

/// The command, configured but not started: stdout and stderr piped, no
/// colour, the default log filter, killed if the test drops it.
pub fn command(args: &[&str], opts: &Opts) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    if let Some(dir) = &opts.cwd {
        cmd.current_dir(dir);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    for k in &opts.env_remove {
        cmd.env_remove(k);
    }
    cmd
}

/// Run the CLI to completion (at most [`RUN_TIMEOUT`]).
pub async fn run_with(args: &[&str], opts: &Opts) -> Output {
    let child = command(args, opts).spawn().expect("spawn agentops-cockpit");
    wait(child, RUN_TIMEOUT).await
}

/// Run the CLI with default options.
pub async fn run(args: &[&str]) -> Output {
    run_with(args, &Opts::default()).await
}

/// Wait for a started child, collecting its output; panics past `timeout`
/// (the child is killed when dropped).
pub async fn wait(child: tokio::process::Child, timeout: Duration) -> Output {
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("agentops-cockpit did not finish within {timeout:?}"))
        .expect("wait for agentops-cockpit");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `audit report --config CFG --format json [extra…]`, run in the config's directory.
pub async fn audit_json(cfg: &Path, extra: &[&str]) -> Output {
    let cfg_s = cfg.to_str().expect("utf-8 path");
    let mut args = vec!["audit", "report", "--config", cfg_s, "--format", "json"];
    args.extend_from_slice(extra);
    let opts = Opts::default().cwd(cfg.parent().expect("config dir"));
    run_with(&args, &opts).await
}

/// Read and parse a JSON file.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The findings of a report.
pub fn findings(report: &Value) -> &Vec<Value> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("report has no findings array: {report:#}"))
}

/// The one finding of `check` whose subject is `subject`.
#[track_caller]
pub fn finding<'a>(report: &'a Value, check: &str, subject: &str) -> &'a Value {
    let matching: Vec<&Value> = findings(report)
        .iter()
        .filter(|f| f["check_id"] == check && f["subject"] == subject)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one {check} finding for {subject:?}, got {}: {report:#}",
        matching.len()
    );
    matching[0]
}

/// The measurement called `name` in a finding.
#[track_caller]
pub fn measurement<'a>(finding: &'a Value, name: &str) -> &'a Value {
    finding["measurements"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no measurement {name:?} in {finding:#}"))
}

/// Validate a report against docs/report.schema.json.
#[track_caller]
pub fn assert_schema_valid(report: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.schema.json");
    let schema = read_json(&path);
    let validator = jsonschema::validator_for(&schema).expect("the report schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/report.schema.json:\n{}\n{report:#}",
        errors.join("\n")
    );
}

/// Send SIGINT to a process, as Ctrl-C in its terminal would.
pub fn sigint(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT {pid} failed");
}

/// How many requests the testbed has answered on `route` with status 200,
/// read from its own `/metrics` counter (`testbed_requests_total`).
pub async fn served(tb: &Testbed, route: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(tb.http_addr()).await else {
        return 0;
    };
    let req = "GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return 0;
    }
    let mut body = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut body)).await;
    let prefix = format!("testbed_requests_total{{route=\"{route}\",code=\"200\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Run the CLI like [`run_with`] and return, with its output, its peak
/// resident memory in KiB: the kernel's high-water mark (`VmHWM` in
/// `/proc/<pid>/status`), read every few milliseconds until the process
/// exits. A bound on memory, not a timing.
pub async fn run_measuring_peak(args: &[&str], opts: &Opts) -> (Output, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let child = command(args, opts).spawn().expect("spawn agentops-cockpit");
    let pid = child.id().expect("a running child has a pid");
    // A first sample now, while it is surely running: a peak of 0 means
    // nothing was measured, and callers can tell.
    let peak = Arc::new(AtomicU64::new(vm_hwm_kib(pid).unwrap_or(0)));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            // Until the process is gone (a zombie has no VmHWM line).
            while let Some(kib) = vm_hwm_kib(pid) {
                peak.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let out = wait(child, RUN_TIMEOUT).await;
    sampler.abort();
    (out, peak.load(Ordering::Relaxed))
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Poll `probe` every 100 ms until it returns `Some`, at most `timeout`
/// (a hang guard: the test fails naming `what`).
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.1 exchange on 127.0.0.1 (`request` is the raw request, sent
/// as is): the status and the body. At most 16 MiB, 10 s.
pub async fn http_exchange(addr: &str, request: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.take(16 << 20).read_to_end(&mut raw).await.ok()?;
        Some(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .ok()??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// `GET path` on 127.0.0.1: the status and the body.
pub async fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    http_exchange(addr, &req).await
}

/// A running `cockpit --serve 127.0.0.1:0`: the process and the address
/// it printed on stderr (`host:port`).
pub struct Served {
    pub child: tokio::process::Child,
    pub addr: String,
    /// What it printed on stderr so far.
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

/// Start `cockpit --config CFG --serve 127.0.0.1:0 [extra…]` in the
/// config's directory and wait (at most 60 s) for the address it serves on.
pub async fn serve_cockpit(cfg: &Path, extra: &[&str]) -> Served {
    serve_cockpit_with(cfg, extra, Opts::default()).await
}

/// [`serve_cockpit`] with `opts` (its environment; the directory is the
/// config's).
pub async fn serve_cockpit_with(cfg: &Path, extra: &[&str], opts: Opts) -> Served {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut args = vec![
        "cockpit",
        "--config",
        cfg.to_str().expect("utf-8 path"),
        "--serve",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    let opts = opts.cwd(cfg.parent().expect("config dir"));
    let mut child = command(&args, &opts)
        .spawn()
        .expect("spawn agentops-cockpit");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let find = async {
        while let Ok(Some(line)) = lines.next_line().await {
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.split("http://").nth(1) {
                return rest.split('/').next().map(str::to_string);
            }
        }
        None
    };
    let addr = tokio::time::timeout(Duration::from_secs(60), find)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "cockpit --serve printed no address:\n{}",
                stderr.lock().unwrap()
            )
        });
    // Keep draining stderr so the process never blocks on a full pipe.
    let sink = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Served {
        child,
        addr,
        stderr,
    }
}

/// Headless Chromium on `url` with `extra` flags (`--dump-dom`,
/// `--screenshot=…`); its stdout. A 90 s hang guard.
pub fn chromium(url: &str, profile: &Path, extra: &[String]) -> String {
    use std::process::Command;
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=5000",
            "--window-size=1280,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "headless Chromium is needed: `apt-get install chromium` (cargo xtask ci installs it)",
        );
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// `promtool check metrics` of an exposition (Debian's `prometheus`;
/// `cargo xtask ci` installs it when missing).
pub fn promtool_check(text: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed: `apt-get install prometheus` (cargo xtask ci installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
