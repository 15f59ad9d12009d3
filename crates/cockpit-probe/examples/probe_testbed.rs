//! Embed the probe: start the reference agent on 127.0.0.1, measure its TTFT
//! over OpenAI-style streaming, and print the p50/p95 with their method.
//!
//! `cargo run -p cockpit-probe --example probe_testbed`

use std::time::Duration;

use cockpit_probe::{ProbeOptions, probe_openai};
use cockpit_testbed::{Testbed, TestbedConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let testbed = Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(250),
        ..TestbedConfig::default()
    })
    .await?;
    let opts = ProbeOptions {
        samples: 30,
        concurrency: 3,
        ..ProbeOptions::default()
    };
    let report = probe_openai(&format!("{}/v1", testbed.base_url()), &opts).await?;
    if let Some(ttft) = report.summary("ttft") {
        println!(
            "TTFT p50 {:.1} ms, p95 {:.1} ms over {} samples",
            ttft.p50_ms, ttft.p95_ms, ttft.count
        );
        println!("method: {}", report.method("ttft").unwrap_or("-"));
    }
    println!("errors: {:?}", report.errors);
    testbed.shutdown().await;
    Ok(())
}
