//! `cargo xtask bench stm`: the STA-LATENCY measurement's per-command
//! latency (the crate's own client, one command at a time on one connection) against
//! `redis-benchmark -t get,set -c 1` (hiredis-style C client, same
//! concurrency, same value size) on the same redis-server, in the same run.
//! Rounds alternate the two so drift on a shared machine hits both; the
//! figure is the ratio of medians across rounds.
//!
//! Arguments (after `--`): `--requests N` (default 20000), `--rounds R` (3).

use std::process::Command;

use cockpit_stm::testing::{self, RedisServer};
use cockpit_stm::{LatencyOptions, measure_latency};

/// Value size of the check's SET (its session document), bytes.
const VALUE_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, Default)]
struct Row {
    p50: f64,
    p99: f64,
}

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `redis-benchmark --csv` rows: "test","rps","avg","min","p50","p95","p99","max".
/// redis-benchmark's SET and GET rows; a run that printed no rows (it can
/// fail to connect on a loaded machine) is tried again, at most 3 times.
fn redis_benchmark(port: u16, n: u32) -> (Row, Row) {
    for attempt in 1..=3 {
        match redis_benchmark_once(port, n) {
            Ok(rows) => return rows,
            Err(e) if attempt < 3 => eprintln!("redis-benchmark attempt {attempt}: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

fn redis_benchmark_once(port: u16, n: u32) -> Result<(Row, Row), String> {
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "set,get",
            "-c",
            "1",
            "-P",
            "1",
        ])
        .args([
            "-n",
            &n.to_string(),
            "-d",
            &VALUE_BYTES.to_string(),
            "--csv",
        ])
        .output()
        .expect("run redis-benchmark (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    let row = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("\"{name}\"")))
            .ok_or_else(|| {
                format!("no {name} row in redis-benchmark output:\n{text}\nstderr:\n{errors}")
            })?;
        let f: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|c| c.trim_matches('"').parse().unwrap_or(f64::NAN))
            .collect();
        Ok::<_, String>(Row {
            p50: f[3],
            p99: f[5],
        })
    };
    Ok((row("SET")?, row("GET")?))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` (e.g. cargo test --benches) has nothing to list
    }
    let n = arg("--requests", 20_000);
    let rounds = arg("--rounds", 3).max(1);
    let server = RedisServer::start(testing::AOF_NOEVICTION);
    println!(
        "redis-server on 127.0.0.1:{}, AOF everysec; {n} SET + {n} GET per side per round, one connection, one command at a time, {VALUE_BYTES}-byte values; {rounds} rounds",
        server.port()
    );
    println!(
        "{:<6} {:<16} {:>9} {:>9} {:>9} {:>9}",
        "round", "client", "SET p50", "SET p99", "GET p50", "GET p99"
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let opts = LatencyOptions {
            samples: n,
            warmup: 100,
            ..LatencyOptions::default()
        };
        let r = measure_latency(&server.url(), &opts)
            .await
            .expect("measure");
        let (set, get) = (r.set.expect("set measured"), r.get.expect("get measured"));
        let o = (
            Row {
                p50: set.p50_ms,
                p99: set.p99_ms,
            },
            Row {
                p50: get.p50_ms,
                p99: get.p99_ms,
            },
        );
        let b = redis_benchmark(server.port(), n);
        for (name, (s, g)) in [("cockpit-stm", o), ("redis-benchmark", b)] {
            println!(
                "{round:<6} {name:<16} {:>7.3}ms {:>7.3}ms {:>7.3}ms {:>7.3}ms",
                s.p50, s.p99, g.p50, g.p99
            );
        }
        ours.push(o);
        theirs.push(b);
    }
    println!(
        "\nratio cockpit-stm / redis-benchmark (median over rounds; 1.0 = as fast as redis-benchmark):"
    );
    for (label, pick) in [
        (
            "SET p50",
            (|r: &(Row, Row)| r.0.p50) as fn(&(Row, Row)) -> f64,
        ),
        ("SET p99", |r| r.0.p99),
        ("GET p50", |r| r.1.p50),
        ("GET p99", |r| r.1.p99),
    ] {
        let a = median(ours.iter().map(pick).collect());
        let b = median(theirs.iter().map(pick).collect());
        println!("  {label}: {a:.3} ms / {b:.3} ms = {:.2}×", a / b);
    }
}
