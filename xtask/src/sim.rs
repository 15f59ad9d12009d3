//! `cargo xtask simulation-run`: the standard reasoning-degradation
//! profile; `cargo xtask bench simulate`: what the simulator sustains.

use std::process::Command;
use std::time::Instant;

use crate::load::{
    build_release_cli_and_testbed, json_number, load_average, max_rss_kib, median, pinned,
    release_bin, spawn_testbed, start_testbed_with,
};
use crate::{describe, ensure_apt_packages};

/// The standard profile: a ramp to 64 sessions in flight, 6 turns each,
/// judged on score and collisions at every level.
const PROFILE: [&str; 10] = [
    "--ramp",
    "1:64:x2",
    "--turns",
    "6",
    "--session-header",
    "x-session-id",
    "--slo",
    "reasoning_score>0.99",
    "--slo",
    "collisions==0",
];

/// The testbed fleet: a reference agent, and one whose session memory
/// bleeds above 8 answers in flight (the knee the profile must find).
const FLEET: [(&str, &[&str]); 2] = [
    ("reference", &["--trace-echo", "right"]),
    (
        "degraded",
        &["--trace-echo", "right", "--shared-context-above", "8"],
    ),
];

/// `cargo xtask simulation-run [--target URL]`: with a target, the profile
/// against it (its exit code); without, the fleet is started, the reference
/// agent must hold every objective and the degraded one must break one.
pub fn simulation_run(rest: &[&str]) -> Result<(), String> {
    let target = match rest {
        [] => None,
        ["--target", url] => Some(url.to_string()),
        _ => return Err("simulation-run: expected no argument or --target URL".into()),
    };
    build_release_cli_and_testbed()?;
    if let Some(url) = target {
        return simulate(&url).map(|_| ());
    }
    for (name, flags) in FLEET {
        let (_guard, base) = start_testbed_with(flags)?;
        eprintln!("testbed {name}: {base}");
        let code = simulate(&format!("{base}/v1"))?;
        match (name, code) {
            ("reference", 0) | ("degraded", 1) => {}
            _ => {
                return Err(format!(
                    "the {name} testbed's simulation exited {code}, not what it should"
                ));
            }
        }
    }
    Ok(())
}

/// Run the profile against `url`; its exit code (0 held, 1 broken).
fn simulate(url: &str) -> Result<i32, String> {
    let mut cmd = Command::new(release_bin("agentops-cockpit"));
    cmd.arg("simulate").arg(url).args(PROFILE);
    let status = cmd
        .status()
        .map_err(|e| format!("{}: {e}", describe(&cmd)))?;
    match status.code() {
        Some(c @ (0 | 1)) => Ok(c),
        other => Err(format!("{} exited {other:?}", describe(&cmd))),
    }
}

/// What one simulation run of the bench measured.
#[derive(Debug, Clone, Copy)]
struct SimSample {
    sessions_per_s: f64,
    turns_per_s: f64,
    rss_kib: f64,
    score: f64,
    error_rate: f64,
}

/// The bench's settings: `--concurrency C` sessions in flight, `--sessions N`
/// in all, `--reps R`, `--secs S` of the load peer.
#[derive(Debug, Clone, Copy)]
struct BenchSim {
    concurrency: u32,
    sessions: u32,
    reps: usize,
    secs: u64,
}

impl BenchSim {
    fn parse(rest: &[&str]) -> Result<BenchSim, String> {
        let mut b = BenchSim {
            concurrency: 1000,
            sessions: 5000,
            reps: 3,
            secs: 10,
        };
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            let bad = |_| format!("{a} {v}: not a whole number");
            match *a {
                "--concurrency" => b.concurrency = v.parse().map_err(bad)?,
                "--sessions" => b.sessions = v.parse().map_err(bad)?,
                "--reps" => b.reps = v.parse().map_err(bad)?,
                "--secs" => b.secs = v.parse().map_err(bad)?,
                other => {
                    return Err(format!(
                        "bench simulate: unknown argument {other:?} (expected --concurrency, --sessions, --reps, --secs)"
                    ));
                }
            }
        }
        if b.concurrency == 0 || b.sessions < b.concurrency || b.reps == 0 {
            return Err(
                "bench simulate: need 0 < --concurrency <= --sessions and --reps > 0".into(),
            );
        }
        Ok(b)
    }
}

/// `cargo xtask bench simulate [--concurrency 1000] [--sessions 5000]
/// [--reps 3] [--secs 10]`: the simulator (6-turn sessions, full history,
/// `--concurrency` in flight) against a zero-latency testbed on CPU 0, the
/// client on CPU 1 under `/usr/bin/time -v`: sessions/s, turns/s and peak
/// RSS, beside `load --protocol openai` at the same concurrency (the peer:
/// the same client without conversations or judging), median of the
/// repetitions.
pub fn bench_simulate(rest: &[&str]) -> Result<(), String> {
    let b = BenchSim::parse(rest)?;
    ensure_apt_packages(&[("time", "time"), ("taskset", "util-linux")])?;
    build_release_cli_and_testbed()?;
    let mut pin = Command::new("taskset");
    pin.args(["-c", "0"]).arg(release_bin("cockpit-testbed"));
    let zero = ["--ttft-ms", "0", "--inter-token-ms", "0", "--tokens", "8"];
    let (_testbed, base) = spawn_testbed(pin, &zero)?;
    let url = format!("{base}/v1/chat/completions");
    let cli = release_bin("agentops-cockpit").display().to_string();
    let dir = std::env::temp_dir().join(format!("cockpit-bench-sim-{}", std::process::id()));
    let load_before = load_average();
    let (mut sims, mut peers) = (Vec::new(), Vec::new());
    for rep in 0..b.reps {
        eprintln!("repetition {}/{}", rep + 1, b.reps);
        sims.push(run_simulate(&cli, &url, &b, &dir)?);
        peers.push(run_load_peer(&cli, &url, &b)?);
    }
    let load_after = load_average();
    let _ = std::fs::remove_dir_all(&dir);
    let m = |f: fn(&SimSample) -> f64| median(sims.iter().map(f).collect());
    let (peer_rps, peer_rss) = (
        median(peers.iter().map(|p| p.0).collect()),
        median(peers.iter().map(|p| p.1).collect()),
    );
    println!(
        "\nzero-latency testbed (8 tokens) on CPU 0, clients on CPU 1 (a shared 2-core machine), {} sessions of 6 turns, {} in flight, median of {}; load average before {load_before}, after {load_after}\n",
        b.sessions, b.concurrency, b.reps
    );
    println!(
        "| client | sessions/s | turns (requests)/s | peak RSS | reasoning score | error rate |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| agentops-cockpit simulate | {:.0} | {:.0} | {:.1} MiB | {:.3} | {:.4} |",
        m(|s| s.sessions_per_s),
        m(|s| s.turns_per_s),
        m(|s| s.rss_kib) / 1024.0,
        m(|s| s.score),
        m(|s| s.error_rate)
    );
    println!(
        "| agentops-cockpit load --protocol openai -c {} | — | {peer_rps:.0} | {:.1} MiB | — | — |",
        b.concurrency,
        peer_rss / 1024.0
    );
    println!(
        "\nsimulate turns/s ÷ load req/s: {:.3}×   simulate peak RSS {:.1} MiB at {} sessions in flight (goal < 128)",
        m(|s| s.turns_per_s) / peer_rps,
        m(|s| s.rss_kib) / 1024.0,
        b.concurrency
    );
    Ok(())
}

/// One simulation run: wall time from start to exit (process start
/// included), peak RSS, and the figures of its `simulation.json`.
fn run_simulate(
    cli: &str,
    url: &str,
    b: &BenchSim,
    dir: &std::path::Path,
) -> Result<SimSample, String> {
    // Six turns hold three recall turns: this many make `sessions` sessions.
    let recalls = (u64::from(b.sessions) * 3).to_string();
    let args: Vec<String> = [
        "simulate",
        url,
        "--sessions",
        &b.concurrency.to_string(),
        "--turns",
        "6",
        "--min-recall-turns",
        &recalls,
        "--no-progress",
        "--format",
        "json",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([dir.display().to_string()])
    .collect();
    let started = Instant::now();
    let (_, err) = pinned(cli, &args)?;
    let wall = started.elapsed().as_secs_f64();
    let path = dir.join("simulation.json");
    let detail = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let field = |key: &str| {
        json_number(&detail, "\"levels\"", key)
            .ok_or_else(|| format!("no {key} in {}", path.display()))
    };
    Ok(SimSample {
        sessions_per_s: field("sessions")? / wall,
        turns_per_s: field("turns")? / wall,
        rss_kib: max_rss_kib(&err).unwrap_or(f64::NAN),
        score: field("reasoning_score")?,
        error_rate: field("error_rate")?,
    })
}

/// The peer: `load --protocol openai` at the same concurrency; req/s and
/// peak RSS.
fn run_load_peer(cli: &str, url: &str, b: &BenchSim) -> Result<(f64, f64), String> {
    let args: Vec<String> = [
        "load",
        url,
        "--protocol",
        "openai",
        "-c",
        &b.concurrency.to_string(),
        "-d",
        &format!("{}s", b.secs),
        "--format",
        "json",
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (out, err) = pinned(cli, &args)?;
    let rps = json_number(&out, "", "achieved_rps")
        .ok_or_else(|| format!("no achieved_rps in the load output:\n{out}"))?;
    Ok((rps, max_rss_kib(&err).unwrap_or(f64::NAN)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_arguments() {
        let b = BenchSim::parse(&[]).unwrap();
        assert_eq!(
            (b.concurrency, b.sessions, b.reps, b.secs),
            (1000, 5000, 3, 10)
        );
        let b =
            BenchSim::parse(&["--concurrency", "10", "--sessions", "20", "--reps", "1"]).unwrap();
        assert_eq!((b.concurrency, b.sessions, b.reps), (10, 20, 1));
        assert!(
            BenchSim::parse(&["--sessions", "5"]).is_err(),
            "fewer sessions than in flight"
        );
        assert!(
            BenchSim::parse(&["--reps"])
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            BenchSim::parse(&["--wat", "1"])
                .unwrap_err()
                .contains("--wat")
        );
    }
}
