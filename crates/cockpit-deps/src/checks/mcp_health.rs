//! MCP-HEALTH: the server completes `initialize` and answers every
//! `tools/list` and `ping` of the session; a server that exits, stops
//! answering, or writes what is not JSON-RPC fails, with its errors counted
//! by kind.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::mcp::{McpFailure, McpSnapshot};

pub const MCP_HEALTH: CheckSpec = CheckSpec {
    id: CheckId::new("MCP-HEALTH"),
    pillar: Pillar::Network,
    severity: Severity::High,
    title: "MCP server health (initialize, tools/list, ping)",
};

const METHOD: &str = "client-side: one MCP session (rmcp), initialize then tools/list and ping rounds, each call under the entry's timeout";

/// Judge one session.
pub fn evaluate(s: &McpSnapshot) -> Finding {
    let (status, summary) = verdict(s);
    let f =
        finding(&MCP_HEALTH, &s.name, &s.shown, status, summary).with_measurements(measurements(s));
    if status == Status::Pass {
        return f;
    }
    f.with_recommendation(
        "Run the MCP server the way the agent does and read its stderr: a server must answer initialize, tools/list and ping, write nothing but JSON-RPC on stdout, and stay up for the whole session.",
    )
}

fn verdict(s: &McpSnapshot) -> (Status, String) {
    let first = s.first_error.clone().unwrap_or_default();
    let unreachable = s.errors.contains_key(&McpFailure::Spawn)
        || (s.errors.contains_key(&McpFailure::Transport) && !s.reached());
    if unreachable {
        (Status::NotMeasured, format!("not measured: {first}"))
    } else if !s.reached() && s.interrupted {
        (
            Status::NotMeasured,
            "not measured: the audit was interrupted before initialize".into(),
        )
    } else if !s.reached() {
        (
            Status::Fail,
            format!("did not complete initialize: {first}"),
        )
    } else if let Some(why) = &s.stopped {
        (
            Status::Fail,
            format!(
                "stopped answering mid-session after {} of {} calls: {why}",
                s.calls - s.failed(),
                s.calls
            ),
        )
    } else if s.failed() > 0 {
        (
            Status::Warn,
            format!(
                "{} of {} calls failed (first: {first})",
                s.failed(),
                s.calls
            ),
        )
    } else {
        (
            Status::Pass,
            format!(
                "initialize, tools/list and ping answered: {} calls, none failed{}",
                s.calls,
                if s.interrupted { " (interrupted)" } else { "" }
            ),
        )
    }
}

/// Calls, failures (all, and by kind), and the initialize time.
fn measurements(s: &McpSnapshot) -> Vec<Measurement> {
    let count =
        |name: String, n: u64| Measurement::new(name, n as f64, Unit::Count, METHOD, s.calls);
    let mut out = vec![
        count("calls".into(), s.calls),
        count("failed".into(), s.failed()),
    ];
    for (kind, n) in &s.errors {
        out.push(count(format!("errors_{}", kind.as_str()), *n));
    }
    if let Some(t) = s.initialize {
        let method = match s.transport {
            crate::McpTransport::Stdio => {
                "client-side, from starting the process to the initialize answer"
            }
            _ => "client-side, from the first request to the initialize answer",
        };
        out.push(Measurement::new(
            "initialize",
            t.as_secs_f64() * 1000.0,
            Unit::Milliseconds,
            method,
            1,
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::McpServerConfig;

    /// A snapshot of a session that answered `rounds` rounds.
    pub(crate) fn answered(rounds: u32, ping_ms: u64) -> McpSnapshot {
        let mut s = McpSnapshot::new(&McpServerConfig::stdio("tools", "node", &[]));
        s.initialize = Some(Duration::from_millis(40));
        s.protocol_version = Some("2025-06-18".into());
        s.declares_tools = true;
        s.tool_count = Some(3);
        s.calls = 2 + 2 * u64::from(rounds);
        for _ in 0..rounds {
            s.ping.record(Duration::from_millis(ping_ms));
            s.tools_list.record(Duration::from_millis(ping_ms + 1));
        }
        s
    }

    #[test]
    fn a_whole_session_passes() {
        let f = evaluate(&answered(5, 2));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert_eq!(f.measurement("failed").unwrap().value, 0.0);
        assert!(f.recommendation.is_none());
    }

    #[test]
    fn a_server_that_stops_mid_session_fails_with_its_kind() {
        let mut s = answered(2, 2);
        s.calls += 1;
        s.record_failure(McpFailure::Exited, "`node` exited (exit status: 3)".into());
        let f = evaluate(&s);
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.summary.contains("mid-session") && f.summary.contains("exit status: 3"),
            "{}",
            f.summary
        );
        assert_eq!(f.measurement("errors_exited").unwrap().value, 1.0);
    }

    #[test]
    fn server_errors_warn_and_unstartable_is_not_measured() {
        let mut s = answered(2, 2);
        s.record_failure(McpFailure::ServerError, "Method not found (-32601)".into());
        assert_eq!(evaluate(&s).status, Status::Warn);
        let mut s = McpSnapshot::new(&McpServerConfig::stdio("t", "nope", &[]));
        s.record_failure(McpFailure::Spawn, "cannot start `nope`".into());
        assert_eq!(evaluate(&s).status, Status::NotMeasured);
        let mut s = McpSnapshot::new(&McpServerConfig::stdio("t", "x", &[]));
        s.record_failure(McpFailure::InvalidJsonRpc, "wrote 1 line(s)".into());
        let f = evaluate(&s);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("initialize"), "{}", f.summary);
    }
}
