use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Finding, Status};

/// The report format version. A reader refuses reports of another major
/// version; minor versions only add optional fields.
pub const REPORT_SCHEMA_VERSION: &str = "1.1";

/// The tool that wrote a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

/// What a report can be traced back to: the configuration it measured
/// with and the source revision it was taken in (schema 1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    /// SHA-256 (hex) of the configuration file as written, before `${VAR}`
    /// expansion: a secret's value never changes it (and cannot be guessed
    /// from it). Without a file (the embedded testbed), of its settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// The configuration file, as given; absent for the embedded testbed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// The git revision of the working directory, when it is in a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitRevision>,
    /// The line (1-based) of the configuration file where each entry is
    /// declared, keyed as a `Location::Config` entry: `agents.<name>`,
    /// `retrieval.<name>`, `mcp.<name>`, `vector_store.<name>`, `stm`.
    /// Findings about an entry are placed on its table (SARIF).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config_lines: BTreeMap<String, u32>,
}

/// A git revision, read without changing the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitRevision {
    /// `HEAD` commit id.
    pub commit: String,
    /// The tree id of `HEAD`.
    pub tree: String,
    /// Tracked files differ from `HEAD`.
    pub dirty: bool,
    /// The URL of the `origin` remote, without user information, when
    /// there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// Counts of findings by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub total: u64,
    /// Keyed by status spelling (`pass`, `not-measured`, …); absent keys are zero.
    pub by_status: BTreeMap<String, u64>,
}

/// The result of one audit run: every finding, versioned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Format version, `MAJOR.MINOR`.
    pub schema_version: String,
    pub tool: ToolInfo,
    /// When the report was written, RFC 3339 UTC.
    pub generated_at: String,
    /// True when the run was stopped (Ctrl-C, deadline) before every check
    /// finished; the findings are what had been measured by then.
    #[serde(default)]
    pub interrupted: bool,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// What the report can be traced back to (added in 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// How long the audit took, wall clock, in milliseconds (the JUnit
    /// report's `time`); absent when not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("not a valid agentops-cockpit report: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "report schema version {found} is not supported (this build reads {REPORT_SCHEMA_VERSION})"
    )]
    SchemaVersion { found: String },
    /// `generated_at` is not an RFC 3339 timestamp.
    #[error("generated_at: {found:?} is not an RFC 3339 timestamp (e.g. 2026-11-25T08:09:42Z)")]
    GeneratedAt { found: String },
}

impl Report {
    /// A report of these findings, stamped now.
    pub fn new(tool: &str, version: &str, findings: Vec<Finding>) -> Self {
        let mut r = Report {
            schema_version: REPORT_SCHEMA_VERSION.to_string(),
            tool: ToolInfo {
                name: tool.to_string(),
                version: version.to_string(),
            },
            generated_at: rfc3339_seconds(jiff::Timestamp::now()),
            interrupted: false,
            summary: Summary::default(),
            findings,
            provenance: None,
            duration_ms: None,
        };
        r.recount();
        r
    }

    /// Recompute [`Report::summary`] from the findings.
    pub fn recount(&mut self) {
        let mut by_status = BTreeMap::new();
        for f in &self.findings {
            *by_status.entry(f.status.as_str().to_string()).or_insert(0) += 1;
        }
        self.summary = Summary {
            total: self.findings.len() as u64,
            by_status,
        };
    }

    /// Number of findings with this status.
    pub fn count(&self, status: Status) -> u64 {
        self.findings.iter().filter(|f| f.status == status).count() as u64
    }

    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Parse a report, refusing another major schema version and a
    /// `generated_at` that is not an RFC 3339 timestamp.
    pub fn from_json(s: &str) -> Result<Report, ReportError> {
        Report::from_json_slice(s.as_bytes())
    }

    /// [`Report::from_json`] on bytes, without building a JSON tree: the
    /// version is read first (so another major version is named as such),
    /// then the report itself.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Report, ReportError> {
        #[derive(Deserialize)]
        struct Version {
            #[serde(default)]
            schema_version: Option<serde_json::Value>,
        }
        let v: Version = serde_json::from_slice(bytes)?;
        Report::check_schema_version(v.schema_version.as_ref())?;
        serde_json::from_slice::<Report>(bytes)?.checked()
    }

    /// [`Report::from_json`] on an already parsed document.
    pub fn from_json_value(v: serde_json::Value) -> Result<Report, ReportError> {
        Report::check_schema_version(v.get("schema_version"))?;
        serde_json::from_value::<Report>(v)?.checked()
    }

    /// Refuse a document whose `schema_version` (as found, if any) is of
    /// another major version than this build reads.
    pub fn check_schema_version(found: Option<&serde_json::Value>) -> Result<(), ReportError> {
        let found = found.and_then(|x| x.as_str()).unwrap_or("");
        let major = |s: &str| s.split('.').next().unwrap_or("").to_string();
        if major(found) != major(REPORT_SCHEMA_VERSION) {
            return Err(ReportError::SchemaVersion {
                found: found.chars().take(64).collect(),
            });
        }
        Ok(())
    }

    /// What a parsed report must hold beyond its types: a `generated_at`
    /// that is an RFC 3339 timestamp.
    pub fn checked(self) -> Result<Report, ReportError> {
        if self.generated_at.parse::<jiff::Timestamp>().is_err() {
            // Quoted in the message: keep it short whatever the file holds.
            let found = self.generated_at.chars().take(64).collect();
            return Err(ReportError::GeneratedAt { found });
        }
        Ok(self)
    }

    /// The JSON Schema of the report, as checked in at `docs/report.schema.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Report)).expect("a schema is valid JSON")
    }
}

/// Seconds precision, UTC: `2026-11-25T08:09:42Z`.
fn rfc3339_seconds(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_at_is_rfc3339_in_whole_seconds() {
        let t = |s: &str| rfc3339_seconds(s.parse().unwrap());
        assert_eq!(t("1970-01-01T00:00:00Z"), "1970-01-01T00:00:00Z");
        assert_eq!(t("2025-11-25T08:09:42.987654Z"), "2025-11-25T08:09:42Z");
        assert_eq!(t("2000-02-29T23:59:59+00:00"), "2000-02-29T23:59:59Z");
        let r = Report::new("t", "0", vec![]);
        assert_eq!(r.generated_at.len(), "2026-11-25T08:09:42Z".len());
        assert!(r.generated_at.ends_with('Z'), "{}", r.generated_at);
    }

    #[test]
    fn refuses_other_major_version() {
        let mut r = Report::new("t", "0", vec![]);
        r.schema_version = "2.0".into();
        let s = serde_json::to_string(&r).unwrap();
        match Report::from_json(&s) {
            Err(ReportError::SchemaVersion { found }) => assert_eq!(found, "2.0"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn generated_at_must_be_a_timestamp() {
        let mut r = Report::new("t", "0", vec![]);
        for bad in ["not a date", "", "2026-13-01T00:00:00Z", "2026-11-25"] {
            r.generated_at = bad.into();
            let s = serde_json::to_string(&r).unwrap();
            match Report::from_json(&s) {
                Err(e @ ReportError::GeneratedAt { .. }) => {
                    assert!(e.to_string().starts_with("generated_at: "), "{e}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        r.generated_at = "2026-11-25T08:09:42+01:00".into();
        assert!(Report::from_json(&serde_json::to_string(&r).unwrap()).is_ok());
    }

    #[test]
    fn corrupted_report_is_an_error() {
        assert!(matches!(
            Report::from_json("{\"schema_version\": \"1.0\", "),
            Err(ReportError::Json(_))
        ));
    }
}
