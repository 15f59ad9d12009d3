//! `cargo xtask bench cockpit`: Mission Control watching a fleet of
//! simulated agents, all served by one testbed process on 127.0.0.1 (each
//! agent its own name; they share the testbed's endpoint).
//!
//! Measured on the `agentops-cockpit cockpit --serve` process (the engine,
//! its windows and alert rules, and the web server): peak RSS (`VmHWM`),
//! CPU time (user + system) divided by the probes it made, and the wall
//! time of a `/metrics` scrape over loopback with every agent in it. The
//! terminal dashboard's redraw (ratatui's `TestBackend`, one row per agent)
//! is timed by an ignored test of the CLI crate, run here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::{Guard, load_average, median, start_testbed_bin};
use crate::{cargo, run, target_dir};

#[derive(Clone, Copy)]
struct Opts {
    agents: usize,
    interval_s: u64,
    rounds: u64,
    concurrency: usize,
    scrapes: usize,
    debug: bool,
}

fn parse(rest: &[&str]) -> Result<Opts, String> {
    let mut o = Opts {
        agents: 1000,
        interval_s: 15,
        rounds: 4,
        concurrency: 32,
        scrapes: 20,
        debug: false,
    };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.trim_end_matches('s')
                .parse()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match *a {
            "--agents" => o.agents = val("--agents")? as usize,
            "--interval" => o.interval_s = val("--interval")?,
            "--rounds" => o.rounds = val("--rounds")?,
            "--concurrency" => o.concurrency = val("--concurrency")? as usize,
            "--scrapes" => o.scrapes = val("--scrapes")? as usize,
            "--debug" => o.debug = true,
            other => return Err(format!("bench cockpit: unknown argument {other}")),
        }
    }
    if o.agents == 0 || o.rounds == 0 || o.interval_s == 0 || o.scrapes == 0 {
        return Err("bench cockpit: --agents, --rounds, --interval, --scrapes must be > 0".into());
    }
    Ok(o)
}

/// `cargo xtask bench cockpit [--agents N] [--interval S] [--rounds R]
/// [--concurrency C] [--scrapes K] [--debug]`.
pub fn bench_cockpit(rest: &[&str]) -> Result<(), String> {
    let o = parse(rest)?;
    let profile = if o.debug { "debug" } else { "release" };
    let mut build = cargo();
    build.args([
        "build",
        "-q",
        "-p",
        "agentops-cockpit",
        "-p",
        "cockpit-testbed",
    ]);
    if !o.debug {
        build.arg("--release");
    }
    run(&mut build)?;
    let bin = |n: &str| target_dir().join(profile).join(n);
    // A short answer: 20 ms to the first token, 16 tokens 1 ms apart.
    let (_testbed, base) = start_testbed_bin(
        &bin("cockpit-testbed"),
        &["--ttft-ms", "20", "--inter-token-ms", "1", "--tokens", "16"],
    )?;
    println!(
        "bench cockpit ({profile} build, every {} s, {} rounds, concurrency {}; one testbed; load average at start {}):",
        o.interval_s,
        o.rounds,
        o.concurrency,
        load_average()
    );
    // The same process watching one agent: the floor (runtime, binary,
    // web server) the fleet's cost adds to.
    let floor = measure(&bin("agentops-cockpit"), &base, &Opts { agents: 1, ..o })?;
    let fleet = measure(&bin("agentops-cockpit"), &base, &o)?;
    println!(
        "  {} agents over 1: peak RSS +{:.1} MiB ({:.1} KiB per agent)",
        o.agents,
        (fleet.hwm_kib as f64 - floor.hwm_kib as f64) / 1024.0,
        (fleet.hwm_kib as f64 - floor.hwm_kib as f64) / (o.agents.max(2) - 1) as f64
    );
    redraw(o.debug, o.agents)
}

/// What one run of the cockpit process measured.
struct Measured {
    hwm_kib: u64,
}

/// Run `cockpit --serve` over `o.agents` agents for `o.rounds` rounds;
/// print and return what it cost.
fn measure(cli: &Path, base: &str, o: &Opts) -> Result<Measured, String> {
    let dir = target_dir()
        .join("tmp")
        .join(format!("bench-cockpit-{}", o.agents));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = write_config(&dir, o, base)?;
    let (child, addr) = start_cockpit(cli, &config, &dir)?;
    let pid = child.0.id();
    let started = Instant::now();
    let fleet = wait_rounds(&addr, o.rounds, o.interval_s)?;
    let wall = started.elapsed();
    let cpu = cpu_seconds(pid)?;
    let hwm = vm_hwm_kib(pid)?;
    let probes = sum_field(&fleet, "\"probes\":");
    let (scrape_ms, bytes) = scrapes(&addr, o.scrapes)?;
    drop(child);
    println!(
        "  {} agent(s): peak RSS (VmHWM) {:.1} MiB; CPU {cpu:.2} s over {:.0} s for {probes} probes = {:.2} ms CPU per probe",
        o.agents,
        hwm as f64 / 1024.0,
        wall.as_secs_f64(),
        cpu * 1000.0 / probes.max(1) as f64
    );
    let mut sorted = scrape_ms.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "  {} agent(s): /metrics scrape of {bytes} bytes: median {:.1} ms, min {:.1}, max {:.1} over {} scrapes",
        o.agents,
        median(scrape_ms),
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    );
    Ok(Measured { hwm_kib: hwm })
}

/// cockpit.toml: `agents` OpenAI agents on the testbed, the `[cockpit]` pace.
fn write_config(dir: &Path, o: &Opts, base: &str) -> Result<PathBuf, String> {
    let mut toml = format!(
        "[gate]\nevidence_dir = \"{}\"\n\n[cockpit]\ninterval = \"{}s\"\nwindow = \"{}s\"\nconcurrency = {}\n\n",
        dir.join("evidence").display(),
        o.interval_s,
        o.interval_s * 20,
        o.concurrency
    );
    for i in 0..o.agents {
        toml.push_str(&format!(
            "[[agents]]\nname = \"agent-{i:04}\"\nendpoint = \"{base}/v1/chat/completions\"\nprotocol = \"openai\"\n\n"
        ));
    }
    let path = dir.join("cockpit.toml");
    std::fs::write(&path, toml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// `cockpit --serve 127.0.0.1:0`; returns it and the address it printed.
fn start_cockpit(cli: &Path, config: &Path, dir: &Path) -> Result<(Guard, String), String> {
    let mut child = Command::new(cli)
        .args(["cockpit", "--serve", "127.0.0.1:0", "--config"])
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", cli.display()))?;
    let stderr = child.stderr.take().ok_or("no stderr from cockpit")?;
    let guard = Guard(child);
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.map_err(|e| format!("reading cockpit's output: {e}"))?;
        if let Some(rest) = line.split("http://").nth(1) {
            let addr = rest.split('/').next().unwrap_or_default().to_string();
            // Keep draining stderr so the process never blocks on it.
            std::thread::spawn(move || for _ in lines {});
            return Ok((guard, addr));
        }
    }
    Err("cockpit exited before serving".into())
}

/// One GET over a new connection: (status line, body).
fn get(addr: &str, path: &str) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("GET {path}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("GET {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, body.to_string()))
}

/// Wait until the snapshot's round reaches `rounds`; its JSON.
fn wait_rounds(addr: &str, rounds: u64, interval_s: u64) -> Result<String, String> {
    let give_up = Instant::now() + Duration::from_secs(interval_s * (rounds + 3) + 60);
    loop {
        let (_, body) = get(addr, "/api/v1/fleet")?;
        let round = sum_field(&body[..body.len().min(400)], "\"round\":");
        if round >= rounds {
            return Ok(body);
        }
        if Instant::now() > give_up {
            return Err(format!("cockpit did not reach round {rounds} (at {round})"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The sum of every integer that follows `key` in `text`.
fn sum_field(text: &str, key: &str) -> u64 {
    text.match_indices(key)
        .filter_map(|(i, _)| {
            let rest = &text[i + key.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse::<u64>().ok()
        })
        .sum()
}

/// User + system CPU seconds of `pid` so far.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // Fields after the command (which may hold spaces): state is field 3.
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15: indices 11 and 12 after ')'.
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    Ok((ticks(11) + ticks(12)) / hz)
}

/// Peak resident set of `pid`, KiB.
fn vm_hwm_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    Ok(sum_field(&status.replace([' ', '\t'], ""), "VmHWM:"))
}

/// `n` scrapes of /metrics: each one's wall time (ms), and the size.
fn scrapes(addr: &str, n: usize) -> Result<(Vec<f64>, usize), String> {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let (status, body) = get(addr, "/metrics")?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !status.contains(" 200") {
            return Err(format!("/metrics answered {status}"));
        }
        bytes = body.len();
    }
    Ok((times, bytes))
}

/// The terminal dashboard's redraw with `agents` rows (an ignored test of
/// the CLI crate that prints its figures).
fn redraw(debug: bool, agents: usize) -> Result<(), String> {
    let mut c = cargo();
    c.args([
        "test",
        "-q",
        "-p",
        "agentops-cockpit",
        "--bin",
        "agentops-cockpit",
    ]);
    if !debug {
        c.arg("--release");
    }
    c.args([
        "--",
        "--ignored",
        "--exact",
        "cockpit::tui::tests::redraw_bench",
        "--nocapture",
    ])
    .env("COCKPIT_BENCH_AGENTS", agents.to_string());
    run(&mut c)
}
