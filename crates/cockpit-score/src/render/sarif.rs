//! SARIF 2.1.0 (serde-sarif types): one rule per check id, one result per
//! finding that did not pass, with `file:line` where the finding has one,
//! so code scanning shows it inline. Waived findings are results with an
//! external suppression carrying the waiver's reason.

use std::collections::BTreeMap;

use cockpit_core::{Finding, Location as CoreLocation, Status};
use serde_sarif::sarif::{
    ArtifactLocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingDescriptor, Result as SarifResult, ResultLevel,
    Run, SCHEMA_URL, Sarif, Suppression, Tool, ToolComponent,
};
use sha2::{Digest, Sha256};

use crate::{Certification, ScoreError, Treatment};

fn text(s: impl Into<String>) -> Message {
    Message::builder().text(s.into()).build()
}

fn location(f: &Finding, config_path: Option<&str>) -> Vec<Location> {
    match &f.location {
        Some(CoreLocation::File { path, line, column }) => {
            let mut region = Region::builder()
                .start_line(i64::from(line.unwrap_or(1)))
                .build();
            if let Some(c) = column {
                region.start_column = Some(i64::from(*c));
            }
            vec![
                Location::builder()
                    .physical_location(
                        PhysicalLocation::builder()
                            .artifact_location(
                                ArtifactLocation::builder().uri(path.clone()).build(),
                            )
                            .region(region)
                            .build(),
                    )
                    .build(),
            ]
        }
        other => {
            let mut loc = Location::builder().build();
            if let Some(l) = other {
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
            // Anchor endpoint and object findings on the configuration that
            // named them, so code scanning can still place them.
            if let Some(cfg) = config_path {
                loc.physical_location = Some(
                    PhysicalLocation::builder()
                        .artifact_location(ArtifactLocation::builder().uri(cfg.to_string()).build())
                        .region(Region::builder().start_line(1).build())
                        .build(),
                );
            }
            if loc.logical_locations.is_none() && loc.physical_location.is_none() {
                return Vec::new();
            }
            vec![loc]
        }
    }
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
        let mut props = PropertyBag::builder().build();
        for (key, value) in [
            ("pillar", f.pillar.as_str().to_string()),
            ("severity", f.severity.as_str().to_string()),
            ("doc", f.doc.clone()),
        ] {
            props.additional_properties.insert(key.into(), value.into());
        }
        rules.push(
            ReportingDescriptor::builder()
                .id(f.check_id.to_string())
                .name(f.title.clone())
                .short_description(
                    MultiformatMessageString::builder()
                        .text(f.title.clone())
                        .build(),
                )
                .help(
                    MultiformatMessageString::builder()
                        .text(format!("See {} in the agentops-cockpit repository.", f.doc))
                        .build(),
                )
                .properties(props)
                .build(),
        );
    }
    (rule_index, rules)
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

/// The result of one scored finding; `None` for a pass or a skip.
fn result(
    cert: &Certification,
    s: &crate::ScoredFinding,
    rule_index: &BTreeMap<&str, usize>,
    config_path: Option<&str>,
) -> Option<SarifResult> {
    let f = &cert.report.findings[s.index];
    if matches!(f.status, Status::Pass | Status::Skipped) {
        return None;
    }
    let level = match (f.status, s.treatment) {
        (Status::Fail | Status::Error, _) => ResultLevel::Error,
        (Status::NotMeasured, Treatment::Scored) => ResultLevel::Error,
        (Status::Warn, _) => ResultLevel::Warning,
        _ => ResultLevel::Note,
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
        .build();
    let locs = location(f, config_path);
    if !locs.is_empty() {
        r.locations = Some(locs);
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
    Some(r)
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
    let config_path = report
        .provenance
        .as_ref()
        .and_then(|p| p.config_path.as_deref());
    let (rule_index, rules) = rules(report);
    let results: Vec<SarifResult> = cert
        .findings
        .iter()
        .filter_map(|s| result(cert, s, &rule_index, config_path))
        .collect();
    let run = Run::builder()
        .tool(
            Tool::builder()
                .driver(
                    ToolComponent::builder()
                        .name(report.tool.name.clone())
                        .version(report.tool.version.clone())
                        .rules(rules)
                        .build(),
                )
                .build(),
        )
        .results(results)
        .properties(run_properties(cert))
        .build();
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
