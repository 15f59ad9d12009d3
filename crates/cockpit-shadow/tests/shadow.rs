//! Shadow comparisons against real agents: testbeds on 127.0.0.1, one at
//! 150 ms TTFT and one at 400 ms (a significant regression), two identical
//! ones (no difference detected), one failing every request (SHD-ERRORS),
//! and the audit of `[[agents]] shadow_endpoint`.

use std::time::Duration;

use cockpit_core::fleet::{AgentConfig, AgentProtocol};
use cockpit_core::{Finding, Status};
use cockpit_probe::{ProbeOptions, ProbeSettings};
use cockpit_shadow::{ShadowConfig, ShadowSettings, Verdict, checks};
use cockpit_testbed::{Testbed, TestbedConfig};
use tokio_util::sync::CancellationToken;

/// A testbed agent with this TTFT, ±20 ms of jitter from seed 1 (the same
/// jitter sequence for every testbed started alike) and `tokens` tokens.
async fn agent(ttft_ms: u64, tokens: u32, error_rate: f64) -> Testbed {
    Testbed::start(TestbedConfig {
        ttft: Duration::from_millis(ttft_ms),
        inter_token: Duration::from_millis(2),
        tokens,
        jitter: Duration::from_millis(20),
        error_rate,
        ..TestbedConfig::default()
    })
    .await
    .expect("testbed starts")
}

fn settings(samples: u32, mirror: bool) -> ShadowSettings {
    ShadowSettings {
        samples,
        mirror,
        timeout_ms: 10_000,
        ..ShadowSettings::default()
    }
}

fn one<'a>(findings: &'a [Finding], id: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.check_id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id} in {findings:#?}"))
}

async fn compare(
    v1: &Testbed,
    v2: &Testbed,
    s: &ShadowSettings,
) -> cockpit_shadow::ShadowComparison {
    let (a, b, base) = (v1.openai_url(), v2.openai_url(), ProbeOptions::default());
    let run = cockpit_shadow::compare("chat", &a, &b, &base, s);
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the comparison ends")
        .expect("both URLs are probed")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slower_candidate_is_a_significant_regression() {
    let (v1, v2) = (agent(150, 4, 0.0).await, agent(400, 4, 0.0).await);
    for mirror in [false, true] {
        let s = settings(12, mirror);
        let c = compare(&v1, &v2, &s).await;
        let ttft = c.metric("ttft").unwrap();
        assert_eq!(ttft.verdict, Verdict::V2Higher, "{ttft:#?}");
        let ci = ttft.p50_diff.unwrap();
        // The testbed schedules 250 ms more, ±40 ms of jitter between the sides.
        assert!(ci.low > 150.0 && ci.estimate > 200.0, "{ci:?}");
        assert!(ttft.mann_whitney.unwrap().p_value < 0.001);
        let f = checks::shd_ttft::evaluate(&c, &s);
        assert_eq!(f.status, Status::Fail, "{}", f.summary);
        assert!(f.summary.contains("n = 12 / 12"), "{}", f.summary);
        // Same answers from both: agreement is complete; nothing failed.
        assert_eq!((c.agreement.pairs, c.agreement.identical), (12, 12));
        assert_eq!(checks::shd_errors::evaluate(&c, &s).status, Status::Pass);
    }
    assert!(v1.shutdown().await && v2.shutdown().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_agents_show_no_difference() {
    let (v1, v2) = (agent(150, 4, 0.0).await, agent(150, 3, 0.0).await);
    let s = settings(12, false);
    let c = compare(&v1, &v2, &s).await;
    let ttft = c.metric("ttft").unwrap();
    assert_eq!(ttft.verdict, Verdict::NoDifference, "{ttft:#?}");
    let f = checks::shd_ttft::evaluate(&c, &s);
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(
        f.summary.contains("no difference detected at n = 12 / 12"),
        "{}",
        f.summary
    );
    // v2 answers one token fewer: a measured difference in length and words.
    let len = c.metric("output_tokens").unwrap();
    assert_eq!((len.v1.p50, len.v2.p50), (Some(4.0), Some(3.0)));
    let a = checks::shd_agreement::evaluate(&c, &s);
    assert_eq!(a.status, Status::Pass, "{}", a.summary);
    assert_eq!(a.measurement("identical_answers").unwrap().value, 0.0);
    assert_eq!(a.measurement("token_similarity_mean").unwrap().value, 0.75);
    assert!(v1.shutdown().await && v2.shutdown().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_candidate_fails_shd_errors_and_a_bad_url_is_an_error() {
    let (v1, v2) = (agent(20, 2, 0.0).await, agent(20, 2, 1.0).await);
    let s = settings(10, false);
    let c = compare(&v1, &v2, &s).await;
    let f = checks::shd_errors::evaluate(&c, &s);
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary.contains("v2 10/10 failed (http_5xx: 10)"),
        "{}",
        f.summary
    );
    // No answer from v2: the latency comparison has no verdict.
    assert_eq!(
        checks::shd_ttft::evaluate(&c, &s).status,
        Status::NotMeasured
    );
    let e = cockpit_shadow::compare(
        "chat",
        "ftp://u:s3cr3t@h/v1",
        &v2.openai_url(),
        &ProbeOptions::default(),
        &s,
    )
    .await
    .unwrap_err();
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    assert!(v1.shutdown().await && v2.shutdown().await);
}

fn shadowed(name: &str, v1: &Testbed, v2: Option<String>, protocol: AgentProtocol) -> AgentConfig {
    let mut a: AgentConfig = toml::from_str(&format!(
        "name = \"{name}\"\nendpoint = \"{}\"\nprotocol = \"openai\"\n",
        v1.openai_url()
    ))
    .unwrap();
    a.shadow_endpoint = v2;
    a.protocol = protocol;
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_judges_every_shadowed_agent_and_only_those() {
    let (v1, v2) = (agent(150, 4, 0.0).await, agent(400, 4, 0.0).await);
    let cfg = ShadowConfig::new(
        vec![
            shadowed("chat", &v1, Some(v2.openai_url()), AgentProtocol::Openai),
            shadowed("plain", &v1, None, AgentProtocol::Openai),
            shadowed("rpc", &v1, Some(v2.openai_url()), AgentProtocol::Grpc),
        ],
        ProbeSettings::default(),
        settings(10, true),
    );
    let out = cockpit_shadow::audit(&cfg, &CancellationToken::new()).await;
    assert_eq!((out.subjects, out.reached), (2, 1));
    let chat: Vec<Finding> = out
        .findings
        .iter()
        .filter(|f| f.subject.as_deref() == Some("chat"))
        .cloned()
        .collect();
    assert_eq!(one(&chat, "SHD-TTFT").status, Status::Fail);
    assert_eq!(one(&chat, "SHD-ERRORS").status, Status::Pass);
    assert_eq!(one(&chat, "SHD-AGREEMENT").status, Status::Pass);
    let rpc: Vec<&Finding> = out
        .findings
        .iter()
        .filter(|f| f.subject.as_deref() == Some("rpc"))
        .collect();
    assert_eq!(rpc.len(), 3);
    assert!(
        rpc.iter()
            .all(|f| f.status == Status::NotMeasured && f.summary.contains("openai"))
    );
    assert!(
        !out.findings
            .iter()
            .any(|f| f.subject.as_deref() == Some("plain"))
    );
    // Cancelled first: every shadowed agent listed as interrupted.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let out = cockpit_shadow::audit(&cfg, &cancel).await;
    assert_eq!(out.findings.len(), 6);
    assert!(out.findings.iter().all(|f| f.status == Status::NotMeasured));
    assert!(v1.shutdown().await && v2.shutdown().await);
}
