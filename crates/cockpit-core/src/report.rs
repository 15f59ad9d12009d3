use std::collections::BTreeMap;
use std::time::SystemTime;

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
            generated_at: humantime_rfc3339(SystemTime::now()),
            interrupted: false,
            summary: Summary::default(),
            findings,
            provenance: None,
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

    /// Parse a report, refusing another major schema version.
    pub fn from_json(s: &str) -> Result<Report, ReportError> {
        let v: serde_json::Value = serde_json::from_str(s)?;
        let found = v
            .get("schema_version")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string();
        let major = |s: &str| s.split('.').next().unwrap_or("").to_string();
        if major(&found) != major(REPORT_SCHEMA_VERSION) {
            return Err(ReportError::SchemaVersion { found });
        }
        Ok(serde_json::from_value(v)?)
    }

    /// The JSON Schema of the report, as checked in at `docs/report.schema.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Report)).expect("a schema is valid JSON")
    }
}

fn humantime_rfc3339(t: SystemTime) -> String {
    // Seconds precision, UTC: `2026-11-25T08:09:42Z`.
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
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
    fn corrupted_report_is_an_error() {
        assert!(matches!(
            Report::from_json("{\"schema_version\": \"1.0\", "),
            Err(ReportError::Json(_))
        ));
    }
}
