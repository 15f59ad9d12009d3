//! A hand-built snapshot for the faces' unit tests: a fast agent, a slow
//! one with the absolute alert firing, a dead one, and one whose name is
//! hostile markup with a terminal escape.

use std::collections::BTreeMap;
use std::time::Duration;

use cockpit_fleet::{
    AgentView, AlertEvent, AlertRule, AlertState, CumulativeHistogram, FiringAlert, FleetSnapshot,
    GateView, KubernetesView, LatencyWindow, PillarView, PodIssue, RateWindow, RequestCounts,
    RulesView, SNAPSHOT_VERSION, SeriesPoint, StmView, TargetKind, TargetStatus, Totals,
    WorkloadView,
};
use cockpit_stm::HealthInfo;

pub const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"\\\n\u{1b}[2J";

const WINDOW: Duration = Duration::from_secs(30);

fn latency(count: u64, p50: f64, p95: f64) -> LatencyWindow {
    LatencyWindow {
        count,
        window: WINDOW,
        p50_ms: Some(p50),
        p95_ms: Some(p95),
        p99_ms: Some(p95 * 1.05),
        max_ms: Some(p95 * 1.1),
        mean_ms: Some((p50 + p95) / 2.0),
    }
}

fn histogram(count: u64, seconds: f64) -> CumulativeHistogram {
    let bounds = vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
    let counts = bounds
        .iter()
        .map(|b| if *b >= seconds { count } else { 0 })
        .collect();
    CumulativeHistogram {
        bounds,
        counts,
        count,
        sum: seconds * count as f64,
    }
}

/// One up agent with its TTFT near `ttft_ms`.
pub fn agent(name: &str, ttft_ms: f64) -> AgentView {
    let n = 20;
    let series = (1..=6)
        .map(|round| SeriesPoint {
            round,
            p95_ms: Some(ttft_ms * (1.0 + round as f64 / 20.0)),
            count: 4,
        })
        .collect();
    AgentView {
        name: name.into(),
        kind: TargetKind::Agent,
        protocol: "openai".into(),
        endpoint: "http://127.0.0.1:9/v1/chat/completions".into(),
        status: TargetStatus::Up,
        last_probe_at: Some("2026-11-27T12:00:05.000Z".into()),
        last_probe_ms: Some(ttft_ms * 2.0),
        ttft: latency(n, ttft_ms, ttft_ms * 1.2),
        itl: latency(n * 7, 2.0, 3.0),
        e2e: latency(n, ttft_ms + 20.0, ttft_ms * 1.2 + 20.0),
        ttft_p95_series: series,
        tokens_per_s: RateWindow {
            count: n,
            window: WINDOW,
            output_tokens: n * 8,
            tokens_per_s: Some(312.5),
        },
        requests: RequestCounts {
            attempted: n,
            succeeded: n,
            failed: 0,
            error_rate: Some(0.0),
            errors: BTreeMap::new(),
            window: WINDOW,
        },
        baseline: None,
        last_gate: Some(GateView {
            score: Some(91.5),
            passed: true,
            threshold: 80.0,
            generated_at: "2026-11-26T10:00:00Z".into(),
            run: "2026-11-26T10-00-00Z-certify".into(),
            pillars: vec![PillarView {
                pillar: "network".into(),
                verdict: "PASS".into(),
                score: Some(95.0),
            }],
        }),
        alerts: vec![],
        totals: Totals {
            probes: 6,
            attempted: n,
            succeeded: n,
            errors: BTreeMap::new(),
            ttft_seconds: histogram(n, ttft_ms / 1000.0),
            itl_seconds: histogram(n * 7, 0.002),
            e2e_seconds: histogram(n, ttft_ms / 1000.0 + 0.02),
            probe_seconds: histogram(6, 0.5),
        },
        stm: None,
        kubernetes: None,
    }
}

/// An `[stm]` row (up, 12 PINGs) and a `[kubernetes]` row (degraded: one
/// pod crash-looping, 2 restarts since the start).
pub fn infra_rows() -> [AgentView; 2] {
    let mut stm = agent("stm", 0.4);
    stm.kind = TargetKind::Stm;
    stm.protocol = "redis".into();
    stm.endpoint = "redis://:***@10.0.0.3:6379".into();
    stm.ttft = LatencyWindow::default();
    stm.itl = LatencyWindow::default();
    stm.e2e = LatencyWindow::default();
    stm.tokens_per_s = RateWindow::default();
    stm.last_gate = None;
    stm.stm = Some(StmView {
        ping: latency(12, 0.2, 0.4),
        connect: latency(6, 1.0, 1.5),
        pings_per_read: 2,
        info: Some(HealthInfo {
            role: Some("master".into()),
            used_memory_bytes: Some(1 << 20),
            maxmemory_bytes: Some(64 << 20),
            maxmemory_policy: Some("noeviction".into()),
            connected_clients: Some(3),
            ..HealthInfo::default()
        }),
        info_error: None,
        ping_seconds: histogram(12, 0.0004),
    });
    let mut kube = stm.clone();
    kube.name = "kubernetes/agents".into();
    kube.kind = TargetKind::Kubernetes;
    kube.protocol = "kubernetes".into();
    kube.endpoint = "current context".into();
    kube.ttft_p95_series = Vec::new();
    kube.status = TargetStatus::Degraded {
        reason: "1 of 2 replicas ready; not ready: chat-agent-b (CrashLoopBackOff)".into(),
    };
    kube.stm = None;
    kube.kubernetes = Some(KubernetesView {
        namespace: "agents".into(),
        context: None,
        selector: None,
        desired: 2,
        ready: 1,
        pods: 2,
        pods_ready: 1,
        restarts_since_start: 2,
        restarts_in_window: 2,
        window: WINDOW,
        workloads: vec![WorkloadView {
            kind: "Deployment".into(),
            name: "chat-agent".into(),
            role: "agent".into(),
            desired: 2,
            ready: 1,
            pods: 2,
            restarts_since_start: 2,
        }],
        not_ready: vec![PodIssue {
            workload: "chat-agent".into(),
            pod: "chat-agent-b".into(),
            phase: "Running".into(),
            reason: "CrashLoopBackOff".into(),
            restarts: 6,
        }],
        truncated: false,
    });
    [stm, kube]
}

/// The fleet: `fast`, `slow` (alert firing), `dead` (down), and [`HOSTILE`].
pub fn snapshot() -> FleetSnapshot {
    let mut slow = agent("slow", 900.0);
    slow.status = TargetStatus::Degraded {
        reason: "ttft-absolute firing".into(),
    };
    slow.alerts = vec![FiringAlert {
        rule: AlertRule::TtftAbsolute,
        since: "2026-11-27T12:00:03.000Z".into(),
        ttft_p95_ms: 1080.0,
        count: 20,
        bound_ms: 800.0,
    }];
    let mut dead = agent("dead", 0.0);
    dead.status = TargetStatus::Down {
        error_kind: "connect".into(),
        message: "connection refused".into(),
    };
    dead.ttft = LatencyWindow {
        window: WINDOW,
        ..LatencyWindow::default()
    };
    dead.requests.succeeded = 0;
    dead.requests.failed = 20;
    dead.requests.error_rate = Some(1.0);
    dead.requests.errors.insert("connect".into(), 20);
    dead.totals.errors.insert("connect".into(), 20);
    dead.ttft_p95_series
        .iter_mut()
        .for_each(|p| p.p95_ms = None);
    let event = |seq, state| AlertEvent {
        seq,
        at: "2026-11-27T12:00:03.000Z".into(),
        round: 3,
        agent: "slow".into(),
        rule: AlertRule::TtftAbsolute,
        state,
        ttft_p95_ms: 1080.0,
        count: 20,
        window: WINDOW,
        bound_ms: 800.0,
        baseline_ms: None,
        consecutive: 3,
        message: "Latency Regression: TTFT p95 1080 ms > 800 ms".into(),
        evidence: None,
    };
    FleetSnapshot {
        snapshot_version: SNAPSHOT_VERSION.into(),
        taken_at: "2026-11-27T12:00:06.000Z".into(),
        round: 6,
        interval: Duration::from_secs(1),
        window: WINDOW,
        next_probe_at: Some("2026-11-27T12:00:07.000Z".into()),
        next_probe_in_ms: Some(1000),
        rules: RulesView {
            ttft_p95_ms: 800.0,
            consecutive: 3,
            relative_increase_pct: 50.0,
            relative_min_increase_ms: 100.0,
        },
        agents: vec![agent("fast", 20.0), slow, dead, agent(HOSTILE, 30.0)],
        alerts: vec![event(1, AlertState::Firing)],
        webhook: None,
        hub: Default::default(),
    }
}

/// A hub with every part: a shadow whose candidate is slower (SHD-TTFT
/// fails), a cache, an MCP server up and one down, a store, a watched
/// agent with a breach.
pub fn hub() -> cockpit_fleet::HubView {
    use cockpit_fleet::hub::view::*;
    let at = |error: Option<&str>| Measured {
        measured_at: Some("2026-11-27T12:00:04.000Z".into()),
        took_ms: Some(120.0),
        measurements: 3,
        failed_measurements: 0,
        error: error.map(str::to_string),
    };
    let verdict = |check: &str, status: &str| Verdict {
        check: check.into(),
        status: status.into(),
        summary: format!("{check} {status}"),
    };
    let q = |count, p50, p95| Quantiles {
        count,
        p50_ms: Some(p50),
        p95_ms: Some(p95),
        p99_ms: Some(p95),
    };
    let mcp = |name: &str, up: bool| McpPanel {
        name: name.into(),
        server: "http://127.0.0.1:3001/mcp".into(),
        transport: "streamable-http".into(),
        measured: at((!up).then_some("connect: connection refused")),
        up: Some(up),
        protocol_version: up.then(|| "2025-06-18".into()),
        tool_count: up.then_some(11),
        ping: if up {
            q(5, 1.5, 3.0)
        } else {
            Quantiles::default()
        },
        ..McpPanel::default()
    };
    HubView {
        interval: Duration::from_secs(60),
        shadow: vec![ShadowPanel {
            agent: "chat".into(),
            v1: "http://v1/v1".into(),
            v2: "http://v2/v1".into(),
            measured: at(None),
            sent: 30,
            ttft_v1: SideView {
                n: 30,
                p50_ms: Some(120.0),
                p95_ms: Some(140.0),
            },
            ttft_v2: SideView {
                n: 30,
                p50_ms: Some(160.0),
                p95_ms: Some(180.0),
            },
            ttft_p50_diff: Some(DiffView {
                estimate_ms: 40.0,
                low_ms: 35.0,
                high_ms: 45.0,
                level: 0.95,
            }),
            ttft_p95_diff: Some(DiffView {
                estimate_ms: 40.0,
                low_ms: 30.0,
                high_ms: 50.0,
                level: 0.95,
            }),
            ttft_p_value: Some(1e-7),
            ttft_difference: Some("v2-higher".into()),
            verdict: Some(verdict("SHD-TTFT", "fail")),
            ..ShadowPanel::default()
        }],
        caches: vec![CachePanel {
            agent: "chat".into(),
            kind: "semantic".into(),
            measured: at(None),
            hits: Some(30.0),
            misses: Some(10.0),
            hit_rate: Some(0.75),
            tokens_served: Some(480.0),
            cost_avoided: Some(0.96),
            probe_rounds: 3,
            repeat_hits: Some(3),
            paraphrase_hits: Some(3),
            ttft_saved_p50_ms: Some(148.0),
            ttft_saved_count: 3,
            verdicts: vec![verdict("HIV-HIT", "pass"), verdict("HIV-RATE", "pass")],
        }],
        cache_fleet: Some(CacheFleet {
            caches: 1,
            hits: 30.0,
            lookups: 40.0,
            hit_rate: Some(0.75),
            tokens_served: Some(480.0),
            cost_avoided: Some(0.96),
        }),
        mcp: vec![mcp("tools", true), mcp("dead", false)],
        rag: vec![RagPanel {
            name: "kb".into(),
            backend: "chroma".into(),
            collection: "docs".into(),
            store: "http://127.0.0.1:8000".into(),
            measured: at(None),
            status: "ready".into(),
            count: Some(1200),
            count_since: Some("2026-11-27T11:00:00.000Z".into()),
            query: q(5, 4.0, 9.0),
            source_count: Some(1200),
            stale: Some(verdict("RAG-STALE", "pass")),
            ..RagPanel::default()
        }],
        watchtower: vec![WatchPanel {
            agent: "chat".into(),
            canary: "sha256:0123456789ab".into(),
            measured: at(None),
            sent: 10,
            leaked: 1,
            held: 9,
            failed: 0,
            leaked_ids: vec!["LLM07-003".into()],
            attempts_total: 30,
            leaks_total: 3,
            feed: vec![FeedEntry {
                id: "LLM07-003".into(),
                category: "LLM07".into(),
                at: "2026-11-27T12:00:03.000Z".into(),
                outcome: "leaked".into(),
            }],
        }],
    }
}
