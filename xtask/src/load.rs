//! `cargo xtask load-test` and `cargo xtask bench load`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, describe, run, target_dir};

pub(crate) fn release_bin(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

/// A child process killed when dropped.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the release testbed on ephemeral ports; returns it and its HTTP base URL.
fn start_testbed() -> Result<(Guard, String), String> {
    start_testbed_with(&[])
}

/// The same with extra testbed flags (`--trace-echo right`, a fault, …).
pub(crate) fn start_testbed_with(extra: &[&str]) -> Result<(Guard, String), String> {
    spawn_testbed(Command::new(release_bin("cockpit-testbed")), extra)
}

/// The testbed binary `bin` on ephemeral ports, with `extra` flags.
pub(crate) fn start_testbed_bin(bin: &Path, extra: &[&str]) -> Result<(Guard, String), String> {
    spawn_testbed(Command::new(bin), extra)
}

/// Run `cmd` (the release testbed, or a wrapper such as `taskset` that
/// execs it) on ephemeral ports with `extra` flags; returns it and its HTTP
/// base URL once it listens.
pub(crate) fn spawn_testbed(mut cmd: Command, extra: &[&str]) -> Result<(Guard, String), String> {
    let mut child = cmd
        .args(["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", describe(&cmd)))?;
    let stdout = child.stdout.take().ok_or("no stdout from the testbed")?;
    let guard = Guard(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading the testbed's output: {e}"))?;
        if let Some(url) = line.strip_prefix("http=") {
            return Ok((guard, url.trim().to_string()));
        }
    }
    Err("the testbed exited before listening".into())
}

/// Build the CLI and the testbed in release mode (what the profiles and
/// benchmarks run).
pub(crate) fn build_release_cli_and_testbed() -> Result<(), String> {
    run(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "agentops-cockpit",
        "-p",
        "cockpit-testbed",
    ]))
}

/// `cargo xtask load-test`'s flags.
struct LoadTest {
    target: Option<String>,
    protocol: String,
    rate: String,
    duration: String,
}

impl LoadTest {
    fn parse(rest: &[&str]) -> Result<Self, String> {
        let mut t = LoadTest {
            target: None,
            protocol: "http".into(),
            rate: "100".into(),
            duration: "10s".into(),
        };
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| {
                it.next()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match *a {
                "--target" => t.target = Some(val("--target")?),
                "--protocol" => t.protocol = val("--protocol")?,
                "--rate" => t.rate = val("--rate")?,
                "-d" | "--duration" => t.duration = val("--duration")?,
                other => {
                    return Err(format!(
                        "load-test: unknown argument {other:?} (expected --target URL, --protocol P, --rate N, -d D)"
                    ));
                }
            }
        }
        Ok(t)
    }

    /// Against a given target: capacity (closed loop), then latency at a
    /// fixed arrival rate.
    fn phases_against(&self, url: &str) -> Vec<Vec<String>> {
        let (p, d, r) = (
            self.protocol.as_str(),
            self.duration.as_str(),
            self.rate.as_str(),
        );
        vec![
            strings(&[
                url,
                "--protocol",
                p,
                "-c",
                "64",
                "-d",
                d,
                "--slo",
                "errors<0.1%",
            ]),
            strings(&[
                url,
                "--protocol",
                p,
                "-c",
                "64",
                "--rate",
                r,
                "-d",
                d,
                "--slo",
                "p(99)<250ms",
                "--slo",
                "errors<0.1%",
            ]),
        ]
    }

    /// Against the testbed at `base`: capacity on the health route, then
    /// OpenAI streaming latency under a Poisson arrival rate.
    fn phases_on_testbed(&self, base: &str) -> Vec<Vec<String>> {
        let (d, r) = (self.duration.as_str(), self.rate.as_str());
        let health = format!("{base}/healthz");
        let chat = format!("{base}/v1/chat/completions");
        vec![
            strings(&[&health, "-c", "64", "-d", d, "--slo", "errors<0.1%"]),
            strings(&[
                &chat,
                "--protocol",
                "openai",
                "-c",
                "64",
                "--rate",
                r,
                "-d",
                d,
                "--poisson",
                "--slo",
                "ttft:p(95)<800ms",
                "--slo",
                "p(99)<2s",
                "--slo",
                "errors<0.1%",
            ]),
        ]
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `cargo xtask load-test [--target URL] [--protocol P] [--rate N] [-d D]`:
/// the standard profile. Without a target, the testbed is started.
pub fn load_test(rest: &[&str]) -> Result<(), String> {
    let t = LoadTest::parse(rest)?;
    build_release_cli_and_testbed()?;
    let cli = release_bin("agentops-cockpit");
    let _testbed;
    let phases = match &t.target {
        Some(url) => t.phases_against(url),
        None => {
            let (guard, base) = start_testbed()?;
            _testbed = guard;
            eprintln!("testbed: {base}");
            t.phases_on_testbed(&base)
        }
    };
    let mut failed = Vec::new();
    for args in phases {
        let mut c = Command::new(&cli);
        c.arg("load").args(&args);
        eprintln!("$ {}", describe(&c));
        let status = c
            .status()
            .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
        if !status.success() {
            failed.push(format!("`{}` ({status})", describe(&c)));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("load-test: {}", failed.join("; ")))
    }
}

pub(crate) fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Install what the load bench needs, when missing.
fn ensure_bench_tools() -> Result<(), String> {
    let mut apt = Vec::new();
    if !have("nginx") && !Path::new("/usr/sbin/nginx").exists() {
        apt.push("nginx");
    }
    if !have("wrk") {
        apt.push("wrk");
    }
    if !Path::new("/usr/bin/time").exists() {
        apt.push("time");
    }
    if !have("taskset") {
        apt.push("util-linux");
    }
    if !apt.is_empty() {
        run(Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&apt)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if !have("oha") {
        run(cargo().args(["install", "oha", "--locked"]))?;
    }
    Ok(())
}

pub(crate) fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// nginx with its own configuration in a temporary directory: one worker,
/// no access log, keep-alive without a request limit, 127.0.0.1 only,
/// pinned to CPU 0.
pub(crate) fn start_nginx(dir: &Path, port: u16) -> Result<Guard, String> {
    std::fs::create_dir_all(dir.join("tmp")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n\
         events {{ worker_connections 4096; multi_accept on; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 300s;\n\
           client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
           uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{ default_type text/plain; return 200 \"ok\\n\"; }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).map_err(|e| format!("{}: {e}", path.display()))?;
    let nginx = if have("nginx") {
        "nginx".to_string()
    } else {
        "/usr/sbin/nginx".to_string()
    };
    let child = Command::new("taskset")
        .args([
            "-c",
            "0",
            &nginx,
            "-e",
            &format!("{d}/error.log"),
            "-p",
            &d.to_string(),
            "-c",
        ])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start nginx: {e}"))?;
    let guard = Guard(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err(format!(
                "nginx did not listen on 127.0.0.1:{port}; see {d}/error.log"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(guard)
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_kib: f64,
}

/// The number after `"key":` in `text` (first occurrence after `from`).
pub(crate) fn json_number(text: &str, from: &str, key: &str) -> Option<f64> {
    let start = if from.is_empty() { 0 } else { text.find(from)? };
    let rest = &text[start..];
    let k = format!("\"{key}\"");
    let i = rest.find(&k)? + k.len();
    let rest = rest[i..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// wrk's latency with its unit (`812.00us`, `1.20ms`, `2.00s`) in ms.
fn wrk_ms(v: &str) -> Option<f64> {
    let v = v.trim();
    let (n, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    n.parse::<f64>().ok().map(|x| x * scale)
}

pub(crate) fn max_rss_kib(time_v: &str) -> Option<f64> {
    time_v
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
}

/// Run `tool args…` pinned to CPU 1 under `/usr/bin/time -v`.
pub(crate) fn pinned(tool: &str, args: &[String]) -> Result<(String, String), String> {
    let mut c = Command::new("/usr/bin/time");
    c.args(["-v", "taskset", "-c", "1", tool]).args(args);
    eprintln!("$ {}", describe(&c));
    let out = c.output().map_err(|e| format!("cannot run {tool}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("{tool} failed ({}): {stderr}", out.status));
    }
    Ok((stdout, stderr))
}

fn run_wrk(url: &str, conns: u32, secs: u64) -> Result<Sample, String> {
    let (out, err) = pinned(
        "wrk",
        &[
            "-t1".into(),
            format!("-c{conns}"),
            format!("-d{secs}s"),
            "--latency".into(),
            url.into(),
        ],
    )?;
    let pct = |p: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(p).map(str::to_string))
            .and_then(|v| wrk_ms(&v))
    };
    Ok(Sample {
        rps: out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{out}"))?,
        p50_ms: pct("50%").unwrap_or(f64::NAN),
        p99_ms: pct("99%").unwrap_or(f64::NAN),
        rss_kib: max_rss_kib(&err).unwrap_or(f64::NAN),
    })
}

fn run_oha(url: &str, conns: u32, secs: u64) -> Result<Sample, String> {
    let (out, err) = pinned(
        "oha",
        &[
            "-z".into(),
            format!("{secs}s"),
            "-c".into(),
            conns.to_string(),
            "--no-tui".into(),
            "--output-format".into(),
            "json".into(),
            "--worker-threads".into(),
            "1".into(),
            url.into(),
        ],
    )?;
    Ok(Sample {
        rps: json_number(&out, "", "requestsPerSec")
            .ok_or_else(|| format!("no requestsPerSec in oha's output:\n{out}"))?,
        p50_ms: json_number(&out, "\"latencyPercentiles\"", "p50").map_or(f64::NAN, |s| s * 1000.0),
        p99_ms: json_number(&out, "\"latencyPercentiles\"", "p99").map_or(f64::NAN, |s| s * 1000.0),
        rss_kib: max_rss_kib(&err).unwrap_or(f64::NAN),
    })
}

fn run_ours(cli: &Path, url: &str, conns: u32, secs: u64) -> Result<Sample, String> {
    let (out, err) = pinned(
        &cli.display().to_string(),
        &[
            "load".into(),
            url.into(),
            "-c".into(),
            conns.to_string(),
            "-d".into(),
            format!("{secs}s"),
            "--format".into(),
            "json".into(),
            "--no-progress".into(),
        ],
    )?;
    Ok(Sample {
        rps: json_number(&out, "", "achieved_rps")
            .ok_or_else(|| format!("no achieved_rps in our output:\n{out}"))?,
        p50_ms: json_number(&out, "\"latency\": {", "p50_ms").unwrap_or(f64::NAN),
        p99_ms: json_number(&out, "\"latency\": {", "p99_ms").unwrap_or(f64::NAN),
        rss_kib: max_rss_kib(&err).unwrap_or(f64::NAN),
    })
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// `cargo xtask bench load [--secs N] [--reps N] [--connections N]`.
pub fn bench_load(rest: &[&str]) -> Result<(), String> {
    let mut secs = 10u64;
    let mut reps = 3usize;
    let mut conns = 64u32;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = |_| format!("{a} {v}: not a whole number");
        match *a {
            "--secs" => secs = v.parse().map_err(bad)?,
            "--reps" => reps = v.parse().map_err(bad)?,
            "--connections" => conns = v.parse().map_err(bad)?,
            other => {
                return Err(format!(
                    "bench load: unknown argument {other:?} (expected --secs, --reps, --connections)"
                ));
            }
        }
    }
    ensure_bench_tools()?;
    run(cargo().args(["build", "--release", "-q", "-p", "agentops-cockpit"]))?;
    let cli = release_bin("agentops-cockpit");
    let dir = std::env::temp_dir().join(format!("cockpit-bench-load-{}", std::process::id()));
    let port = free_port()?;
    let _nginx = start_nginx(&dir, port)?;
    let url = format!("http://127.0.0.1:{port}/");
    let load_before = load_average();
    let mut results: [Vec<Sample>; 3] = Default::default();
    for rep in 0..reps {
        eprintln!("repetition {}/{reps}", rep + 1);
        results[0].push(run_wrk(&url, conns, secs)?);
        results[1].push(run_oha(&url, conns, secs)?);
        results[2].push(run_ours(&cli, &url, conns, secs)?);
    }
    let load_after = load_average();
    let _ = std::fs::remove_dir_all(&dir);
    let med: Vec<Sample> = results
        .iter()
        .map(|r| Sample {
            rps: median(r.iter().map(|s| s.rps).collect()),
            p50_ms: median(r.iter().map(|s| s.p50_ms).collect()),
            p99_ms: median(r.iter().map(|s| s.p99_ms).collect()),
            rss_kib: median(r.iter().map(|s| s.rss_kib).collect()),
        })
        .collect();
    println!(
        "\nnginx (1 worker, CPU 0) on 127.0.0.1, clients on CPU 1, {conns} connections, {secs} s, median of {reps}; load average before {load_before}, after {load_after}\n"
    );
    println!("| client | req/s | p50 | p99 | peak RSS |");
    println!("|---|---|---|---|---|");
    for (name, s) in ["wrk", "oha", "agentops-cockpit load"].iter().zip(&med) {
        println!(
            "| {name} | {:.0} | {:.3} ms | {:.3} ms | {:.1} MiB |",
            s.rps,
            s.p50_ms,
            s.p99_ms,
            s.rss_kib / 1024.0
        );
    }
    println!(
        "\nours / wrk: {:.3}× req/s (goal ≥ 0.97)   ours / oha: {:.3}× req/s (goal > 1.3)   our peak RSS {:.1} MiB (goal < 32)",
        med[2].rps / med[0].rps,
        med[2].rps / med[1].rps,
        med[2].rss_kib / 1024.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_outputs() {
        assert_eq!(wrk_ms("812.00us"), Some(0.812));
        assert_eq!(wrk_ms("1.50ms"), Some(1.5));
        assert_eq!(wrk_ms("2.00s"), Some(2000.0));
        let oha = r#"{"summary":{"requestsPerSec":164000.5},"latencyPercentiles":{"p50":0.00025,"p99":0.0012}}"#;
        assert_eq!(json_number(oha, "", "requestsPerSec"), Some(164000.5));
        assert_eq!(
            json_number(oha, "\"latencyPercentiles\"", "p99"),
            Some(0.0012)
        );
        let ours = "{\n  \"achieved_rps\": 230000.25,\n  \"latency\": {\n    \"count\": 5,\n    \"p50_ms\": 0.27\n  }\n}";
        assert_eq!(json_number(ours, "\"latency\": {", "p50_ms"), Some(0.27));
        assert_eq!(
            max_rss_kib("\tMaximum resident set size (kbytes): 5120\n"),
            Some(5120.0)
        );
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
