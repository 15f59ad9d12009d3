//! MCP-PROTOCOL: the protocol revision the server agreed to in
//! `initialize`, its name and version, and its tools: a revision this
//! client does not know, the 2024-11-05 revision (superseded), or a server
//! declaring tools with none listed warn.

use cockpit_core::{CheckId, CheckSpec, Finding, Measurement, Pillar, Severity, Status, Unit};

use super::finding;
use crate::mcp::McpSnapshot;

pub const MCP_PROTOCOL: CheckSpec = CheckSpec {
    id: CheckId::new("MCP-PROTOCOL"),
    pillar: Pillar::Network,
    severity: Severity::Low,
    title: "MCP protocol revision and tools",
};

/// The revisions with an `initialize` handshake, oldest first.
pub const KNOWN_REVISIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

pub fn evaluate(s: &McpSnapshot) -> Finding {
    let mut f = finding(
        &MCP_PROTOCOL,
        &s.name,
        &s.shown,
        Status::NotMeasured,
        String::new(),
    );
    let Some(version) = &s.protocol_version else {
        f.summary = format!(
            "not measured: no initialize answer ({})",
            s.first_error
                .as_deref()
                .unwrap_or("the session ended first")
        );
        return f;
    };
    let server = match (&s.server_name, &s.server_version) {
        (Some(n), Some(v)) => format!("{n} {v}"),
        (Some(n), None) => n.clone(),
        _ => "the server".to_string(),
    };
    if let Some(n) = s.tool_count {
        f = f.with_measurement(Measurement::new(
            "tool_count",
            n as f64,
            Unit::Count,
            "tools/list, every page, one session",
            1,
        ));
    }
    let tools = match s.tool_count {
        Some(n) => format!("{n} tools"),
        None => "tools not listed".to_string(),
    };
    let mut concerns = Vec::new();
    if !KNOWN_REVISIONS.contains(&version.as_str()) {
        concerns.push(format!("revision {version} is not one this client knows"));
    } else if version == KNOWN_REVISIONS[0] {
        concerns.push(format!(
            "revision {version} is superseded (no Streamable HTTP, no tool annotations)"
        ));
    }
    if !s.declares_tools {
        concerns.push("does not declare the tools capability".to_string());
    } else if s.tool_count == Some(0) {
        concerns.push("declares tools but lists none".to_string());
    }
    f.status = if concerns.is_empty() {
        Status::Pass
    } else {
        Status::Warn
    };
    f.summary = format!("{server} speaks MCP {version}, {tools}");
    if !concerns.is_empty() {
        f.summary.push_str(&format!(": {}", concerns.join("; ")));
        f = f.with_recommendation(
            "Upgrade the server's MCP SDK to a current protocol revision and check that it registers the tools the agent expects.",
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
        let f = evaluate(&answered(1, 1));
        assert_eq!(f.status, Status::Pass, "{}", f.summary);
        assert!(
            f.summary.contains("2025-06-18") && f.summary.contains("3 tools"),
            "{}",
            f.summary
        );
        let mut s = answered(1, 1);
        s.protocol_version = Some("2024-11-05".into());
        assert_eq!(evaluate(&s).status, Status::Warn);
        s.protocol_version = Some("1999-01-01".into());
        assert!(evaluate(&s).summary.contains("not one this client knows"));
        let mut s = answered(1, 1);
        s.tool_count = Some(0);
        assert!(evaluate(&s).summary.contains("lists none"));
        s.protocol_version = None;
        assert_eq!(evaluate(&s).status, Status::NotMeasured);
    }
}
