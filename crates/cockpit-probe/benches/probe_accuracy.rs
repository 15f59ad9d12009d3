//! How far the probe's TTFT is from the truth: at 1, 64 and 256 concurrent
//! streams against the testbed, the client-measured TTFT of each request
//! minus the server-stamped truth for the same request id, i.e.
//! `ttft_client − (first_token_sent_at_server − send_start_client)`, both
//! read from the same machine's wall clock. A positive error is time the
//! client took to notice a token the server had already handed to its socket.
//!
//! Run with `cargo xtask bench probe-accuracy` (or `cargo bench -p
//! cockpit-probe --bench probe_accuracy`). Options after `--`:
//! `--levels 1,64,256`, `--rounds N` (samples per level = level × N, at least 100).

use std::time::{Duration, SystemTime};

use cockpit_probe::{ProbeOptions, probe_openai};
use cockpit_testbed::{Testbed, TestbedConfig};

#[derive(Debug, Clone, serde::Serialize)]
struct Level {
    streams: u32,
    samples: usize,
    errors: u64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    min_us: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i]
}

async fn level(streams: u32, rounds: u32) -> Level {
    let tb = Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(200),
        inter_token: Duration::from_millis(2),
        tokens: 4,
        ..TestbedConfig::default()
    })
    .await
    .expect("testbed starts on 127.0.0.1");
    let opts = ProbeOptions {
        samples: (streams * rounds).max(100),
        concurrency: streams,
        warmup: streams,
        timeout: Duration::from_secs(30),
        deadline: Duration::from_secs(600),
        record_samples: true,
        ..ProbeOptions::default()
    };
    let report = probe_openai(&tb.openai_url(), &opts)
        .await
        .expect("probe runs");
    let mut errs: Vec<f64> = Vec::new();
    for r in report.sample_records.iter().filter(|r| !r.warmup) {
        let (Some(ttft), Some(stamp)) = (r.ttft, tb.stamps().get(&r.request_id)) else {
            continue;
        };
        let Some(sent) = stamp.first_token_sent_at else {
            continue;
        };
        let truth = match sent.duration_since(r.send_start_wall) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        errs.push((ttft.as_secs_f64() - truth) * 1e6);
    }
    tb.shutdown().await;
    errs.sort_by(f64::total_cmp);
    let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
    Level {
        streams,
        samples: errs.len(),
        errors: report.errors.values().sum(),
        mean_us: mean,
        p50_us: quantile(&errs, 0.5),
        p99_us: quantile(&errs, 0.99),
        max_us: errs.last().copied().unwrap_or(f64::NAN),
        min_us: errs.first().copied().unwrap_or(f64::NAN),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut levels = vec![1u32, 64, 256];
    let mut rounds = 4u32;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--levels" if i + 1 < args.len() => {
                levels = args[i + 1]
                    .split(',')
                    .filter_map(|s| s.trim().parse().ok())
                    .collect();
                i += 1;
            }
            "--rounds" if i + 1 < args.len() => {
                rounds = args[i + 1].parse().unwrap_or(rounds);
                i += 1;
            }
            _ => {} // `cargo bench` passes --bench; ignore what is not ours
        }
        i += 1;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = SystemTime::now();
    let results: Vec<Level> = rt.block_on(async {
        let mut out = Vec::new();
        for &l in &levels {
            out.push(level(l, rounds).await);
        }
        out
    });
    println!(
        "probe accuracy: client TTFT − server-stamped truth (µs), testbed TTFT 200 ms, same process, 127.0.0.1"
    );
    println!(
        "{:>8} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "streams", "samples", "errors", "mean", "p50", "p99", "min", "max"
    );
    for r in &results {
        println!(
            "{:>8} {:>8} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            r.streams, r.samples, r.errors, r.mean_us, r.p50_us, r.p99_us, r.min_us, r.max_us
        );
    }
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    let _ = std::fs::create_dir_all(&out_dir);
    let json = serde_json::json!({
        "bench": "probe-accuracy",
        "started_unix_s": started.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "levels": results,
    });
    let path = out_dir.join("probe-accuracy.json");
    if std::fs::write(
        &path,
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )
    .is_ok()
    {
        println!("written to {}", path.display());
    }
}
