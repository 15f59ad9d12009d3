//! MCP-LATENCY: the server's `ping` p99 against the entry's
//! `latency_p99_ms`, with `tools/list` and `initialize` shown beside it.

use cockpit_core::{CheckId, CheckSpec, Finding, Pillar, Severity, Status};

use super::{finding, percentiles};
use crate::mcp::McpSnapshot;

pub const MCP_LATENCY: CheckSpec = CheckSpec {
    id: CheckId::new("MCP-LATENCY"),
    pillar: Pillar::Network,
    severity: Severity::Medium,
    title: "MCP server latency (ping p99)",
};

const PING_METHOD: &str =
    "client-side, from handing ping to the SDK to its answer, one session, sequential";
const LIST_METHOD: &str = "client-side, from handing tools/list (first page) to the SDK to its answer, one session, sequential";

/// Ping p99 against `bound_ms`: pass within, warn up to 2×, fail beyond.
pub fn evaluate(s: &McpSnapshot, bound_ms: f64) -> Finding {
    let mut f = finding(
        &MCP_LATENCY,
        &s.name,
        &s.shown,
        Status::NotMeasured,
        String::new(),
    );
    if s.ping.is_empty() {
        f.summary = format!(
            "not measured: no ping was answered ({})",
            s.first_error
                .as_deref()
                .unwrap_or("the session ended first")
        );
        return f;
    }
    f = f.with_measurements(percentiles("ping", &s.ping, PING_METHOD));
    if !s.tools_list.is_empty() {
        f = f.with_measurements(percentiles("tools_list", &s.tools_list, LIST_METHOD));
    }
    let p99 = s.ping.summary().p99_ms;
    let n = s.ping.count();
    f.status = if p99 <= bound_ms {
        Status::Pass
    } else if p99 <= 2.0 * bound_ms {
        Status::Warn
    } else {
        Status::Fail
    };
    f.summary = match f.status {
        Status::Pass => format!("ping p99 {p99:.2} ms is within {bound_ms:.1} ms (n={n})"),
        _ => format!("ping p99 {p99:.2} ms is above {bound_ms:.1} ms (n={n})"),
    };
    if f.status != Status::Pass {
        f = f.with_recommendation(
            "Run the MCP server next to the agent (same host or zone), keep one long-lived session per agent process, and look for blocking work in the server's request loop: every tool call pays this latency.",
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::mcp_health::tests::answered;

    #[test]
    fn verdicts() {
        let f = evaluate(&answered(10, 2), 50.0);
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert_eq!(f.measurement("ping_p99").unwrap().samples, 10);
        assert!(f.measurement("tools_list_p95").is_some());
        assert_eq!(evaluate(&answered(10, 70), 50.0).status, Status::Warn);
        assert_eq!(evaluate(&answered(10, 200), 50.0).status, Status::Fail);
        let f = evaluate(&answered(0, 0), 50.0);
        assert_eq!(f.status, Status::NotMeasured);
    }
}
