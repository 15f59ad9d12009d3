//! `cargo xtask bench load-fanout`: the fan-out (`load --workers K
//! --local`) against nginx for K = 1, 2, 4, and the time `load merge`
//! takes over 64 worker results with 1-s interval series of 10 minutes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::load::{free_port, have, json_number, release_bin, start_nginx};
use crate::{cargo, run};

/// One `load … --workers K --local` closed-loop run: achieved req/s, p99.
fn fanned(cli: &Path, url: &str, k: u32, conns: u32, secs: u64) -> Result<(f64, f64), String> {
    let out = Command::new(cli)
        .args([
            "load",
            url,
            "-c",
            &conns.to_string(),
            "-d",
            &format!("{secs}s"),
        ])
        .args(["--workers", &k.to_string(), "--local", "--format", "json"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cli.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = json_number(&text, "", "achieved_rps")
        .ok_or_else(|| format!("no achieved_rps in the merged report:\n{text}"))?;
    let p99 = json_number(&text, "\"latency\": {", "p99_ms").unwrap_or(f64::NAN);
    Ok((rps, p99))
}

/// 64 results of one run, each with `intervals` one-second intervals: one
/// real `load shard` result (shard 0 of 64), its first interval repeated,
/// the shard index rewritten per copy.
fn results(cli: &Path, url: &str, dir: &Path, intervals: usize) -> Result<Vec<String>, String> {
    let seed = dir.join("seed.json");
    let start = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%NZ"])
        .output()
        .map_err(|e| format!("date: {e}"))?;
    let start = String::from_utf8_lossy(&start.stdout).trim().to_string();
    run(Command::new(cli)
        .args([
            "load",
            "shard",
            url,
            "--shard",
            "0/64",
            "--start-at",
            &start,
            "--rate",
            "1000",
            "-d",
            "2s",
            "--seed",
            "1",
            "-c",
            "4",
            "--out",
        ])
        .arg(&seed))?;
    let text = std::fs::read_to_string(&seed).map_err(|e| format!("{}: {e}", seed.display()))?;
    let at = text
        .find("\"intervals\":[")
        .ok_or("no interval series in the shard result")?;
    let first = &text[at + "\"intervals\":[".len()..];
    let one = &first[..first.find('}').ok_or("no interval")? + 1];
    let rest = &one[one.find(',').ok_or("an interval without fields")?..];
    let series: Vec<String> = (0..intervals)
        .map(|i| format!("{{\"index\":{i}{rest}"))
        .collect();
    let head = &text[..at];
    let mut files = Vec::new();
    for k in 0..64 {
        let body = format!(
            "{}\"intervals\":[{}]}}\n",
            head.replacen("\"shard\":0,", &format!("\"shard\":{k},"), 1),
            series.join(",")
        );
        let path = dir.join(format!("worker-{k}.json"));
        std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(path.display().to_string());
    }
    Ok(files)
}

/// `cargo xtask bench load-fanout [--secs N] [--bin PATH]`.
pub fn bench_fanout(rest: &[&str]) -> Result<(), String> {
    let mut secs = 10u64;
    let mut bin = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        match *a {
            "--secs" => secs = v.parse().map_err(|_| format!("--secs {v}: not a number"))?,
            "--bin" => bin = Some(std::path::PathBuf::from(v)),
            other => return Err(format!("bench load-fanout: unknown argument {other:?}")),
        }
    }
    // nginx and taskset only (not the load bench's wrk and oha).
    let missing: Vec<&str> = [("nginx", "nginx"), ("taskset", "util-linux")]
        .into_iter()
        .filter(|(tool, _)| !have(tool) && !Path::new("/usr/sbin").join(tool).exists())
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let cli = match bin {
        Some(b) => b,
        None => {
            run(cargo().args(["build", "--release", "-q", "-p", "agentops-cockpit"]))?;
            release_bin("agentops-cockpit")
        }
    };
    let dir = std::env::temp_dir().join(format!("cockpit-bench-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let nginx = start_nginx(&dir, port)?;
    let url = format!("http://127.0.0.1:{port}/");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nnginx (1 worker, CPU 0) on 127.0.0.1; `load -c 64 -d {secs}s --workers K --local` (closed loop, one thread per worker), {cpus} CPUs shared by nginx and every worker\n"
    );
    println!("| workers | req/s (merged) | p99 (merged) |");
    println!("|---|---|---|");
    for k in [1u32, 2, 4] {
        let (rps, p99) = fanned(&cli, &url, k, 64, secs)?;
        println!("| {k} | {rps:.0} | {p99:.3} ms |");
    }
    let files = results(&cli, &url, &dir, 600)?;
    drop(nginx);
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = Command::new(&cli)
            .args(["load", "merge", "--format", "json"])
            .args(&files)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("load merge: {e}"))?;
        if !out.success() {
            return Err(format!("load merge exited with {out}"));
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "\n`load merge` of 64 worker results, 600 one-second intervals each ({:.1} MiB): {:.3} s (median of 3, the process's wall time)",
        bytes as f64 / 1048576.0,
        times[1]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
