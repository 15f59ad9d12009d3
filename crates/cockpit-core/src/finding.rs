use std::borrow::Cow;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::LatencySummary;

/// The five pillars a score is given for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Pillar {
    Network,
    Compute,
    State,
    Cicd,
    Observability,
}

impl Pillar {
    /// Every pillar, in report order.
    pub const ALL: [Pillar; 5] = [
        Pillar::Network,
        Pillar::Compute,
        Pillar::State,
        Pillar::Cicd,
        Pillar::Observability,
    ];

    /// The lower-case name used in JSON and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Pillar::Network => "network",
            Pillar::Compute => "compute",
            Pillar::State => "state",
            Pillar::Cicd => "cicd",
            Pillar::Observability => "observability",
        }
    }

    /// The name shown to people.
    pub fn display_name(self) -> &'static str {
        match self {
            Pillar::Network => "Network",
            Pillar::Compute => "Compute",
            Pillar::State => "State",
            Pillar::Cicd => "CI/CD",
            Pillar::Observability => "Observability",
        }
    }
}

impl fmt::Display for Pillar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The outcome of one check on one subject.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Status {
    /// Measured, and within the bound.
    Pass,
    /// Measured, and worth a look.
    Warn,
    /// Measured, and outside the bound.
    Fail,
    /// The subject is configured but the value could not be measured; the
    /// finding says why. Never counts as a pass.
    NotMeasured,
    /// The check itself failed (a bug, or input it could not handle).
    Error,
    /// The check's subject is not configured; listed, not scored.
    Skipped,
}

impl Status {
    /// The JSON spelling (`not-measured` hyphenated).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::NotMeasured => "not-measured",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }

    /// Worst first: `fail` 0, `error` 1, `not-measured` 2, `warn` 3,
    /// `pass` 4, `skipped` 5. Sorting by rank lists what needs attention
    /// first; the smaller of two ranks is the worse status.
    pub fn rank(self) -> u8 {
        match self {
            Status::Fail => 0,
            Status::Error => 1,
            Status::NotMeasured => 2,
            Status::Warn => 3,
            Status::Pass => 4,
            Status::Skipped => 5,
        }
    }

    /// The worse of two statuses, by [`Status::rank`].
    pub fn worst(self, other: Status) -> Status {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a failing check matters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable check id such as `NET-TTFT`. Ids never change once shipped; each
/// has a page at `docs/checks/<ID>.md`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CheckId(Cow<'static, str>);

impl CheckId {
    /// A check id for a constant.
    pub const fn new(id: &'static str) -> Self {
        CheckId(Cow::Borrowed(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path of the check's documentation page, relative to the repository root.
    pub fn doc_path(&self) -> String {
        format!("docs/checks/{}.md", self.0)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for CheckId {
    fn from(s: String) -> Self {
        CheckId(Cow::Owned(s))
    }
}

/// The unit of a [`Measurement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub enum Unit {
    #[serde(rename = "ms")]
    Milliseconds,
    #[serde(rename = "s")]
    Seconds,
    /// A dimensionless ratio (1.0 = equal).
    #[serde(rename = "ratio")]
    Ratio,
    #[serde(rename = "percent")]
    Percent,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "bytes")]
    Bytes,
    #[serde(rename = "tokens_per_s")]
    TokensPerSecond,
    #[serde(rename = "requests_per_s")]
    RequestsPerSecond,
    /// A yes/no reading: 1 for yes, 0 for no.
    #[serde(rename = "bool")]
    Bool,
}

impl Unit {
    /// The short suffix shown after a value.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::Seconds => "s",
            Unit::Ratio => "×",
            Unit::Percent => "%",
            Unit::Count => "",
            Unit::Bytes => "B",
            Unit::TokensPerSecond => "tok/s",
            Unit::RequestsPerSecond => "req/s",
            Unit::Bool => "",
        }
    }
}

/// One measured value, with how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Measurement {
    /// What was measured, snake_case (`ttft_p95`, `connect_rtt_p50`).
    pub name: String,
    pub value: f64,
    pub unit: Unit,
    /// How it was measured: which clock, from what to what, against what.
    pub method: String,
    /// How many samples the value rests on.
    pub samples: u64,
    /// The whole distribution, when the value is one of its percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<LatencySummary>,
}

impl Measurement {
    pub fn new(
        name: impl Into<String>,
        value: f64,
        unit: Unit,
        method: impl Into<String>,
        samples: u64,
    ) -> Self {
        Measurement {
            name: name.into(),
            value,
            unit,
            method: method.into(),
            samples,
            distribution: None,
        }
    }

    /// Attach the distribution the value was read from.
    pub fn with_distribution(mut self, distribution: LatencySummary) -> Self {
        self.distribution = Some(distribution);
        self
    }

    /// `312.4 ms`, `1.52×`, `42 tok/s`.
    pub fn display_value(&self) -> String {
        let v = self.value;
        if self.unit == Unit::Bytes
            && let Some(human) = binary_bytes(v)
        {
            return human;
        }
        let num = if self.unit == Unit::Count || (v.fract() == 0.0 && v.abs() < 1e15) {
            format!("{v:.0}")
        } else if v.abs() >= 100.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
        match self.unit {
            Unit::Count => num,
            Unit::Bool => (if v != 0.0 { "yes" } else { "no" }).to_string(),
            Unit::Ratio => format!("{num}{}", self.unit.suffix()),
            Unit::Percent => format!("{num}%"),
            u => format!("{num} {}", u.suffix()),
        }
    }
}

/// Bytes in binary units from 1 KiB up (`256 MiB`, `1.5 GiB`): a whole
/// number shows no decimals, another one decimal; `None` below 1 KiB or
/// for what is not a finite, non-negative number.
fn binary_bytes(v: f64) -> Option<String> {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if !(v.is_finite() && v >= 1024.0) {
        return None;
    }
    let mut x = v / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    Some(if x.fract() == 0.0 {
        format!("{x:.0} {}", UNITS[unit])
    } else {
        format!("{x:.1} {}", UNITS[unit])
    })
}

/// Where a finding's subject is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Location {
    /// A network endpoint (credentials always redacted).
    Endpoint { url: String },
    /// A Kubernetes (or Knative) object.
    Object {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        kind: String,
        name: String,
    },
    /// A place in a file.
    File {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<u32>,
    },
    /// A named entry of the configuration (an agent, a backend).
    Config { entry: String },
}

impl Location {
    /// An endpoint; credentials in the URL are redacted.
    pub fn endpoint(url: &str) -> Self {
        Location::Endpoint {
            url: crate::redact_url(url),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Endpoint { url } => f.write_str(url),
            Location::Object {
                namespace,
                kind,
                name,
            } => match namespace {
                Some(ns) => write!(f, "{ns}/{kind}/{name}"),
                None => write!(f, "{kind}/{name}"),
            },
            Location::File { path, line, column } => {
                write!(f, "{path}")?;
                if let Some(l) = line {
                    write!(f, ":{l}")?;
                    if let Some(c) = column {
                        write!(f, ":{c}")?;
                    }
                }
                Ok(())
            }
            Location::Config { entry } => f.write_str(entry),
        }
    }
}

/// The static description of a check: define one constant per check, in the
/// module that implements it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub id: CheckId,
    pub pillar: Pillar,
    /// The severity of a failure of this check.
    pub severity: Severity,
    pub title: &'static str,
}

impl CheckSpec {
    /// Start a finding of this check.
    pub fn finding(&self, status: Status, summary: impl Into<String>) -> Finding {
        Finding {
            check_id: self.id.clone(),
            pillar: self.pillar,
            status,
            severity: self.severity,
            title: self.title.to_string(),
            summary: summary.into(),
            subject: None,
            measurements: Vec::new(),
            location: None,
            recommendation: None,
            doc: self.id.doc_path(),
            suppressed: None,
        }
    }
}

/// The outcome of one check on one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub check_id: CheckId,
    pub pillar: Pillar,
    pub status: Status,
    pub severity: Severity,
    pub title: String,
    /// One sentence: what was found, with the deciding figure.
    pub summary: String,
    /// The audited subject by name (an agent or backend from the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub measurements: Vec<Measurement>,
    pub location: Option<Location>,
    /// The recommended move; absent on a pass.
    pub recommendation: Option<String>,
    /// The check's documentation page.
    pub doc: String,
    /// The reason given where the object lives (the manifest annotation
    /// `agentops-cockpit.io/ignore: "ID: reason"`) when the finding was
    /// skipped by it: shown as a suppression (SARIF) and a skipped case
    /// (JUnit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

impl Finding {
    pub fn with_measurement(mut self, m: Measurement) -> Self {
        self.measurements.push(m);
        self
    }

    pub fn with_measurements(mut self, ms: impl IntoIterator<Item = Measurement>) -> Self {
        self.measurements.extend(ms);
        self
    }

    pub fn with_location(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn with_recommendation(mut self, recommendation: impl Into<String>) -> Self {
        self.recommendation = Some(recommendation.into());
        self
    }

    /// The measurement of that name, if the finding carries one.
    pub fn measurement(&self, name: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Distribution;

    #[test]
    fn status_and_pillar_spellings_are_the_public_ones() {
        assert_eq!(
            serde_json::to_string(&Status::NotMeasured).unwrap(),
            "\"not-measured\""
        );
        assert_eq!(serde_json::to_string(&Pillar::Cicd).unwrap(), "\"cicd\"");
        for p in Pillar::ALL {
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        let s: Status = serde_json::from_str("\"skipped\"").unwrap();
        assert_eq!(s, Status::Skipped);
    }

    #[test]
    fn location_display() {
        let o = Location::Object {
            namespace: Some("agents".into()),
            kind: "Deployment".into(),
            name: "chat".into(),
        };
        assert_eq!(o.to_string(), "agents/Deployment/chat");
        let f = Location::File {
            path: "deploy/a.yaml".into(),
            line: Some(12),
            column: Some(3),
        };
        assert_eq!(f.to_string(), "deploy/a.yaml:12:3");
    }

    #[test]
    fn measurement_display() {
        let m = Measurement::new("x", 312.44, Unit::Milliseconds, "m", 3);
        assert_eq!(m.display_value(), "312.4 ms");
        let r = Measurement::new("x", 1.5234, Unit::Ratio, "m", 3);
        assert_eq!(r.display_value(), "1.52×");
        let c = Measurement::new("x", 7.0, Unit::Count, "m", 3);
        assert_eq!(c.display_value(), "7");
    }

    #[test]
    fn names_shown_to_people() {
        let shown: Vec<String> = Pillar::ALL.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            ["Network", "Compute", "State", "CI/CD", "Observability"]
        );
        let statuses = [
            (Status::Pass, "pass"),
            (Status::Warn, "warn"),
            (Status::Fail, "fail"),
            (Status::NotMeasured, "not-measured"),
            (Status::Error, "error"),
            (Status::Skipped, "skipped"),
        ];
        for (s, text) in statuses {
            assert_eq!((s.as_str(), s.to_string()), (text, text.to_string()));
        }
        let severities = [
            (Severity::Info, "info"),
            (Severity::Low, "low"),
            (Severity::Medium, "medium"),
            (Severity::High, "high"),
            (Severity::Critical, "critical"),
        ];
        for (s, text) in severities {
            assert_eq!((s.as_str(), s.to_string()), (text, text.to_string()));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{text}\""));
        }
    }

    #[test]
    fn worst_is_the_lower_rank_whichever_side_it_is_on() {
        let by_rank = [
            Status::Fail,
            Status::Error,
            Status::NotMeasured,
            Status::Warn,
            Status::Pass,
            Status::Skipped,
        ];
        for (i, a) in by_rank.iter().enumerate() {
            assert_eq!(usize::from(a.rank()), i, "{a}");
            for b in &by_rank[i..] {
                assert_eq!((a.worst(*b), b.worst(*a)), (*a, *a), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn check_ids_name_their_doc_page() {
        const SPEC: CheckSpec = CheckSpec {
            id: CheckId::new("NET-DEMO"),
            pillar: Pillar::Network,
            severity: Severity::High,
            title: "Demo",
        };
        let owned = CheckId::from("STA-DEMO".to_string());
        assert_eq!(
            (owned.as_str(), owned.to_string()),
            ("STA-DEMO", "STA-DEMO".into())
        );
        assert_eq!(SPEC.id.doc_path(), "docs/checks/NET-DEMO.md");
        let f = SPEC
            .finding(Status::Warn, "slow")
            .with_subject("chat")
            .with_recommendation("look")
            .with_location(Location::Config {
                entry: "chat".into(),
            })
            .with_measurements([Measurement::new("a", 1.0, Unit::Count, "m", 1)])
            .with_measurement(Measurement::new("b", 2.0, Unit::Count, "m", 1));
        assert_eq!(
            (f.check_id.as_str(), f.pillar, f.status, f.severity),
            ("NET-DEMO", Pillar::Network, Status::Warn, Severity::High)
        );
        assert_eq!((f.title.as_str(), f.summary.as_str()), ("Demo", "slow"));
        assert_eq!(f.doc, "docs/checks/NET-DEMO.md");
        assert_eq!(f.subject.as_deref(), Some("chat"));
        assert_eq!(f.recommendation.as_deref(), Some("look"));
        assert_eq!(
            f.location.as_ref().map(|l| l.to_string()).as_deref(),
            Some("chat")
        );
        assert_eq!(f.measurement("b").map(|m| m.value), Some(2.0));
        assert_eq!(f.measurement("a").map(|m| m.value), Some(1.0));
        assert!(f.measurement("c").is_none());
    }

    #[test]
    fn measurement_display_by_unit_and_size() {
        let show = |v: f64, u: Unit| Measurement::new("x", v, u, "m", 1).display_value();
        assert_eq!(show(7.0, Unit::Milliseconds), "7 ms");
        assert_eq!(show(7.4, Unit::Count), "7");
        assert_eq!(show(99.5, Unit::Milliseconds), "99.50 ms");
        assert_eq!(show(100.5, Unit::Seconds), "100.5 s");
        assert_eq!(show(1e15, Unit::Bytes), "909.5 TiB");
        assert_eq!(show(268_435_456.0, Unit::Bytes), "256 MiB");
        assert_eq!(show(1536.0, Unit::Bytes), "1.5 KiB");
        assert_eq!(show(1023.0, Unit::Bytes), "1023 B");
        assert_eq!(show(12.5, Unit::Percent), "12.50%");
        assert_eq!(show(42.0, Unit::TokensPerSecond), "42 tok/s");
        assert_eq!(show(3.0, Unit::RequestsPerSecond), "3 req/s");
        assert_eq!(
            (show(1.0, Unit::Bool), show(0.0, Unit::Bool)),
            ("yes".into(), "no".into())
        );
        let d = Distribution::new().summary();
        let m = Measurement::new("x", 1.0, Unit::Milliseconds, "m", 0).with_distribution(d);
        assert_eq!(m.distribution, Some(d));
    }

    #[test]
    fn endpoint_location_redacts_credentials() {
        let l = Location::endpoint("redis://user:hunter2@10.0.0.3:6379/0");
        assert!(!l.to_string().contains("hunter2"), "{l}");
    }
}
