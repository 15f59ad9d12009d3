//! SARIF 2.1.0 (serde-sarif types), in the shape GitHub code scanning
//! takes (checked by Microsoft's SARIF multitool with its GitHub rules):
//! one rule per check id with its page's description, fix and address; one
//! result per finding that did not pass, each with a physical location —
//! its own `file:line`, else the line of the configuration table that
//! declares its subject (`[[agents]]`, `[stm]`, …). A finding with neither
//! (a run without a configuration file) is not a result but a notification
//! of the run's invocation: code scanning refuses a result it cannot
//! place. Waived findings, and findings skipped by an annotation of their
//! object, are results with a suppression carrying the reason.

use std::collections::BTreeMap;

use cockpit_core::{Finding, Location as CoreLocation, Status};
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, LogicalLocation, Message, MultiformatMessageString,
    Notification, PhysicalLocation, PropertyBag, Region, ReportingDescriptor,
    ReportingDescriptorReference, Result as SarifResult, ResultLevel, Run, SCHEMA_URL, Sarif,
    Suppression, Tool, ToolComponent, VersionControlDetails,
};
use sha2::{Digest, Sha256};

use crate::{Certification, ScoreError, Treatment};

fn text(s: impl Into<String>) -> Message {
    Message::builder().text(s.into()).build()
}

/// The configuration entry a finding is about, keyed as
/// `Provenance::config_lines`: its `Location::Config` entry, else the
/// declared entry its subject names.
fn config_line(f: &Finding, lines: &BTreeMap<String, u32>) -> Option<u32> {
    if let Some(CoreLocation::Config { entry }) = &f.location
        && let Some(l) = lines.get(entry)
    {
        return Some(*l);
    }
    let subject = f.subject.as_deref()?;
    if subject == "stm" {
        return lines.get("stm").copied();
    }
    ["agents", "retrieval", "mcp", "vector_store"]
        .iter()
        .find_map(|kind| lines.get(&format!("{kind}.{subject}")).copied())
}

fn physical(uri: &str, line: u32, column: Option<u32>) -> PhysicalLocation {
    let mut region = Region::builder().start_line(i64::from(line.max(1))).build();
    if let Some(c) = column {
        region.start_column = Some(i64::from(c.max(1)));
    }
    PhysicalLocation::builder()
        .artifact_location(ArtifactLocation::builder().uri(uri.to_string()).build())
        .region(region)
        .build()
}

/// Where a result is: always with a physical location (code scanning
/// refuses a result without one); `None` when there is no file to place
/// the finding in.
fn location(f: &Finding, config: Option<(&str, &BTreeMap<String, u32>)>) -> Option<Location> {
    if let Some(CoreLocation::File { path, line, column }) = &f.location {
        return Some(
            Location::builder()
                .physical_location(physical(path, line.unwrap_or(1), *column))
                .build(),
        );
    }
    // Endpoint, object and configuration findings sit on the table of the
    // configuration that declares their subject (its first line when none
    // does), with the subject as a logical location beside it.
    let (path, lines) = config?;
    let mut loc = Location::builder()
        .physical_location(physical(path, config_line(f, lines).unwrap_or(1), None))
        .build();
    if let Some(l) = &f.location {
        let kind = match l {
            CoreLocation::Endpoint { .. } => "resource",
            CoreLocation::Object { .. } => "object",
            _ => "member",
        };
        loc.logical_locations = Some(vec![
            LogicalLocation::builder()
                .name(l.to_string())
                .fully_qualified_name(l.to_string())
                .kind(kind)
                .build(),
        ]);
    }
    Some(loc)
}

/// One rule per check id, in order of first appearance, and where each is.
fn rules(report: &cockpit_core::Report) -> (BTreeMap<&str, usize>, Vec<ReportingDescriptor>) {
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rules = Vec::new();
    for f in &report.findings {
        if rule_index.contains_key(f.check_id.as_str()) {
            continue;
        }
        rule_index.insert(f.check_id.as_str(), rules.len());
        rules.push(rule(f));
    }
    (rule_index, rules)
}

/// A check's rule: title, the page's description and fix, its address.
fn rule(f: &Finding) -> ReportingDescriptor {
    let mut props = PropertyBag::builder().build();
    for (key, value) in [
        ("pillar", f.pillar.as_str().to_string()),
        ("severity", f.severity.as_str().to_string()),
        ("doc", f.doc.clone()),
    ] {
        props.additional_properties.insert(key.into(), value.into());
    }
    let page = crate::check_page(f.check_id.as_str());
    let url = crate::doc_url(&f.doc);
    let description = page.map_or_else(|| f.title.clone(), crate::page_summary);
    let fix = page.and_then(|p| crate::page_section(p, "Fix"));
    let help_markdown = match fix {
        Some(fix) => format!(
            "**{}**\n\n{description}\n\n## Fix\n\n{fix}\n\n[{}]({url})",
            f.title, f.check_id
        ),
        None => format!(
            "**{}**\n\n{description}\n\n[{}]({url})",
            f.title, f.check_id
        ),
    };
    ReportingDescriptor::builder()
        .id(f.check_id.to_string())
        .name(f.title.clone())
        .short_description(
            MultiformatMessageString::builder()
                .text(f.title.clone())
                .build(),
        )
        .full_description(
            MultiformatMessageString::builder()
                .text(description.clone())
                .build(),
        )
        .help_uri(url.clone())
        .help(
            MultiformatMessageString::builder()
                .text(format!("{description} How to fix it: {url}"))
                .markdown(help_markdown)
                .build(),
        )
        .properties(props)
        .build()
}

/// The result's message: the summary, its figure and the move to make.
fn message(f: &Finding) -> String {
    let mut msg = f.summary.clone();
    if let Some(fig) = crate::score::figure(f) {
        msg.push_str(&format!(" [{fig}]"));
    }
    if let Some(r) = &f.recommendation {
        msg.push_str(&format!(" Move: {r}"));
    }
    msg
}

/// A stable fingerprint of a finding: check id, subject and location.
fn fingerprint(f: &Finding) -> String {
    let fp = Sha256::digest(
        format!(
            "{}|{}|{}",
            f.check_id,
            f.subject.as_deref().unwrap_or(""),
            f.location
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        )
        .as_bytes(),
    );
    crate::lake::hex(&fp)
}

/// What a scored finding becomes: a result where it can be placed, a
/// notification of the run where it cannot.
enum Entry {
    Result(Box<SarifResult>),
    Notification(Box<Notification>),
}

/// The entry of one scored finding; `None` for a pass or a skip (but a
/// finding suppressed where its object lives, which is a suppressed result).
fn entry(
    cert: &Certification,
    s: &crate::ScoredFinding,
    rule_index: &BTreeMap<&str, usize>,
    config: Option<(&str, &BTreeMap<String, u32>)>,
) -> Option<Entry> {
    let f = &cert.report.findings[s.index];
    if f.status == Status::Pass || (f.status == Status::Skipped && f.suppressed.is_none()) {
        return None;
    }
    let level = match (f.status, s.treatment) {
        (Status::Fail | Status::Error, _) => ResultLevel::Error,
        (Status::NotMeasured, Treatment::Scored) => ResultLevel::Error,
        (Status::Warn, _) => ResultLevel::Warning,
        _ => ResultLevel::Note,
    };
    let Some(loc) = location(f, config) else {
        let level = match level {
            ResultLevel::Error => "error",
            ResultLevel::Warning => "warning",
            _ => "note",
        };
        let n = Notification::builder()
            .message(text(format!("{}: {}", f.check_id, message(f))))
            .level(serde_json::Value::from(level))
            .associated_rule(
                ReportingDescriptorReference::builder()
                    .id(f.check_id.to_string())
                    .index(rule_index[f.check_id.as_str()] as i64)
                    .build(),
            )
            .build();
        return Some(Entry::Notification(Box::new(n)));
    };
    let mut r = SarifResult::builder()
        .rule_id(f.check_id.to_string())
        .rule_index(rule_index[f.check_id.as_str()] as i64)
        .level(level)
        .message(text(message(f)))
        .partial_fingerprints(BTreeMap::from([(
            "agentopsCockpitFinding/v1".to_string(),
            fingerprint(f),
        )]))
        .locations(vec![loc])
        .build();
    if let Some(reason) = &f.suppressed {
        r.suppressions = Some(vec![
            Suppression::builder()
                .kind(serde_json::Value::from("inSource"))
                .justification(reason.clone())
                .build(),
        ]);
    }
    if let Some(w) = s.waiver.map(|i| &cert.waivers[i].waiver) {
        r.suppressions = Some(vec![
            Suppression::builder()
                .kind(serde_json::Value::from("external"))
                .justification(format!(
                    "waived until {} by {}: {}",
                    w.expires, w.owner, w.reason
                ))
                .build(),
        ]);
    }
    Some(Entry::Result(Box::new(r)))
}

/// The repository and revision the run audited, when it is known.
fn version_control(report: &cockpit_core::Report) -> Option<Vec<VersionControlDetails>> {
    let git = report.provenance.as_ref()?.git.as_ref()?;
    let remote = git.remote.as_ref()?;
    Some(vec![
        VersionControlDetails::builder()
            .repository_uri(remote.clone())
            .revision_id(git.commit.clone())
            .build(),
    ])
}

/// The run's properties: score, threshold, verdict.
fn run_properties(cert: &Certification) -> PropertyBag {
    let mut props = PropertyBag::builder().build();
    props.additional_properties.insert(
        "score".into(),
        cert.score
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::Null),
    );
    props
        .additional_properties
        .insert("threshold".into(), cert.threshold.into());
    props
        .additional_properties
        .insert("passed".into(), cert.passed.into());
    // The approval matrix's verdict of every pillar, measured or not.
    let pillars: serde_json::Map<String, serde_json::Value> = cert
        .pillars
        .iter()
        .map(|p| {
            (
                p.pillar.as_str().to_string(),
                serde_json::to_value(p.verdict).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    props
        .additional_properties
        .insert("pillars".into(), pillars.into());
    props
}

/// The certification as a SARIF 2.1.0 log.
pub fn sarif(cert: &Certification) -> Result<String, ScoreError> {
    let report = &cert.report;
    let config = report
        .provenance
        .as_ref()
        .and_then(|p| p.config_path.as_deref().map(|path| (path, &p.config_lines)));
    let (rule_index, rules) = rules(report);
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for e in cert
        .findings
        .iter()
        .filter_map(|s| entry(cert, s, &rule_index, config))
    {
        match e {
            Entry::Result(r) => results.push(*r),
            Entry::Notification(n) => notifications.push(*n),
        }
    }
    let mut invocation = Invocation::builder()
        .execution_successful(!report.interrupted)
        .build();
    if !notifications.is_empty() {
        invocation.tool_execution_notifications = Some(notifications);
    }
    let mut run = Run::builder()
        .tool(
            Tool::builder()
                .driver(
                    ToolComponent::builder()
                        .name(report.tool.name.clone())
                        .version(report.tool.version.clone())
                        .information_uri(crate::PROJECT_URL)
                        .rules(rules)
                        .build(),
                )
                .build(),
        )
        .results(results)
        .invocations(vec![invocation])
        .properties(run_properties(cert))
        .build();
    run.version_control_provenance = version_control(report);
    let log = Sarif::builder()
        .schema(SCHEMA_URL)
        .version(serde_json::Value::from("2.1.0"))
        .runs(vec![run])
        .build();
    let mut s = serde_json::to_string_pretty(&log).map_err(|e| ScoreError::Render {
        format: "sarif",
        message: e.to_string(),
    })?;
    s.push('\n');
    Ok(s)
}
